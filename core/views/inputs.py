"""Step 1 of the Simulator: what the widgets hold (possibly empty, NaN, negative, absurd) -> a ``Scenario``.

``parse_inputs`` returns a validated ``Order``, fee tier and settings, or one plain-language message per
field, keyed by the field's name so the page puts each message next to its widget. Rates are entered in
bps, volatility in % a year (``docs/METHODOLOGY.md`` section 1).

``size_order`` then applies the venue's rules as an exchange's order ticket does: the size entered (USD, base
units or contracts) converted to the venue's unit at the mid, rounded down to the lot, refused under the
minimum, each in a plain sentence. A USD size needs a price, so this step takes the mid of one book.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from core.costs.fees import MAX_ABS_RATE, FeeTier, custom_tier, override
from core.costs.limit import horizon_note, offset_refusal
from core.costs.models import Models, TrainedRangeModel
from core.costs.order import MAX_LATENCY_MS, MAX_NOTIONAL_USD, AtExpiry, Order, OrderType, Side, SizeUnit
from core.costs.volatility import MAX_ANNUAL_VOL
from core.errors import SimulatorError
from core.market.instruments import Instrument
from core.views.fee_choice import fee_choices
from core.views.formatting import lot_amount, mid_price, significant, size_amount, usd

# Field names: the page puts each message next to the widget of the same field.
QUANTITY = "quantity"
SIDE = "side"
ORDER_TYPE = "order_type"
OFFSET = "offset_bps"
HORIZON = "horizon_s"
AT_EXPIRY = "at_expiry"
FEE_TIER = "fee_tier"
MAKER_RATE = "maker_rate"
TAKER_RATE = "taker_rate"
VOLATILITY = "volatility"
LATENCY = "latency_ms"

DEFAULT_QUANTITY_USD = 10_000.0  # a size traders quote; $100 is under two of Binance USD-M's 0.001 BTC lots
DEFAULT_LATENCY_MS = 100.0  # a typical round trip from a trader's machine to the exchange
MAX_OFFSET_BPS = 1_000.0
MAX_HORIZON_S = 86_400.0
MAX_RATE_BPS = MAX_ABS_RATE * 1e4  # 100 bps = 1 %


class EntryUnit(str, Enum):
    """What the size box counts: USD notional (USDT 1:1), base units (BTC) or the venue's contracts."""

    USD = "usd"
    BASE = "base"
    CONTRACTS = "contracts"


def entry_units(instrument: Instrument) -> dict[str, str]:
    """The units an order can be sized in on ``instrument`` (value -> label): contracts only where the venue
    sizes in contracts (OKX swaps, Binance COIN-M)."""
    out = {EntryUnit.USD.value: "USD", EntryUnit.BASE.value: instrument.base}
    if instrument.sized_in_contracts:
        out[EntryUnit.CONTRACTS.value] = "contracts"
    return out


#: how the page names the at-expiry actions of a limit order (``core.costs.estimate.AtExpiry``)
EXPIRY_LABELS = {AtExpiry.CROSS.value: "Cross the rest as taker", AtExpiry.CANCEL.value: "Cancel the rest"}


@dataclass(frozen=True)
class RawInputs:
    """What the widgets hold, unvalidated. Amounts may be None (an emptied box), NaN, negative, huge."""

    side: str | None = "buy"
    order_type: str | None = "market"
    quantity_usd: Any = DEFAULT_QUANTITY_USD  # the size box in USD (a number or the text typed)
    size_unit: str | None = EntryUnit.USD.value  # which box the order is sized in
    quantity_base: Any = None  # the size box in base units (BTC)
    quantity_contracts: Any = None  # the size box in the venue's contracts
    offset_bps: float | None = 0.0
    horizon_s: float | None = 10.0
    at_expiry: str | None = AtExpiry.CROSS.value
    fee_key: str | None = None  # a ``FeeChoice.key``; None = the entry tier
    override_fees: bool = False
    bnb_discount: bool = False  # pay fees in BNB (applied only where the venue offers a discount)
    maker_bps: float | None = None
    taker_bps: float | None = None
    override_volatility: bool = False
    volatility_pct: float | None = None  # % a year (50 = 50 %)
    latency_ms: float | None = DEFAULT_LATENCY_MS


@dataclass(frozen=True)
class Scenario:
    """A priced-ready order and its settings, or the reasons it is not (``errors``: field -> message)."""

    order: Order | None
    fee_tier: FeeTier | None
    volatility_override: float | None  # annualised fraction, None = from the feed
    latency_ms: float
    at_expiry: AtExpiry
    errors: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)  # field -> a remark that is not an error
    size_unit: EntryUnit = EntryUnit.USD
    size_entered: float | None = None  # the size as typed, in ``size_unit``
    sizing: OrderSize | None = None  # the venue's rules applied (``size_order``); None until then

    @property
    def ok(self) -> bool:
        return not self.errors and self.order is not None and self.fee_tier is not None


def _number(value: Any) -> float | None:
    """float(value), or None when empty; NaN stays NaN for the caller to name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return math.nan
    try:
        return float(str(value).replace(",", "").replace("$", "").strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return math.nan


def check_size(value: Any, unit: str) -> tuple[float | None, str | None]:
    """A size in base units or contracts (``unit`` names them: ``BTC``, ``contracts``) -> (amount, None) or
    (None, a plain message). The notional cap is checked where the price is known."""
    q = _number(value)
    example = "1" if unit == "contracts" else "0.01"
    if q is None:
        return None, f"Enter an order size in {unit}, for example {example}."
    if math.isnan(q):
        return None, f"The order size is not a number; enter an amount in {unit}, for example {example}."
    if math.isinf(q):
        return None, f"The order size is infinite; enter a finite amount in {unit}."
    if q == 0:
        return None, f"The order size is 0 {unit}; enter an amount above zero."
    if q < 0:
        return (
            None,
            f"The order size is negative ({q:g} {unit}); enter a positive amount and pick buy or sell with Side.",
        )
    return q, None


def check_quantity(value: Any) -> tuple[float | None, str | None]:
    """(USD amount, None) or (None, a plain message)."""
    q = _number(value)
    if q is None:
        return None, "Enter an order size in USD, for example 100."
    if math.isnan(q):
        return None, "The order size is not a number; enter an amount in USD, for example 100."
    if math.isinf(q):
        return None, "The order size is infinite; enter a finite amount in USD."
    if q == 0:
        return None, "The order size is $0; enter an amount above zero."
    if q < 0:
        return None, (f"The order size is negative ({usd(q)}); enter a positive amount and pick buy or sell with Side.")
    if q > MAX_NOTIONAL_USD:
        return None, (
            f"{usd(q)} is more than the {usd(MAX_NOTIONAL_USD)} this simulator prices; check the number of zeros."
        )
    return q, None


def _check_range(
    value: Any, *, what: str, unit: str, lo: float, hi: float, lo_open: bool = False
) -> tuple[float | None, str | None]:
    v = _number(value)
    if v is None:
        return None, f"Enter the {what} in {unit}."
    if not math.isfinite(v):
        return None, f"The {what} must be a finite number of {unit}."
    if v < lo or (lo_open and v == lo):
        bound = "above" if lo_open else "at least"
        return None, f"The {what} must be {bound} {lo:g} {unit}; you entered {v:g} {unit}."
    if v > hi:
        return None, f"The {what} must be at most {hi:,.0f} {unit}; you entered {v:,.6g} {unit}."
    return v, None


def check_rate_bps(value: Any, *, what: str) -> tuple[float | None, str | None]:
    """A fee rate typed in bps -> (fraction, None), or (None, message). Negative = rebate."""
    v = _number(value)
    if v is None:
        return None, f"Enter the {what} in bps (5 bps = 0.05 %), or untick the override."
    if not math.isfinite(v):
        return None, f"The {what} must be a finite number of bps (5 bps = 0.05 %)."
    if abs(v) > MAX_RATE_BPS:
        return None, (
            f"The {what} {v:g} bps is {v / 100:g} % of the notional; fee rates are within ±{MAX_RATE_BPS:g} bps "
            f"(±{MAX_RATE_BPS / 100:g} %). Enter bps: 5 bps = 0.05 %."
        )
    return v / 1e4, None


def check_volatility_pct(value: Any) -> tuple[float | None, str | None]:
    """Annualised volatility typed in % -> (fraction, None), or (None, message)."""
    v = _number(value)
    if v is None:
        return None, "Enter a volatility in % a year (50 = 50 %), or untick the override."
    if not math.isfinite(v):
        return None, "The volatility must be a finite number of % a year (50 = 50 %)."
    if v <= 0:
        return None, f"The volatility must be above 0 % a year; you entered {v:g} %."
    if v > MAX_ANNUAL_VOL * 100:
        return None, f"The volatility must be at most {MAX_ANNUAL_VOL * 100:,.0f} % a year; you entered {v:,.6g} %."
    return v / 100.0, None


@dataclass(frozen=True)
class ModelRanges:
    """What the loaded models learned, said at the fields: a limit offset beyond ``offset_max_bps`` is refused
    under its box (the engine refuses it too), a horizon or a latency outside what they learned gets a note
    there (the engine serves the nearest learned one), rather than only in the collapsed notes."""

    offset_max_bps: float | None = None
    horizon_s: tuple[float, float] | None = None
    latency_max_ms: float | None = None


def model_ranges(models: Models) -> ModelRanges:
    """The ranges of ``models`` (any model that does not say its range leaves that field unchecked)."""
    mt = models.maker_taker
    (_, off_hi), horizon = mt.trained_range() if isinstance(mt, TrainedRangeModel) else ((None, None), None)
    latency = None
    if models.slippage is not None:  # the book walk takes no latency; the learned models clip it to their grid
        from core.learned.features import LATENCIES_MS

        latency = max(LATENCIES_MS)
    return ModelRanges(offset_max_bps=off_hi, horizon_s=horizon, latency_max_ms=latency)


def parse_inputs(
    raw: RawInputs,
    *,
    exchange: str,
    market: str,
    limit_available: bool,
    instrument: Instrument | None = None,
    ranges: ModelRanges | None = None,
) -> Scenario:
    """Validate every field; each bad field gets its own message, keyed by field name.

    ``instrument`` names the base currency and the contract of a size in base units or contracts (a size in
    USD needs none); the venue's minimum and lot are applied afterwards by ``size_order``."""
    errors: dict[str, str] = {}
    notes: dict[str, str] = {}

    side = str(raw.side or "").strip().lower()
    if side not in ("buy", "sell"):
        errors[SIDE] = "Choose a side: buy or sell."

    order_type = str(raw.order_type or "market").strip().lower()
    if order_type not in ("market", "limit"):
        errors[ORDER_TYPE] = "Choose an order type: market or limit."
    elif order_type == "limit" and not limit_available:
        errors[ORDER_TYPE] = "Limit orders need the maker/taker model, which is not loaded; choose a market order."

    unit, qty, err = _entered_size(raw, instrument)
    if err:
        errors[QUANTITY] = err

    offset: float | None = 0.0
    horizon: float | None = 60.0
    if order_type == "limit":
        offset, err = _check_range(raw.offset_bps, what="limit offset", unit="bps", lo=0.0, hi=MAX_OFFSET_BPS)
        if err:
            errors[OFFSET] = err
        horizon, err = _check_range(
            raw.horizon_s, what="horizon", unit="seconds", lo=0.0, hi=MAX_HORIZON_S, lo_open=True
        )
        if err:
            errors[HORIZON] = err
        r = ranges or ModelRanges()  # the engine's own texts (core.costs.limit), said at the fields
        refusal = (
            offset_refusal(offset, r.offset_max_bps) if offset is not None and r.offset_max_bps is not None else None
        )
        if refusal:
            errors[OFFSET] = refusal
        note = horizon_note(horizon, *r.horizon_s) if horizon is not None and r.horizon_s is not None else None
        if note:
            notes[HORIZON] = note
    try:
        expiry = AtExpiry.parse(raw.at_expiry or "cross")
    except SimulatorError:
        expiry = AtExpiry.CROSS
    if order_type == "limit" and expiry is AtExpiry.CANCEL:
        notes[AT_EXPIRY] = "The unfilled rest is cancelled: it costs nothing, and it is not bought or sold either."

    tier = _fee_tier(raw, exchange=exchange, market=market, errors=errors, notes=notes)

    vol = None
    if raw.override_volatility:
        vol, err = check_volatility_pct(raw.volatility_pct)
        if err:
            errors[VOLATILITY] = err

    latency, err = _check_range(raw.latency_ms, what="latency", unit="ms", lo=0.0, hi=MAX_LATENCY_MS)
    if err:
        errors[LATENCY] = err
    lat_max = (ranges or ModelRanges()).latency_max_ms
    if latency is not None and lat_max is not None and latency > lat_max and order_type == "market":
        notes[LATENCY] = (
            f"The slippage model learned delays of 0-{lat_max:g} ms: a longer one is priced as {lat_max:g} ms (its "
            "p90 band stops growing there)."
        )

    order = None
    if qty is not None and not any(f in errors for f in (SIDE, ORDER_TYPE, QUANTITY, OFFSET, HORIZON)):
        try:
            amount, size_unit = _order_size(unit, qty, instrument)
            order = Order(
                side=Side.parse(side),
                quantity=amount,
                unit=size_unit,
                order_type=OrderType.parse(order_type),
                offset_bps=offset or 0.0,
                horizon_s=horizon or 60.0,
                at_expiry=expiry,
                latency_ms=latency if latency is not None else DEFAULT_LATENCY_MS,
            )
        except SimulatorError as exc:  # the checks above should catch everything; never a traceback
            errors[QUANTITY] = str(exc)
    return Scenario(
        order=order,
        fee_tier=tier,
        volatility_override=vol,
        latency_ms=latency if latency is not None else DEFAULT_LATENCY_MS,
        at_expiry=expiry,
        errors=errors,
        notes=notes,
        size_unit=unit,
        size_entered=qty,
    )


def _entered_size(raw: RawInputs, instrument: Instrument | None) -> tuple[EntryUnit, float | None, str | None]:
    """(unit, amount, None) or (unit, None, a plain message) for the size box the order is sized in."""
    try:
        unit = EntryUnit(str(raw.size_unit or EntryUnit.USD.value).strip().lower())
    except ValueError:
        unit = EntryUnit.USD
    if unit is EntryUnit.USD:
        return unit, *check_quantity(raw.quantity_usd)
    if instrument is None:
        return unit, None, "Choose an instrument before sizing the order in base units or contracts."
    if unit is EntryUnit.CONTRACTS and not instrument.sized_in_contracts:
        return (
            unit,
            None,
            f"{instrument.symbol} is not traded in contracts; size the order in USD or {instrument.base}.",
        )
    if unit is EntryUnit.BASE:
        return unit, *check_size(raw.quantity_base, instrument.base)
    return unit, *check_size(raw.quantity_contracts, "contracts")


def _order_size(unit: EntryUnit, qty: float, instrument: Instrument | None) -> tuple[float, SizeUnit]:
    """The order's quantity before the venue's rules: USD as quote, base as base; contracts as what they are
    (a linear contract is ``ct_val`` base units, an inverse one ``ct_val`` USD), exact without a price."""
    if unit is EntryUnit.USD:
        return qty, SizeUnit.QUOTE
    if unit is EntryUnit.BASE:
        return qty, SizeUnit.BASE
    assert instrument is not None  # _entered_size refused contracts without an instrument
    if instrument.ct_type == "inverse":
        return qty * instrument.ct_val, SizeUnit.QUOTE
    return qty * instrument.ct_val, SizeUnit.BASE


# ---- the venue's rules: minimum, lot, tick --------------------------------------------------------------


@dataclass(frozen=True)
class OrderSize:
    """The order as the venue takes it: what was entered, the size in the venue's unit rounded down to its lot,
    and the rules in words (``size_order``)."""

    entered: str  # "$100.00", "0.0125 BTC", "3 contracts"
    venue_size: float  # in the venue's unit (``Instrument.size_label``), rounded down to the lot
    venue_unit: str  # "BTC" or "contracts"
    base: float  # the rounded size in base units (at ``mid`` for an inverse contract)
    notional_usd: float  # the rounded size in USD at ``mid``
    mid: float  # the price the size was converted at
    converted: str  # "$100.00 = 0.00161812 BTC at mid 61,800.1" ("" when no conversion was needed)
    rounded: str  # "rounded down to 0.012 BTC, the venue's lot (0.001 BTC)" ("" when already on the lot)
    below_minimum: str  # "Below the venue minimum of 0.001 BTC (≈ $61.80)" ("" when at or above it)
    rules: str  # "minimum 0.001 BTC (≈ $61.80) · lot 0.001 BTC · tick 0.1 USDT"


def _venue_size(unit: EntryUnit, qty: float, instrument: Instrument, mid: float) -> float:
    """The entered size in the venue's unit (base units, or contracts) at ``mid``."""
    if unit is EntryUnit.CONTRACTS:
        return qty
    base = qty / mid if unit is EntryUnit.USD else qty
    if instrument.sized_in_contracts and instrument.ct_type == "inverse" and unit is EntryUnit.USD:
        return qty / instrument.ct_val  # USD straight to contracts of ct_val USD: exact, no price needed
    return float(instrument.from_base(mid, base))


def _usd_of(size: float, instrument: Instrument, mid: float) -> float:
    """A size in the venue's unit in USD at ``mid`` (an inverse contract is ``ct_val`` USD whatever the price)."""
    if instrument.sized_in_contracts and instrument.ct_type == "inverse":
        return size * instrument.ct_val
    return float(instrument.to_base(mid, size)) * mid


def convert_size(value: Any, from_unit: str, to_unit: str, instrument: Instrument, mid: float) -> str | None:
    """The size in ``from_unit`` expressed in ``to_unit`` at ``mid``, as text for the size box (6 significant
    digits); None when there is nothing valid to convert."""
    q = _number(value)
    if q is None or not math.isfinite(q) or q <= 0 or not (math.isfinite(mid) and mid > 0):
        return None
    inverse = instrument.sized_in_contracts and instrument.ct_type == "inverse"
    if from_unit == EntryUnit.USD.value:
        amount_usd = q
    elif from_unit == EntryUnit.BASE.value:
        amount_usd = q * mid
    else:
        amount_usd = _usd_of(q, instrument, mid)
    if to_unit == EntryUnit.USD.value:
        out = amount_usd
    elif to_unit == EntryUnit.BASE.value:
        out = amount_usd / mid
    else:
        out = amount_usd / instrument.ct_val if inverse else amount_usd / mid / instrument.ct_val
    return significant(out).replace(",", "")


def venue_rules(instrument: Instrument, mid: float) -> str:
    """The venue's minimum, lot and tick in words, the minimum also in USD at ``mid``."""
    unit = instrument.size_label
    each = ""
    if instrument.sized_in_contracts:
        each = f" of {instrument.ct_val:g} {instrument.ct_val_ccy or instrument.quote}"
    minimum = size_amount(instrument.min_size, unit)
    return (
        f"minimum {minimum}{each} (≈ {usd(_usd_of(instrument.min_size, instrument, mid))}) · "
        f"lot {size_amount(instrument.lot_size, unit)} · tick {instrument.tick_size:g} {instrument.quote}"
    )


def size_order(scenario: Scenario, instrument: Instrument, mid: float) -> Scenario:
    """Apply the venue's minimum and lot to the scenario's size at ``mid``, as the exchange would on submission.

    The order is rounded down to a whole number of lots (and priced at that size); under the minimum it gets
    the venue's message as a quantity error, so it is never priced as if it could be placed. A limit order
    stays sized in USD (the rounded size at ``mid``): its maker share is modelled on the notional."""
    if scenario.order is None or scenario.size_entered is None or QUANTITY in scenario.errors:
        return scenario
    if not (math.isfinite(mid) and mid > 0):
        return scenario
    unit, qty, order = scenario.size_unit, scenario.size_entered, scenario.order
    venue_unit = instrument.size_label
    entered = size_amount(qty, {EntryUnit.USD: "USD", EntryUnit.BASE: instrument.base}.get(unit, "contracts"))
    raw_size = _venue_size(unit, qty, instrument, mid)
    size = instrument.round_down_to_lot(raw_size)
    converted = (
        ""
        if unit.value == ("contracts" if instrument.sized_in_contracts else "base")
        else (f"{entered} = {size_amount(raw_size, venue_unit)} at mid {mid_price(mid, instrument.price_decimals)}")
    )
    min_usd = _usd_of(instrument.min_size, instrument, mid)
    each = (
        f" of {instrument.ct_val:g} {instrument.ct_val_ccy or instrument.quote}"
        if instrument.sized_in_contracts
        else ""
    )
    below = ""
    if instrument.below_minimum(size):
        below = f"Below the venue minimum of {size_amount(instrument.min_size, venue_unit)}{each} (≈ {usd(min_usd)})"
    rounded = ""
    if not below and not math.isclose(size, raw_size, rel_tol=1e-9, abs_tol=instrument.lot_size * 1e-6):
        rounded = (
            f"rounded down to {lot_amount(size, venue_unit, instrument.lot_size)}, the venue's lot "
            f"({size_amount(instrument.lot_size, venue_unit)})"
        )
    base = float(instrument.to_base(mid, size))
    sizing = OrderSize(
        entered=entered,
        venue_size=size,
        venue_unit=venue_unit,
        base=base,
        notional_usd=_usd_of(size, instrument, mid),
        mid=mid,
        converted=converted,
        rounded=rounded,
        below_minimum=below,
        rules=venue_rules(instrument, mid),
    )
    if below:
        why = f"{below}: {entered} is {size_amount(raw_size, venue_unit)}" if converted else below
        return replace(scenario, order=None, sizing=sizing, errors={**scenario.errors, QUANTITY: why + "."})
    if sizing.notional_usd > MAX_NOTIONAL_USD:  # checked once, on what was entered (the engine lets the price move)
        why = (
            f"{entered} is about {usd(sizing.notional_usd)} at mid {mid_price(mid, instrument.price_decimals)}, more than "
            f"the {usd(MAX_NOTIONAL_USD)} this simulator prices; check the number of zeros."
        )
        return replace(scenario, order=None, sizing=sizing, errors={**scenario.errors, QUANTITY: why})
    if instrument.sized_in_contracts and instrument.ct_type == "inverse":
        amount, size_unit = size * instrument.ct_val, SizeUnit.QUOTE  # contracts of ct_val USD: exact
    elif order.order_type is OrderType.LIMIT:
        amount, size_unit = base * mid, SizeUnit.QUOTE
    else:
        amount, size_unit = base, SizeUnit.BASE
    try:
        sized = replace(order, quantity=amount, unit=size_unit)
    except SimulatorError as exc:  # e.g. more than the notional this simulator prices
        return replace(scenario, order=None, sizing=sizing, errors={**scenario.errors, QUANTITY: str(exc)})
    return replace(scenario, order=sized, sizing=sizing)


def _fee_tier(
    raw: RawInputs, *, exchange: str, market: str, errors: dict[str, str], notes: dict[str, str]
) -> FeeTier | None:
    choices = fee_choices(exchange, market)
    choice = next((c for c in choices if c.key == raw.fee_key), choices[0] if choices else None)
    chosen = choice.priced(raw.bnb_discount) if choice is not None else None
    if chosen is None and not raw.override_fees:
        errors[FEE_TIER] = f"There is no fee table for {exchange} {market}; tick 'Override the rates' and enter them."
        return None
    if not raw.override_fees:
        return chosen
    maker, err_m = check_rate_bps(raw.maker_bps, what="maker rate")
    taker, err_t = check_rate_bps(raw.taker_bps, what="taker rate")
    if err_m:
        errors[MAKER_RATE] = err_m
    if err_t:
        errors[TAKER_RATE] = err_t
    if maker is None or taker is None:
        return None
    # accepted, but said: a typed sign is easy to get wrong, and a rebate changes which side of the net cost it is on
    if taker < 0:
        notes[TAKER_RATE] = (
            f"A negative taker rate is a rebate for taking liquidity: the venue pays you {-taker * 1e4:g} bps of "
            "what crosses the spread. No listed tier pays one; check the sign."
        )
    if maker < 0:
        notes[MAKER_RATE] = (
            f"A rebate: the venue pays you {-maker * 1e4:g} bps of what fills as maker (shown as a negative fee)."
        )
    if maker > taker:
        notes.setdefault(
            MAKER_RATE,
            "The maker rate is above the taker rate; venues charge resting orders less. Check the two boxes.",
        )
    if chosen is None:
        return custom_tier(exchange=exchange, market=market, maker_rate=maker, taker_rate=taker)
    if math.isclose(maker, chosen.maker_rate, abs_tol=1e-12) and math.isclose(taker, chosen.taker_rate, abs_tol=1e-12):
        return chosen
    return override(chosen, maker_rate=maker, taker_rate=taker)

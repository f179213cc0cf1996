"""Step 1 of the Simulator: what the widgets hold (possibly empty, NaN, negative, absurd) -> a ``Scenario``.

``parse_inputs`` returns a validated ``Order``, fee tier and settings, or one plain-language message per
field, keyed by the field's name so the page puts each message next to its widget. Rates are entered in
bps, volatility in % a year (``docs/METHODOLOGY.md`` section 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.costs.fees import MAX_ABS_RATE, FeeTier, custom_tier, override
from core.costs.order import MAX_LATENCY_MS, MAX_NOTIONAL_USD, AtExpiry, Order, OrderType, Side, SizeUnit
from core.costs.volatility import MAX_ANNUAL_VOL
from core.errors import SimulatorError
from core.views.fee_choice import fee_choices
from core.views.formatting import usd

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

DEFAULT_QUANTITY_USD = 100.0
DEFAULT_LATENCY_MS = 100.0  # a typical round trip from a trader's machine to the exchange
MAX_OFFSET_BPS = 1_000.0
MAX_HORIZON_S = 86_400.0
MAX_RATE_BPS = MAX_ABS_RATE * 1e4  # 100 bps = 1 %

#: how the page names the at-expiry actions of a limit order (``core.costs.estimate.AtExpiry``)
EXPIRY_LABELS = {AtExpiry.CROSS.value: "Cross the rest as taker", AtExpiry.CANCEL.value: "Cancel the rest"}


@dataclass(frozen=True)
class RawInputs:
    """What the widgets hold, unvalidated. Amounts may be None (an emptied box), NaN, negative, huge."""

    side: str | None = "buy"
    order_type: str | None = "market"
    quantity_usd: float | None = DEFAULT_QUANTITY_USD
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


def parse_inputs(
    raw: RawInputs,
    *,
    exchange: str,
    market: str,
    limit_available: bool,
) -> Scenario:
    """Validate every field; each bad field gets its own message, keyed by field name."""
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

    qty, err = check_quantity(raw.quantity_usd)
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
    try:
        expiry = AtExpiry.parse(raw.at_expiry or "cross")
    except SimulatorError:
        expiry = AtExpiry.CROSS
    if order_type == "limit" and expiry is AtExpiry.CANCEL:
        notes[AT_EXPIRY] = "The unfilled rest is cancelled: it costs nothing, and it is not bought or sold either."

    tier = _fee_tier(raw, exchange=exchange, market=market, errors=errors)

    vol = None
    if raw.override_volatility:
        vol, err = check_volatility_pct(raw.volatility_pct)
        if err:
            errors[VOLATILITY] = err

    latency, err = _check_range(raw.latency_ms, what="latency", unit="ms", lo=0.0, hi=MAX_LATENCY_MS)
    if err:
        errors[LATENCY] = err

    order = None
    if qty is not None and not any(f in errors for f in (SIDE, ORDER_TYPE, QUANTITY, OFFSET, HORIZON)):
        try:
            order = Order(
                side=Side.parse(side),
                quantity=qty,
                unit=SizeUnit.QUOTE,
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
    )


def _fee_tier(raw: RawInputs, *, exchange: str, market: str, errors: dict[str, str]) -> FeeTier | None:
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
    if chosen is None:
        return custom_tier(exchange=exchange, market=market, maker_rate=maker, taker_rate=taker)
    if math.isclose(maker, chosen.maker_rate, abs_tol=1e-12) and math.isclose(taker, chosen.taker_rate, abs_tol=1e-12):
        return chosen
    return override(chosen, maker_rate=maker, taker_rate=taker)

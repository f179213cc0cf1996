"""The Venues page's logic without Streamlit: one order priced on every venue's newest book at once, ranked.

``compare`` prices the order on each book of the order's base asset through ``core.costs.estimate`` (the one
cost composition: each venue's slippage, impact and fee add up exactly as on the Simulator) with that venue's
fee tier, and converts the filled size into the venue's own unit (an inverse perpetual counts contracts of
100 USD: base = contracts x 100 / price) to check it against the venue's minimum order
(``data/instruments.json``). The ranking is by net cost in USD: fresh books that meet the minimum first, then
stale books (flagged), then the venues that are not compared, each with the reason in words (below the venue
minimum, no book yet, a book from another recorded instant, an order the book cannot fill). The best venue
and the saving against the worst are said in words.

Every venue is priced by its book walk, not by the learned slippage model: that model was trained on one
venue's books (docs/MODELS.md), and a comparison must use the same method everywhere. USDT counts as USD 1:1
(docs/METHODOLOGY.md section 1).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pandas as pd

from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import FeeTier
from core.costs.order import Order, Side, SizeUnit
from core.errors import SimulatorError
from core.feed.recording import iso_ms
from core.market import venues as registry
from core.market.instruments import Instrument
from core.runtime import Runtime, VenueBook, VenueBooks
from core.views.fee_choice import FeeChoice, fee_choices
from core.views.formatting import bps, usd
from core.views.inputs import check_quantity
from core.views.market import book_time
from core.views.simulator import market_kind

#: relative slack when comparing an order's size with a venue minimum (float residue, not a smaller order)
MIN_SIZE_SLACK = 1e-9


class Standing(str, enum.Enum):
    """Where a venue stands in the ranking, in rank order."""

    FRESH = "ranked"  # a fresh book and an order the venue accepts
    STALE = "stale"  # priced on a book older than the stale threshold: ranked after every fresh one
    BELOW_MINIMUM = "below the venue minimum"  # listed with its cost, never the cheapest
    NOT_COMPARED = "not compared"  # no book, another recorded instant, or not priceable on this book


@dataclass(frozen=True)
class VenueOrder:
    """What the page's widgets hold, unvalidated (sizes may be None, NaN, negative)."""

    asset: str = "BTC"  # base asset compared: BTC venues for a BTC order
    side: str | None = "buy"
    size: float | None = 10_000.0
    unit: str = "usd"  # "usd" (notional) or "base" (units of ``asset``)
    fee_keys: Mapping[str, str] = field(default_factory=dict)  # fee_group(instrument) -> FeeChoice.key


@dataclass(frozen=True)
class VenueCost:
    """One venue's line of the ranking."""

    instrument: Instrument
    venue: str  # what pages call the venue: "Binance COIN-M"
    standing: Standing
    reason: str  # in words when the venue is stale or not ranked, else ""
    rank: int | None  # 1 = cheapest; None when not ranked
    age_s: float
    book_ts_ms: int  # exchange time of the book priced (0 without one)
    fee_tier: FeeTier | None
    size_venue: float  # the filled size in the venue's unit (contracts or base), NaN when not priced
    size_text: str  # the same in words with its unit
    estimate: CostEstimate | None

    @property
    def net_cost_usd(self) -> float:
        return self.estimate.net_cost_usd if self.estimate is not None else math.nan

    @property
    def net_cost_bps(self) -> float:
        return self.estimate.net_cost_bps if self.estimate is not None else math.nan


@dataclass(frozen=True)
class VenuesView:
    """Everything the Venues page renders."""

    asset: str
    rows: tuple[VenueCost, ...]  # in ranking order
    table: pd.DataFrame
    best: str  # the best venue in words ("" when none could be compared)
    saving: str  # the saving of the best against the worst in words ("" with fewer than two)
    source: str  # where the books come from, in words
    error: str | None = None  # the order itself is invalid (plain message); nothing priced
    notes: tuple[str, ...] = ()


# ---- inputs ---------------------------------------------------------------------------------------------
def fee_group(instrument: Instrument) -> str:
    """The fee table an instrument's venue charges by: ``exchange/market`` (e.g. ``binance-futures/swap``)."""
    return f"{instrument.exchange}/{market_kind(instrument)}"


def assets(books: VenueBooks) -> list[str]:
    """Base assets with at least one venue, BTC first."""
    found = {b.instrument.base for b in books.books}
    return sorted(found, key=lambda a: (a != "BTC", a))


def fee_options(books: VenueBooks, asset: str) -> dict[str, tuple[str, list[FeeChoice]]]:
    """fee_group -> (venue label, its fee tiers, entry tier first) for the venues of ``asset``."""
    out: dict[str, tuple[str, list[FeeChoice]]] = {}
    for b in books.books:
        inst = b.instrument
        if inst.base == asset and (g := fee_group(inst)) not in out:
            kind = "spot" if market_kind(inst) == "spot" else "perpetuals"
            out[g] = (f"{registry.label(inst.exchange)} {kind}", fee_choices(inst.exchange, market_kind(inst)))
    return out


def _tier(instrument: Instrument, keys: Mapping[str, str]) -> FeeTier | None:
    choices = fee_choices(instrument.exchange, market_kind(instrument))
    wanted = keys.get(fee_group(instrument))
    chosen = next((c for c in choices if c.key == wanted), choices[0] if choices else None)
    return chosen.tier if chosen is not None else None


def parse_order(raw: VenueOrder) -> Order:
    """The market order to compare; ``SimulatorError`` with a plain message when an input is wrong."""
    if raw.unit == "usd":
        q, message = check_quantity(raw.size)
        if message is not None:
            raise SimulatorError(message)
        return Order(Side.parse(raw.side or "buy"), float(q or 0.0), unit=SizeUnit.QUOTE)
    if raw.size is None:
        raise SimulatorError(f"Enter an order size in {raw.asset}, for example 0.5.")
    return Order(Side.parse(raw.side or "buy"), raw.size, unit=SizeUnit.BASE)


# ---- one venue ------------------------------------------------------------------------------------------
def venue_size(instrument: Instrument, e: CostEstimate) -> tuple[float, str]:
    """The filled size in the venue's unit, and in words: contracts (inverse: notional / contract value in USD;
    linear: base / contract value) or base units."""
    size = float(instrument.from_base(e.avg_price, e.filled_base))
    if instrument.sized_in_contracts:
        each = f"{instrument.ct_val:g} {instrument.ct_val_ccy or instrument.quote}"
        return size, f"{size:,.4g} contracts of {each}"
    return size, f"{size:.6g} {instrument.base}"


def minimum_text(instrument: Instrument) -> str:
    """The venue's minimum order in its own unit: ``1 contract (100 USD)`` or ``0.001 BTC``."""
    if instrument.sized_in_contracts:
        n = instrument.min_size
        return f"{n:g} contract{'s' if n != 1 else ''} ({n * instrument.ct_val:g} {instrument.ct_val_ccy or 'USD'})"
    return f"{instrument.min_size:g} {instrument.base}"


def price_venue(vb: VenueBook, order: Order, tier: FeeTier | None, *, stale_after_s: float) -> VenueCost:
    """One venue's line: its cost through the one composition, and where it stands."""
    inst = vb.instrument

    def line(standing: Standing, reason: str, e: CostEstimate | None = None) -> VenueCost:
        size, text = venue_size(inst, e) if e is not None else (math.nan, "")
        return VenueCost(
            instrument=inst,
            venue=registry.label(inst.exchange),
            standing=standing,
            reason=reason,
            rank=None,
            age_s=vb.age_s,
            book_ts_ms=vb.book.exchange_ts_ms if vb.book is not None else 0,
            fee_tier=tier,
            size_venue=size,
            size_text=text,
            estimate=e,
        )

    if vb.note:
        return line(Standing.NOT_COMPARED, vb.note)
    if vb.book is None:
        return line(Standing.NOT_COMPARED, "No order book from this venue yet.")
    if tier is None:
        return line(Standing.NOT_COMPARED, f"No fee table for {registry.label(inst.exchange)} {market_kind(inst)}.")
    try:
        e = estimate(vb.book, order, fee_tier=tier)
    except (SimulatorError, ValueError) as exc:  # e.g. a sell larger than the extended book could pay
        return line(Standing.NOT_COMPARED, str(exc))
    size, _ = venue_size(inst, e)
    if size < inst.min_size * (1 - MIN_SIZE_SLACK):
        return line(Standing.BELOW_MINIMUM, f"Below the venue minimum of {minimum_text(inst)}.", e)
    if vb.age_s > stale_after_s:
        age = "no book" if math.isinf(vb.age_s) else f"{vb.age_s:.1f} s old"
        return line(
            Standing.STALE, f"Stale book ({age}; stale after {stale_after_s:g} s): ranked after the fresh ones.", e
        )
    return line(Standing.FRESH, "", e)


# ---- the ranking ----------------------------------------------------------------------------------------
ORDER = {s: i for i, s in enumerate(Standing)}


def rank(lines: Sequence[VenueCost]) -> tuple[VenueCost, ...]:
    """Fresh by net cost, then stale by net cost (both numbered), then below-minimum and not compared."""
    ordered = sorted(
        lines,
        key=lambda c: (ORDER[c.standing], math.isnan(c.net_cost_usd), c.net_cost_usd, c.venue, c.instrument.symbol),
    )
    out, n = [], 0
    for c in ordered:
        if c.standing in (Standing.FRESH, Standing.STALE):
            n += 1
            c = replace(c, rank=n)
        out.append(c)
    return tuple(out)


def _name(c: VenueCost) -> str:
    return f"{c.venue} {c.instrument.symbol}"


def verdict(rows: Sequence[VenueCost], order: Order, asset: str) -> tuple[str, str]:
    """(the best venue, the saving against the worst) in words, among the fresh venues (the stale ones when
    no book is fresh, said so)."""
    fresh = [c for c in rows if c.standing is Standing.FRESH]
    pool = fresh or [c for c in rows if c.standing is Standing.STALE]
    if not pool:
        return "", ""
    size = usd(order.quantity) if order.unit is SizeUnit.QUOTE else f"{order.quantity:g} {asset}"
    side = "buy" if order.side is Side.BUY else "sell"
    best, worst = pool[0], pool[-1]
    caveat = "" if fresh else " (every book is stale: these are the last books received)"
    # venues within half a cent of the best are a tie: naming one 'cheapest' would pick by table order
    tied = [c for c in pool[1:] if abs(c.net_cost_usd - best.net_cost_usd) < 0.005]
    best_text = (
        f"Cheapest venue for a {size} market {side}: {_name(best)}, net cost {usd(best.net_cost_usd)} "
        f"({bps(best.net_cost_bps)}){caveat}."
        if not tied
        else f"Cheapest venues for a {size} market {side}, tied at net cost {usd(best.net_cost_usd)} "
        f"({bps(best.net_cost_bps)}): {', '.join(_name(c) for c in (best, *tied))}{caveat}."
    )
    if len(pool) < 2:
        return best_text + " No other venue could be compared.", ""
    saving = (
        f"Against the dearest, {_name(worst)} at {usd(worst.net_cost_usd)} ({bps(worst.net_cost_bps)}), "
        f"it saves {usd(worst.net_cost_usd - best.net_cost_usd)} "
        f"({bps(worst.net_cost_bps - best.net_cost_bps)} of the executed notional)."
    )
    return best_text, saving


COLUMNS = (
    "rank",
    "venue",
    "instrument",
    "net cost (USD)",
    "net cost (bps)",
    "slippage (USD)",
    "market impact (USD)",
    "fee (USD)",
    "taker fee (bps)",
    "fee tier",
    "size on venue",
    "average price (quote)",
    "book age (s)",
    "book time (UTC)",
    "status",
)


def ranking_table(rows: Sequence[VenueCost]) -> pd.DataFrame:
    """One row per venue, in ranking order, every number with its unit in the column name."""
    records = []
    for c in rows:
        e = c.estimate
        records.append(
            {
                "rank": c.rank,
                "venue": c.venue,
                "instrument": c.instrument.symbol,
                "net cost (USD)": c.net_cost_usd,
                "net cost (bps)": c.net_cost_bps,
                "slippage (USD)": e.slippage_usd if e else math.nan,
                "market impact (USD)": e.impact_usd if e else math.nan,
                "fee (USD)": e.fee_usd if e else math.nan,
                "taker fee (bps)": c.fee_tier.taker_bps if c.fee_tier else math.nan,
                "fee tier": c.fee_tier.tier if c.fee_tier else "",
                "size on venue": c.size_text,
                "average price (quote)": e.avg_price if e else math.nan,
                "book age (s)": c.age_s if math.isfinite(c.age_s) else math.nan,
                "book time (UTC)": book_time(c.book_ts_ms),
                "status": c.reason or c.standing.value,
            }
        )
    table = pd.DataFrame.from_records(records, columns=COLUMNS)
    table["rank"] = table["rank"].astype("Int64")  # blank for the venues not ranked
    return table


def source_text(books: VenueBooks) -> str:
    """Where the books come from, in words (REPLAY with the recorded window, or the ingest service)."""
    if books.source == "bus":
        return "Books from the ingest service (one stream per venue); freshness from each book's publish time."
    if books.clock is None:
        return "REPLAY of the bundled recording."
    c = books.clock
    return (
        f"REPLAY: every venue recorded {iso_ms(c.start_ms)[:10]} {iso_ms(c.start_ms)[11:23]}–"
        f"{iso_ms(c.end_ms)[11:23]} UTC, replayed together on one clock (now at {iso_ms(int(c.recorded_ms()))[11:23]})."
    )


def compare(books: VenueBooks, raw: VenueOrder, *, tiers: Mapping[str, FeeTier | None] | None = None) -> VenuesView:
    """Price ``raw`` on every book of its asset and rank them; an invalid order gives ``error``, not an exception.

    ``tiers`` (fee_group -> tier) replaces the tiers chosen by ``raw.fee_keys`` (tests pass their own rates).
    """
    source = source_text(books)
    empty = ranking_table([])
    try:
        order = parse_order(raw)
    except SimulatorError as exc:
        return VenuesView(raw.asset, (), empty, "", "", source, error=str(exc))
    mine = [b for b in books.books if b.instrument.base == raw.asset]
    if not mine:
        return VenuesView(raw.asset, (), empty, "", "", source, error=f"No venue with {raw.asset} books here.")
    lines = []
    for vb in mine:
        g = fee_group(vb.instrument)
        tier = tiers[g] if tiers is not None and g in tiers else _tier(vb.instrument, raw.fee_keys)
        lines.append(price_venue(vb, order, tier, stale_after_s=books.stale_after_s))
    rows = rank(lines)
    best, saving = verdict(rows, order, raw.asset)
    notes = (
        "Each venue is priced by walking its own visible book with its own fee tier (taker, market order); "
        "USDT counts as USD 1:1. The learned slippage model is not used here: it was trained on one venue.",
    )
    return VenuesView(raw.asset, rows, ranking_table(rows), best, saving, source, notes=notes)


@dataclass(frozen=True)
class VenueChoices:
    """What the page's widgets offer: the base assets with venues, and each asset's venues' fee tiers."""

    assets: tuple[str, ...]
    fees: Mapping[str, Mapping[str, tuple[str, list[FeeChoice]]]]  # asset -> fee_group -> (label, tiers)


def choices(rt: Runtime) -> VenueChoices:
    """The page's options from the venues the runtime has (starts the replay's venues on first use)."""
    books = rt.venues()
    found = assets(books)
    return VenueChoices(tuple(found), {a: fee_options(books, a) for a in found})


def venues_view(rt: Runtime, raw: VenueOrder) -> VenuesView:
    """``compare`` on the runtime's newest book of every venue (starts the replay's venues on first use)."""
    return compare(rt.venues(), raw)

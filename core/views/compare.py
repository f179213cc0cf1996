"""Freeze and compare: several scenarios priced on one pinned book, side by side; and the live figure's recent range.

Repricing on the newest book mixes two things: what the inputs change and what the book did meanwhile (the same
$1M buy moves by hundreds of dollars from one second to the next). ``pin`` keeps one ``BookSnapshot`` and the
mid history its volatility comes from, and ``compare`` prices every scenario on exactly that book through the
one cost engine (``core.costs.estimate.estimate``, which composes with ``core.costs.composition.compose``): no
arithmetic of its own, so any difference between two columns comes from the inputs alone.

What moves what on one book (checked in ``core.costs.estimate`` and ``core.learned.models``; ``what_moves``
says it in words): a market order's expected cost is the book walk (or the expected-slippage model, when one is
in use), impact and fees come from the book and the size, so volatility and latency move only the p90 band
(the quantile model reads both) and a limit order's expected fills (the maker/taker model reads volatility).

While live, ``recent_range`` gives the headline figure's median and range over the last ~30 s of books (the
feed thread prices the shown order on every book, ``core.pricing.tracker``), so one tick's noise is not
mistaken for the effect of an input.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.costs.estimate import CostEstimate, estimate
from core.costs.models import Models
from core.costs.order import OrderType, SizeUnit
from core.costs.volatility import Volatility, VolSource, realised_vol
from core.errors import SimulatorError
from core.market import venues
from core.market.book import BookSnapshot
from core.views.formatting import bps, price, size_amount, usd
from core.views.inputs import RawInputs, Scenario
from core.views.market import book_time, restart_note

if TYPE_CHECKING:  # imported where a table is built: the Simulator's first view builds none (issue 15, startup)
    import pandas as pd

MAX_SCENARIOS = 4
LABELS = tuple("ABCD")[:MAX_SCENARIOS]
#: the window of the live figure's median and range (seconds of this machine's clock)
RECENT_WINDOW_S = 30.0

#: the outputs compared, in display order: (row label, how to read it from a ``CostEstimate``, unit)
OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("Expected cost (net)", "net_cost_usd", "USD"),
    ("Expected cost (net)", "net_cost_bps", "bps"),
    ("Expected slippage", "slippage_usd", "USD"),
    ("Slippage p90", "slippage_p90_usd", "USD"),
    ("Fees", "fee_usd", "USD"),
    ("Market impact (in slippage)", "impact_usd", "USD"),
    ("Maker share", "maker_fraction", "%"),
    ("Average fill price", "avg_price", "quote"),
)


@dataclass(frozen=True)
class PinnedBook:
    """One book and the mid history its volatility is estimated from, frozen for one session's comparisons."""

    snapshot: BookSnapshot
    mid_times_s: np.ndarray  # the feed's mid history at the pin (read-only copies)
    mids: np.ndarray
    volatility: Volatility  # the feed's estimate on that history (no override): what "from the feed" means here
    pinned_at_s: float  # wall clock

    @property
    def key(self) -> tuple[str, str]:
        return self.snapshot.key


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def pin(
    snapshot: BookSnapshot, mid_history: tuple[np.ndarray, np.ndarray], *, now_s: float | None = None
) -> PinnedBook:
    """Freeze ``snapshot`` (already immutable) with a copy of the mid history and the volatility estimated on it."""
    t, m = _frozen(mid_history[0]), _frozen(mid_history[1])
    return PinnedBook(
        snapshot=snapshot,
        mid_times_s=t,
        mids=m,
        volatility=realised_vol(t, m, mid=snapshot.mid),
        pinned_at_s=time.time() if now_s is None else now_s,
    )


def describe_pin(p: PinnedBook) -> str:
    """One sentence naming the pinned book."""
    s, v = p.snapshot, p.volatility
    return (
        f"Pinned: the {venues.label(s.exchange)} {s.symbol} book of {book_time(s.exchange_ts_ms)} UTC (exchange time), "
        f"mid {s.mid:,.2f}, spread {bps(s.spread_bps)}, volatility {v.annual:.1%} a year ({v.source.value}, "
        f"{v.n_returns} returns). Every scenario below is priced on exactly this book."
    )


def variant(
    base: RawInputs,
    *,
    side: str | None = None,
    quantity_usd: float | None = None,
    volatility_pct: float | None = None,
    latency_ms: float | None = None,
) -> RawInputs:
    """Scenario A's inputs with some changed: ``None`` keeps A's value (a volatility given overrides the feed's)."""
    changes: dict[str, Any] = {}
    if side is not None:
        changes["side"] = side
    if quantity_usd is not None:  # a size in USD replaces A's size, whatever unit A was entered in
        changes.update(quantity_usd=quantity_usd, size_unit="usd")
    if volatility_pct is not None:
        changes.update(override_volatility=True, volatility_pct=volatility_pct)
    if latency_ms is not None:
        changes["latency_ms"] = latency_ms
    return replace(base, **changes)


@dataclass(frozen=True)
class Priced:
    """One scenario on the pinned book: its estimate, or why it could not be priced (a plain message)."""

    label: str
    scenario: Scenario
    volatility: Volatility
    estimate: CostEstimate | None
    error: str | None


@dataclass(frozen=True)
class Comparison:
    """Every scenario on one book: the inputs side by side, the outputs side by side with their moves from A."""

    pinned: PinnedBook
    priced: tuple[Priced, ...]
    inputs: pd.DataFrame  # rows: inputs; columns: scenario labels, then "differs from A" (labels, or "")
    outputs: pd.DataFrame  # rows: outputs; columns: A, B, "B − A", C, "C − A", ... (NaN where not priced)
    moves: tuple[str, ...]  # one sentence per scenario after A: what differs, and how each output moved (one short
    # line for a scenario that is A unchanged)


#: where a scenario's volatility came from, in the inputs table's words (short: the cell must fit a narrow column)
_VOL_FROM = {VolSource.DATA: "pinned book", VolSource.DEFAULT: "default", VolSource.OVERRIDE: "entered"}


def _vol_text(s: Scenario, v: Volatility) -> str:
    """The annual volatility and its source: entered (A's override or the scenario's own), estimated on the
    pinned book's mid history, or the default when that history is too short."""
    source = VolSource.OVERRIDE if s.volatility_override is not None else v.source
    return f"{v.annual:.1%} ({_VOL_FROM[source]})"


def _input_rows(p: Priced) -> dict[str, str]:
    s = p.scenario
    o = s.order
    if o is None:
        return {"Order": "needs fixing: " + "; ".join(s.errors.values())}
    rows = {
        "Side": o.side.value,
        "Order type": o.order_type.value,
        # as the venue takes it, with its worth at the pinned mid (a market order is sized in the coin after the
        # venue's lot: its quantity is not USD)
        "Size": (
            f"{size_amount(s.sizing.venue_size, s.sizing.venue_unit)} ({usd(s.sizing.notional_usd)})"
            if s.sizing is not None
            else (usd(o.quantity) if o.unit is SizeUnit.QUOTE else f"{o.quantity:g} (base units)")
        ),
    }
    if o.order_type is OrderType.LIMIT:
        rows["Limit offset (bps)"] = f"{o.offset_bps:g}"
        rows["Horizon (s)"] = f"{o.horizon_s:g}"
        rows["At expiry"] = o.at_expiry.value
    rows["Fee tier"] = s.fee_tier.label if s.fee_tier is not None else "n/a"
    rows["Volatility (a year)"] = _vol_text(s, p.volatility)
    rows["Latency (ms)"] = f"{s.latency_ms:g}"
    return rows


def _value(e: CostEstimate | None, attr: str) -> float:
    v = getattr(e, attr, None) if e is not None else None
    return float(v) if v is not None else math.nan


def price_on(pinned: PinnedBook, label: str, scenario: Scenario, models: Models | None = None) -> Priced:
    """``scenario`` on the pinned book, through the one cost engine; an order it cannot price gives ``error``."""
    snap = pinned.snapshot
    vol = realised_vol(pinned.mid_times_s, pinned.mids, override_annual=scenario.volatility_override, mid=snap.mid)
    if not scenario.ok:
        msg = "; ".join(scenario.errors.values()) or "The order is incomplete."
        return Priced(label, scenario, vol, None, msg)
    assert scenario.order is not None and scenario.fee_tier is not None
    try:
        e = estimate(snap, scenario.order, fee_tier=scenario.fee_tier, volatility=vol, models=models)
    except (SimulatorError, ValueError) as exc:
        return Priced(label, scenario, vol, None, str(exc))
    return Priced(label, scenario, vol, e, None)


def _move(name: str, unit: str, a: float, b: float) -> str:
    if math.isnan(a) and math.isnan(b):
        return f"{name} n/a in both"
    if math.isnan(a) or math.isnan(b):
        return f"{name} {_fmt(a, unit)} → {_fmt(b, unit)}"
    if _same(a, b):
        return f"{name} unchanged ({_fmt(a, unit)})"
    sign = "+" if b > a else "-"
    # a change of a share is in percentage points: 87.1% -> 69.3% is -17.8 points, not -17.8%
    step = f"{abs(b - a) * 100:.1f} points" if unit == "%" else _fmt(abs(b - a), unit)
    return f"{name} {_fmt(a, unit)} → {_fmt(b, unit)} ({sign}{step})"


def _same(a: float, b: float) -> bool:
    """Equal up to floating-point noise (the same book priced twice can differ in the 15th digit)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def outputs_shown(c: Comparison, price_decimals: int) -> pd.DataFrame:
    """The outputs table as text, each cell in its unit (USD with its sign, bps, %, prices on the venue's tick),
    a change in points for a share, "n/a" where a scenario was not priced or a figure does not apply (a limit
    order has no p90), and 0 for a change that is floating-point noise (``1.33e-15``)."""
    import pandas as pd

    units = [unit for _, _, unit in OUTPUTS]
    ref = c.outputs.iloc[:, 0].to_numpy()
    cols: dict[str, list[str]] = {}
    for col in c.outputs.columns:
        diff = " − " in str(col)
        cells = []
        for x, a, unit in zip(c.outputs[col].to_numpy(), ref, units, strict=True):
            if math.isnan(x):
                cells.append("n/a")
            elif diff and _same(x + a, a):
                cells.append("0" if unit != "%" else "0.0 points")
            elif unit == "%":
                cells.append(f"{x:+.1f} points" if diff else f"{x:.1f} %")
            elif unit == "quote":
                cells.append(("+" if diff and x > 0 else "") + price(x, price_decimals))
            else:
                text = _fmt(x, unit)
                cells.append(f"+{text}" if diff and x > 0 else text)
        cols[str(col)] = cells
    out = pd.DataFrame(cols, index=c.outputs.index)
    out.index.name = c.outputs.index.name
    return out


def _fmt(x: float, unit: str) -> str:
    if math.isnan(x):
        return "n/a"
    if unit == "USD":
        return usd(x)
    if unit == "bps":
        return bps(x)
    if unit == "%":
        return f"{x:.1%}"
    return f"{x:,.2f}"


def compare(
    pinned: PinnedBook, scenarios: Sequence[tuple[str, Scenario]], *, models: Models | None = None
) -> Comparison:
    """Price every (label, scenario) on the pinned book; the first is the reference the others are compared to."""
    import pandas as pd

    priced = tuple(price_on(pinned, label, s, models) for label, s in scenarios[:MAX_SCENARIOS])
    labels = [p.label for p in priced]
    rows = [_input_rows(p) for p in priced]
    names = list(dict.fromkeys(k for r in rows for k in r))
    cells = {lab: [r.get(n, "—") for n in names] for lab, r in zip(labels, rows, strict=True)}
    differs = {
        lab: {n for n, v, a in zip(names, cells[lab], cells[labels[0]], strict=True) if v != a} for lab in labels
    }
    inputs = pd.DataFrame(cells, index=names)
    inputs["differs from A"] = [", ".join(lab for lab in labels[1:] if n in differs[lab]) for n in names]
    inputs.index.name = "input"
    out: dict[str, list[float]] = {}
    ref = priced[0].estimate if priced else None
    shown = [(100.0 if unit == "%" else 1.0) for _, _, unit in OUTPUTS]  # a share in % (its change in points)
    for p in priced:
        out[p.label] = [_value(p.estimate, attr) * k for (_, attr, _), k in zip(OUTPUTS, shown, strict=True)]
        if p is not priced[0]:
            out[f"{p.label} − {labels[0]}"] = [
                (_value(p.estimate, a) - _value(ref, a)) * k for (_, a, _), k in zip(OUTPUTS, shown, strict=True)
            ]
    outputs = pd.DataFrame(out, index=[f"{name} ({unit})" for name, _, unit in OUTPUTS])
    outputs.index.name = "output"
    moves = []
    said = [(name, attr, unit) for name, attr, unit in OUTPUTS if unit != "quote"]  # the outputs a move names
    for p in priced[1:]:
        differ = [n for n in names if n in differs[p.label]]
        head = f"{p.label} differs from {labels[0]} in " + (", ".join(differ).lower() if differ else "nothing")
        if p.error or priced[0].error:
            moves.append(f"{head}; not compared: {p.error or priced[0].error}")
            continue
        pairs = [(_value(ref, attr), _value(p.estimate, attr)) for _, attr, _ in said]
        if not differ and all(_same(a, b) or (math.isnan(a) and math.isnan(b)) for a, b in pairs):
            moves.append(  # one short line, not a list of "unchanged" (the same order on the same book)
                f"{p.label} is {labels[0]} unchanged, so every figure is the same: give it a side, size, volatility "
                "or latency to compare."
            )
            continue
        parts = [_move(name.lower(), unit, a, b) for (name, _, unit), (a, b) in zip(said, pairs, strict=True)]
        moves.append(f"{head}: " + "; ".join(parts) + ".")
    return Comparison(pinned, priced, inputs, outputs, tuple(moves))


def what_moves(models: Models | None) -> str:
    """Which outputs volatility and latency can move on one book, for the models in use (in words)."""
    slip = models.slippage if models is not None else None
    if slip is not None and getattr(slip, "expected", None) is not None:
        return (
            "On one book, the expected-slippage model is in use: volatility and latency move the expected cost as "
            "well as the p90 band and a limit order's fills. Size, side, order type and fees move the rest."
        )
    p90 = "the p90 band" if slip is not None else "nothing in a market order (no p90 model is loaded)"
    return (
        f"On one book, volatility and latency move only {p90} and a limit order's expected fills: a market "
        "order's expected cost is the book walk, so it stays the same. Size, side, order type and fees move it."
    )


# --------------------------------------------------------------------------------------------------
# While live: the headline figure against its recent median and range


@dataclass(frozen=True)
class RecentRange:
    """The headline net cost now, and its median and range over the last ``window_s`` of books."""

    now_usd: float
    median_usd: float
    low_usd: float
    high_usd: float
    ticks: int  # books in the window
    span_s: float  # seconds the window's books cover (less than the window just after a start)
    window_s: float


def recent_range(
    ticks: pd.DataFrame | None, now_usd: float, *, window_s: float = RECENT_WINDOW_S
) -> RecentRange | None:
    """``ticks`` (``core.views.simulator.tick_table``: ``received_utc``, ``net_cost_usd``) over the last
    ``window_s`` of receive time; None when there are none yet."""
    if ticks is None or not len(ticks):
        return None
    import pandas as pd

    t = ticks["received_utc"]
    recent = ticks[t >= t.iloc[-1] - pd.Timedelta(seconds=window_s)]
    cost = recent["net_cost_usd"].to_numpy(dtype=np.float64)
    cost = cost[np.isfinite(cost)]
    if not cost.size:
        return None
    span = (recent["received_utc"].iloc[-1] - recent["received_utc"].iloc[0]).total_seconds()
    return RecentRange(
        now_usd=float(now_usd),
        median_usd=float(np.median(cost)),
        low_usd=float(cost.min()),
        high_usd=float(cost.max()),
        ticks=int(cost.size),
        span_s=float(span),
        window_s=window_s,
    )


def recent_text(r: RecentRange | None) -> str:
    """One line under the headline: now, the median and the range, and what that range means."""
    if r is None:
        return "Collecting books: the median and range of this order's cost over the last 30 s appear here."
    return (
        f"Net cost now {usd(r.now_usd)}; over the last {r.span_s:.0f} s ({r.ticks:,} books) median "
        f"{usd(r.median_usd)}, range {usd(r.low_usd)} to {usd(r.high_usd)}. A change within this range can be "
        "the book moving, not your input: pin the book below to compare inputs on one book."
    )


def live_lines(view: Any, restarts_s: Sequence[float], *, now_s: float, replay: bool) -> tuple[str, str | None]:
    """What the live view adds under the status line: the headline's recent range, and a note after a replay
    restart (with the volatility restarting, when the view's volatility fell back to the default because of it).

    ``view`` is a ``core.views.simulator.SimulatorView``."""
    e = view.estimate
    recent = recent_text(recent_range(view.ticks, e.net_cost_usd) if e is not None else None)
    vol = view.volatility
    note = restart_note(
        tuple(restarts_s),
        now_s,
        replay=replay,
        volatility_restarting=bool(restarts_s) and vol.source is VolSource.DEFAULT,
        default_vol=vol.annual,
    )
    return recent, note

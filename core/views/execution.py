"""The Execution page's logic without Streamlit: which order, input checks, the plan on the runtime's book, figures.

- ``check_inputs`` takes the order (by default the Simulator's: side, size, instrument and fee settings, read
  through ``core.views.inputs.parse_inputs``, the Simulator's own checks and fee lookup) and the schedule
  settings (horizon, slices, urgency in words), and returns one plain message per bad field, with the valid
  slice counts suggested, so the page can show each next to its field;
- ``execution_plan`` builds the plan (``core.costs.execution.plan_execution``) on the instrument's latest book
  and mid history; ``cost_table``, ``holdings_figure`` and ``frontier_figure`` show it.

Units (docs/METHODOLOGY.md 6.3): base units (BTC), USD, seconds; lambda in 1/USD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.checks import finite_number
from core.costs.execution import (
    DEFAULT_TICK_INTERVAL_S,
    MAX_SLICES,
    ExecutionPlan,
    PlanInputs,
    Urgency,
    plan_execution,
    slice_limit,
    suggest_slices,
    tick_interval,
)
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, Schedule, load_impact
from core.costs.order import Side, SizeUnit
from core.errors import OrderError
from core.market.book import BookSnapshot
from core.market.instruments import Instrument
from core.runtime import Runtime
from core.views import inputs as vi
from core.views.formatting import bps, rate, size_amount, usd
from core.views.market import EXCHANGE_LABELS
from core.views.simulator import market_kind

DEFAULT_HORIZON_S = 600.0
DEFAULT_SLICES = 10  # one slice a minute over the default ten minutes
DEFAULT_URGENCY = Urgency.BALANCED
DEFAULT_NOTIONAL_USD = 1_000_000.0  # the typed order's starting size (the Simulator's order is the default)
MAX_HORIZON_S = 86_400.0  # one day: beyond it one book's calibration says nothing about liquidity
URGENCY_CHOICES: tuple[str, ...] = tuple(u.value for u in Urgency)
#: what each urgency means, in words (the page's help text)
URGENCY_WORDS: Mapping[Urgency, str] = {
    Urgency.PATIENT: "even slices (TWAP): the lowest expected cost, the most exposure to price moves",
    Urgency.STEADY: "a little ahead of even slices",
    Urgency.BALANCED: "about four fifths done by half-time",
    Urgency.URGENT: "nearly all done in the first third",
    Urgency.VERY_URGENT: "most of it in the first slices: close to one market order, little exposure",
}
#: the Simulator's inputs before its page has run in this session: its own defaults (a $10,000 market buy, entry fee tier)
SIMULATOR_DEFAULTS = vi.RawInputs()
FIELDS = ("side", "notional", "fees", "horizon", "slices", "urgency")

SUMMARY = (
    "Should you send the order at once or split it over time? This page plans slices of market orders over a "
    "horizon and compares their expected cost, fees included, with one market order now and with even slices."
)

CALIBRATION = (
    "Each slice is a market order that walks the current book; the book refills between slices (refill time and "
    "the share ψ of each walk's price move that stays come from real taker orders: " + load_impact().describe() + "). "
    "Splitting saves only the part of each walk that does not stay. The square-root law is shown beside the "
    "expected cost as a cross-check of scale."
)

CAVEAT = (
    "In the linear Almgren–Chriss model the schedule's SHAPE does not depend on the order size: with fixed "
    "epsilon, eta, gamma and sigma, a $1,000 order and a $10M order are sliced in the same proportions; only "
    "the expected cost E and its variance V scale (with X and X²). Here eta and gamma are re-fitted to each "
    "order's own walk of the book, so a different size changes the shape only through that calibration."
)


def format_lambda(lam: float) -> str:
    """``0 (TWAP)``, ``3.2e-07 1/USD``."""
    return "0 (TWAP)" if lam == 0 else f"{lam:.2g} 1/USD"


def pct(bps_value: float) -> str:
    """bps as a percentage of the notional, to three significant digits: ``0.0123 %``."""
    if not math.isfinite(bps_value):
        return "n/a"
    p = bps_value / 100.0
    if p == 0:
        return "0 %"
    return f"{p:.{max(2, 2 - math.floor(math.log10(abs(p))))}f} %"


@dataclass(frozen=True, slots=True)
class InputCheck:
    """``inputs`` when everything is valid; otherwise ``errors`` maps a field (``FIELDS``) to a message."""

    inputs: PlanInputs | None
    errors: Mapping[str, str]
    max_slices: int | None  # most slices the horizon allows (None when the horizon is bad)
    suggestions: tuple[int, ...] = ()  # valid slice counts to offer
    order_text: str = ""  # the order being planned, in words ("" when it is invalid)

    @property
    def ok(self) -> bool:
        return self.inputs is not None


def _horizon(horizon_s: Any) -> float:
    horizon = finite_number(horizon_s, "Horizon (seconds)")
    if horizon < 1:
        raise OrderError(f"Horizon must be at least 1 second, got {horizon:g} s.")
    if horizon > MAX_HORIZON_S:
        raise OrderError(
            f"Horizon {horizon:,.0f} s is more than one day ({MAX_HORIZON_S:,.0f} s); one book says little "
            "about liquidity that far ahead."
        )
    return horizon


def _slices(slices: Any, horizon: float, n_max: int | None, tick_s: float, suggestions: tuple[int, ...]) -> int:
    try_ = f" Try {', '.join(str(n) for n in suggestions)}." if suggestions else ""
    nf = finite_number(slices, "Number of slices")
    if not nf.is_integer() or nf < 1:
        raise OrderError(
            f"Use a whole number of slices, at least 1 (1 = one market order now); you entered {nf:g}.{try_}"
        )
    n = int(nf)
    if n_max is not None and n > n_max:
        why = (
            f"the feed updates the book about every {tick_s:.3g} s, so closer slices would trade on the same book"
            if n_max < MAX_SLICES
            else f"the plan draws at most {MAX_SLICES:,} slices"
        )
        raise OrderError(f"At most {n_max:,} slices fit in {horizon:g} s: {why}.{try_}")
    return n


def check_inputs(
    *,
    simulator: vi.RawInputs,
    exchange: str,
    symbol: str,
    market: str,
    use_simulator: bool = True,
    side: Any = None,
    notional_usd: Any = None,
    horizon_s: Any,
    slices: Any,
    urgency: Any,
    tick_interval_s: float = DEFAULT_TICK_INTERVAL_S,
    refill_s: float = DEFAULT_REFILL_S,
    permanent_share: float = DEFAULT_PERMANENT_SHARE,
    mid: float = math.nan,
    instrument: Instrument | None = None,
) -> InputCheck:
    """Validate every field; never raises for bad user input.

    ``simulator`` is what the Simulator's widgets hold. With ``use_simulator`` its side and size are planned;
    otherwise ``side`` and ``notional_usd``. Either way the fee tier is the Simulator's choice for the venue
    (its BNB and override settings included), priced as taker: every slice is a market order.
    """
    raw = simulator if use_simulator else replace(simulator, side=side, quantity_usd=notional_usd, size_unit="usd")
    scenario = vi.parse_inputs(
        replace(raw, order_type="market"),
        exchange=exchange,
        market=market,
        limit_available=False,
        instrument=instrument,
    )
    if instrument is not None and math.isfinite(mid) and mid > 0:  # the venue's minimum and lot, as the Simulator
        scenario = vi.size_order(scenario, instrument, mid)
    whose = "The Simulator's order: " if use_simulator else ""
    errors: dict[str, str] = {}
    for name, key in (("side", vi.SIDE), ("notional", vi.QUANTITY)):
        if key in scenario.errors:
            errors[name] = whose + scenario.errors[key]
    fee_errors = [scenario.errors[k] for k in (vi.FEE_TIER, vi.MAKER_RATE, vi.TAKER_RATE) if k in scenario.errors]
    if fee_errors or scenario.fee_tier is None:
        errors["fees"] = "The Simulator's fee settings: " + " ".join(fee_errors or ["no fee tier for this venue."])
    n_max: int | None = None
    suggestions: tuple[int, ...] = ()
    horizon, n = math.nan, 0
    try:
        horizon = _horizon(horizon_s)
        n_max = slice_limit(horizon, tick_interval_s)
        suggestions = suggest_slices(horizon, n_max)
    except OrderError as exc:
        errors["horizon"] = str(exc)
    try:
        n = _slices(slices, horizon, n_max, tick_interval_s, suggestions)
    except OrderError as exc:
        errors["slices"] = str(exc)
    urgency_v = None
    try:
        urgency_v = Urgency(urgency)
    except ValueError:
        errors["urgency"] = f"Choose an urgency: {', '.join(URGENCY_CHOICES)}."
    order = scenario.order
    if order is not None and order.unit is SizeUnit.BASE:  # sized in coins or contracts on the Simulator
        if not (math.isfinite(mid) and mid > 0):
            errors["notional"] = whose + "it is sized in the coin; waiting for a book to value it in USD."
        else:
            order = replace(order, quantity=order.quantity * mid, unit=SizeUnit.QUOTE)
    if errors or order is None or scenario.fee_tier is None or urgency_v is None:
        return InputCheck(inputs=None, errors=errors, max_slices=n_max, suggestions=suggestions)
    inputs = PlanInputs(
        side=order.side,
        notional_usd=order.quantity,
        horizon_s=horizon,
        slices=n,
        urgency=urgency_v,
        fee_tier=scenario.fee_tier,
        refill_s=refill_s,
        permanent_share=permanent_share,
        base_qty=scenario.sizing.base if scenario.sizing is not None else None,
    )
    z = scenario.sizing
    size = (
        f"{size_amount(z.venue_size, z.venue_unit)} ({usd(order.quantity)})" if z is not None else usd(order.quantity)
    )
    text = (
        f"{order.side.value.capitalize()} {size} of {symbol} on {EXCHANGE_LABELS.get(exchange, exchange)}"
        f"{' (the Simulator’s order)' if use_simulator else ''}; every slice is a market order, so it pays the "
        f"{scenario.fee_tier.label} taker fee, {rate(scenario.fee_tier.taker_rate)}."
    )
    return InputCheck(inputs=inputs, errors={}, max_slices=n_max, suggestions=suggestions, order_text=text)


@dataclass(frozen=True, slots=True)
class PlannedInstrument:
    """The instrument the planner works the order on, and what the page needs to know about it."""

    exchange: str
    symbol: str
    market: str  # the fee table's market: "spot" or "swap"
    base: str
    tick_interval_s: float  # the feed's median interval between this instrument's books


def planned_instrument(rt: Runtime, simulator_instrument: Any) -> PlannedInstrument:
    """The Simulator's instrument (its ``sim_instrument``) when it has one, else the one the feed streams."""
    if isinstance(simulator_instrument, tuple | list) and len(simulator_instrument) == 2:
        exchange, symbol = str(simulator_instrument[0]), str(simulator_instrument[1])
    else:
        status = rt.status()
        exchange, symbol = status.exchange, status.symbol
    inst = rt.instrument(exchange, symbol)
    return PlannedInstrument(
        exchange, symbol, market_kind(inst), inst.base, tick_interval(rt.mids(exchange, symbol)[0])
    )


def execution_plan(rt: Runtime, snapshot: BookSnapshot, inputs: PlanInputs) -> ExecutionPlan:
    """The plan for ``inputs`` on ``snapshot`` and its instrument's mid history; ``SimulatorError`` (plain
    message) when it cannot be built."""
    base = rt.instrument(snapshot.exchange, snapshot.symbol).base
    return plan_execution(snapshot, rt.mids(snapshot.exchange, snapshot.symbol), inputs, base_unit=base)


def cost_table(plan: ExecutionPlan) -> pd.DataFrame:
    """The schedule, TWAP and one market order now side by side: book cost, fees, total in USD, bps and %."""
    rows = [
        {
            "way to execute": c.label,
            "book cost (USD)": usd(c.slippage_usd),
            "fees (USD)": usd(c.fee_usd),
            "total (USD)": usd(c.total_usd),
            "total (bps)": bps(c.total_bps),
            "total (%)": pct(c.total_bps),
            "std of cost (USD)": usd(c.std_usd),
        }
        for c in plan.costs
    ]
    return pd.DataFrame(rows)


def share_done(schedule: Schedule, at_fraction: float = 0.5) -> float:
    """Share of the order traded by ``at_fraction`` of the horizon (slices sent before that time), 0..1."""
    s = schedule
    sent = s.times[:-1] < at_fraction * s.T - 1e-9 * s.T
    total = abs(s.X)
    return float(np.abs(s.trades[sent]).sum() / total) if total > 0 else 0.0


def urgency_details(plan: ExecutionPlan) -> str:
    """What the urgency word means for this plan: its lambda (1/USD), kappa_tilde T, and the share done by half-time."""
    s, u = plan.schedule, plan.inputs.urgency
    return (
        f"**{u.value.capitalize()}**: {URGENCY_WORDS[u]}. Risk aversion λ = {format_lambda(plan.lam)}, chosen so "
        f"that κ̃T = {u.kappa_tilde_T:g} (λ = (κ̃T)² η̃ / (σ² T²), η̃ = {s.eta_tilde:.4g} USD·s/{plan.base_unit}²). "
        f"The schedule minimises E + λV; {share_done(s):.0%} of the order is traded in the first half of the "
        f"horizon (even slices: {share_done(plan.twap):.0%}). λ where the schedule starts "
        f"to bend away from TWAP (κ̃T = 1): {plan.lam_c:.2g} 1/USD."
    )


# ---- figures -------------------------------------------------------------------------------------
def holdings_figure(plan: ExecutionPlan) -> go.Figure:
    """Remaining quantity over time for the chosen schedule and TWAP, with each slice's trade as bars."""
    s, u = plan.schedule, plan.base_unit
    verb = "buy" if plan.inputs.side is Side.BUY else "sell"
    left = f"%{{x:.0f}} s: %{{y:.4g}} {u} left<extra></extra>"
    fig = go.Figure()
    fig.add_bar(
        x=s.times[:-1],
        y=np.abs(s.trades),
        width=s.tau * 0.8,
        offset=0,
        name=f"trade per slice ({u})",
        marker_color="rgba(31,111,235,0.35)",
        hovertemplate=f"sent at %{{x:.0f}} s: %{{y:.4g}} {u}<extra>trade</extra>",
    )
    fig.add_scatter(
        x=s.times,
        y=np.abs(s.holdings),
        mode="lines+markers" if s.N <= 100 else "lines",
        name=f"this schedule ({plan.inputs.urgency.value})",
        line=dict(color="#1f6feb", width=3),
        hovertemplate=left,
    )
    fig.add_scatter(
        x=plan.twap.times,
        y=np.abs(plan.twap.holdings),
        mode="lines",
        name="even slices (TWAP)",
        line=dict(color="#888", dash="dash"),
        hovertemplate=left,
    )
    fig.update_layout(
        title=f"Holdings: {u} left to {verb}",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="time (s)",
        yaxis_title=u,
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def frontier_figure(plan: ExecutionPlan) -> go.Figure:
    """Efficient frontier, E (USD) against sqrt(V) (USD), with the chosen, TWAP and immediate points (fees
    excluded: they are the same for every schedule)."""
    f, s = plan.frontier, plan.schedule
    fig = go.Figure()
    fig.add_scatter(
        x=f.std,
        y=f.expected_cost,
        mode="lines",
        name="efficient frontier",
        line=dict(color="#1f6feb"),
        customdata=f.lam,
        hovertemplate="λ %{customdata:.2e} 1/USD: √V $%{x:,.0f}, E $%{y:,.2f}<extra></extra>",
    )
    fig.add_scatter(
        x=[s.std],
        y=[s.expected_cost],
        mode="markers",
        name=f"this schedule ({plan.inputs.urgency.value})",
        marker=dict(size=14, color="#d62728", symbol="star"),
    )
    fig.add_scatter(
        x=[plan.twap.std],
        y=[plan.twap.expected_cost],
        mode="markers",
        name="even slices (TWAP)",
        marker=dict(size=11, color="#555", symbol="square"),
    )
    fig.add_scatter(
        x=[0.0],
        y=[plan.walk.cost],
        mode="markers",
        name="one market order now",
        marker=dict(size=11, color="#ff7f0e", symbol="diamond"),
    )
    fig.update_layout(
        title="Expected cost against its risk (fees excluded)",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="√V, standard deviation of cost (USD)",
        yaxis_title="E, expected book cost (USD)",
        legend=dict(orientation="h", y=-0.25),
    )
    return fig

"""The Execution page's logic without Streamlit: input checks, the plan on the runtime's book, the figures.

- ``check_inputs`` validates what the user typed (order size and side, horizon, slices, risk aversion) and
  returns one plain message per bad field, so the page can show it next to that field;
- ``execution_plan`` builds the plan (``core.costs.execution.plan_execution``) on the runtime's latest book
  and mid history; ``holdings_figure`` and ``frontier_figure`` draw it.

Units (docs/METHODOLOGY.md 6.3): base units (BTC), USD, seconds; lambda in 1/USD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.checks import finite_number
from core.costs.execution import ExecutionPlan, PlanInputs, plan_execution, slice_bounds
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, load_impact
from core.costs.order import Order, Side, SizeUnit
from core.errors import OrderError
from core.market.book import BookSnapshot
from core.runtime import Runtime

DEFAULT_NOTIONAL_USD = 1_000_000.0
DEFAULT_HORIZON_S = 600.0
#: the fewest valid slices for the default horizon with the calibrated constants (the longest slices allowed)
DEFAULT_SLICES = slice_bounds(DEFAULT_HORIZON_S)[0]
DEFAULT_LAMBDA = 1e-6  # 1/USD; the paper's example value, and kappa T of a few on the bundled books
MAX_HORIZON_S = 86_400.0  # one day: beyond it one book's calibration says nothing about liquidity
MAX_LAMBDA = 1.0  # 1/USD; far beyond any sensible risk aversion (kappa T in the thousands)
#: risk aversions offered in the UI, 1/USD: 0 (TWAP) then 1, 3, 10, ... per decade from 1e-10 to 1e-3
LAMBDA_CHOICES: tuple[float, ...] = (0.0,) + tuple(float(f"{m}e{e}") for e in range(-10, -3) for m in (1, 3)) + (1e-3,)
FIELDS = ("side", "notional", "horizon", "slices", "lam")

CALIBRATION = (
    "Permanent share ψ and refill time come from real taker orders: " + load_impact().describe() + ". With a book that "
    "refills this fast, the linear model needs slices shorter than refill time / ψ, so a schedule has many short "
    "slices. The square-root law is shown beside the expected cost as a cross-check of scale."
)

CAVEAT = (
    "In the linear Almgren–Chriss model the schedule's SHAPE does not depend on the order size: with fixed "
    "epsilon, eta, gamma and sigma, a $1,000 order and a $10M order are sliced in the same proportions; only "
    "the expected cost E and its variance V scale (with X and X²). Here eta and gamma are re-fitted to each "
    "order's own walk of the book, so a different size changes the shape only through that calibration."
)


def format_lambda(lam: float) -> str:
    """Label for the risk-aversion choices: ``0 (TWAP)``, ``1e-06``."""
    return "0 (TWAP)" if lam == 0 else f"{lam:.0e}"


@dataclass(frozen=True, slots=True)
class InputCheck:
    """``inputs`` when everything is valid; otherwise ``errors`` maps a field (``FIELDS``) to a message."""

    inputs: PlanInputs | None
    errors: Mapping[str, str]
    bounds: tuple[int, int] | None  # valid slices for the horizon (None when the horizon is bad)

    @property
    def ok(self) -> bool:
        return self.inputs is not None


def check_inputs(
    *,
    side: Any,
    notional_usd: Any,
    horizon_s: Any,
    slices: Any,
    lam: Any,
    refill_s: float = DEFAULT_REFILL_S,
    permanent_share: float = DEFAULT_PERMANENT_SHARE,
) -> InputCheck:
    """Validate every field; never raises for bad user input."""
    errors: dict[str, str] = {}
    side_v: Side | None = None
    try:
        side_v = Side.parse(side)
    except OrderError as exc:
        errors["side"] = str(exc)
    notional = math.nan
    try:
        notional = Order(side_v or Side.BUY, notional_usd, unit=SizeUnit.QUOTE).quantity
    except OrderError as exc:
        errors["notional"] = str(exc)
    bounds = None
    horizon = math.nan
    try:
        horizon = finite_number(horizon_s, "Horizon (seconds)")
        if horizon < 1:
            raise OrderError(f"Horizon must be at least 1 second, got {horizon:g} s.")
        if horizon > MAX_HORIZON_S:
            raise OrderError(
                f"Horizon {horizon:,.0f} s is more than one day ({MAX_HORIZON_S:,.0f} s); one book says little "
                "about liquidity that far ahead."
            )
        bounds = slice_bounds(horizon, refill_s=refill_s, permanent_share=permanent_share)
    except OrderError as exc:
        errors["horizon"] = str(exc)
    n = 0
    try:
        nf = finite_number(slices, "Number of slices")
        if not nf.is_integer() or nf < 1:
            raise OrderError(f"Number of slices must be a whole number of at least 1, got {nf:g}.")
        n = int(nf)
        if bounds is not None and not bounds[0] <= n <= bounds[1]:
            lo, hi = bounds
            raise OrderError(
                f"For a {horizon:g} s horizon use {lo} to {hi} slices. Fewer makes each slice longer than "
                f"{refill_s / permanent_share:g} s, where the model breaks down (eta_tilde <= 0); more makes slices "
                f"shorter than the {refill_s:g} s the book needs to refill."
            )
    except OrderError as exc:
        errors["slices"] = str(exc)
    lam_v = math.nan
    try:
        lam_v = finite_number(lam, "Risk aversion lambda")
        if lam_v < 0:
            raise OrderError(f"Risk aversion lambda must be >= 0 (0 = TWAP), got {lam_v:g} 1/USD.")
        if lam_v > MAX_LAMBDA:
            raise OrderError(f"Risk aversion lambda {lam_v:g} 1/USD is absurdly large; use at most {MAX_LAMBDA:g}.")
    except OrderError as exc:
        errors["lam"] = str(exc)
    if errors:
        return InputCheck(inputs=None, errors=errors, bounds=bounds)
    assert side_v is not None
    inputs = PlanInputs(
        side=side_v,
        notional_usd=notional,
        horizon_s=horizon,
        slices=n,
        lam=lam_v,
        refill_s=refill_s,
        permanent_share=permanent_share,
    )
    return InputCheck(inputs=inputs, errors={}, bounds=bounds)


def execution_plan(rt: Runtime, snapshot: BookSnapshot, inputs: PlanInputs) -> ExecutionPlan:
    """The plan for ``inputs`` on ``snapshot`` and the runtime's mid history; ``SimulatorError`` (plain
    message) when it cannot be built."""
    base = rt.instrument(snapshot.exchange, snapshot.symbol).base
    return plan_execution(snapshot, rt.mids(), inputs, base_unit=base)


# ---- figures -------------------------------------------------------------------------------------
def holdings_figure(plan: ExecutionPlan) -> go.Figure:
    """Remaining quantity over time for the chosen schedule and TWAP, with each slice's trade as bars."""
    s, u = plan.schedule, plan.base_unit
    verb = "buy" if plan.inputs.side is Side.BUY else "sell"
    left = f"%{{x:.0f}} s: %{{y:.4g}} {u} left<extra></extra>"
    fig = go.Figure()
    fig.add_bar(
        x=0.5 * (s.times[:-1] + s.times[1:]),
        y=np.abs(s.trades),
        width=s.tau * 0.8,
        name=f"trade per slice ({u})",
        marker_color="rgba(31,111,235,0.35)",
        hovertemplate=f"%{{x:.0f}} s: %{{y:.4g}} {u}<extra>trade</extra>",
    )
    fig.add_scatter(
        x=s.times,
        y=np.abs(s.holdings),
        mode="lines+markers" if s.N <= 100 else "lines",
        name=f"optimal, λ = {format_lambda(s.lam)}",
        line=dict(color="#1f6feb", width=3),
        hovertemplate=left,
    )
    fig.add_scatter(
        x=plan.twap.times,
        y=np.abs(plan.twap.holdings),
        mode="lines",
        name="TWAP (λ = 0)",
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
    """Efficient frontier, E (USD) against sqrt(V) (USD), with the chosen, TWAP and immediate points."""
    f, s = plan.frontier, plan.schedule
    fig = go.Figure()
    fig.add_scatter(
        x=f.std,
        y=f.expected_cost,
        mode="lines",
        name="efficient frontier",
        line=dict(color="#1f6feb"),
        customdata=f.lam,
        hovertemplate="λ %{customdata:.2e}: √V $%{x:,.0f}, E $%{y:,.2f}<extra></extra>",
    )
    fig.add_scatter(
        x=[s.std],
        y=[s.expected_cost],
        mode="markers",
        name=f"chosen (λ = {format_lambda(s.lam)})",
        marker=dict(size=14, color="#d62728", symbol="star"),
    )
    fig.add_scatter(
        x=[math.sqrt(s.twap_variance)],
        y=[s.twap_expected_cost],
        mode="markers",
        name="TWAP (λ = 0)",
        marker=dict(size=11, color="#555", symbol="square"),
    )
    fig.add_scatter(
        x=[0.0],
        y=[s.immediate_cost],
        mode="markers",
        name="immediate (all in slice 1)",
        marker=dict(size=11, color="#ff7f0e", symbol="diamond"),
    )
    fig.update_layout(
        title="Efficient frontier: E against √V",
        height=360,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="√V, standard deviation of cost (USD)",
        yaxis_title="E, expected cost (USD)",
        legend=dict(orientation="h", y=-0.25),
    )
    return fig

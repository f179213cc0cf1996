"""The Execution page's plan: an Almgren–Chriss schedule for an order, calibrated on the current book.

Two plain functions, both tested without Streamlit:

- ``check_inputs`` validates what the user typed (order size and side, horizon, slices, risk aversion) and
  returns one plain message per bad field, so the page can show it next to that field;
- ``plan_execution`` calibrates epsilon, eta, gamma on the latest book (``core.costs.impact.calibrate``) and
  sigma from the mid history (``core.costs.volatility.realised_vol``), then builds the chosen schedule, the
  TWAP (lambda = 0) and immediate benchmarks, the efficient frontier, the trade list and the parameter
  table. ``plan_figures`` draws the holdings and frontier charts from the plan.

Units (docs/METHODOLOGY.md 6.3): base units (BTC), USD, seconds; lambda in 1/USD.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.checks import finite_number
from core.costs.impact import (
    DEFAULT_PERMANENT_SHARE,
    DEFAULT_REFILL_S,
    Calibration,
    Frontier,
    Schedule,
    calibrate,
    characteristic_lam,
    efficient_frontier,
)
from core.costs.order import Order, Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.costs.walk import walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot

DEFAULT_NOTIONAL_USD = 1_000_000.0
DEFAULT_HORIZON_S = 600.0
DEFAULT_SLICES = 40  # tau = 15 s for 600 s: inside the valid 31..60
DEFAULT_LAMBDA = 1e-6  # 1/USD; the paper's example value, and kappa T of a few on the bundled books
MAX_HORIZON_S = 86_400.0  # one day: beyond it one book's calibration says nothing about liquidity
MAX_LAMBDA = 1.0  # 1/USD; far beyond any sensible risk aversion (kappa T in the thousands)
#: risk aversions offered in the UI, 1/USD: 0 (TWAP) then 1, 3, 10, ... per decade from 1e-10 to 1e-3
LAMBDA_CHOICES: tuple[float, ...] = (0.0,) + tuple(float(f"{m}e{e}") for e in range(-10, -3) for m in (1, 3)) + (1e-3,)
FIELDS = ("side", "notional", "horizon", "slices", "lam")

CAVEAT = (
    "In the linear Almgren–Chriss model the schedule's SHAPE does not depend on the order size: with fixed "
    "epsilon, eta, gamma and sigma, a $1,000 order and a $10M order are sliced in the same proportions; only "
    "the expected cost E and its variance V scale (with X and X²). Here eta and gamma are re-fitted to each "
    "order's own walk of the book, so a different size changes the shape only through that calibration."
)


def format_lambda(lam: float) -> str:
    """Label for the risk-aversion choices: ``0 (TWAP)``, ``1e-06``."""
    return "0 (TWAP)" if lam == 0 else f"{lam:.0e}"


def slice_bounds(
    horizon_s: float, *, refill_s: float = DEFAULT_REFILL_S, permanent_share: float = DEFAULT_PERMANENT_SHARE
) -> tuple[int, int]:
    """Valid numbers of slices for a horizon: the same rule as ``Calibration.period_bounds``.

    eta_tilde > 0 needs slices shorter than refill_s / permanent_share (so N >= n_min), and the model
    assumes the book refills between slices, so slices are at least refill_s long (N <= n_max).
    """
    n_min = int(math.floor(horizon_s * permanent_share / refill_s)) + 1
    n_max = max(int(math.floor(horizon_s / refill_s)), 1)
    return n_min, n_max


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Validated inputs of one plan."""

    side: Side
    notional_usd: float
    horizon_s: float
    slices: int
    lam: float  # 1/USD
    refill_s: float = DEFAULT_REFILL_S
    permanent_share: float = DEFAULT_PERMANENT_SHARE


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


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """Everything the Execution page shows for one book and one set of inputs."""

    inputs: PlanInputs
    base_unit: str
    mid: float
    base_qty: float  # order size in base units (the USD notional walked on the book)
    volatility: Volatility
    calibration: Calibration
    schedule: Schedule  # the chosen lambda
    twap: Schedule  # lambda = 0
    frontier: Frontier
    lam_c: float  # lambda where kappa_tilde T = 1 (the schedule visibly bends away from TWAP)
    trades: pd.DataFrame
    params: pd.DataFrame
    notes: tuple[str, ...] = field(default=())

    @property
    def immediate_cost(self) -> float:
        """Everything in the first slice (eq. 13), USD; its variance is 0."""
        return self.schedule.immediate_cost


def trade_list(schedule: Schedule, *, mid: float, base_unit: str = "BTC") -> pd.DataFrame:
    """One row per slice: times, quantity (positive, in base units), USD at the arrival mid, remaining."""
    n = np.abs(schedule.trades)
    total = abs(schedule.X)
    return pd.DataFrame(
        {
            "slice": np.arange(1, schedule.N + 1),
            "start (s)": schedule.times[:-1],
            "end (s)": schedule.times[1:],
            f"trade ({base_unit})": n,
            "trade (USD at mid)": n * mid,
            "share of order (%)": n / total * 100.0 if total > 0 else np.zeros_like(n),
            f"remaining after ({base_unit})": np.abs(schedule.holdings[1:]),
        }
    )


def parameter_table(cal: Calibration, vol: Volatility, *, base_unit: str = "BTC") -> pd.DataFrame:
    """epsilon, eta, gamma, sigma (and the inputs behind them) with units and how each was obtained."""
    u = base_unit

    def row(sym: str, value: float, unit: str, how: str) -> dict[str, str]:
        return {"parameter": sym, "value": f"{value:.4g}", "unit": unit, "how it was obtained": how}

    rows = [
        row("epsilon (ε)", cal.epsilon, f"USD/{u}", cal.how.get("epsilon", "")),
        row("eta (η)", cal.eta, f"USD·s/{u}²", cal.how.get("eta", "")),
        row("gamma (γ)", cal.gamma, f"USD/{u}²", cal.how.get("gamma", "")),
        row("sigma (σ)", cal.sigma, f"USD/{u}/√s", f"{cal.how.get('sigma', '')} {vol.note}".strip()),
        row("rho (ρ)", cal.rho, f"{u}²/USD", cal.how.get("rho", "")),
        row("refill time", cal.refill_s, "s", "Setting: how long consumed depth takes to come back (default)."),
        row(
            "permanent share (ψ)",
            cal.permanent_share,
            "fraction",
            "Setting: share of the walk's price move that persists (default).",
        ),
    ]
    return pd.DataFrame(rows, columns=["parameter", "value", "unit", "how it was obtained"])


def plan_execution(
    snapshot: BookSnapshot,
    mid_history: tuple[np.ndarray, np.ndarray],
    inputs: PlanInputs,
    *,
    base_unit: str = "BTC",
) -> ExecutionPlan:
    """Calibrate on ``snapshot`` and build the plan. Raises ``OrderError`` (plain message) if it cannot."""
    mid = snapshot.mid
    walk = walk_book(snapshot, inputs.side, inputs.notional_usd, unit=SizeUnit.QUOTE)
    notes = []
    if walk.beyond_visible:
        notes.append(
            f"The order is larger than the visible book: {walk.extrapolated_base:.4g} {base_unit} were priced by "
            "extending the book at its average depth (conservative)."
        )
    vol = realised_vol(*mid_history, mid=mid)
    cal = calibrate(
        snapshot,
        inputs.side,
        walk.filled_base,
        sigma=mid * vol.sigma_per_sqrt_s,
        refill_s=inputs.refill_s,
        permanent_share=inputs.permanent_share,
        walk=walk,
    )
    T, N = inputs.horizon_s, inputs.slices
    try:
        sched = cal.schedule(T=T, N=N, lam=inputs.lam)
        twap = cal.schedule(T=T, N=N, lam=0.0)
        frontier = efficient_frontier(sched.X, cal.sigma, T, N, cal.epsilon, cal.eta, cal.gamma)
    except ValueError as exc:
        raise OrderError(f"No valid schedule for these inputs: {exc}") from None
    lam_c = characteristic_lam(sigma=cal.sigma, T=T, N=N, eta=cal.eta, gamma=cal.gamma)
    return ExecutionPlan(
        inputs=inputs,
        base_unit=base_unit,
        mid=mid,
        base_qty=walk.filled_base,
        volatility=vol,
        calibration=cal,
        schedule=sched,
        twap=twap,
        frontier=frontier,
        lam_c=lam_c,
        trades=trade_list(sched, mid=mid, base_unit=base_unit),
        params=parameter_table(cal, vol, base_unit=base_unit),
        notes=tuple(notes),
    )


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

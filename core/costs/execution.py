"""The Execution page's plan: an Almgren–Chriss schedule for an order, calibrated on the current book.

``plan_execution`` calibrates epsilon, eta, gamma on the latest book (``core.costs.impact.calibrate``) and
sigma from the mid history (``core.costs.volatility.realised_vol``), then builds the chosen schedule, the
TWAP (lambda = 0) and immediate benchmarks, the efficient frontier, the trade list and the parameter
table. ``slice_bounds`` is the valid number of slices for a horizon. The permanent share and refill time default to the
constants calibrated from real taker orders (``data/impact.json``, ``core.costs.impact.load_impact``), and
``SqrtLaw`` puts the square-root law of metaorder impact beside the schedule's cost as a cross-check. The input checks and figures live in
``core.views.execution``.

Units (docs/METHODOLOGY.md 6.3): base units (BTC), USD, seconds; lambda in 1/USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.costs.impact import (
    DEFAULT_PERMANENT_SHARE,
    DEFAULT_REFILL_S,
    SQRT_LAW_Y,
    Calibration,
    Frontier,
    Schedule,
    calibrate,
    characteristic_lam,
    efficient_frontier,
    impact_source,
    load_impact,
    sqrt_law_bps,
)
from core.costs.order import Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.costs.walk import walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot


def slice_bounds(
    horizon_s: float, *, refill_s: float = DEFAULT_REFILL_S, permanent_share: float = DEFAULT_PERMANENT_SHARE
) -> tuple[int, int]:
    """Valid numbers of slices for a horizon: the same rule as ``Calibration.period_bounds``.

    eta_tilde > 0 needs slices shorter than refill_s / permanent_share (so N >= n_min), and the model
    assumes the book refills between slices, so slices are at least refill_s long (N <= n_max).
    """
    n_min = math.floor(horizon_s * permanent_share / refill_s) + 1
    n_max = max(math.floor(horizon_s / refill_s), 1)
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
class SqrtLaw:
    """The square-root law ``Y σ_daily sqrt(Q / V_daily)`` for this order: a cross-check of scale, not the model."""

    low_bps: float  # Y = SQRT_LAW_Y[0]
    high_bps: float  # Y = SQRT_LAW_Y[-1]
    sigma_daily: float  # fraction
    daily_volume_usd: float
    how: str  # where sigma and the daily volume come from (the volume is an assumption)


def sqrt_law(notional_usd: float, vol: Volatility, exchange: str, symbol: str) -> SqrtLaw | None:
    """The square-root law for this order, or None when no daily volume is known for the instrument."""
    volume = load_impact().daily_volume_usd.get(f"{exchange}:{symbol}")
    if not volume:
        return None
    sigma_daily = vol.annual / math.sqrt(365.0)
    lo, hi = (sqrt_law_bps(notional_usd, sigma_daily, volume, y) for y in (SQRT_LAW_Y[0], SQRT_LAW_Y[-1]))
    how = (
        f"Y = {SQRT_LAW_Y[0]:g}–{SQRT_LAW_Y[-1]:g}; σ_daily {sigma_daily:.2%} from the {vol.source.value} volatility; "
        f"V_daily ≈ ${volume / 1e9:,.1f}bn, an assumption: the bundled trade tape's rate scaled to 24 h "
        "(data/impact.json)"
    )
    return SqrtLaw(lo, hi, sigma_daily, volume, how)


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
    sqrt_law: SqrtLaw | None = None

    @property
    def expected_cost_bps(self) -> float:
        """The chosen schedule's expected cost in bps of the order's notional at the arrival mid."""
        notional = self.base_qty * self.mid
        return self.schedule.expected_cost / notional * 1e4 if notional > 0 else 0.0

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
        row(
            "refill time",
            cal.refill_s,
            "s",
            f"How long consumed depth takes to come back; {impact_source(cal.permanent_share, cal.refill_s)}. "
            f"{load_impact().describe()}.",
        ),
        row(
            "permanent share (ψ)",
            cal.permanent_share,
            "fraction",
            "Share of the walk's price move that persists (mid markout 30 s after real taker orders over their "
            f"depth cost); {impact_source(cal.permanent_share, cal.refill_s)}.",
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
        sqrt_law=sqrt_law(walk.filled_quote, vol, snapshot.exchange, snapshot.symbol),
    )

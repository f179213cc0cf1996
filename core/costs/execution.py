"""The Execution page's plan: an Almgren–Chriss schedule for an order, calibrated on the current book.

``plan_execution`` calibrates epsilon, rho and gamma on the latest book (``core.costs.impact.calibrate``) and
sigma from the mid history (``core.costs.volatility.realised_vol``), then builds the schedule for the chosen
urgency, the TWAP (lambda = 0) and the immediate walk (one market order now) with the taker fee added to
each, the efficient frontier, the trade list and the parameter table.

Every slice is a market order that walks the book. When slices are at least the book's refill time apart
(0.155 s, calibrated from real taker orders, ``data/impact.json``), each slice meets a refilled book and pays
its own walk, ``n^2 / (2 rho)`` beyond the touch: ``slice_eta`` is then ``tau / (2 rho)``; shorter slices pay the
rate model's ``refill / (2 rho)``. The permanent share psi of every walk stays (gamma = psi / rho), so
``eta_tilde = (max(tau, refill) - psi tau) / (2 rho)`` is positive for every slice count and every schedule of
1 to ``slice_limit`` slices plans (docs/METHODOLOGY.md 6.6). ``SqrtLaw`` puts the square-root law of
metaorder impact beside the schedule's cost as a cross-check. Input checks and figures: ``core.views.execution``.

Units (docs/METHODOLOGY.md 6.3): base units (BTC), USD, seconds; lambda in 1/USD.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.costs.fees import FeeTier, expected_fee
from core.costs.impact import (
    DEFAULT_PERMANENT_SHARE,
    DEFAULT_REFILL_S,
    MIN_FIT_LEVELS,
    SQRT_LAW_Y,
    Calibration,
    Frontier,
    Schedule,
    almgren_chriss,
    calibrate,
    characteristic_lam,
    efficient_frontier,
    impact_source,
    load_impact,
    sqrt_law_bps,
)
from core.costs.order import Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.costs.walk import Walk, walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot

#: the feed's book interval assumed until enough books have arrived to measure it (the bundled feeds' 100 ms)
DEFAULT_TICK_INTERVAL_S = 0.1
#: books needed before the feed's own interval is used
MIN_TICKS_FOR_INTERVAL = 20
#: most slices a plan draws, so the trade list and the frontier's schedules stay quick to build and show
MAX_SLICES = 10_000


class Urgency(enum.Enum):
    """How soon the trader wants the order done, in words; mapped to the risk aversion lambda (``urgency_lam``)."""

    PATIENT = "patient"
    STEADY = "steady"
    BALANCED = "balanced"
    URGENT = "urgent"
    VERY_URGENT = "very urgent"

    @property
    def kappa_tilde_T(self) -> float:
        """The schedule's bend over the horizon, kappa_tilde T: 0 is TWAP; about 3 leaves ~5 % for the last third."""
        return URGENCY_KAPPA_T[self]


#: kappa_tilde T per urgency: a dimensionless bend, so a word means the same shape for any order, book and horizon
URGENCY_KAPPA_T: dict[Urgency, float] = {
    Urgency.PATIENT: 0.0,
    Urgency.STEADY: 1.0,
    Urgency.BALANCED: 3.0,
    Urgency.URGENT: 8.0,
    Urgency.VERY_URGENT: 20.0,
}


def urgency_lam(urgency: Urgency, *, sigma: float, T: float, eta_tilde: float) -> float:
    """lambda (1/USD) giving ``kappa_tilde T = urgency.kappa_tilde_T``: (kappa_tilde T)^2 eta_tilde / (sigma^2 T^2).

    kappa_tilde^2 = lambda sigma^2 / eta_tilde, so this is the square of the bend times ``characteristic_lam``
    (kappa_tilde T = 1). Without volatility there is no risk to trade against: 0.
    """
    if not (sigma > 0 and T > 0 and eta_tilde > 0):
        return 0.0
    return urgency.kappa_tilde_T**2 * eta_tilde / (sigma * sigma * T * T)


def slice_eta(rho: float, refill_s: float, tau: float) -> float:
    """eta for slices tau seconds apart: max(tau, refill_s) / (2 rho).

    With ``tau >= refill_s`` each slice meets a refilled book and pays its own walk beyond the touch,
    ``(eta / tau) n^2 = n^2 / (2 rho)``; with shorter slices the book has not refilled and the rate model of the
    calibration (``Calibration.eta = refill_s / (2 rho)``) applies.
    """
    return max(tau, refill_s) / (2.0 * rho)


def tick_interval(times_s: np.ndarray) -> float:
    """The feed's median interval between books, seconds (exchange time); ``DEFAULT_TICK_INTERVAL_S`` before
    ``MIN_TICKS_FOR_INTERVAL`` books have arrived."""
    t = np.asarray(times_s, dtype=np.float64)
    if t.size < MIN_TICKS_FOR_INTERVAL:
        return DEFAULT_TICK_INTERVAL_S
    d = np.diff(t)
    d = d[d > 0]
    med = float(np.median(d)) if d.size else math.nan
    return med if math.isfinite(med) and med > 0 else DEFAULT_TICK_INTERVAL_S


def slice_limit(horizon_s: float, tick_interval_s: float = DEFAULT_TICK_INTERVAL_S) -> int:
    """Most slices a horizon allows: one per book update at the feed's interval (slices closer together would
    trade on the same book), and at most ``MAX_SLICES``; always at least 1."""
    if not (tick_interval_s > 0 and horizon_s > 0):
        return 1
    return max(1, min(MAX_SLICES, math.floor(horizon_s / tick_interval_s + 1e-9)))


def suggest_slices(horizon_s: float, n_max: int) -> tuple[int, ...]:
    """A few valid slice counts to offer: one market order now, and slices every 5 min, 1 min, 10 s, 1 s
    (where they fit), and the most allowed."""
    out = {1, n_max}
    for every_s in (300.0, 60.0, 10.0, 1.0):
        n = math.floor(horizon_s / every_s)
        if 1 <= n <= n_max:
            out.add(n)
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class PlanInputs:
    """Validated inputs of one plan. ``fee_tier`` prices every slice as a taker (a market order)."""

    side: Side
    notional_usd: float
    horizon_s: float
    slices: int
    urgency: Urgency
    fee_tier: FeeTier
    refill_s: float = DEFAULT_REFILL_S
    permanent_share: float = DEFAULT_PERMANENT_SHARE
    #: the size in base units as the venue takes it (rounded down to its lot, as on the Simulator); None: the
    #: notional is walked as USD and the base size is whatever it buys
    base_qty: float | None = None


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
class PlanCost:
    """One way to execute the order, priced: book cost (slippage vs the arrival mid), taker fees, their total."""

    label: str
    slippage_usd: float  # expected cost vs the arrival mid, impact included
    fee_usd: float  # taker fee on the order's notional (the same for every way: fees do not depend on the path)
    std_usd: float  # standard deviation of the cost from price moves while the order is worked
    notional_usd: float  # the order's value at the arrival mid (the bps and % denominator)

    @property
    def total_usd(self) -> float:
        return self.slippage_usd + self.fee_usd

    @property
    def total_bps(self) -> float:
        return self.total_usd / self.notional_usd * 1e4 if self.notional_usd > 0 else 0.0

    @property
    def total_pct(self) -> float:
        return self.total_bps / 100.0


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """Everything the Execution page shows for one book and one set of inputs."""

    inputs: PlanInputs
    base_unit: str
    mid: float
    base_qty: float  # order size in base units (the USD notional walked on the book)
    volatility: Volatility
    calibration: Calibration
    eta: float  # slice_eta for these slices, USD·s/base² (the calibration's eta is the rate model's)
    lam: float  # the urgency's risk aversion, 1/USD
    schedule: Schedule  # the chosen urgency
    twap: Schedule  # lambda = 0
    walk: Walk  # the whole order as one market order now
    frontier: Frontier
    lam_c: float  # lambda where kappa_tilde T = 1 (the schedule visibly bends away from TWAP)
    fee_usd: float  # taker fee on the order's notional
    trades: pd.DataFrame
    params: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    sqrt_law: SqrtLaw | None = None

    @property
    def notional_usd(self) -> float:
        """The order's value at the arrival mid: the denominator of every bps and % on the page."""
        return self.base_qty * self.mid

    @property
    def expected_cost_bps(self) -> float:
        """The chosen schedule's expected book cost (fees excluded) in bps of the order's notional at the mid."""
        n = self.notional_usd
        return self.schedule.expected_cost / n * 1e4 if n > 0 else 0.0

    @property
    def immediate_cost(self) -> float:
        """The model's cost of everything in the first slice (eq. 13), USD; its variance is 0."""
        return self.schedule.immediate_cost

    @property
    def costs(self) -> tuple[PlanCost, PlanCost, PlanCost]:
        """The chosen schedule, TWAP and one market order now, each with the taker fee."""
        s, t, n, f = self.schedule, self.twap, self.notional_usd, self.fee_usd
        slices = f"{s.N} slice{'s' if s.N != 1 else ''}"
        return (
            PlanCost(f"This schedule ({self.inputs.urgency.value}, {slices})", s.expected_cost, f, s.std, n),
            PlanCost(f"TWAP ({slices} of equal size)", t.expected_cost, f, t.std, n),
            PlanCost("Now: one market order (book walk)", self.walk.cost, f, 0.0, n),
        )


def trade_list(schedule: Schedule, *, mid: float, base_unit: str = "BTC") -> pd.DataFrame:
    """One row per slice: when it is sent, quantity (positive, in base units), USD at the arrival mid, remaining.

    Slice k trades at the start of its period (Almgren–Chriss: n_k at t_{k-1}), so the last one goes at
    T - tau and the holdings after it are zero."""
    n = np.abs(schedule.trades)
    total = abs(schedule.X)
    return pd.DataFrame(
        {
            "slice": np.arange(1, schedule.N + 1),
            "send at (s)": schedule.times[:-1],
            f"trade ({base_unit})": n,
            "trade (USD at mid)": n * mid,
            "share of order (%)": n / total * 100.0 if total > 0 else np.zeros_like(n),
            f"remaining after ({base_unit})": np.abs(schedule.holdings[1:]),
        }
    )


def parameter_table(
    cal: Calibration, vol: Volatility, eta: float, tau: float, *, base_unit: str = "BTC"
) -> pd.DataFrame:
    """epsilon, eta, gamma, sigma (and the inputs behind them) with units and how each was obtained."""
    u = base_unit

    def row(sym: str, value: float, unit: str, how: str) -> dict[str, str]:
        return {"parameter": sym, "value": f"{value:.4g}", "unit": unit, "how it was obtained": how}

    refilled = tau >= cal.refill_s
    rows = [
        row("epsilon (ε)", cal.epsilon, f"USD/{u}", cal.how.get("epsilon", "")),
        row(
            "eta for these slices (η)",
            eta,
            f"USD·s/{u}²",
            f"max(slice interval {tau:.4g} s, refill time {cal.refill_s:.3g} s) / (2 rho): "
            + (
                "slices are further apart than the refill time, so each meets a refilled book and pays its own walk "
                "n²/(2 rho) beyond the touch."
                if refilled
                else "slices come faster than the book refills, so the rate model refill / (2 rho) applies."
            ),
        ),
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
    if inputs.base_qty is not None:  # the venue's size, on its lot: the Simulator's order, slice for slice
        walk = walk_book(snapshot, inputs.side, inputs.base_qty, unit=SizeUnit.BASE)
    else:
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
        # an order that walks past the touch is fitted on its own walk, so one slice costs exactly one market order;
        # one inside the best level has no depth cost to fit and takes the first levels' slope, as the Simulator does
        min_fit_levels=1 if walk.depth_cost > 0 else MIN_FIT_LEVELS,
        walk=walk,
    )
    T, N = inputs.horizon_s, inputs.slices
    tau = T / N
    eta = slice_eta(cal.rho, cal.refill_s, tau)
    eta_tilde = eta - 0.5 * cal.gamma * tau
    if not eta_tilde > 0:  # only psi = 1 with refilled slices: every schedule then costs the same
        raise OrderError(
            "With a permanent share of 1 every schedule of refilled slices costs the same, so there is nothing to "
            "optimise; use a permanent share below 1."
        )
    if tau < cal.refill_s:
        notes.append(
            f"Slices are {tau:.3g} s apart, less than the book's refill time ({cal.refill_s:.3g} s): each slice "
            "meets a book that has not fully refilled, so it pays more than its own walk on the current book."
        )
    lam = urgency_lam(inputs.urgency, sigma=cal.sigma, T=T, eta_tilde=eta_tilde)
    X = walk.filled_base if inputs.side is Side.SELL else -walk.filled_base
    try:
        sched = almgren_chriss(X, cal.sigma, T, N, cal.epsilon, eta, cal.gamma, lam)
        twap = almgren_chriss(X, cal.sigma, T, N, cal.epsilon, eta, cal.gamma, 0.0)
        frontier = efficient_frontier(X, cal.sigma, T, N, cal.epsilon, eta, cal.gamma)
    except ValueError as exc:
        raise OrderError(f"No valid schedule for these inputs: {exc}") from None
    fee = expected_fee(walk.filled_quote, 0.0, inputs.fee_tier.maker_rate, inputs.fee_tier.taker_rate)
    return ExecutionPlan(
        inputs=inputs,
        base_unit=base_unit,
        mid=mid,
        base_qty=walk.filled_base,
        volatility=vol,
        calibration=cal,
        eta=eta,
        lam=lam,
        schedule=sched,
        twap=twap,
        walk=walk,
        frontier=frontier,
        lam_c=characteristic_lam(sigma=cal.sigma, T=T, N=N, eta=eta, gamma=cal.gamma),
        fee_usd=fee,
        trades=trade_list(sched, mid=mid, base_unit=base_unit),
        params=parameter_table(cal, vol, eta, tau, base_unit=base_unit),
        notes=tuple(notes),
        sqrt_law=sqrt_law(walk.filled_quote, vol, snapshot.exchange, snapshot.symbol),
    )

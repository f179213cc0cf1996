"""Almgren–Chriss optimal execution (discrete time, linear impact) and its calibration to a live book.

Implements R. Almgren, N. Chriss, "Optimal Execution of Portfolio Transactions", J. Risk 3(2), 2000, as
written down in ``shared/specs/ALMGREN_CHRISS.md``: sell ``X`` units over ``[0, T]`` in ``N`` periods
(``X < 0`` is a buy), permanent impact ``g(v) = gamma v``, temporary impact
``h(v) = epsilon sgn(n) + eta v``. Expected cost and variance are summed over the trajectory (exact for
the discrete model; the paper's closed forms lose digits or overflow at the extremes).

Units are whatever the caller uses consistently. In this app: base units (BTC), quote currency (USDT ~ USD),
seconds. Then sigma is quote per base per sqrt(s), eta quote x s / base^2, gamma quote / base^2,
epsilon quote / base, lam 1 / quote, E in quote, V in quote^2.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.checks import finite_number
from core.costs.order import Side, SizeUnit
from core.costs.walk import Walk, walk_book
from core.errors import InputError, OrderError
from core.market.book import BookSnapshot
from core.paths import IMPACT_FILE

#: the old fixed assumption, kept as the baseline the calibration is scored against: book refill time 10 s,
#: permanent share 0.5 (a neutral middle)
ASSUMED_REFILL_S = 10.0
ASSUMED_PERMANENT_SHARE = 0.5
#: the square-root law's prefactor Y: the range of published estimates used by the cross-check
SQRT_LAW_Y = (0.5, 1.0)


@dataclass(frozen=True, slots=True)
class ImpactConstants:
    """The permanent share and refill time the engine uses, and where they come from."""

    permanent_share: float
    refill_s: float
    permanent_share_ci: tuple[float, float] | None = None
    refill_s_ci: tuple[float, float] | None = None
    refilled_share: float = 1.0  # share of consumed depth that comes back at all (the refill curve's level)
    fitted_on: tuple[str, ...] = ()
    created: str = ""
    method: str = ""
    out_of_sample: tuple[Mapping[str, Any], ...] = ()
    daily_volume_usd: Mapping[str, float] = field(default_factory=dict)
    source: str = "assumption"  # "calibrated: data/impact.json" or why the assumption is used

    @property
    def calibrated(self) -> bool:
        return self.source.startswith("calibrated")

    def describe(self) -> str:
        """One sentence: the values, their intervals and their provenance."""
        if not self.calibrated:
            return f"ψ = {self.permanent_share:g}, refill {self.refill_s:g} s: {self.source}"
        ci = self.permanent_share_ci, self.refill_s_ci
        psi = f"ψ = {self.permanent_share:.3g}" + (f" [95% CI {ci[0][0]:.3g}, {ci[0][1]:.3g}]" if ci[0] else "")
        ref = f"refill {self.refill_s:.3g} s" + (f" [{ci[1][0]:.3g}, {ci[1][1]:.3g}]" if ci[1] else "")
        return f"{psi}, {ref}: calibrated on {', '.join(self.fitted_on)} (data/impact.json, {self.created})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "permanent_share": self.permanent_share,
            "permanent_share_ci": list(self.permanent_share_ci) if self.permanent_share_ci else None,
            "refill_s": self.refill_s,
            "refill_s_ci": list(self.refill_s_ci) if self.refill_s_ci else None,
            "fitted_on": list(self.fitted_on),
            "created": self.created,
            "source": self.source,
        }


def _pair(v: object) -> tuple[float, float] | None:
    return (float(v[0]), float(v[1])) if isinstance(v, list) and len(v) == 2 else None


def read_impact(path: Path) -> ImpactConstants:
    """The constants in ``path`` (``python -m core.validation.impact`` writes it); the old assumption, saying so,
    when the file is missing or unusable, so the app still prices."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        psi, refill = float(doc["permanent_share"]), float(doc["refill_s"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = "no calibration file" if isinstance(exc, OSError) else f"unreadable calibration ({exc})"
        return ImpactConstants(ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S, source=f"assumption, {why} at {path.name}")
    bad = settings_error(refill, psi)
    if bad is not None:
        return ImpactConstants(ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S, source=f"assumption ({path.name}: {bad})")
    return ImpactConstants(
        permanent_share=psi,
        refill_s=refill,
        permanent_share_ci=_pair(doc.get("permanent_share_ci")),
        refill_s_ci=_pair(doc.get("refill_s_ci")),
        refilled_share=float(doc.get("refilled_share", 1.0)),
        fitted_on=tuple(doc.get("fitted_on", ())),
        created=str(doc.get("created", "")),
        method=str(doc.get("method", "")),
        out_of_sample=tuple(doc.get("out_of_sample", ())),
        daily_volume_usd={str(k): float(v) for k, v in doc.get("daily_volume_usd", {}).items() if v},
        source=f"calibrated: {path.name}",
    )


@functools.cache
def load_impact() -> ImpactConstants:
    """``data/impact.json``, read once per process."""
    return read_impact(IMPACT_FILE)


def impact_source(permanent_share: float, refill_s: float) -> str:
    """Where a (ψ, refill) pair comes from, in words: the calibration, the old assumption, or a user setting."""
    c = load_impact()
    if (permanent_share, refill_s) == (c.permanent_share, c.refill_s):
        return c.source if not c.calibrated else f"calibrated on {', '.join(c.fitted_on)}, data/impact.json"
    if (permanent_share, refill_s) == (ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S):
        return "the old fixed assumption"
    return "user setting"


def sqrt_law_bps(notional_usd: float, sigma_daily: float, daily_volume_usd: float, y: float) -> float:
    """The square-root law of metaorder impact, Y σ_daily sqrt(Q / V_daily), in bps (NaN without a volume)."""
    if not (daily_volume_usd > 0 and notional_usd >= 0 and sigma_daily >= 0):
        return math.nan
    return y * sigma_daily * math.sqrt(notional_usd / daily_volume_usd) * 1e4


#: fewest book levels used in the depth fit, so an order inside the first level still gets a slope
MIN_FIT_LEVELS = 5


def permanent_gamma(permanent_share: float, rho: float) -> float:
    """gamma = psi / rho: the persisting share psi of the walk's marginal price move 1/rho per unit."""
    return permanent_share / rho


def permanent_cost(gamma: float, base_qty: float) -> float:
    """0.5 gamma X^2: the permanent-impact term of Almgren–Chriss' expected cost, in quote currency."""
    return 0.5 * gamma * base_qty * base_qty


def immediate_cost(epsilon: float, rho: float, base_qty: float) -> float:
    """epsilon X + X^2 / (2 rho): eq. (13) with tau = refill time, the linear model's book walk."""
    return epsilon * base_qty + base_qty * base_qty / (2.0 * rho)


def settings_error(refill_s: float, permanent_share: float) -> str | None:
    """Why ``calibrate`` rejects these settings (a plain message), or None when it accepts them."""
    if not (math.isfinite(refill_s) and refill_s > 0):
        return f"Refill time must be a positive number of seconds, got {refill_s!r}."
    if not (math.isfinite(permanent_share) and 0 <= permanent_share <= 1):
        return f"Permanent share must be between 0 and 1, got {permanent_share!r}."
    return None


#: the engine's defaults: the calibrated constants of data/impact.json (the assumption above when it is absent)
DEFAULT_PERMANENT_SHARE = load_impact().permanent_share
DEFAULT_REFILL_S = load_impact().refill_s


@dataclass(frozen=True, slots=True)
class Schedule:
    """An Almgren–Chriss trajectory and its cost, in the caller's units."""

    X: float  # initial holding to liquidate (negative = buy)
    sigma: float
    T: float
    N: int
    epsilon: float
    eta: float
    gamma: float
    lam: float
    tau: float  # T / N, the period length
    eta_tilde: float  # eta - gamma tau / 2 (> 0)
    kappa_tilde: float  # sqrt(lam sigma^2 / eta_tilde)
    kappa: float  # (2 / tau) asinh(kappa_tilde tau / 2); 1 / kappa is the trade's "half-life"
    times: np.ndarray  # t_0 .. t_N
    holdings: np.ndarray  # x_0 = X .. x_N = 0
    trades: np.ndarray  # n_1 .. n_N, n_k = x_{k-1} - x_k
    expected_cost: float  # E, eq. (8), summed over the trajectory
    variance: float  # V, eq. (5), summed over the trajectory
    utility: float  # E + lam V
    permanent_cost: float  # 0.5 gamma X^2, the permanent-impact term of E
    temporary_cost: float  # epsilon sum|n| + (eta_tilde / tau) sum n^2, the rest of E
    twap_expected_cost: float  # eq. (9)-(11), lam = 0: 0.5 gamma X^2 + epsilon |X| + eta_tilde X^2 / T
    twap_variance: float  # (1/3) sigma^2 X^2 T (1 - 1/N)(1 - 1/(2N))
    immediate_cost: float  # eq. (13), all in the first period: epsilon |X| + eta X^2 / tau (V = 0)

    @property
    def half_life(self) -> float:
        """1 / kappa, the e-folding time of the holdings (inf for the linear schedule)."""
        return 1.0 / self.kappa if self.kappa > 0 else math.inf

    @property
    def std(self) -> float:
        return math.sqrt(self.variance)


def almgren_chriss(
    X: float, sigma: float, T: float, N: int, epsilon: float, eta: float, gamma: float, lam: float
) -> Schedule:
    """The optimal discrete schedule for risk aversion ``lam``; ``lam = 0`` gives the linear (TWAP) one.

    Raises ``ValueError`` for non-finite inputs, ``N < 1``, ``T <= 0``, negative sigma, epsilon, gamma or
    lam, and parameters with ``eta_tilde = eta - gamma T / (2N) <= 0``.
    """
    X = finite_number(X, "X", error=ValueError)
    sigma = finite_number(sigma, "sigma", error=ValueError)
    T = finite_number(T, "T", error=ValueError)
    epsilon = finite_number(epsilon, "epsilon", error=ValueError)
    eta = finite_number(eta, "eta", error=ValueError)
    gamma = finite_number(gamma, "gamma", error=ValueError)
    lam = finite_number(lam, "lam", error=ValueError)
    try:
        n_periods = float(N)
    except (TypeError, ValueError):
        n_periods = math.nan
    if isinstance(N, bool) or not n_periods.is_integer() or n_periods < 1:
        raise InputError(f"N must be a whole number of periods >= 1, got {N!r}.")
    N = int(n_periods)
    if T <= 0:
        raise InputError(f"T must be a positive duration, got {T!r}.")
    for name, v in (("sigma", sigma), ("epsilon", epsilon), ("gamma", gamma), ("lam", lam)):
        if v < 0:
            raise InputError(f"{name} must be >= 0, got {v!r}.")
    tau = T / N
    eta_tilde = eta - 0.5 * gamma * tau
    if not eta_tilde > 0:
        limit = 2 * eta / gamma if gamma > 0 else math.nan
        raise InputError(
            f"eta_tilde = eta - gamma*tau/2 = {eta_tilde:.6g} must be > 0 (eta={eta:g}, gamma={gamma:g}, "
            f"tau={tau:g}); use more periods so that tau < 2*eta/gamma = {limit:.6g}."
        )

    kappa_tilde = math.sqrt(lam * sigma * sigma / eta_tilde)
    kappa = (2.0 / tau) * math.asinh(0.5 * kappa_tilde * tau)
    k = np.arange(N + 1, dtype=np.float64)
    times = k * tau
    if kappa * T < 1e-12:
        x = X * (N - k) / N
    else:
        # eq. (17) x_j = X sinh(kappa (T - t_j)) / sinh(kappa T), written to neither overflow nor cancel:
        # = X exp(-kappa t_j) (1 - exp(-2 kappa (T - t_j))) / (1 - exp(-2 kappa T))
        x = X * np.exp(-kappa * times) * (-np.expm1(-2.0 * kappa * (T - times))) / (-math.expm1(-2.0 * kappa * T))
    x[0] = X
    x[-1] = 0.0
    n = x[:-1] - x[1:]

    permanent = permanent_cost(gamma, X)
    temporary = epsilon * float(np.abs(n).sum()) + (eta_tilde / tau) * float(np.dot(n, n))
    expected = permanent + temporary
    variance = sigma * sigma * tau * float(np.dot(x[1:], x[1:]))
    for a in (times, x, n):
        a.setflags(write=False)
    return Schedule(
        X=X,
        sigma=sigma,
        T=T,
        N=N,
        epsilon=epsilon,
        eta=eta,
        gamma=gamma,
        lam=lam,
        tau=tau,
        eta_tilde=eta_tilde,
        kappa_tilde=kappa_tilde,
        kappa=kappa,
        times=times,
        holdings=x,
        trades=n,
        expected_cost=expected,
        variance=variance,
        utility=expected + lam * variance,
        permanent_cost=permanent,
        temporary_cost=temporary,
        twap_expected_cost=permanent + epsilon * abs(X) + eta_tilde * X * X / T,
        twap_variance=sigma * sigma * X * X * T * (1 - 1 / N) * (1 - 0.5 / N) / 3.0,
        immediate_cost=epsilon * abs(X) + eta * X * X / tau,
    )


@dataclass(frozen=True, slots=True)
class Frontier:
    """E and V of the optimal schedule over a range of risk aversions (the efficient frontier)."""

    lam: np.ndarray
    expected_cost: np.ndarray
    variance: np.ndarray
    kappa: np.ndarray

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.variance)


def characteristic_lam(*, sigma: float, T: float, N: int, eta: float, gamma: float) -> float:
    """The lam at which kappa_tilde T = 1, where the schedule bends noticeably away from TWAP."""
    eta_tilde = eta - 0.5 * gamma * T / N
    return eta_tilde / (sigma * sigma * T * T) if sigma > 0 else 0.0


def efficient_frontier(
    X: float,
    sigma: float,
    T: float,
    N: int,
    epsilon: float,
    eta: float,
    gamma: float,
    *,
    lams: np.ndarray | None = None,
    points: int = 33,
) -> Frontier:
    """Schedules for ``lams`` (default: 0 plus ``points - 1`` log-spaced values spanning kappa T from
    about 0.01 to 100 around ``characteristic_lam``); returns their E, V and kappa."""
    if lams is None:
        lam_c = characteristic_lam(sigma=sigma, T=T, N=N, eta=eta, gamma=gamma)
        lams = np.concatenate(([0.0], lam_c * np.logspace(-4, 4, max(points - 1, 1)))) if lam_c > 0 else np.zeros(1)
    lams = np.asarray(lams, dtype=np.float64)
    scheds = [almgren_chriss(X, sigma, T, N, epsilon, eta, gamma, float(lam)) for lam in lams]
    return Frontier(
        lam=lams,
        expected_cost=np.array([s.expected_cost for s in scheds]),
        variance=np.array([s.variance for s in scheds]),
        kappa=np.array([s.kappa for s in scheds]),
    )


UNITS: Mapping[str, str] = {
    "epsilon": "quote per base unit (USD/BTC)",
    "eta": "quote x second per base unit^2 (USD s/BTC^2)",
    "gamma": "quote per base unit^2 (USD/BTC^2)",
    "rho": "base units^2 per quote (BTC of depth per USD/BTC of price distance)",
    "rho_ls": "base units^2 per quote",
    "d0_ls": "quote per base unit (USD/BTC)",
    "sigma": "quote per base unit per sqrt(second) (USD/BTC/sqrt(s))",
    "refill_s": "seconds",
    "permanent_share": "fraction",
}


@dataclass(frozen=True, slots=True)
class Calibration:
    """Almgren–Chriss parameters read off one book for one order, with units and how each was obtained."""

    side: Side
    base_qty: float  # order size the calibration was made for, base units
    epsilon: float
    eta: float
    gamma: float
    rho: float  # depth density of the line through the touch that reproduces the walk's depth cost
    sigma: float  # quote per base per sqrt(s) (NaN when no volatility was given)
    refill_s: float
    permanent_share: float
    fit_levels: int  # visible levels in the fitted range
    fit_base: float  # base units in the fitted range (the order, or the first MIN_FIT_LEVELS levels)
    rho_ls: float  # diagnostic: least-squares slope of cumulative depth vs distance (free intercept)
    d0_ls: float  # diagnostic: its intercept, the distance from mid where the fitted depth starts
    units: Mapping[str, str] = field(default_factory=lambda: dict(UNITS))
    how: Mapping[str, str] = field(default_factory=dict)

    def permanent_cost(self, base_qty: float) -> float:
        """0.5 gamma X^2: the permanent-impact term of Almgren–Chriss' expected cost, in quote currency."""
        return permanent_cost(self.gamma, base_qty)

    def immediate_cost(self, base_qty: float) -> float:
        """epsilon X + X^2 / (2 rho): eq. (13) with tau = refill time, the linear model's book walk."""
        return immediate_cost(self.epsilon, self.rho, base_qty)

    def period_bounds(self, T: float) -> tuple[int, int]:
        """Numbers of periods N for a horizon of T seconds that suit this calibration: (n_min, n_max).

        eta_tilde > 0 needs tau = T/N < refill_s / permanent_share, so N >= n_min; the model assumes the
        book refills between periods, tau >= refill_s, so N <= n_max. n_min > n_max means T is too short.
        """
        n_min = math.floor(T * self.permanent_share / self.refill_s) + 1
        n_max = max(math.floor(T / self.refill_s), 1)
        return n_min, n_max

    def schedule(self, *, T: float, N: int, lam: float, base_qty: float | None = None) -> Schedule:
        """The optimal schedule with these parameters (time in seconds; X signed by the side)."""
        if not math.isfinite(self.sigma):
            raise InputError("This calibration has no volatility: pass sigma= to calibrate() first.")
        q = self.base_qty if base_qty is None else base_qty
        X = q if self.side is Side.SELL else -q
        return almgren_chriss(X, self.sigma, T, N, self.epsilon, self.eta, self.gamma, lam)


def fit_depth(dist: np.ndarray, depth: np.ndarray) -> tuple[float, float]:
    """Least-squares line depth = rho (dist - d0); returns (rho, d0), NaN without two distinct distances."""
    dm = dist.mean()
    qm = depth.mean()
    dd = dist - dm
    sxx = float(np.dot(dd, dd))
    if sxx <= 0:
        return math.nan, math.nan
    rho = float(np.dot(dd, depth - qm)) / sxx
    if rho <= 0:
        return rho, math.nan
    return rho, float(dm - qm / rho)


def calibrate(
    snapshot: BookSnapshot,
    side: Side | str,
    base_qty: float,
    *,
    sigma: float = math.nan,
    refill_s: float = DEFAULT_REFILL_S,
    permanent_share: float = DEFAULT_PERMANENT_SHARE,
    min_fit_levels: int = MIN_FIT_LEVELS,
    walk: Walk | None = None,
) -> Calibration:
    """epsilon, eta and gamma for a ``base_qty`` order on ``side`` of ``snapshot``; see METHODOLOGY.md 6.4.

    - epsilon = half-spread (fees are path-independent and reported separately).
    - rho: the depth line through the touch, depth(d) = rho (d - epsilon), whose walk cost
      X^2 / (2 rho) equals the book's actual depth cost over the fitted range: the order itself, or the
      first ``min_fit_levels`` levels when the order is smaller. Matching the cost (not least squares)
      keeps Almgren–Chriss' immediate cost epsilon X + X^2/(2 rho) equal to the walk it describes.
    - eta = refill_s / (2 rho); gamma = permanent_share / rho.

    ``walk`` (the order's own base-unit walk, if already computed) saves walking the book again.
    """
    side = Side.parse(side)
    bad = settings_error(refill_s, permanent_share)
    if bad is not None:
        raise InputError(bad)
    q = float(base_qty)
    if not (math.isfinite(q) and q >= 0):
        raise InputError(f"Order size must be a non-negative finite number of base units, got {base_qty!r}.")
    mid = snapshot.mid
    buy = side is Side.BUY
    if buy:
        px, sz, cum = snapshot.ask_px, snapshot.ask_sz, snapshot.ask_cum_base
    else:
        px, sz, cum = snapshot.bid_px, snapshot.bid_sz, snapshot.bid_cum_base
    best = float(px[0])
    n_levels = px.shape[0]
    m = min(min_fit_levels, n_levels)
    base_m = float(cum[m - 1])
    if q > base_m:  # the order itself spans the fitted range
        if walk is None or abs(walk.filled_base - q) > 1e-9 * q:
            walk = walk_book(snapshot, side, q, unit=SizeUnit.BASE)
        fit_base = q
        depth_cost = walk.depth_cost
        fit_levels = walk.levels_used
        range_text = f"this order's own walk ({fit_levels} level(s))"
    else:
        fit_base = base_m
        depth_cost = float(np.dot(sz[:m], np.abs(px[:m] - best)))
        fit_levels = m
        range_text = f"the first {m} level(s) (the order is smaller than that)"
    if depth_cost > 0:
        rho = fit_base * fit_base / (2.0 * depth_cost)
        how_rho = (
            f"Line through the touch whose walk cost X^2/(2 rho) equals the book's actual cost of walking past "
            f"the touch over {range_text}: rho = {fit_base:.6g}^2 / (2 x {depth_cost:.6g})."
        )
    else:  # one visible level holds the whole range: spread its depth evenly from the mid to its price
        rho = float(cum[-1]) / abs(float(px[-1]) - mid)
        how_rho = "One level holds the whole range: its depth divided by its distance from mid."
    if not (math.isfinite(rho) and rho > 0):  # sizes so small (or large) that the depth line under/overflows
        raise OrderError(
            "This book's sizes are too extreme to calibrate the market-impact model on; the order "
            "cannot be priced on it."
        )
    i = min(max(fit_levels, 2), n_levels)
    rho_ls, d0_ls = fit_depth(np.abs(px[:i] - mid), cum[:i] - 0.5 * sz[:i])

    epsilon = 0.5 * snapshot.spread
    eta = refill_s / (2.0 * rho)
    gamma = permanent_gamma(permanent_share, rho)
    how = {
        "epsilon": "Half the quoted spread (fees are reported separately, not folded into epsilon).",
        "rho": how_rho,
        "eta": f"Refill time {refill_s:g} s divided by 2 rho: walking n units costs about n/(2 rho) per unit "
        f"beyond the touch, and the book is assumed to refill within {refill_s:g} s.",
        "gamma": f"Permanent share {permanent_share:g} of the walk's marginal price move 1/rho per unit.",
        "sigma": "Mid x realised (or override/default) volatility per sqrt(second).",
        "rho_ls": "Diagnostic only: least-squares line through half-counted cumulative depth vs distance from "
        "mid. Its free intercept d0 has no place in Almgren–Chriss, and a large touch queue drives d0 "
        "negative and overstates X^2/(2 rho), so it is not used.",
    }
    return Calibration(
        side=side,
        base_qty=q,
        epsilon=epsilon,
        eta=eta,
        gamma=gamma,
        rho=rho,
        sigma=float(sigma),
        refill_s=refill_s,
        permanent_share=permanent_share,
        fit_levels=fit_levels,
        fit_base=fit_base,
        rho_ls=rho_ls,
        d0_ls=d0_ls,
        how=how,
    )

"""Realised volatility of the mid price, for Almgren–Chriss (per sqrt second) and for people (annualised).

One estimator, used by the app (pages, per-tick tracker, Execution page), the validator and the training
rows of the learned models (``core.training.dataset``), so a model sees the same volatility it was trained on.
Method (also in ``docs/METHODOLOGY.md`` and ``docs/MODELS.md``): a **two-scale realised variance**
(Zhang, Mykland and Aït-Sahalia, 2005) with EWMA weights.

1. Resample the mid on a regular grid ``t0, t0 + dt, ...`` (``dt >= 1 s``): each grid point takes the last
   mid observed at or before it, so a quiet second repeats the previous mid (forward fill).
2. Fast scale: log returns between consecutive grid points (``dt``). Slow scale: overlapping log returns
   over ``K = slow_s / dt`` grid steps (5 s by default), one ending at every grid point.
3. EWMA (zero mean, as RiskMetrics) of the squared returns of each scale, weight ``0.5 ** (age / half-life)``.
4. Microstructure noise (bid-ask bounce of the mid, tick rounding) adds about the same ``2 omega^2`` to the
   expected square of a return at every scale, while the price's own variance grows with the interval:
   ``E[r_K^2] = K sigma^2 dt + 2 omega^2`` and ``E[r_1^2] = sigma^2 dt + 2 omega^2``. The difference removes
   the noise: ``sigma^2 = (V_K - V_1) / ((K - 1) dt)``. The naive one-second estimate ``V_1 / dt`` is biased
   up by ``2 omega^2 / dt`` (about 15-25% in sigma on the bundled BTCUSDT perpetual).
5. A two-scale estimate that is not positive (possible over a short, quiet history) falls back to the slow
   scale alone, ``V_K / (K dt)``, whose noise bias is K times smaller than the naive one's. With fewer than
   ``K + 1`` grid points only the fast scale exists and is used.
6. sigma per sqrt(second) = sqrt(variance per second); annualised x sqrt(365 x 86400) (crypto trades 24/7).
7. The horizon scale (``horizon_sigma_per_sqrt_s``): the same EWMA of squared overlapping 30 s returns, divided by
   30 s. A random walk gives the same sigma at every scale; a trending market (returns that continue) gives more
   at 30 s than at 1-5 s, a mean-reverting one less, so a resting order's chance that the price comes to it within
   30-60 s is better measured here (the maker model's ``HORIZON_VOL_RULE`` decides whether it is used). At 30 s
   the noise term ``2 omega^2 / 30 s`` is negligible. Until a 30 s return exists, and for an override or the
   default, it equals ``sigma_per_sqrt_s`` (a random walk: an assumption).

Until ``min_returns`` returns exist the estimate is not used: the user's override, or else the documented
default, is reported, and ``source`` says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from core.errors import InputError, OrderError

SECONDS_PER_YEAR = 365.0 * 86400.0
SQRT_YEAR_S = math.sqrt(SECONDS_PER_YEAR)
DEFAULT_DT_S = 1.0  # grid step; the spec's floor
DEFAULT_HALF_LIFE_S = 300.0  # five minutes of grid time
DEFAULT_SLOW_S = 5.0  # the slow scale of the two-scale estimator
DEFAULT_HORIZON_S = 30.0  # the horizon scale (module doc, step 7)
#: the 30 s scale is reported (and the maker model's regime warning given) only after this many 1 s returns: on a
#: random walk a younger ratio of the two scales strays far from 1 (an assumption; tests/unit/test_volatility.py
#: measures how often: about 4 in 10 histories of 40 s leave 0.17-1.41, 1 in 10 of 300 s)
HORIZON_MIN_RETURNS = 300
DEFAULT_MIN_RETURNS = 30  # fewer returns than this is not an estimate worth showing
#: used until enough history exists and no override is given: a middle-of-the-road figure for BTC/ETH
#: (their one-year realised vol has mostly ranged 30%-80%); shown as "default" so nobody mistakes it.
DEFAULT_ANNUAL_VOL = 0.5
#: an annualised vol above this (1000%) is almost surely a percentage typed as a fraction
MAX_ANNUAL_VOL = 10.0


class VolSource(str, Enum):
    """Where the volatility figure came from."""

    DATA = "data"
    OVERRIDE = "override"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Volatility:
    """Volatility in the three units the app needs, plus where it came from."""

    sigma_per_sqrt_s: float  # fraction of price per sqrt(second): stdev of ln(mid) changes over 1 s
    mid: float  # the mid used for the quote-currency figure (NaN when unknown)
    annual: float  # fraction per sqrt(year), 365-day year: 0.5 = 50%
    source: VolSource
    n_returns: int  # returns in the data estimate (0 when there was no history)
    data_annual: float | None  # the data estimate, annualised, when one exists (even if not used)
    dt_s: float
    half_life_s: float
    note: str  # one plain sentence for the UI
    slow_s: float = DEFAULT_SLOW_S  # the two-scale estimator's slow scale (seconds)
    #: sigma of 30 s returns per sqrt(second) (module doc, step 7); NaN = not measured: ``sigma_at_horizon``
    #: then falls back to ``sigma_per_sqrt_s``
    horizon_sigma_per_sqrt_s: float = math.nan

    @property
    def horizon_settled(self) -> bool:
        """Whether the 30 s scale was measured from enough history to be shown (``HORIZON_MIN_RETURNS``)."""
        h = self.horizon_sigma_per_sqrt_s
        return self.source is VolSource.DATA and math.isfinite(h) and h > 0 and self.n_returns >= HORIZON_MIN_RETURNS

    @property
    def sigma_at_horizon(self) -> float:
        """The 30 s-scale sigma where the data measured one, else ``sigma_per_sqrt_s`` (a random walk)."""
        h = self.horizon_sigma_per_sqrt_s
        return h if self.source is VolSource.DATA and math.isfinite(h) and h > 0 else self.sigma_per_sqrt_s

    @property
    def sigma_quote_per_sqrt_s(self) -> float:
        """Almgren–Chriss sigma: quote currency per base unit per sqrt(second) = mid x sigma_per_sqrt_s."""
        return self.mid * self.sigma_per_sqrt_s


def scale_note(annual: float, annual_30s: float | None) -> str:
    """ "; X at the 30 s scale, variance ratio R (1 for a random walk; ...)" beside the 1-5 s figure, where the data
    measured it: a trader sees whether moves have been continuing, which is what a resting order's fill hangs on.
    No verdict word: five minutes of a random walk leave the ratio anywhere in about 0.2-1.4 (a test measures it),
    so 0.97 is not 'reverting'; the maker model's warning says when the ratio leaves its training range."""
    if annual_30s is None or not annual > 0 or not math.isfinite(annual_30s):
        return ""
    ratio = (annual_30s / annual) ** 2
    return (
        f"; {annual_30s:.1%} at the 30 s scale, variance ratio {ratio:.2f} (1 for a random walk; above 1 moves have "
        "been continuing, below 1 reverting)"
    )


def validate_annual_vol(value: float) -> float:
    """An annualised volatility typed by a user, as a fraction; ``OrderError`` with a plain message if bad."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderError(f"Volatility must be a number (a fraction: 0.5 = 50% a year), got {value!r}.") from None
    if not math.isfinite(v) or v <= 0:
        raise OrderError(f"Volatility must be a positive finite fraction (0.5 = 50% a year), got {value!r}.")
    if v > MAX_ANNUAL_VOL:
        raise OrderError(
            f"Volatility {v:g} means {v * 100:g}% a year; enter a fraction (0.5 = 50% a year), at most {MAX_ANNUAL_VOL:g}."
        )
    return v


def from_annual(
    annual: float,
    *,
    mid: float = math.nan,
    source: VolSource = VolSource.OVERRIDE,
    n_returns: int = 0,
    data_annual: float | None = None,
    dt_s: float = DEFAULT_DT_S,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
    slow_s: float = DEFAULT_SLOW_S,
    note: str = "",
) -> Volatility:
    """Build a ``Volatility`` from an annualised fraction (an override or the default)."""
    a = validate_annual_vol(annual)
    if not note:
        note = {
            VolSource.OVERRIDE: f"Volatility {a:.0%} a year, entered by the user.",
            VolSource.DEFAULT: f"Not enough price history yet: using the default {a:.0%} a year.",
            VolSource.DATA: f"Realised volatility {a:.0%} a year.",
        }[source]
    return Volatility(
        sigma_per_sqrt_s=a / SQRT_YEAR_S,
        mid=float(mid),
        annual=a,
        source=source,
        n_returns=n_returns,
        data_annual=data_annual,
        dt_s=dt_s,
        half_life_s=half_life_s,
        note=note,
        slow_s=slow_s,
    )


def default_volatility(*, mid: float = math.nan) -> Volatility:
    return from_annual(DEFAULT_ANNUAL_VOL, mid=mid, source=VolSource.DEFAULT)


def grid_returns(times_s: np.ndarray, mids: np.ndarray, *, dt_s: float = DEFAULT_DT_S) -> tuple[np.ndarray, np.ndarray]:
    """Forward-filled mid on a regular grid -> (grid end times of each return, log returns).

    Rows with a non-finite time or a non-finite or non-positive mid are dropped; unsorted input is sorted
    by time (stable, so of two equal times the later row wins, as it arrived later).
    """
    t = np.asarray(times_s, dtype=np.float64).ravel()
    m = np.asarray(mids, dtype=np.float64).ravel()
    if t.shape != m.shape:
        raise InputError(f"times and mids differ in length ({t.size} vs {m.size}).")
    keep = np.isfinite(t) & np.isfinite(m) & (m > 0)
    if not keep.all():
        t, m = t[keep], m[keep]
    if t.size < 2:
        return np.empty(0), np.empty(0)
    if (np.diff(t) < 0).any():
        order = np.argsort(t, kind="stable")
        t, m = t[order], m[order]
    n_grid = math.floor((t[-1] - t[0]) / dt_s) + 1
    if n_grid < 2:
        return np.empty(0), np.empty(0)
    grid = t[0] + dt_s * np.arange(n_grid)
    idx = np.searchsorted(t, grid, side="right") - 1  # last observation at or before each grid point
    logm = np.log(m[idx])
    return grid[1:], np.diff(logm)


def ewma_variance(returns: np.ndarray, end_times: np.ndarray, *, half_life_s: float) -> float:
    """Zero-mean EWMA of squared returns; weight 0.5 ** (age / half_life), age from the newest return."""
    age = end_times[-1] - end_times
    w = np.exp2(-age / half_life_s)
    return float(np.dot(w, returns * returns) / w.sum())


def _k_step_variance(end_times: np.ndarray, returns: np.ndarray, k: int, half_life_s: float) -> float:
    """EWMA of squared overlapping ``k``-step returns, one ending at every grid point from the ``k``-th."""
    logp = np.concatenate(([0.0], np.cumsum(returns)))
    return ewma_variance(logp[k:] - logp[:-k], end_times[k - 1 :], half_life_s=half_life_s)


def variance_per_s(
    end_times: np.ndarray,
    returns: np.ndarray,
    *,
    dt_s: float = DEFAULT_DT_S,
    slow_s: float = DEFAULT_SLOW_S,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> float:
    """Two-scale EWMA variance per second of grid returns (``grid_returns`` output); module doc, steps 2-5."""
    n = int(returns.size)
    if n == 0:
        return math.nan
    v1 = ewma_variance(returns, end_times, half_life_s=half_life_s)
    k = max(2, round(slow_s / dt_s))
    if n < k:
        return v1 / dt_s
    vk = _k_step_variance(end_times, returns, k, half_life_s)
    two_scale = (vk - v1) / ((k - 1) * dt_s)
    return two_scale if two_scale > 0.0 else vk / (k * dt_s)


def horizon_variance_per_s(
    end_times: np.ndarray,
    returns: np.ndarray,
    *,
    dt_s: float = DEFAULT_DT_S,
    horizon_s: float = DEFAULT_HORIZON_S,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> float:
    """EWMA variance per second of overlapping ``horizon_s`` returns (module doc, step 7); NaN without one, and NaN
    when the grid is too coarse for that scale (fewer than two steps per return: no longer a 30 s figure)."""
    k = round(horizon_s / dt_s)
    if k < 2:
        return math.nan
    if returns.size < k:
        return math.nan
    return _k_step_variance(end_times, returns, k, half_life_s) / (k * dt_s)


def realised_vol(
    times_s: np.ndarray,
    mids: np.ndarray,
    *,
    dt_s: float = DEFAULT_DT_S,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
    slow_s: float = DEFAULT_SLOW_S,
    min_returns: int = DEFAULT_MIN_RETURNS,
    override_annual: float | None = None,
    default_annual: float = DEFAULT_ANNUAL_VOL,
    mid: float | None = None,
) -> Volatility:
    """Volatility from (time in seconds, mid) history, or the override, or the default; see module doc.

    ``mid`` is the price for the quote-currency sigma (defaults to the last mid in the history).
    """
    if not (math.isfinite(dt_s) and dt_s >= 1.0):
        raise InputError(f"The grid step must be at least 1 second, got {dt_s!r}.")
    if not (math.isfinite(half_life_s) and half_life_s > 0):
        raise InputError(f"The EWMA half-life must be a positive number of seconds, got {half_life_s!r}.")
    end_t, r = grid_returns(times_s, mids, dt_s=dt_s)
    if mid is None:
        m = np.asarray(mids, dtype=np.float64)
        good = m[np.isfinite(m) & (m > 0)]
        mid = float(good[-1]) if good.size else math.nan
    n = int(r.size)
    data_annual = None
    horizon_sigma = math.nan
    if n >= 1:
        var = variance_per_s(end_t, r, dt_s=dt_s, slow_s=slow_s, half_life_s=half_life_s)
        data_annual = math.sqrt(var) * SQRT_YEAR_S
        horizon_sigma = math.sqrt(horizon_variance_per_s(end_t, r, dt_s=dt_s, half_life_s=half_life_s))
    common: dict[str, Any] = {"mid": mid, "n_returns": n, "dt_s": dt_s, "half_life_s": half_life_s, "slow_s": slow_s}
    if override_annual is not None:
        return from_annual(override_annual, source=VolSource.OVERRIDE, data_annual=data_annual, **common)
    if n >= min_returns and data_annual is not None:
        note = (
            f"Realised volatility {data_annual:.0%} a year from {n} mid returns on a {dt_s:g} s grid "
            f"(two-scale {dt_s:g} s / {slow_s:g} s, robust to bid-ask bounce; EWMA half-life {half_life_s:g} s)."
        )
        return Volatility(
            sigma_per_sqrt_s=data_annual / SQRT_YEAR_S,
            annual=data_annual,
            source=VolSource.DATA,
            data_annual=data_annual,
            note=note,
            horizon_sigma_per_sqrt_s=horizon_sigma,
            **common,
        )
    note = (
        f"Only {n} of the {min_returns} mid returns needed so far: using the default "
        f"{default_annual:.0%} a year (enter a value to override)."
    )
    return from_annual(default_annual, source=VolSource.DEFAULT, data_annual=data_annual, note=note, **common)

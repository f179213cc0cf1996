"""Circular moving-block bootstrap over time: intervals for figures made of autocorrelated rows.

Taker orders cluster in time and their errors share the market state of the moment, so resampling single
orders would understate the uncertainty. The recording's time is cut into whole seconds ``0 .. T-1``; a
replicate draws ``ceil(T / block_s)`` block starts uniformly from those seconds and takes each block's
``block_s`` consecutive seconds (wrapping from the end to the start: circular), and every order in a drawn
second enters the replicate once per draw. Every figure here is a ratio of sums (a mean, a share), so a
replicate is ``W @ sum_per_second / W @ count_per_second`` with ``W`` the replicates' second multiplicities.
The interval is the percentile interval of the replicates. Seeded: the same inputs give the same intervals.

How long the blocks are is ``BLOCK_RULE`` (below), per family of figures. Said plainly, its limits: arch caps the
Politis-White block at ``ceil(min(3 sqrt(T), T / 3))`` seconds (47-77 s on recordings of 4-11 minutes), so for
resting orders' fills (60 s) and markouts (120 s) the block is in practice the outcome window; the residual series
are proxies for the figures bootstrapped (fills: realised minus predicted, while the intervals are on each; impact:
markouts in USD, while psi is a ratio; taker orders: error and coverage, not the absolute error); and with 3 to 11
blocks per recording the percentile intervals still cover less than their nominal level (a simulation in
``tests/unit/test_validation.py``): read them as a lower bound on the uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

#: below this many orders a figure gets no interval (its replicates would mostly be empty or single rows)
MIN_INTERVAL_N = 20

#: How long the blocks are, per family of figures. Written down and committed before any interval it gives was
#: looked at; it changes intervals only, never a point estimate, a model or a choice.
BLOCK_RULE = (
    "A row's outcome is measured over a window of time: a resting order's fill over its horizon, a markout over "
    "the horizon plus the markout, a taker order's cost over its latency (under a second), an impact markout over "
    "its longest horizon. Rows closer together than that window share trades, so they are dependent by "
    "construction, and the market's state (volatility, trend) makes them dependent for longer. Per family of "
    "figures the block is the largest of: the minimum block (10 s, the earlier fixed block); the family's outcome "
    "window (resting orders' fills: the longest horizon; their markouts: the longest horizon plus the longest "
    "markout; impact: the longest markout horizon; taker orders: none beyond the minimum); and the Politis-White "
    "optimal block for the circular bootstrap (Politis and White 2004, corrected by Patton, Politis and White "
    "2009; arch.bootstrap.optimal_block_length) of the family's residual series: each row's value minus the "
    "family's mean, summed per second of the recording (the linearisation of a ratio of per-second sums), rounded "
    "up to whole seconds. Residuals: taker orders, estimate minus realised cost and the p90-covered indicator (the "
    "longer of the two); resting orders' fills, realised minus predicted fill; their markouts, the markout at the "
    "longest markout time; impact, the mid markout at the longest horizon; the training held-out figures, the "
    "role's loss (slippage) or realised minus predicted share (maker). The block never exceeds the recording's "
    "seconds. Motivated by a review of the intervals after held-out figures had been seen (the 10 s block was "
    "shorter than the 60 s window of a resting order's fill)."
)
MIN_BLOCK_S = 10
#: seconds below which no Politis-White block is estimated (arch's autocorrelation search needs at least 8 values)
MIN_PW_SECONDS = 8


def politis_white_s(second: np.ndarray, values: np.ndarray, n_seconds: int) -> float:
    """The Politis-White optimal circular-bootstrap block (seconds, not rounded) of ``values`` centred on their
    mean and summed per second (``BLOCK_RULE``); 0 where it is undefined (fewer than two finite values, a
    constant series, under ``MIN_PW_SECONDS`` seconds). Non-finite values are left out."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if int(ok.sum()) < 2 or n_seconds < MIN_PW_SECONDS or float(np.ptp(v[ok])) == 0.0:
        return 0.0
    from arch.bootstrap import optimal_block_length  # the validation and training stack only, not serving

    e = np.where(ok, v - v[ok].mean(), 0.0)
    series = np.bincount(np.asarray(second, dtype=np.int64), weights=e, minlength=n_seconds).astype(np.float64)
    with np.errstate(all="ignore"):
        b = float(optimal_block_length(series)["circular"].iloc[0])
    return b if math.isfinite(b) and b > 0 else 0.0


def politis_white_cap_s(n_seconds: int) -> int:
    """arch's ceiling on the Politis-White block over ``n_seconds``: ``ceil(min(3 sqrt(T), T / 3))``."""
    return math.ceil(min(3.0 * math.sqrt(n_seconds), n_seconds / 3.0))


def _arch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("arch")
    except PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True, kw_only=True)
class BlockBootstrap:
    """How the intervals are made; written into the JSON with the figures.

    ``automatic`` (the default): ``block_s`` is the minimum, and ``for_family`` lengthens it by ``BLOCK_RULE``
    for one family of figures; off, ``block_s`` is used as given (``--fixed-block``)."""

    block_s: int = MIN_BLOCK_S
    replicates: int = 1000
    seed: int = 12
    level: float = 0.95
    automatic: bool = True
    #: set by ``for_family``: the minimum it started from, the family's outcome window, the Politis-White block
    minimum_s: int | None = None
    window_s: float = 0.0
    pw_block_s: float = 0.0
    pw_cap_s: int = 0

    def for_family(
        self, second: np.ndarray, residuals: Sequence[np.ndarray], n_seconds: int, *, window_s: float
    ) -> BlockBootstrap:
        """The spec for one family of figures: the block lengthened by ``BLOCK_RULE`` (unchanged when not
        ``automatic``; a family's spec is derived again from its minimum). ``residuals``: the family's per-row
        series, aligned with ``second``."""
        if self.minimum_s is not None:
            base = replace(self, block_s=self.minimum_s, automatic=True, minimum_s=None, window_s=0.0, pw_block_s=0.0)
            return base.for_family(second, residuals, n_seconds, window_s=window_s)
        if not self.automatic:
            return self
        pw = max((politis_white_s(second, r, n_seconds) for r in residuals), default=0.0)
        block = max(self.block_s, math.ceil(window_s), math.ceil(pw))
        return replace(
            self,
            block_s=block,
            automatic=False,
            minimum_s=self.block_s,
            window_s=float(window_s),
            pw_block_s=round(pw, 2),
            pw_cap_s=politis_white_cap_s(n_seconds),
        )

    def to_dict(self, n_seconds: int) -> dict[str, object]:
        out: dict[str, object] = {
            "method": "circular moving-block bootstrap over seconds of the recording (blocks of time, not rows)",
            "block_s": min(self.block_s, n_seconds),
            "replicates": self.replicates,
            "seed": self.seed,
            "level": self.level,
            "seconds": n_seconds,
            "interval": "percentile",
            "min_n_for_interval": MIN_INTERVAL_N,
        }
        if self.minimum_s is not None:
            out["block_rule"] = {
                "minimum_s": self.minimum_s,
                "window_s": self.window_s,
                "politis_white_s": self.pw_block_s,
                "politis_white_cap_s": self.pw_cap_s,  # arch never proposes a longer block than this
                "arch": _arch_version(),
            }
        return out

    def starts(self, n_seconds: int) -> np.ndarray:
        """(replicates, blocks) first second of each drawn block."""
        block = min(self.block_s, n_seconds)
        rng = np.random.default_rng(self.seed)
        return rng.integers(0, n_seconds, size=(self.replicates, math.ceil(n_seconds / block)))

    def weights(self, n_seconds: int) -> np.ndarray:
        """(replicates, n_seconds) how many times each second enters each replicate."""
        block = min(self.block_s, n_seconds)
        starts = self.starts(n_seconds)
        seconds = (starts[:, :, None] + np.arange(block)) % n_seconds
        flat = (np.arange(self.replicates)[:, None, None] * n_seconds + seconds).ravel()
        counts = np.bincount(flat, minlength=self.replicates * n_seconds)
        return counts.reshape(self.replicates, n_seconds).astype(np.float64)


@dataclass(frozen=True)
class Resampler:
    """A bootstrap bound to one recording's seconds: ``interval`` for any mean over a subset of orders."""

    spec: BlockBootstrap
    second: np.ndarray  # per order: whole seconds since the recording's first second
    weights: np.ndarray  # (replicates, n_seconds)

    @classmethod
    def of(cls, spec: BlockBootstrap, second: np.ndarray, n_seconds: int) -> Resampler:
        return cls(spec, np.asarray(second, dtype=np.int64), spec.weights(n_seconds))

    @property
    def n_seconds(self) -> int:
        return int(self.weights.shape[1])

    def replicates(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The mean of ``values`` (over ``mask``) in every replicate; NaN where a replicate holds none."""
        keep = np.ones(values.size, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        s = self.second[keep]
        num = np.bincount(s, weights=np.asarray(values, dtype=np.float64)[keep], minlength=self.n_seconds)
        den = np.bincount(s, minlength=self.n_seconds).astype(np.float64)
        top, bottom = self.weights @ num, self.weights @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)

    def interval(self, values: np.ndarray, mask: np.ndarray | None = None) -> list[float] | None:
        """Percentile interval of the mean at ``spec.level``, or None under ``MIN_INTERVAL_N`` orders."""
        n = int(values.size if mask is None else np.count_nonzero(mask))
        if n < MIN_INTERVAL_N:
            return None
        r = self.replicates(values, mask)
        r = r[np.isfinite(r)]
        tail = 50.0 * (1.0 - self.spec.level)
        return [float(np.percentile(r, tail)), float(np.percentile(r, 100.0 - tail))]

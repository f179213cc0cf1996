"""The p90 band widened so real taker orders of the training days are covered 90% of the time (split conformal).

The quantile model learns from simulated orders walked on the recorded books (``core.training.dataset``). Real
taker orders pay more than that in the tail: the book they met had moved since the last book the feed showed,
other orders took the same levels in the same millisecond. So after training, every public taker order on the
training days' tapes is priced as ``core.validation.market_orders`` prices it (the book it met, the app's
volatility, that book's age as latency) and scored ``s = (realised - p90) / max(vol_bps, 0.1)``: the miss in
units of the mid's volatility (bps per sqrt(s)), since a book that moved moves with the volatility. Per market kind
(spot, derivative) and size bucket (the validator's) the band moves up by the split-conformal 90% quantile of
``s`` (the ``ceil((n + 1) 0.9)``-th smallest, never below 0: the correction only widens) times the order's
volatility, inside the net (``core.learned.nets.BandShift``), so the Simulator, the per-tick path and the
validator serve the same band. The correction keeps the band's dependence on latency and volatility and adds one
on size. A bucket with fewer than ``MIN_CELL`` orders takes the pooled figure of itself and the smaller buckets.

The quantile model never saw a real order's cost, so the training days' orders are a fair calibration set;
``check`` recomputes the table from orders outside the validation blocks and reports the coverage inside them,
an out-of-block check inside the training days. The held-out day is never used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.models import ModelInput
from core.costs.order import Order, Side, SizeUnit
from core.costs.volatility import realised_vol
from core.costs.walk import walk_book
from core.errors import OrderError
from core.learned.features import ROLE_INPUTS, VOL_FLOOR_BPS
from core.learned.models import SlippageModelImpl
from core.learned.nets import BandShift, NumpyNet
from core.validation.books import load_books
from core.validation.delay import measure_delay
from core.validation.market_orders import SIZE_BUCKETS, realised_cost_bps
from core.validation.tape import Tape, group_orders

LEVEL = 0.9
MIN_CELL = 50  # orders; a thinner bucket pools with the smaller buckets of its market kind
EDGES_LOG10_USD = np.log10([lo for _, lo, _ in SIZE_BUCKETS[1:]])
_NAMES = list(ROLE_INPUTS["slippage_quantiles"])


@dataclass(frozen=True)
class TakerScores:
    """One row per real taker order of the training days, priced by the uncorrected quantile model."""

    recording: np.ndarray
    ts_ms: np.ndarray
    x: np.ndarray  # the quantile model's input rows
    p90_bps: np.ndarray  # the model's p90 before any correction
    realised_bps: np.ndarray

    @property
    def vol_bps(self) -> np.ndarray:
        return self.x[:, _NAMES.index("vol_bps")]

    @property
    def score(self) -> np.ndarray:
        return (self.realised_bps - self.p90_bps) / np.maximum(self.vol_bps, VOL_FLOOR_BPS)

    @property
    def group(self) -> np.ndarray:
        return (self.x[:, _NAMES.index("is_spot")] > 0.5).astype(np.intp)

    @property
    def bucket(self) -> np.ndarray:
        return np.searchsorted(EDGES_LOG10_USD, self.x[:, _NAMES.index("log10_size_usd")], side="right")

    def subset(self, mask: np.ndarray) -> TakerScores:
        return TakerScores(*(getattr(self, f)[mask] for f in ("recording", "ts_ms", "x", "p90_bps", "realised_bps")))


def score_taker_orders(
    recordings: Sequence[tuple[Path, Path]], net: NumpyNet, impute: dict[str, dict[str, float]]
) -> TakerScores:
    """Every taker order of each (recording, trades) priced as the validator prices it, by ``net``."""
    slip = SlippageModelImpl(name="calibration", expected=None, quantiles=net, impute=impute)
    names, stamps, rows, realised = [], [], [], []
    for rec, trades in recordings:
        books = load_books(rec)
        orders = group_orders(Tape.from_parquet(trades))
        lag = measure_delay(books, orders).lag_ms
        idx = books.index_at(orders.ts_ms + lag)
        use = np.flatnonzero((idx >= 0) & (orders.ts_ms <= books.ts_ms[-1]))
        snaps = books.snapshots(idx[use])
        t_s, mids = books.ts_ms / 1000.0, books.mid
        vols = {}
        for i in use:
            b = int(idx[i])
            snap = snaps[b]
            if b not in vols:
                vols[b] = realised_vol(t_s[: b + 1], mids[: b + 1], mid=snap.mid)
            side, qty = int(orders.side[i]), float(orders.qty[i])
            age_ms = max(float(orders.ts_ms[i] - books.ts_ms[b]), 0.0)
            order = Order(side=Side.BUY if side > 0 else Side.SELL, quantity=qty, unit=SizeUnit.BASE, latency_ms=age_ms)
            try:
                walk = walk_book(snap, order.side, qty, unit=SizeUnit.BASE)
            except OrderError:
                continue
            x = ModelInput(snapshot=snap, order=order, walk=walk, volatility=vols[b], notional_usd=walk.filled_quote)
            rows.append(slip.features(x, latency_ms=age_ms))
            realised.append(realised_cost_bps(side, qty, float(orders.notional[i]), snap.mid))
            names.append(rec.name)
            stamps.append(int(orders.ts_ms[i]))
    x_all = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(_NAMES))
    return TakerScores(
        recording=np.asarray(names),
        ts_ms=np.asarray(stamps, dtype=np.int64),
        x=x_all,
        p90_bps=net.forward(x_all)[:, 1] if len(rows) else np.empty(0),
        realised_bps=np.asarray(realised, dtype=np.float64),
    )


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """The ``ceil((n + 1) level)``-th smallest score (the largest when that exceeds n), never below 0."""
    s = np.sort(scores)
    k = min(math.ceil((s.size + 1) * level), s.size) - 1
    return max(float(s[k]), 0.0) if s.size else 0.0


def fit_table(t: TakerScores) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(2, buckets) table of score quantiles and one row per cell saying what it was made of."""
    n_buckets = len(SIZE_BUCKETS)
    table = np.zeros((2, n_buckets))
    cells = []
    score, group, bucket = t.score, t.group, t.bucket
    for g in (0, 1):
        for k in range(n_buckets):
            own = (group == g) & (bucket == k)
            pool = own
            lo = k
            while int(pool.sum()) < MIN_CELL and lo > 0:
                lo -= 1
                pool = (group == g) & (bucket >= lo) & (bucket <= k)
            table[g, k] = conformal_quantile(score[pool]) if pool.any() else 0.0
            cells.append(
                {
                    "market": "spot" if g else "derivative",
                    "bucket": SIZE_BUCKETS[k][0],
                    "n": int(own.sum()),
                    "pooled_from": SIZE_BUCKETS[lo][0] if lo < k else None,
                    "shift_vol_units": float(table[g, k]),
                }
            )
    return table, cells


def band_shift(table: np.ndarray) -> BandShift:
    return BandShift(
        edges=EDGES_LOG10_USD.astype(np.float64),
        table=table,
        size_col=_NAMES.index("log10_size_usd"),
        group_col=_NAMES.index("is_spot"),
        scale_col=_NAMES.index("vol_bps"),
        floor=VOL_FLOOR_BPS,
    )


def coverage(t: TakerScores, net: NumpyNet) -> list[dict[str, Any]]:
    """Share of ``t``'s orders at or below ``net``'s p90, per market kind and size bucket (and all)."""
    covered = t.realised_bps <= net.forward(t.x)[:, 1] + 1e-6 if len(t.ts_ms) else np.empty(0, bool)
    out = [{"market": "all", "bucket": "all sizes", "n": int(covered.size), "coverage": _mean(covered)}]
    for g in (0, 1):
        for k, (name, _, _) in enumerate(SIZE_BUCKETS):
            m = (t.group == g) & (t.bucket == k)
            if m.any():
                out.append(
                    {
                        "market": "spot" if g else "derivative",
                        "bucket": name,
                        "n": int(m.sum()),
                        "coverage": _mean(covered[m]),
                    }
                )
    return out


def _mean(v: np.ndarray) -> float | None:
    return float(v.mean()) if v.size else None


def in_blocks(t: TakerScores, blocks: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    m = np.zeros(len(t.ts_ms), dtype=bool)
    for name, spans in blocks.items():
        for lo, hi in spans:
            m |= (t.recording == name) & (t.ts_ms >= lo) & (t.ts_ms < hi)
    return m


def calibrate(
    net: NumpyNet, t: TakerScores, blocks: dict[str, list[tuple[float, float]]]
) -> tuple[NumpyNet, dict[str, Any]]:
    """``net`` with its band shift fitted on every taker order of ``t``, and the card's account of it."""
    table, cells = fit_table(t)
    out = replace(net, band_shift=band_shift(table))
    val = in_blocks(t, blocks)
    check_table, _ = fit_table(t.subset(~val))
    checked = replace(net, band_shift=band_shift(check_table))
    return out, {
        "method": (
            "split conformal per market kind and size bucket on every real taker order of the training days, "
            "priced as core.validation prices them: the p90 moves up by the "
            f"ceil((n + 1) x {LEVEL:g})-th smallest (realised - p90) / max(vol_bps, {VOL_FLOOR_BPS:g}) times "
            f"the order's vol_bps (never down); a bucket under {MIN_CELL} orders pools with the smaller ones"
        ),
        "orders": len(t.ts_ms),
        "by_recording": {str(r): int((t.recording == r).sum()) for r in np.unique(t.recording)},
        "table": cells,
        "edges_log10_usd": EDGES_LOG10_USD.tolist(),
        "coverage_before": coverage(t, net),
        "coverage_after": coverage(t, out),
        "check": {
            "what": (
                "the table refitted on the orders outside the validation blocks, scored on the orders inside them "
                "(an out-of-block check inside the training days)"
            ),
            "fitted_on": int((~val).sum()),
            "before": coverage(t.subset(val), net),
            "after": coverage(t.subset(val), checked),
        },
    }

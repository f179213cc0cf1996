"""Simulated resting limit orders against the real trade tape, with a size-aware queue.

The app prices a limit order with the maker/taker model's expected share filled as maker (the Simulator page
runs ``core.costs.estimate.estimate`` with the shipped models). Here the same call is made for resting orders
placed at decision times spread over a recording, and its ``maker_fraction`` is compared with what the tape
says such an order would have got (``resting_fill``):

- the order rests at ``P``, ``offset_bps`` behind its touch rounded to the tick (``limit_price``, the rounding
  the model's features use), from its placement time ``t`` to ``t + H``;
- only trades strictly after ``t`` and at or before ``t + H`` whose aggressor hits the order's side count
  (sells into a buy, buys into a sell);
- the displayed size at ``P`` when placed (zero if ``P`` was not a book level) is ahead of the order: trades at
  exactly ``P`` consume it first, then fill the order; trades through ``P`` (below a buy, above a sell) fill
  the order directly;
- filled fraction = min(1, volume available to the order / its size): a large order cannot fill from
  volume that did not trade.

Cancellations ahead in the queue are not credited (the queue only shrinks by trades), which errs towards
fewer fills; hidden and iceberg liquidity at ``P`` is not seen, which errs the other way.

Markouts (bps, positive = the mid moved against the trader): for an order that filled (any fraction), the
mid move against the position it acquired, ``-side x (mid(t_f + k) - mid(t_f)) / mid(t_f)``, from the time
``t_f`` its last counted fill printed (adverse selection); for an order that did not fill at all, the move
away from it, ``side x (mid(t + H + k) - mid(t + H)) / mid(t + H)``, from its expiry (what waiting cost).
``rest_move`` is the same signed move over the rest itself, from the mid at placement to the mid at ``t_f``
(filled) or at expiry (unfilled), in bps of the mid at placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.costs.estimate import estimate
from core.costs.fees import FeeTier
from core.costs.limit import REGIME_NOTE
from core.costs.models import Models
from core.costs.volatility import Volatility, realised_vol
from core.errors import OrderError
from core.learned.fill import (
    GRID_HORIZONS_S,
    GRID_OFFSETS_BPS,
    GRID_SIZES_USD,
    GRID_STEP_S,
    grid_orders,
    resting_fill,
)
from core.market.tape import Tape
from core.validation.books import Books


@dataclass(frozen=True, kw_only=True)
class LimitGrid:
    """Which resting orders are simulated: every size x offset x horizon, both sides, every ``step_s``."""

    sizes_usd: tuple[float, ...] = GRID_SIZES_USD
    offsets_bps: tuple[float, ...] = GRID_OFFSETS_BPS
    horizons_s: tuple[float, ...] = GRID_HORIZONS_S
    markouts_s: tuple[float, ...] = (1.0, 10.0, 60.0)
    step_s: float = GRID_STEP_S
    warmup_s: float = 30.0  # the first decision time is this long after the first book (volatility history)

    def to_dict(self) -> dict[str, object]:
        return {
            "sizes_usd": list(self.sizes_usd),
            "offsets_bps": list(self.offsets_bps),
            "horizons_s": list(self.horizons_s),
            "markouts_s": list(self.markouts_s),
            "step_s": self.step_s,
            "warmup_s": self.warmup_s,
            "sides": ["buy", "sell"],
        }


def size_label(usd: float) -> str:
    """``$10k``, ``$1M``: the bucket name of an order size."""
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if usd >= div:
            return f"${usd / div:g}{suffix}"
    return f"${usd:g}"


def markout_bps(side: int, filled: bool, ref_mid: float, later_mid: float) -> float:
    """Mid move against the order (bps of ``ref_mid``, positive = cost): against the position a filled
    order acquired, or away from an unfilled one (module doc)."""
    move = side * (later_mid - ref_mid) / ref_mid * 1e4
    return -move if filled else move


@dataclass(frozen=True)
class SimulatedLimits:
    """One row per simulated resting order (in decision-time order)."""

    placed_ms: np.ndarray
    side: np.ndarray
    size_usd: np.ndarray
    offset_bps: np.ndarray
    horizon_s: np.ndarray
    predicted: np.ndarray  # the app's maker fraction
    realised: np.ndarray  # the size-aware fill fraction
    markouts: np.ndarray  # (rows, len(grid.markouts_s)) bps, NaN past the last book
    rest_move: np.ndarray  # bps, the move against the order while it rested (module doc)
    skipped: dict[str, int]
    #: the app's notes said the market lay outside the maker model's training conditions (``core.costs.limit``)
    warned: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def filled(self) -> np.ndarray:
        return self.realised > 0.0

    def __len__(self) -> int:
        return int(self.placed_ms.size)


def decision_times(books: Books, tape: Tape, grid: LimitGrid) -> np.ndarray:
    """Every ``step_s`` from the warm-up to the last time whose longest horizon ends inside books and trades."""
    lo = float(books.ts_ms[0]) + grid.warmup_s * 1000.0
    hi = min(float(books.ts_ms[-1]), float(tape.ts_ms.max()) if len(tape) else -math.inf)
    hi -= max(grid.horizons_s) * 1000.0
    if hi < lo:
        return np.empty(0, dtype=np.int64)
    return np.arange(lo, hi + 1.0, grid.step_s * 1000.0).astype(np.int64)


def simulate_limits(books: Books, tape: Tape, *, grid: LimitGrid, fee_tier: FeeTier, models: Models) -> SimulatedLimits:
    """Price every resting order of ``grid`` with the app and fill it on the tape (module doc)."""
    order = np.argsort(tape.ts_ms, kind="stable")
    ts, px, qty, agg = tape.ts_ms[order], tape.price[order], tape.qty[order], tape.side[order]
    tick = books.instrument.tick_size
    times = decision_times(books, tape, grid)
    idx = books.index_at(times)
    snaps = books.snapshots(idx)
    t_s, mids = books.ts_ms / 1000.0, books.mid
    rows: list[tuple[int, int, float, float, float, float, float, list[float], float, bool]] = []
    skipped = {"price_beyond_recorded_levels": 0, "unpriceable": 0}

    def mid_at(t_ms: float) -> float:
        return math.nan if t_ms > books.ts_ms[-1] else float(mids[int(books.index_at(np.asarray(t_ms)))])

    for t, b in zip(times, idx, strict=True):
        snap = snaps[int(b)]
        vol: Volatility = realised_vol(t_s[: b + 1], mids[: b + 1], mid=snap.mid)
        orders, hidden = grid_orders(
            snap, tick, sizes_usd=grid.sizes_usd, offsets_bps=grid.offsets_bps, horizons_s=grid.horizons_s
        )
        skipped["price_beyond_recorded_levels"] += hidden
        for g in orders:
            side, lp = g.side, g.price
            try:
                e = estimate(snap, g.order, fee_tier=fee_tier, volatility=vol, models=models)
            except OrderError:
                skipped["unpriceable"] += 1
                continue
            fill = resting_fill(
                ts,
                px,
                qty,
                agg,
                side=side,
                limit_px=lp.price,
                tick=tick,
                placed_ms=int(t),
                horizon_ms=round(g.horizon_s * 1000),
                queue_ahead=lp.queue_base,
                size=g.size_usd / lp.price,
            )
            ref = float(fill.fill_ms) if fill.fill_ms is not None else float(t) + g.horizon_s * 1000.0
            m0, did = mid_at(ref), fill.fill_ms is not None
            marks = [markout_bps(side, did, m0, mid_at(ref + k * 1000.0)) for k in grid.markouts_s]
            moved = markout_bps(side, did, snap.mid, m0)
            warned = any(n.startswith(REGIME_NOTE) for n in e.notes)
            rows.append(
                (
                    int(t),
                    side,
                    g.size_usd,
                    g.offset_bps,
                    g.horizon_s,
                    e.maker_fraction,
                    fill.fraction,
                    marks,
                    moved,
                    warned,
                )
            )
    cols = list(zip(*rows, strict=True)) if rows else [()] * 10
    return SimulatedLimits(
        placed_ms=np.asarray(cols[0], dtype=np.int64),
        side=np.asarray(cols[1], dtype=np.int64),
        size_usd=np.asarray(cols[2], dtype=np.float64),
        offset_bps=np.asarray(cols[3], dtype=np.float64),
        horizon_s=np.asarray(cols[4], dtype=np.float64),
        predicted=np.asarray(cols[5], dtype=np.float64),
        realised=np.asarray(cols[6], dtype=np.float64),
        markouts=np.asarray(cols[7], dtype=np.float64).reshape(len(rows), len(grid.markouts_s)),
        rest_move=np.asarray(cols[8], dtype=np.float64),
        skipped=skipped,
        warned=np.asarray(cols[9], dtype=bool),
    )

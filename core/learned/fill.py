"""The size-aware fill of a resting limit order on a trade tape.

One function for three users (and the grid of resting orders two of them place): the maker model's label (``core.training.dataset``), the validator's resting
orders (``core.validation.limit_orders``, whose module doc states the rules) and the online calibration, which
scores the app's own maker share against the tape as it plays (``core.pricing.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.costs.order import AtExpiry, Order, OrderType, Side
from core.learned.features import LimitPrice, limit_price
from core.market.book import BookSnapshot

#: the grid of resting orders the validator scores and the online calibration places on the book: every size x
#: offset x horizon, both sides, every ``GRID_STEP_S`` (the share tracker's step was chosen on this grid)
GRID_SIZES_USD: tuple[float, ...] = (1e4, 1e5, 1e6, 5e6)
GRID_OFFSETS_BPS: tuple[float, ...] = (0.0, 1.0, 5.0)
GRID_HORIZONS_S: tuple[float, ...] = (10.0, 30.0, 60.0)
GRID_STEP_S = 5.0


@dataclass(frozen=True, slots=True)
class GridOrder:
    """One resting order of the grid on one book: where it rests and the order the cost engine prices."""

    side: int  # +1 buy, -1 sell
    offset_bps: float
    horizon_s: float
    size_usd: float
    price: LimitPrice
    order: Order


def grid_orders(
    snap: BookSnapshot,
    tick: float,
    *,
    sizes_usd: tuple[float, ...] = GRID_SIZES_USD,
    offsets_bps: tuple[float, ...] = GRID_OFFSETS_BPS,
    horizons_s: tuple[float, ...] = GRID_HORIZONS_S,
) -> tuple[list[GridOrder], int]:
    """The grid's orders on ``snap`` (both sides, cancelled at expiry) and how many were left out because their
    price lies beyond the book's recorded levels (the queue ahead is unknown there)."""
    out: list[GridOrder] = []
    hidden = 0
    for side in (1, -1):
        for off in offsets_bps:
            lp = limit_price(snap, side, off, tick)
            if not lp.visible:
                hidden += len(sizes_usd) * len(horizons_s)
                continue
            for hor in horizons_s:
                for size in sizes_usd:
                    order = Order(
                        side=Side.BUY if side > 0 else Side.SELL,
                        quantity=size,
                        order_type=OrderType.LIMIT,
                        offset_bps=off,
                        horizon_s=hor,
                        at_expiry=AtExpiry.CANCEL,
                    )
                    out.append(GridOrder(side, off, hor, size, lp, order))
    return out, hidden


@dataclass(frozen=True, slots=True)
class RestingFill:
    """What the tape gave one resting order."""

    filled_base: float
    fraction: float  # filled_base / size, in [0, 1]
    fill_ms: int | None  # time of the last trade that added to the fill (None: nothing filled)


def resting_fill(
    ts_ms: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    aggressor: np.ndarray,
    *,
    side: int,
    limit_px: float,
    tick: float,
    placed_ms: int,
    horizon_ms: int,
    queue_ahead: float,
    size: float,
) -> RestingFill:
    """The size-aware fill of a resting order (module doc) from a time-sorted tape.

    ``aggressor`` is +1 where a buy took asks, -1 where a sell hit bids; ``side`` is the resting order's
    (+1 buy, -1 sell); ``qty``, ``queue_ahead`` and ``size`` are base units. Prices are compared in ticks.
    """
    k0 = int(np.searchsorted(ts_ms, placed_ms, side="right"))
    k1 = int(np.searchsorted(ts_ms, placed_ms + horizon_ms, side="right"))
    if k1 <= k0 or size <= 0:
        return RestingFill(0.0, 0.0, None)
    hits = np.asarray(aggressor[k0:k1]) == -side
    ptk = np.rint(np.asarray(price[k0:k1]) / tick).astype(np.int64)
    ltk = round(limit_px / tick)
    q = np.asarray(qty[k0:k1], dtype=np.float64)
    at = hits & (ptk == ltk)
    through = hits & ((ptk < ltk) if side > 0 else (ptk > ltk))
    available = np.maximum(0.0, np.cumsum(np.where(at, q, 0.0)) - queue_ahead) + np.cumsum(np.where(through, q, 0.0))
    filled = np.minimum(size, available)
    total = float(filled[-1])
    if total <= 0.0:
        return RestingFill(0.0, 0.0, None)
    last = int(np.argmax(filled >= total))  # first trade at which the fill reached its final amount
    return RestingFill(total, total / size, int(ts_ms[k0 + last]))

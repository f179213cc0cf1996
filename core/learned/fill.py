"""The size-aware fill of a resting limit order on a trade tape.

One function for three users: the maker model's label (``core.training.dataset``), the validator's resting
orders (``core.validation.limit_orders``, whose module doc states the rules) and the online calibration, which
scores the app's own maker share against the tape as it plays (``core.pricing.calibration``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

"""The order book snapshot: the one value that crosses from the feed thread to the pages.

A snapshot is immutable (frozen dataclass, read-only numpy arrays), so a reader holding one can never see
a half-applied update; the store swaps references to publish a new one. Sizes are always BASE units
(BTC for BTC-USDT-SWAP, never contracts) and prices quote currency; the adapters convert at the edge.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.errors import ParseError

Levels = Sequence[Sequence[str | float]]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def levels_to_arrays(levels: Levels) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``[[price, size, ...], ...]`` (strings or numbers) into two float64 arrays.

    One vectorised step: ``float`` over a flat iterator is faster than ``np.array`` on string pairs. Plain
    pairs (GoQuant) are flattened directly; longer levels (OKX's deprecated "0" and order count) are cut
    to two fields first. The length check keeps a malformed level from shifting prices into sizes.
    """
    n = len(levels)
    if n == 0:
        empty = np.empty(0, dtype=np.float64)
        return empty, empty.copy()
    try:
        lengths = set(map(len, levels))
    except TypeError:
        raise ParseError("wrong_shape", "level is not [price, size]") from None
    if min(lengths) < 2:
        raise ParseError("wrong_shape", "level is not [price, size]")
    flat_levels = itertools.chain.from_iterable(levels if lengths == {2} else (lv[:2] for lv in levels))
    try:
        flat = np.fromiter(map(float, flat_levels), dtype=np.float64, count=2 * n)
    except (TypeError, ValueError) as exc:
        raise ParseError("non_numeric_level", str(exc)[:80]) from None
    pairs = flat.reshape(n, 2)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def validate_side(px: np.ndarray, sz: np.ndarray, *, descending: bool, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Reject a side that is not a clean, strictly sorted ladder; drop zero-size levels.

    A full-snapshot feed should never send these; if it does the message is corrupt and the last good
    book must stay, so every check raises ``ParseError`` with a countable reason.
    """
    if px.size == 0:
        raise ParseError("empty_side", side)
    if not (np.isfinite(px).all() and np.isfinite(sz).all()):
        raise ParseError("non_finite_level", side)
    if (px <= 0).any():
        raise ParseError("non_positive_price", side)
    if (sz < 0).any():
        raise ParseError("negative_size", side)
    if (sz == 0).any():
        keep = sz > 0
        px, sz = px[keep], sz[keep]
        if px.size == 0:
            raise ParseError("empty_side", side)
    steps = np.diff(px)
    if descending:
        if (steps >= 0).any():
            raise ParseError("unsorted_levels", side)
    elif (steps <= 0).any():
        raise ParseError("unsorted_levels", side)
    return px, sz


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """One full L2 book at one instant.

    Prices in quote currency, sizes in base units. Bids descending, asks ascending. The cumulative
    arrays are computed once here, off the UI, so every cost query is a searchsorted away.
    """

    exchange: str
    symbol: str
    source: str
    bid_px: np.ndarray
    bid_sz: np.ndarray
    ask_px: np.ndarray
    ask_sz: np.ndarray
    exchange_ts_ms: int  # exchange event time, ms since epoch (0 when the feed gives none)
    recv_ns: int  # local wall-clock receive time, time.time_ns()
    seq: int  # exchange seqId where the feed has one, otherwise the local message count
    bid_cum_base: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]
    bid_cum_quote: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]
    ask_cum_base: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]
    ask_cum_quote: np.ndarray = field(repr=False, default=None)  # type: ignore[arg-type]

    @classmethod
    def build(
        cls,
        *,
        exchange: str,
        symbol: str,
        source: str,
        bid_px: np.ndarray,
        bid_sz: np.ndarray,
        ask_px: np.ndarray,
        ask_sz: np.ndarray,
        exchange_ts_ms: int,
        recv_ns: int,
        seq: int,
        validate: bool = True,
    ) -> BookSnapshot:
        """Validate, freeze and derive cumulative depth. Raises ``ParseError`` on a corrupt book."""
        bid_px = np.asarray(bid_px, dtype=np.float64)
        bid_sz = np.asarray(bid_sz, dtype=np.float64)
        ask_px = np.asarray(ask_px, dtype=np.float64)
        ask_sz = np.asarray(ask_sz, dtype=np.float64)
        if bid_px.shape != bid_sz.shape or ask_px.shape != ask_sz.shape:
            raise ParseError("shape_mismatch")
        if validate:
            bid_px, bid_sz = validate_side(bid_px, bid_sz, descending=True, side="bids")
            ask_px, ask_sz = validate_side(ask_px, ask_sz, descending=False, side="asks")
            if bid_px[0] >= ask_px[0]:
                raise ParseError("crossed_book", f"bid {bid_px[0]} >= ask {ask_px[0]}")
        return cls(
            exchange=exchange,
            symbol=symbol,
            source=source,
            bid_px=_readonly(bid_px),
            bid_sz=_readonly(bid_sz),
            ask_px=_readonly(ask_px),
            ask_sz=_readonly(ask_sz),
            exchange_ts_ms=int(exchange_ts_ms),
            recv_ns=int(recv_ns),
            seq=int(seq),
            bid_cum_base=_readonly(np.cumsum(bid_sz)),
            bid_cum_quote=_readonly(np.cumsum(bid_px * bid_sz)),
            ask_cum_base=_readonly(np.cumsum(ask_sz)),
            ask_cum_quote=_readonly(np.cumsum(ask_px * ask_sz)),
        )

    @property
    def key(self) -> tuple[str, str]:
        return (self.exchange, self.symbol)

    @property
    def best_bid(self) -> float:
        return self.bid_px.item(0)  # a Python float, without numpy's scalar in between

    @property
    def best_ask(self) -> float:
        return self.ask_px.item(0)

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid_px.item(0) + self.ask_px.item(0))

    @property
    def spread(self) -> float:
        return self.ask_px.item(0) - self.bid_px.item(0)

    @property
    def spread_bps(self) -> float:
        return self.spread / self.mid * 1e4

    @property
    def depth_levels(self) -> tuple[int, int]:
        return (int(self.bid_px.size), int(self.ask_px.size))

    def age_s(self, now_ns: int) -> float:
        """Seconds since this book was received locally."""
        return max(0.0, (now_ns - self.recv_ns) / 1e9)

    def feed_delay_ms(self) -> float:
        """Exchange event time to local receipt, ms (NaN when the feed carries no timestamp)."""
        if self.exchange_ts_ms <= 0:
            return math.nan
        return self.recv_ns / 1e6 - self.exchange_ts_ms

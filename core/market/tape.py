"""The recorded trade tape and the public taker orders in it.

A taker order is not on the tape: the venue prints one trade per maker it filled. Trades with the same
timestamp (ms) and the same aggressor side are taken as one taker order, priced at their VWAP. Two takers in
the same millisecond on the same side are merged (the tape cannot tell them apart), which errs towards larger
orders.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tape:
    """Recorded trades in file order. ``side`` is the aggressor's: +1 a buy took asks, -1 a sell hit bids."""

    ts_ms: np.ndarray
    price: np.ndarray
    qty: np.ndarray  # base units
    side: np.ndarray

    @classmethod
    def from_parquet(cls, path: str | Path) -> Tape:
        """A trades file of ``data/trades`` (``buyer_is_maker`` true: the aggressor sold)."""
        import pandas as pd  # here, not at import: the app's first page view must not pay for pandas (issue 15)

        df = pd.read_parquet(path, columns=["ts_ms", "price", "qty", "buyer_is_maker"])
        return cls.from_columns(df["ts_ms"], df["price"], df["qty"], df["buyer_is_maker"])

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, float, float, bool]]) -> Tape:
        """``[(ts_ms, price, qty, buyer_is_maker), ...]`` in tape order: for hand-made tapes."""
        cols = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        return cls.from_columns(*cols)

    @classmethod
    def from_columns(cls, ts_ms: object, price: object, qty: object, buyer_is_maker: object) -> Tape:
        return cls(
            ts_ms=np.asarray(ts_ms, dtype=np.int64),
            price=np.asarray(price, dtype=np.float64),
            qty=np.asarray(qty, dtype=np.float64),
            side=np.where(np.asarray(buyer_is_maker, dtype=bool), -1, 1).astype(np.int64),
        )

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def to_parquet(self, path: str | Path) -> None:
        """As a trades file of ``data/trades`` (``from_parquet`` reads it back; ``python -m core.validate`` takes it)."""
        import pandas as pd

        pd.DataFrame(
            {"ts_ms": self.ts_ms, "price": self.price, "qty": self.qty, "buyer_is_maker": self.side < 0}
        ).to_parquet(path, index=False)

    @classmethod
    def empty(cls) -> Tape:
        return cls.from_rows([])

    @classmethod
    def joined(cls, parts: Sequence[Tape]) -> Tape:
        """``parts`` one after the other, in time order (stable: trades of one millisecond keep their order)."""
        if not parts:
            return cls.empty()
        ts = np.concatenate([p.ts_ms for p in parts])
        order = np.argsort(ts, kind="stable")
        return cls(
            ts_ms=ts[order],
            price=np.concatenate([p.price for p in parts])[order],
            qty=np.concatenate([p.qty for p in parts])[order],
            side=np.concatenate([p.side for p in parts])[order],
        )

    def since(self, ts_ms: int) -> Tape:
        """The trades at or after ``ts_ms`` (a time-sorted tape)."""
        k = int(np.searchsorted(self.ts_ms, ts_ms, side="left"))
        return Tape(self.ts_ms[k:], self.price[k:], self.qty[k:], self.side[k:])


#: a live tape holds at most this many trades its reader has not taken (a reader that stopped, or none: the oldest
#: go; a few minutes of a busy perpetual, and a first take the calibration sorts in milliseconds)
LIVE_PENDING_MAX = 50_000


class LiveTape:
    """The trades a live feed delivers, as they arrive: the feed thread appends, one reader (the online calibration)
    takes what is new. Bounded: trades nobody takes are dropped oldest first (counted)."""

    def __init__(self, max_pending: int = LIVE_PENDING_MAX) -> None:
        self._lock = threading.Lock()
        self._pending: deque[Tape] = deque()
        self._n_pending = 0
        self.max_pending = max_pending
        self.received = 0  # trades appended since the last ``clear``
        self.dropped = 0  # trades dropped unread (the reader fell behind)
        self.generation = 0  # bumps at each ``clear`` (a new source): a reader starts over
        #: called with each batch as it arrives, on the feed thread (a recorder writing the trades beside the books)
        self._listeners: list[Callable[[Tape], None]] = []

    def add_listener(self, fn: Callable[[Tape], None]) -> None:
        self._listeners = [*self._listeners, fn]

    def remove_listener(self, fn: Callable[[Tape], None]) -> None:
        self._listeners = [f for f in self._listeners if f is not fn]

    def append(self, trades: Tape) -> None:
        if not len(trades):
            return
        with self._lock:
            self._pending.append(trades)
            self._n_pending += len(trades)
            self.received += len(trades)
            while self._n_pending > self.max_pending and len(self._pending) > 1:
                old = self._pending.popleft()
                self._n_pending -= len(old)
                self.dropped += len(old)
        for fn in self._listeners:
            try:
                fn(trades)
            except Exception:  # a listener's bug (a recorder) must never stop the feed
                log.warning("live tape listener failed", exc_info=True)

    def take(self) -> Tape:
        """Every trade appended since the last ``take``, in time order."""
        with self._lock:
            parts, self._pending, self._n_pending = list(self._pending), deque(), 0
        return Tape.joined(parts)

    def clear(self) -> None:
        with self._lock:
            self._pending, self._n_pending = deque(), 0
            self.received = self.dropped = 0
            self.generation += 1


@dataclass(frozen=True)
class TakerOrders:
    """One row per taker order, in time order. Its trades are ``trade_price[start[i]:stop[i]]`` (and
    ``trade_qty``), in tape order, so the first one is the first level the order reached."""

    ts_ms: np.ndarray
    side: np.ndarray  # +1 buy, -1 sell
    qty: np.ndarray  # base units, sum of its trades
    notional: np.ndarray  # quote currency, sum of price x qty
    start: np.ndarray
    stop: np.ndarray
    trade_price: np.ndarray
    trade_qty: np.ndarray

    @property
    def vwap(self) -> np.ndarray:
        return self.notional / self.qty

    @property
    def first_price(self) -> np.ndarray:
        return self.trade_price[self.start]

    @property
    def n_trades(self) -> np.ndarray:
        return self.stop - self.start

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def fills(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(prices, base quantity at each) of order ``i``, one entry per distinct price, in tape order."""
        px = self.trade_price[self.start[i] : self.stop[i]]
        q = self.trade_qty[self.start[i] : self.stop[i]]
        prices, first, inverse = np.unique(px, return_index=True, return_inverse=True)
        qty = np.bincount(inverse, weights=q, minlength=prices.size)
        order = np.argsort(first)
        return prices[order], qty[order]


def group_orders(tape: Tape) -> TakerOrders:
    """Group the tape into taker orders: same millisecond and same aggressor side (see module doc)."""
    keep = (tape.qty > 0) & np.isfinite(tape.price) & (tape.price > 0)
    ts, side, px, q = tape.ts_ms[keep], tape.side[keep], tape.price[keep], tape.qty[keep]
    order = np.lexsort((np.arange(ts.size), side, ts))  # by time, then side, tape order within
    ts, side, px, q = ts[order], side[order], px[order], q[order]
    new = np.ones(ts.size, dtype=bool)
    new[1:] = (ts[1:] != ts[:-1]) | (side[1:] != side[:-1])
    start = np.flatnonzero(new)
    stop = np.append(start[1:], ts.size)
    return TakerOrders(
        ts_ms=ts[start],
        side=side[start],
        qty=np.add.reduceat(q, start) if start.size else np.empty(0),
        notional=np.add.reduceat(px * q, start) if start.size else np.empty(0),
        start=start,
        stop=stop,
        trade_price=px,
        trade_qty=q,
    )


def realised_cost_bps(side: int, qty: float, notional: float, mid: float) -> float:
    """Cost of fills (``qty`` base for ``notional`` quote) versus ``mid``, bps of the notional."""
    return side * (notional - qty * mid) / notional * 1e4

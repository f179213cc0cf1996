"""The recorded trade tape and the public taker orders in it.

A taker order is not on the tape: the venue prints one trade per maker it filled. Trades with the same
timestamp (ms) and the same aggressor side are taken as one taker order, priced at their VWAP. Two takers in
the same millisecond on the same side are merged (the tape cannot tell them apart), which errs towards larger
orders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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

"""How long after a trade the recorded book shows it: which book a taker order really met.

Book messages carry the venue's event time of the depth update and trades their match time; the update that
removes the liquidity a trade took is stamped some milliseconds after it. Measured on the orders that took
their whole first level (they traded at more than one price, so after them the touch must have moved past
their first price): the delay of one such order is the time from its trade to the first book whose touch is
past that price, following the last book that still showed it. The book an order met is then the last one
stamped at or before ``trade time + lag_ms``, where ``lag_ms`` is one millisecond less than the 1st percentile
of those delays, and never negative: at most about 1% of orders can be priced on a book that already shows
them, and none on a book stamped after a later one that does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.market.tape import TakerOrders
from core.validation.books import Books

#: the search for the last pre-trade book starts this long before the trade and stops this long after it
BEFORE_MS, AFTER_MS = 500, 1000
#: fewer measured orders than this: no lag (books at or before the trade), said in the report
MIN_MEASURED = 30
QUANTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class BookDelay:
    """The measured delays (ms) and the lag the validation uses."""

    n: int  # orders measured
    quantiles_ms: dict[str, float]  # "p1", "p5", ... of the delay
    lag_ms: int  # books stamped at or before trade time + lag_ms are before the trade

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "quantiles_ms": self.quantiles_ms, "lag_ms": self.lag_ms}


def delays(books: Books, orders: TakerOrders) -> np.ndarray:
    """One delay (ms) per order that took its whole first level and whose book change is seen."""
    out: list[float] = []
    last_px = orders.trade_price[orders.stop - 1]
    for i in np.flatnonzero(last_px != orders.first_price):
        t, side, first = int(orders.ts_ms[i]), int(orders.side[i]), float(orders.first_price[i])
        lo = max(int(books.index_at(np.asarray(t - BEFORE_MS))), 0)
        hi = int(books.index_at(np.asarray(t + AFTER_MS))) + 1
        touch = books.best_ask[lo:hi] if side > 0 else books.best_bid[lo:hi]
        shown = np.flatnonzero(touch == first)
        if not shown.size or lo + shown[-1] + 1 >= hi:
            continue
        j = lo + int(shown[-1]) + 1
        after = books.best_ask[j] if side > 0 else books.best_bid[j]
        if (after > first) if side > 0 else (after < first):
            out.append(float(books.ts_ms[j] - t))
    return np.asarray(out)


def measure_delay(books: Books, orders: TakerOrders) -> BookDelay:
    """The delays and the lag they justify (module doc)."""
    d = delays(books, orders)
    q = {f"p{p}": float(np.percentile(d, p)) for p in QUANTILES} if d.size else {}
    lag = max(0, math.floor(q["p1"]) - 1) if d.size >= MIN_MEASURED else 0
    return BookDelay(n=int(d.size), quantiles_ms=q, lag_ms=lag)

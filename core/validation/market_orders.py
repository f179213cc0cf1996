"""Public taker orders priced by the app and scored against their real fills.

Each taker order (``core.market.tape``) is priced on the book it met (``core.validation.delay``) by
``core.costs.estimate.estimate``, the function behind the Simulator page, with the shipped models, the
volatility the page would show (``core.costs.volatility.realised_vol`` over the mids so far), a market order
of the order's base quantity, and as latency the age of that book when the order traded (the exchange time
from the book to the order's first trade: what the Simulator's latency input means). Both sides of the comparison are the total immediate cost in
bps of the executed notional versus the arrival mid (the mid of that book), positive = cost to the trader:

- estimate: ``slippage`` of the estimate (the app's expected cost vs the arrival mid before fees, impact
  included; fees are known exactly and not validated here), and its p90 ``slippage_p90`` where the app shows a
  band;
- realised: ``side x (VWAP - mid) / VWAP`` of the order's trades.

The error is estimate - realised: positive means the app overstated the cost.

An order is **clean** when its book explains its fills: its first trade is at that book's touch (the book
was still current), every price it traded at is a level of that book, it took no more at any price than the
book showed there, and it fitted within the recorded depth. Other orders met liquidity that arrived or left
between the book and the trade (or hidden beyond the recorded levels): they are scored too, under "all".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.costs.estimate import estimate
from core.costs.fees import FeeTier
from core.costs.models import Models
from core.costs.order import Order, OrderType, Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.errors import OrderError
from core.market.book import BookSnapshot
from core.market.tape import TakerOrders, realised_cost_bps
from core.validation.books import Books

#: size buckets by executed notional (quote currency), lower bound inclusive
SIZE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<$1k", 0.0, 1e3),
    ("$1k-10k", 1e3, 1e4),
    ("$10k-100k", 1e4, 1e5),
    ("$100k-1M", 1e5, 1e6),
    (">=$1M", 1e6, math.inf),
)
#: relative tolerance for "took no more than the book showed at that price" (sizes are decimal strings)
SIZE_RTOL = 1e-9
#: "at or below the p90" allows this much floating-point rounding (both sides are sums of the same fills)
COVER_TOL_BPS = 1e-6


@dataclass(frozen=True)
class ScoredOrders:
    """One row per priced taker order, in time order."""

    ts_ms: np.ndarray
    side: np.ndarray
    notional: np.ndarray  # executed quote currency (real fills)
    estimate_bps: np.ndarray  # app: total immediate cost
    p90_bps: np.ndarray  # app: p90 of the total immediate cost (NaN where the app shows no band)
    realised_bps: np.ndarray
    clean: np.ndarray  # bool, see module doc
    skipped: dict[str, int]  # orders not priced, by reason
    p90_method: str | None  # how the app made its p90 (None: it shows none)
    spread_bps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # of the book each order met

    @property
    def error_bps(self) -> np.ndarray:
        return self.estimate_bps - self.realised_bps

    @property
    def covered(self) -> np.ndarray:
        """Realised cost at or below the shown p90, up to ``COVER_TOL_BPS`` (False where there is no p90)."""
        return self.realised_bps <= self.p90_bps + COVER_TOL_BPS

    @property
    def band_is_expectation(self) -> np.ndarray:
        """The shown p90 equals the expected cost (the band was clipped to the expectation)."""
        return np.abs(self.p90_bps - self.estimate_bps) <= COVER_TOL_BPS

    def bucket(self) -> np.ndarray:
        """Index into ``SIZE_BUCKETS`` of each order."""
        lows = np.array([lo for _, lo, _ in SIZE_BUCKETS[1:]])
        return np.searchsorted(lows, self.notional, side="right")

    def __len__(self) -> int:
        return int(self.ts_ms.size)


def explains(snap: BookSnapshot, side: int, prices: np.ndarray, qty: np.ndarray) -> bool:
    """The book shows the first price at its touch and at least ``qty`` at each of ``prices``."""
    px, sz = (snap.ask_px, snap.ask_sz) if side > 0 else (snap.bid_px, snap.bid_sz)
    if prices[0] != px[0]:
        return False
    key = px if side > 0 else -px  # ascending either way
    at = np.searchsorted(key, prices if side > 0 else -prices)
    if (at >= px.size).any() or (px[np.minimum(at, px.size - 1)] != prices).any():
        return False
    return bool((qty <= sz[at] * (1.0 + SIZE_RTOL)).all())


def score_orders(books: Books, orders: TakerOrders, *, lag_ms: int, fee_tier: FeeTier, models: Models) -> ScoredOrders:
    """Price every taker order on the book it met and compare with its fills (module doc)."""
    idx = books.index_at(orders.ts_ms + lag_ms)
    skipped = {"no_book_yet": int((idx < 0).sum()), "after_last_book": int((orders.ts_ms > books.ts_ms[-1]).sum())}
    use = np.flatnonzero((idx >= 0) & (orders.ts_ms <= books.ts_ms[-1]))
    snaps = books.snapshots(idx[use])
    t_s, mids = books.ts_ms / 1000.0, books.mid
    vols: dict[int, Volatility] = {}
    rows: list[tuple[int, int, float, float, float, float, bool, float]] = []
    p90_method: str | None = None
    ages: list[float] = []
    unpriceable = 0
    for i in use:
        b = int(idx[i])
        snap = snaps[b]
        if b not in vols:
            vols[b] = realised_vol(t_s[: b + 1], mids[: b + 1], mid=snap.mid)
        side, qty, notional = int(orders.side[i]), float(orders.qty[i]), float(orders.notional[i])
        age_ms = max(float(orders.ts_ms[i] - books.ts_ms[b]), 0.0)  # the book is this old when the order trades
        try:
            order = Order(side=Side.BUY if side > 0 else Side.SELL, quantity=qty, unit=SizeUnit.BASE, latency_ms=age_ms)
            e = estimate(snap, order, fee_tier=fee_tier, volatility=vols[b], models=models)
        except OrderError:
            unpriceable += 1
            continue
        assert order.order_type is OrderType.MARKET
        total = e.slippage_usd / e.filled_usd * 1e4  # slippage is the whole cost vs the mid, impact included
        p90 = math.nan
        if e.slippage_p90_usd is not None:
            p90 = e.slippage_p90_usd / e.filled_usd * 1e4
            p90_method = e.methods.get("slippage_p90", "p90 band")
            ages.append(age_ms)
        prices, taken = orders.fills(int(i))
        clean = (not e.beyond_visible) and explains(snap, side, prices, taken)
        realised = realised_cost_bps(side, qty, notional, snap.mid)
        rows.append((int(orders.ts_ms[i]), side, notional, total, p90, realised, clean, snap.spread_bps))
    skipped["unpriceable"] = unpriceable
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    return ScoredOrders(
        ts_ms=np.asarray(cols[0], dtype=np.int64),
        side=np.asarray(cols[1], dtype=np.int64),
        notional=np.asarray(cols[2], dtype=np.float64),
        estimate_bps=np.asarray(cols[3], dtype=np.float64),
        p90_bps=np.asarray(cols[4], dtype=np.float64),
        realised_bps=np.asarray(cols[5], dtype=np.float64),
        clean=np.asarray(cols[6], dtype=bool),
        spread_bps=np.asarray(cols[7], dtype=np.float64),
        skipped=skipped,
        p90_method=(
            f"{p90_method.split(' at ')[0]} at each order's book age as latency (median {np.median(ages):.0f} ms)"
            if p90_method is not None
            else None
        ),
    )

"""Training rows for the learned models, built from a recording (and its trades where they exist).

Two tables, one row per simulated order, features known at the decision time ``t`` only:

- **Slippage rows.** A market order of ``size_usd`` (log-uniform $10 to $5M), buy or sell, decided at
  ``t`` and executed at ``t + L`` for a latency ``L`` drawn from ``LATENCIES_MS``. Label: the realised cost
  in bps of the executed notional versus the *decision-time* mid, walking the book recorded at ``t + L``
  (the last book at or before that instant) with ``core.costs.walk.walk_book`` (orders larger than the 400
  recorded levels are extrapolated exactly as the book walk does). The baseline it must beat, the book
  walk at ``t``, is the same label with ``L = 0``.
- **Maker rows.** A passive limit order of ``size_usd`` placed at ``t`` ``offset_bps`` behind the touch
  (buy: below the best bid, sell: above the best ask, rounded to the tick), resting for ``horizon_s``.
  Label: the fraction of it filled as maker within the horizon, from the recorded trades (see
  ``MarketData.maker_fill`` for the queue rule). Needs a trades file; a recording without one yields none.

Time split (``time_split``): per recording, the first 70% of the sampling window trains and the last 30%
tests; a training row whose label looks past the split (``t + L`` or ``t + H``) is dropped (purged), so no
training label sees the test period. Rows are never shuffled across the split.

The feature functions (``book_features``, ``slippage_vector``, ``maker_vector``, ``limit_price``) are the
ones the models call at run time, so training and serving compute features with the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.costs.walk import walk_book
from core.errors import OrderError, SimulatorError
from core.feed.goquant import parse_snapshot
from core.feed.recording import iter_lines
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.paths import DATA_DIR

#: latencies (ms) between decision and execution sampled for slippage rows; also a model feature
LATENCIES_MS: tuple[float, ...] = (0.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
#: distances (bps) behind the touch sampled for limit orders
OFFSETS_BPS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)
#: resting times (s) sampled for limit orders
HORIZONS_S: tuple[float, ...] = (1.0, 5.0, 10.0, 30.0, 60.0)
MIN_USD, MAX_USD = 10.0, 5e6  # order notional range, sampled log-uniformly
DEPTH_BANDS_BPS: tuple[float, ...] = (5.0, 25.0, 100.0)
IMBALANCE_BAND_BPS = 25.0
VOL_WINDOW_S = 30  # recent volatility: 1 s returns over the last 30 s
TRADE_WINDOW_S = 10.0  # recent trade intensity: trades in the last 10 s
WARMUP_S = float(VOL_WINDOW_S)  # no decision before the look-back windows are full
TRAIN_FRACTION = 0.7
MAX_RATIO = 1e3  # size / depth is capped here so one thin book cannot dominate a linear fit


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input, as written in the model cards."""

    name: str
    unit: str
    description: str


_COMMON_HEAD = (
    Feature("log10_size_usd", "log10 USD", "order notional"),
    Feature("side", "+1 buy / -1 sell", "order direction"),
    Feature("spread_bps", "bps of mid", "best ask - best bid"),
)
_BOOK_SHAPE = (
    Feature("imbalance25", "-1..1", "(bid - ask) / (bid + ask) USD depth within 25 bps of mid"),
    Feature("imbalance_top", "-1..1", "(bid - ask) / (bid + ask) base size at the touch"),
    Feature("side_x_imbalance25", "-1..1", "side x imbalance25 (positive: the book leans the way the order goes)"),
    Feature("side_x_imbalance_top", "-1..1", "side x imbalance_top"),
)
_FLOW = (
    Feature("vol_bps", "bps per sqrt(s)", "RMS of 1 s mid log returns over the last 30 s (zero mean)"),
    Feature("trades_per_s", "1/s", "recorded trades per second over the last 10 s (0 without trades)"),
    Feature("btc_per_s", "base units/s", "traded base volume per second over the last 10 s (0 without trades)"),
    Feature("log10_trades_per_s", "log10(1/s)", "log10(1 + trades_per_s)"),
    Feature("log10_btc_per_s", "log10(base/s)", "log10(1 + btc_per_s)"),
)
_IS_SPOT = Feature("is_spot", "0/1", "1 for a spot market, 0 for a perpetual/future")

#: every column a slippage row carries (``slippage_vector`` order); models pick their inputs from these
SLIPPAGE_FEATURES: tuple[Feature, ...] = (
    *_COMMON_HEAD,
    Feature("walk_bps", "bps", "book-walk cost of this order at t vs the mid at t (the decision-time baseline)"),
    Feature("log10_depth5_usd", "log10 USD", "log10(1 + USD depth within 5 bps of mid, side consumed)"),
    Feature("log10_depth25_usd", "log10 USD", "log10(1 + USD depth within 25 bps of mid, side consumed)"),
    Feature("log10_depth100_usd", "log10 USD", "log10(1 + USD depth within 100 bps of mid, side consumed)"),
    Feature("size_over_depth5", "ratio", "size / depth within 5 bps (capped at 1000)"),
    Feature("size_over_depth25", "ratio", "size / depth within 25 bps (capped at 1000)"),
    Feature("size_over_depth100", "ratio", "size / depth within 100 bps (capped at 1000)"),
    *_BOOK_SHAPE,
    *_FLOW,
    Feature("latency_ms", "ms", "decision-to-execution latency L"),
    Feature("sqrt_latency_s", "sqrt(s)", "sqrt(L / 1 s): the scale of the mid move during the latency"),
    _IS_SPOT,
)

#: every column a maker row carries (``maker_vector`` order)
MAKER_FEATURES: tuple[Feature, ...] = (
    *_COMMON_HEAD,
    Feature("offset_bps", "bps", "limit price distance behind the touch"),
    Feature("horizon_s", "s", "how long the order rests"),
    Feature("log10_horizon_s", "log10 s", "log10(horizon_s)"),
    Feature("log10_queue_usd", "log10 USD", "log10(1 + visible USD at the order's price level at t)"),
    Feature("log10_depth5_usd", "log10 USD", "log10(1 + USD depth within 5 bps of mid, side the order joins)"),
    Feature("log10_depth25_usd", "log10 USD", "log10(1 + USD depth within 25 bps of mid, side the order joins)"),
    Feature("log10_depth100_usd", "log10 USD", "log10(1 + USD depth within 100 bps of mid, side the order joins)"),
    Feature("size_over_depth5", "ratio", "size / depth within 5 bps on the side the order joins (capped at 1000)"),
    *_BOOK_SHAPE,
    *_FLOW,
    Feature("move_bps", "bps", "vol_bps x sqrt(horizon_s): typical mid move while resting"),
    Feature("offset_over_move", "ratio", "offset_bps / max(move_bps, 0.1), capped at 100"),
    Feature("log10_flow_over_order", "log10", "log10((1 + USD traded per s x horizon) / (size + queue USD))"),
    _IS_SPOT,
)

SLIPPAGE_NAMES = tuple(f.name for f in SLIPPAGE_FEATURES)
MAKER_NAMES = tuple(f.name for f in MAKER_FEATURES)
#: what a live feed cannot supply (no trade stream): imputed with training medians at run time (the log10
#: columns follow from these two)
TRADE_FEATURES = ("trades_per_s", "btc_per_s")


# --------------------------------------------------------------------------------------------------
# Features (shared by training and serving)


@dataclass(frozen=True, slots=True)
class BookFeatures:
    """What the book says at one instant, independent of any order."""

    mid: float
    spread_bps: float
    bid_depth_usd: tuple[float, ...]  # within each of DEPTH_BANDS_BPS of mid
    ask_depth_usd: tuple[float, ...]
    imbalance25: float  # (bid - ask) / (bid + ask) USD within IMBALANCE_BAND_BPS
    imbalance_top: float  # (bid - ask) / (bid + ask) base size at the touch


_BANDS = np.asarray(DEPTH_BANDS_BPS) / 1e4


def _depths(px: np.ndarray, cum_quote: np.ndarray, limits: np.ndarray, *, descending: bool) -> tuple[float, ...]:
    """USD of the levels between the touch and each limit price (inclusive): one searchsorted per side."""
    k = np.searchsorted(-px, -limits, side="right") if descending else np.searchsorted(px, limits, side="right")
    return tuple(float(cum_quote[i - 1]) if i > 0 else 0.0 for i in k.tolist())


def book_features(snapshot: BookSnapshot) -> BookFeatures:
    """Spread, banded depth and imbalance of one book (two searchsorted calls, no level loop)."""
    mid = snapshot.mid
    bids = _depths(snapshot.bid_px, snapshot.bid_cum_quote, mid * (1.0 - _BANDS), descending=True)
    asks = _depths(snapshot.ask_px, snapshot.ask_cum_quote, mid * (1.0 + _BANDS), descending=False)
    i = DEPTH_BANDS_BPS.index(IMBALANCE_BAND_BPS)
    tot = bids[i] + asks[i]
    b0, a0 = float(snapshot.bid_sz[0]), float(snapshot.ask_sz[0])
    return BookFeatures(
        mid=mid,
        spread_bps=snapshot.spread_bps,
        bid_depth_usd=bids,
        ask_depth_usd=asks,
        imbalance25=(bids[i] - asks[i]) / tot if tot > 0 else 0.0,
        imbalance_top=(b0 - a0) / (b0 + a0) if b0 + a0 > 0 else 0.0,
    )


@dataclass(frozen=True, slots=True)
class FlowFeatures:
    """Recent market activity before ``t``: volatility and trade intensity."""

    vol_bps: float  # bps per sqrt(second)
    trades_per_s: float
    btc_per_s: float


def _ratio(size: float, depth: float) -> float:
    return min(size / depth, MAX_RATIO) if depth > 0 else MAX_RATIO


def _flow_values(flow: FlowFeatures) -> list[float]:
    return [
        flow.vol_bps,
        flow.trades_per_s,
        flow.btc_per_s,
        math.log10(1.0 + flow.trades_per_s),
        math.log10(1.0 + flow.btc_per_s),
    ]


def _shape_values(bf: BookFeatures, side: int) -> list[float]:
    return [bf.imbalance25, bf.imbalance_top, side * bf.imbalance25, side * bf.imbalance_top]


def slippage_vector(
    bf: BookFeatures,
    flow: FlowFeatures,
    *,
    side: int,
    size_usd: float,
    walk_bps: float,
    latency_ms: float,
    is_spot: bool,
) -> np.ndarray:
    """One slippage row, in ``SLIPPAGE_NAMES`` order."""
    depth = bf.ask_depth_usd if side > 0 else bf.bid_depth_usd
    return np.array(
        [
            math.log10(size_usd),
            float(side),
            bf.spread_bps,
            walk_bps,
            *(math.log10(1.0 + d) for d in depth),
            *(_ratio(size_usd, d) for d in depth),
            *_shape_values(bf, side),
            *_flow_values(flow),
            latency_ms,
            math.sqrt(latency_ms / 1000.0),
            1.0 if is_spot else 0.0,
        ],
        dtype=np.float64,
    )


def maker_vector(
    bf: BookFeatures,
    flow: FlowFeatures,
    *,
    side: int,
    size_usd: float,
    offset_bps: float,
    horizon_s: float,
    queue_usd: float,
    is_spot: bool,
) -> np.ndarray:
    """One maker/taker row, in ``MAKER_NAMES`` order."""
    depth = bf.bid_depth_usd if side > 0 else bf.ask_depth_usd
    move = flow.vol_bps * math.sqrt(horizon_s)
    flow_usd = flow.btc_per_s * bf.mid * horizon_s
    return np.array(
        [
            math.log10(size_usd),
            float(side),
            bf.spread_bps,
            offset_bps,
            horizon_s,
            math.log10(horizon_s),
            math.log10(1.0 + queue_usd),
            *(math.log10(1.0 + d) for d in depth),
            _ratio(size_usd, depth[0]),
            *_shape_values(bf, side),
            *_flow_values(flow),
            move,
            min(offset_bps / max(move, 0.1), 100.0),
            math.log10((1.0 + flow_usd) / (size_usd + queue_usd)),
            1.0 if is_spot else 0.0,
        ],
        dtype=np.float64,
    )


def infer_tick(snapshot: BookSnapshot) -> float:
    """Smallest price step seen in the book: a fallback when the instrument's tick is unknown."""
    steps = np.concatenate([-np.diff(snapshot.bid_px), np.diff(snapshot.ask_px)])
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else max(snapshot.spread, 1e-8)


@dataclass(frozen=True, slots=True)
class LimitPrice:
    """Where a passive order rests and what is visibly queued there when it arrives."""

    ticks: int  # price / tick, rounded
    price: float
    queue_base: float  # visible size at exactly this price at placement (others ahead of us)
    visible: bool  # the price lies within the recorded levels of its side


def limit_price(snapshot: BookSnapshot, side: int, offset_bps: float, tick: float) -> LimitPrice:
    """Buy: best bid minus the offset; sell: best ask plus it; rounded to the nearest tick."""
    if side > 0:
        touch, px, sz = snapshot.best_bid, snapshot.bid_px, snapshot.bid_sz
    else:
        touch, px, sz = snapshot.best_ask, snapshot.ask_px, snapshot.ask_sz
    touch_t = int(round(touch / tick))
    step = int(round(offset_bps / 1e4 * touch / tick))
    ticks = touch_t - step if side > 0 else touch_t + step
    lvl = np.rint(px / tick).astype(np.int64)
    hit = lvl == ticks
    queue = float(sz[hit].sum())
    visible = bool(ticks >= lvl[-1]) if side > 0 else bool(ticks <= lvl[-1])
    return LimitPrice(ticks=ticks, price=ticks * tick, queue_base=queue, visible=visible)


# --------------------------------------------------------------------------------------------------
# Recorded market data


@dataclass(frozen=True)
class Trades:
    """Recorded trades, time-sorted. ``buyer_is_maker`` true means the aggressor sold (Binance ``m``)."""

    ts_ms: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    buyer_is_maker: np.ndarray

    @classmethod
    def from_parquet(cls, path: str | Path) -> Trades:
        df = pd.read_parquet(path, columns=["ts_ms", "price", "qty", "buyer_is_maker"])
        df = df.sort_values("ts_ms", kind="stable")
        return cls(
            ts_ms=df["ts_ms"].to_numpy(np.int64),
            price=df["price"].to_numpy(np.float64),
            qty=df["qty"].to_numpy(np.float64),
            buyer_is_maker=df["buyer_is_maker"].to_numpy(bool),
        )

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, float, float, bool]]) -> Trades:
        """``[(ts_ms, price, qty, buyer_is_maker), ...]``: for hand-made tests."""
        a = list(zip(*rows, strict=False)) if rows else [[], [], [], []]
        order = np.argsort(np.asarray(a[0], dtype=np.int64), kind="stable")
        return cls(
            ts_ms=np.asarray(a[0], dtype=np.int64)[order],
            price=np.asarray(a[1], dtype=np.float64)[order],
            qty=np.asarray(a[2], dtype=np.float64)[order],
            buyer_is_maker=np.asarray(a[3], dtype=bool)[order],
        )

    def __len__(self) -> int:
        return int(self.ts_ms.size)


@dataclass(frozen=True, slots=True)
class MakerFill:
    """Outcome of one simulated passive order."""

    price: float
    ticks: int
    order_base: float
    queue_ahead_base: float  # visible size ahead of us at placement
    filled_base: float
    fraction: float  # filled_base / order_base, in [0, 1]
    full: bool
    through: bool  # the market traded or quoted through our price (fills everything left)


def _pad(rows: list[np.ndarray], width: int, fill: float, dtype: type) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


@dataclass(frozen=True)
class MarketData:
    """A recording held as padded level arrays (rows = books in time order) plus optional trades."""

    name: str  # file name, for the cards
    exchange: str
    symbol: str
    is_spot: bool
    tick: float
    ts_ms: np.ndarray  # (n,) exchange time of each book
    bid_px: np.ndarray  # (n, K) descending, padded with 0 past bid_n
    bid_sz: np.ndarray
    ask_px: np.ndarray  # (n, K) ascending, padded with 0 past ask_n
    ask_sz: np.ndarray
    bid_n: np.ndarray  # (n,) levels per book
    ask_n: np.ndarray
    trades: Trades | None = None
    bid_tk: np.ndarray = field(init=False, repr=False)  # prices in ticks (0 = padding)
    ask_tk: np.ndarray = field(init=False, repr=False)
    mids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bid_tk", np.rint(self.bid_px / self.tick).astype(np.int64))
        object.__setattr__(self, "ask_tk", np.rint(self.ask_px / self.tick).astype(np.int64))
        object.__setattr__(self, "mids", 0.5 * (self.bid_px[:, 0] + self.ask_px[:, 0]))

    @classmethod
    def from_snapshots(
        cls,
        snaps: Sequence[BookSnapshot],
        *,
        trades: Trades | None = None,
        tick: float | None = None,
        is_spot: bool = False,
        name: str = "",
    ) -> MarketData:
        """Books (time-ordered, ``exchange_ts_ms`` set) -> padded arrays."""
        if not snaps:
            raise SimulatorError("A recording with no books cannot make training rows.")
        width = max(max(s.bid_px.size, s.ask_px.size) for s in snaps)
        s0 = snaps[0]
        return cls(
            name=name or f"{s0.exchange}_{s0.symbol}",
            exchange=s0.exchange,
            symbol=s0.symbol,
            is_spot=is_spot,
            tick=tick if tick is not None else infer_tick(s0),
            ts_ms=np.asarray([s.exchange_ts_ms for s in snaps], dtype=np.int64),
            bid_px=_pad([s.bid_px for s in snaps], width, 0.0, np.float64),
            bid_sz=_pad([s.bid_sz for s in snaps], width, 0.0, np.float64),
            ask_px=_pad([s.ask_px for s in snaps], width, 0.0, np.float64),
            ask_sz=_pad([s.ask_sz for s in snaps], width, 0.0, np.float64),
            bid_n=np.asarray([s.bid_px.size for s in snaps], dtype=np.int64),
            ask_n=np.asarray([s.ask_px.size for s in snaps], dtype=np.int64),
            trades=trades,
        )

    @property
    def start_ms(self) -> int:
        return int(self.ts_ms[0])

    @property
    def end_ms(self) -> int:
        return int(self.ts_ms[-1])

    def index_at(self, t_ms: float) -> int:
        """The book in force at ``t_ms``: the last one stamped at or before it."""
        i = int(np.searchsorted(self.ts_ms, t_ms, side="right")) - 1
        if i < 0:
            raise SimulatorError(f"No book at or before {t_ms} ms.")
        return i

    def snapshot(self, i: int) -> BookSnapshot:
        nb, na = int(self.bid_n[i]), int(self.ask_n[i])
        return BookSnapshot.build(
            exchange=self.exchange,
            symbol=self.symbol,
            source="recording",
            bid_px=self.bid_px[i, :nb],
            bid_sz=self.bid_sz[i, :nb],
            ask_px=self.ask_px[i, :na],
            ask_sz=self.ask_sz[i, :na],
            exchange_ts_ms=int(self.ts_ms[i]),
            recv_ns=int(self.ts_ms[i]) * 1_000_000,
            seq=i,
            validate=False,
        )

    def flow(self, t_ms: float) -> FlowFeatures:
        """Volatility over (t - 30 s, t] on a 1 s grid and trade intensity over (t - 10 s, t]."""
        grid = t_ms - 1000.0 * np.arange(VOL_WINDOW_S, -1, -1)
        idx = np.searchsorted(self.ts_ms, grid, side="right") - 1
        idx = idx[idx >= 0]
        r = np.diff(np.log(self.mids[idx]))
        vol = float(np.sqrt(np.mean(r * r))) * 1e4 if r.size else 0.0
        tps = bps = 0.0
        if self.trades is not None and len(self.trades):
            lo = int(np.searchsorted(self.trades.ts_ms, t_ms - TRADE_WINDOW_S * 1000.0, side="right"))
            hi = int(np.searchsorted(self.trades.ts_ms, t_ms, side="right"))
            tps = (hi - lo) / TRADE_WINDOW_S
            bps = float(self.trades.qty[lo:hi].sum()) / TRADE_WINDOW_S
        return FlowFeatures(vol_bps=vol, trades_per_s=tps, btc_per_s=bps)

    def slippage_label(self, t_ms: float, side: int, size_usd: float, latency_ms: float) -> float:
        """Cost (bps of executed notional) of a market order decided at t and walked at t + L, vs mid(t)."""
        mid_t = float(self.mids[self.index_at(t_ms)])
        later = self.snapshot(self.index_at(t_ms + latency_ms))
        w = walk_book(later, "buy" if side > 0 else "sell", size_usd)
        # w.cost is measured from the mid at t + L; move it to the mid at t. Written this way the label is
        # bit-identical to the baseline's ``cost_bps`` whenever the book did not change.
        return (w.cost + side * w.filled_base * (later.mid - mid_t)) / w.filled_quote * 1e4

    def maker_fill(self, t_ms: float, side: int, size_usd: float, offset_bps: float, horizon_s: float) -> MakerFill:
        """Simulate a passive order placed at t (no latency) resting until t + H; the queue rule:

        1. At placement the queue ahead is the visible size at our price (we join the back).
        2. Trades strictly after t *at* our price whose aggressor hits our side (sells for a buy order,
           ``buyer_is_maker``; buys for a sell order) eat the queue ahead first, then fill us.
        3. The queue ahead never exceeds the visible size at our price in any later book (cancellations
           ahead of us are assumed, so a shrinking level shortens our queue: hftbacktest's "risk-averse"
           queue model, which credits us only with cancellations it must).
        4. Any trade strictly through our price (below a buy, above a sell), or a later book whose
           opposite touch reaches our price, fills everything left at once: the market went through us.
        5. Nothing after t + H counts. Fills at our limit price are maker fills.
        """
        i0 = self.index_at(t_ms)
        snap = self.snapshot(i0)
        lp = limit_price(snap, side, offset_bps, self.tick)
        order = size_usd / lp.price
        end = t_ms + horizon_s * 1000.0
        j0 = i0 + 1
        j1 = int(np.searchsorted(self.ts_ms, end, side="right"))
        # first book at which the opposite touch reaches our price, and level sizes at our price
        if side > 0:
            cross = np.flatnonzero(self.ask_tk[j0:j1, 0] <= lp.ticks)
            lv_tk, lv_sz, n_lv = self.bid_tk[j0:j1], self.bid_sz[j0:j1], self.bid_n[j0:j1]
            last_tk = lv_tk[np.arange(j1 - j0), n_lv - 1] if j1 > j0 else np.empty(0, np.int64)
            seen = lp.ticks >= last_tk
        else:
            cross = np.flatnonzero(self.bid_tk[j0:j1, 0] >= lp.ticks)
            lv_tk, lv_sz, n_lv = self.ask_tk[j0:j1], self.ask_sz[j0:j1], self.ask_n[j0:j1]
            last_tk = lv_tk[np.arange(j1 - j0), n_lv - 1] if j1 > j0 else np.empty(0, np.int64)
            seen = lp.ticks <= last_tk
        level = np.where(lv_tk == lp.ticks, lv_sz, 0.0).sum(axis=1)
        level = np.where(seen, level, np.inf)  # beyond the recorded levels: unknown, no clipping
        t_cross = float(self.ts_ms[j0 + cross[0]]) if cross.size else math.inf
        book_ts = self.ts_ms[j0:j1].astype(np.float64)

        tr = self.trades
        if tr is None:
            raise SimulatorError("Maker labels need recorded trades.")
        k0 = int(np.searchsorted(tr.ts_ms, t_ms, side="right"))
        k1 = int(np.searchsorted(tr.ts_ms, end, side="right"))
        ts, px, qty, bim = tr.ts_ms[k0:k1], tr.price[k0:k1], tr.qty[k0:k1], tr.buyer_is_maker[k0:k1]
        ptk = np.rint(px / self.tick).astype(np.int64)
        if side > 0:
            thru = np.flatnonzero(ptk < lp.ticks)
            at = (ptk == lp.ticks) & bim
        else:
            thru = np.flatnonzero(ptk > lp.ticks)
            at = (ptk == lp.ticks) & ~bim
        t_thru = float(ts[thru[0]]) if thru.size else math.inf
        t_full = min(t_cross, t_thru)
        if math.isfinite(t_full):
            return MakerFill(lp.price, lp.ticks, order, lp.queue_base, order, 1.0, True, True)

        # Queue arithmetic (rules 2-3): with V(τ) the volume traded at our price up to τ, the queue ahead
        # at τ is A(τ) - V(τ), A(τ) = min(q0, min over books j at or before τ of level_j + V(t_j)); we
        # are filled by V(t+H) - A(t+H) once that is positive.
        v_at = np.cumsum(np.where(at, qty, 0.0))
        v_total = float(v_at[-1]) if v_at.size else 0.0
        nb = np.searchsorted(ts, book_ts, side="right")  # trades at or before each book count first
        v_books = np.where(nb > 0, v_at[np.maximum(nb - 1, 0)] if v_at.size else 0.0, 0.0)
        a = min(lp.queue_base, float(np.min(level + v_books)) if level.size else math.inf)
        filled = min(order, max(0.0, v_total - a))
        frac = filled / order
        return MakerFill(lp.price, lp.ticks, order, lp.queue_base, filled, frac, frac >= 1.0 - 1e-12, False)


def find_trades(recording: str | Path) -> Path | None:
    """The trades file of a recording: from ``data/recordings.json``, else ``../trades/<stem>.parquet``."""
    rec = Path(recording).resolve()
    manifest = DATA_DIR / "recordings.json"
    if manifest.exists():
        for r in json.loads(manifest.read_text(encoding="utf-8")).get("recordings", []):
            if (DATA_DIR / r["file"]).resolve() == rec and r.get("trades"):
                p = DATA_DIR / r["trades"]
                return p if p.exists() else None
    stem = rec.name.removesuffix(".gz").removesuffix(".jsonl")
    p = rec.parent.parent / "trades" / f"{stem}.parquet"
    return p if p.exists() else None


def load_market(recording: str | Path, trades: str | Path | None = None, *, max_lines: int | None = None) -> MarketData:
    """Parse a GoQuant-format recording (sizes converted to base units) and its trades, if any."""
    path = Path(recording)
    snaps: list[BookSnapshot] = []
    inst = None
    for i, line in enumerate(iter_lines(path)):
        if max_lines is not None and i >= max_lines:
            break
        if inst is None:
            head = json.loads(line)
            inst = get_instrument(str(head.get("exchange", "")), str(head.get("symbol", "")))
        snaps.append(parse_snapshot(line, instrument=inst, source="recording", seq=i))
    if inst is None:
        raise SimulatorError(f"{path.name} holds no books.")
    tr = Trades.from_parquet(trades) if trades is not None else None
    return MarketData.from_snapshots(snaps, trades=tr, tick=inst.tick_size, is_spot=inst.kind == "spot", name=path.name)


# --------------------------------------------------------------------------------------------------
# Sampling


def _window(m: MarketData, span_ms: float) -> tuple[float, float]:
    lo = m.start_ms + WARMUP_S * 1000.0
    hi = m.end_ms - span_ms
    if hi <= lo:
        raise SimulatorError(f"{m.name} is too short: needs more than {WARMUP_S + span_ms / 1000:g} s of books.")
    return lo, hi


def slippage_window(m: MarketData) -> tuple[float, float]:
    """Decision times for slippage rows: after the warm-up, early enough for the longest latency."""
    return _window(m, max(LATENCIES_MS))


def maker_window(m: MarketData) -> tuple[float, float]:
    """Decision times for maker rows: the longest horizon must end inside both the books and the trades."""
    lo, hi = _window(m, max(HORIZONS_S) * 1000.0)
    if m.trades is not None and len(m.trades):
        hi = min(hi, float(m.trades.ts_ms[-1]) - max(HORIZONS_S) * 1000.0)
    return lo, hi


def _times(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.sort(np.floor(rng.uniform(lo, hi, size=n)))


def _log_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(MIN_USD), math.log(MAX_USD), size=n))


def slippage_rows(m: MarketData, *, n_times: int, per_time: int, seed: int) -> pd.DataFrame:
    """``n_times`` decision times x ``per_time`` random (size, side, latency) orders; see module doc."""
    rng = np.random.default_rng(seed)
    lo, hi = slippage_window(m)
    rows: list[np.ndarray] = []
    meta: list[tuple] = []
    for t in _times(rng, lo, hi, n_times):
        i = m.index_at(t)
        snap = m.snapshot(i)
        bf = book_features(snap)
        fl = m.flow(t)
        sizes = _log_uniform(rng, per_time)
        sides = rng.choice((-1, 1), size=per_time)
        lats = rng.choice(LATENCIES_MS, size=per_time)
        for size, side, lat in zip(sizes, sides, lats, strict=False):
            try:
                w = walk_book(snap, "buy" if side > 0 else "sell", float(size))
                label = m.slippage_label(t, int(side), float(size), float(lat))
            except OrderError:
                continue  # a sell larger than any plausible book: not a trainable order
            rows.append(
                slippage_vector(
                    bf,
                    fl,
                    side=int(side),
                    size_usd=float(size),
                    walk_bps=w.cost_bps,
                    latency_ms=float(lat),
                    is_spot=m.is_spot,
                )
            )
            meta.append((m.name, int(t), float(lat), float(size), int(side), w.cost_bps, label, w.beyond_visible))
    df = pd.DataFrame(np.vstack(rows), columns=list(SLIPPAGE_NAMES))
    info = pd.DataFrame(
        meta,
        columns=[
            "recording",
            "t_ms",
            "span_ms",
            "size_usd",
            "side_sign",
            "baseline_walk_bps",
            "label_bps",
            "beyond_visible",
        ],
    )
    return pd.concat([info, df], axis=1)


def maker_rows(m: MarketData, *, n_times: int, per_time: int, seed: int) -> pd.DataFrame:
    """``n_times`` decision times x ``per_time`` random (size, side, offset, horizon) passive orders."""
    if m.trades is None or len(m.trades) == 0:
        return pd.DataFrame()
    rng = np.random.default_rng(seed)
    lo, hi = maker_window(m)
    rows: list[np.ndarray] = []
    meta: list[tuple] = []
    for t in _times(rng, lo, hi, n_times):
        snap = m.snapshot(m.index_at(t))
        bf = book_features(snap)
        fl = m.flow(t)
        sizes = _log_uniform(rng, per_time)
        sides = rng.choice((-1, 1), size=per_time)
        offs = rng.choice(OFFSETS_BPS, size=per_time)
        hors = rng.choice(HORIZONS_S, size=per_time)
        for size, side, off, hor in zip(sizes, sides, offs, hors, strict=False):
            lp = limit_price(snap, int(side), float(off), m.tick)
            if not lp.visible:
                continue  # the queue at a price past the recorded levels is unknown
            f = m.maker_fill(t, int(side), float(size), float(off), float(hor))
            rows.append(
                maker_vector(
                    bf,
                    fl,
                    side=int(side),
                    size_usd=float(size),
                    offset_bps=float(off),
                    horizon_s=float(hor),
                    queue_usd=lp.queue_base * lp.price,
                    is_spot=m.is_spot,
                )
            )
            meta.append(
                (
                    m.name,
                    int(t),
                    float(hor) * 1000.0,
                    float(size),
                    int(side),
                    float(off),
                    float(hor),
                    f.fraction,
                    f.full,
                    f.through,
                    f.queue_ahead_base,
                )
            )
    df = pd.DataFrame(np.vstack(rows), columns=list(MAKER_NAMES))
    info = pd.DataFrame(
        meta,
        columns=[
            "recording",
            "t_ms",
            "span_ms",
            "size_usd",
            "side_sign",
            "offset",
            "horizon",
            "fill_fraction",
            "filled_full",
            "through",
            "queue_ahead_base",
        ],
    )
    return pd.concat([info, df], axis=1)


@dataclass(frozen=True)
class Split:
    """Earlier rows train, later rows test; ``bounds`` holds each recording's split time."""

    train: pd.DataFrame
    test: pd.DataFrame
    bounds: dict[str, dict[str, int]]  # recording -> {window_start, split, window_end} in ms
    purged: int  # training rows dropped because their label looked past the split


def time_split(
    df: pd.DataFrame, windows: dict[str, tuple[float, float]], *, train_fraction: float = TRAIN_FRACTION
) -> Split:
    """Split each recording's window at ``train_fraction``; purge training rows whose label crosses it."""
    train, test, bounds, purged = [], [], {}, 0
    for name, part in df.groupby("recording", sort=True):
        lo, hi = windows[name]
        cut = lo + train_fraction * (hi - lo)
        early = part["t_ms"] < cut
        ok = early & (part["t_ms"] + part["span_ms"] <= cut)
        purged += int((early & ~ok).sum())
        train.append(part[ok])
        test.append(part[part["t_ms"] >= cut])
        bounds[str(name)] = {"window_start": int(lo), "split": int(cut), "window_end": int(hi)}
    return Split(
        train=pd.concat(train).reset_index(drop=True),
        test=pd.concat(test).reset_index(drop=True),
        bounds=bounds,
        purged=purged,
    )

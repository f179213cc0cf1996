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

The feature functions (``book_features``, ``slippage_vector``, ``maker_vector``, ``limit_price``) live in
``core.learned.features``, beside the models that call them at run time, so training and serving compute
features with the same code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.costs.walk import walk_book
from core.errors import OrderError, SimulatorError
from core.feed.goquant import parse_snapshot
from core.feed.recording import iter_lines
from core.feed.replay import bundled_recordings
from core.learned.features import (
    HORIZONS_S,
    LATENCIES_MS,
    MAKER_NAMES,
    OFFSETS_BPS,
    SLIPPAGE_NAMES,
    FlowFeatures,
    book_features,
    infer_tick,
    limit_price,
    maker_vector,
    slippage_vector,
)
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.paths import DATA_DIR

MIN_USD, MAX_USD = 10.0, 5e6  # order notional range, sampled log-uniformly
VOL_WINDOW_S = 30  # recent volatility: 1 s returns over the last 30 s
TRADE_WINDOW_S = 10.0  # recent trade intensity: trades in the last 10 s
WARMUP_S = float(VOL_WINDOW_S)  # no decision before the look-back windows are full
TRAIN_FRACTION = 0.7
VALIDATION_FRACTION = 0.8  # of the training part: fit on the first 80%, compare candidates on the rest


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
        a: list[Sequence[Any]] = list(zip(*rows, strict=False)) if rows else [[], [], [], []]
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
    out: np.ndarray = np.full((len(rows), width), fill, dtype=dtype)
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
    for r in bundled_recordings(DATA_DIR / "recordings.json"):
        if r.path.resolve() == rec and r.trades is not None:
            return r.trades if r.trades.exists() else None
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
        lo, hi = windows[str(name)]
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

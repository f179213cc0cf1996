"""Training rows for the learned models, built from a recording (and its trades where they exist).

Two tables, one row per simulated order, features known at the decision time ``t`` only:

- **Slippage rows.** A market order of ``size_usd`` (log-uniform $10 to $5M), buy or sell, decided at
  ``t`` and executed at ``t + L`` for a latency ``L`` drawn from ``LATENCIES_MS``. Label: the realised cost
  in bps of the executed notional versus the *decision-time* mid, walking the book recorded at ``t + L``
  (the last book at or before that instant) with ``core.costs.walk.walk_book`` (orders larger than the 400
  recorded levels are extrapolated exactly as the book walk does). The baseline it must beat, the book
  walk at ``t``, is the same label with ``L = 0``.
- **Maker rows.** A passive limit order of ``size_usd`` (log-uniform $10 to $10M) placed at ``t``
  ``offset_bps`` behind the touch (buy: below the best bid, sell: above the best ask, rounded to the tick),
  resting for ``horizon_s``. Label: the fraction of it filled as maker within the horizon, from the recorded
  trades with the validator's size-aware queue (``core.learned.fill.resting_fill``, imported, one
  implementation): the displayed size at its price is ahead of it, trades at its price eat that queue first,
  trades through its price fill it directly, and it never fills more than the volume that traded. Each row
  also carries what the tape did next (``markout_bps``, the validator's sign convention): the mid move
  against the filled part from placement to ``MARKOUT_S`` after its last fill (adverse selection), and the
  move away from the order from placement to expiry (opportunity cost of the unfilled part). Needs a trades
  file; a recording without one yields none.

Volatility (``vol_bps``) is the app's own estimate, ``core.costs.volatility.realised_vol`` over the mids
recorded up to ``t``, exactly as the pages, the per-tick tracker and the validator compute it.

Split (``block_split``): the days that train are chosen in ``core.training.train``; inside them each
recording's window is cut into blocks of ``BLOCK_S`` seconds and every ``VALIDATION_EVERY``-th block (from
``VALIDATION_PHASE``) validates. A fitting row whose label window reaches into a validation block is dropped
(purged), so no fitted label sees validation time. Rows are never shuffled across.

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

from core.costs.volatility import realised_vol
from core.costs.walk import walk_book
from core.errors import OrderError, SimulatorError
from core.feed.goquant import parse_snapshot
from core.feed.recording import TimeSpan, iter_lines
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
from core.learned.fill import resting_fill
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.market.tape import Tape
from core.paths import DATA_DIR
from core.validation.limit_orders import markout_bps

MIN_USD, MAX_USD = 10.0, 5e6  # market-order notional range, sampled log-uniformly
MAKER_MAX_USD = 1e7  # limit orders up to $10M, so the size-aware label covers the largest orders the app prices
TRADE_WINDOW_S = 10.0  # recent trade intensity: trades in the last 10 s
WARMUP_S = 30.0  # no decision before the volatility estimator has its 30 one-second returns
MARKOUT_S = 10.0  # adverse selection: the mid this long after the last fill
BLOCK_S = 60.0  # validation blocks inside the training days
VALIDATION_EVERY = 4  # every 4th block validates (25% of the training time)
VALIDATION_PHASE = 2  # ... starting with the third block


# --------------------------------------------------------------------------------------------------
# Recorded market data


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
    fill_ms: int | None  # time of the last trade that added to the fill (None: nothing filled)


def _pad(rows: list[np.ndarray], width: int, fill: float, dtype: type) -> np.ndarray:
    out: np.ndarray = np.full((len(rows), width), fill, dtype=dtype)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


@dataclass(frozen=True)
class MarketData(TimeSpan):
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
    trades: Tape | None = None  # time-sorted
    bid_tk: np.ndarray = field(init=False, repr=False)  # prices in ticks (0 = padding)
    ask_tk: np.ndarray = field(init=False, repr=False)
    mids: np.ndarray = field(init=False, repr=False)
    t_s: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "t_s", self.ts_ms / 1000.0)
        object.__setattr__(self, "bid_tk", np.rint(self.bid_px / self.tick).astype(np.int64))
        object.__setattr__(self, "ask_tk", np.rint(self.ask_px / self.tick).astype(np.int64))
        object.__setattr__(self, "mids", 0.5 * (self.bid_px[:, 0] + self.ask_px[:, 0]))

    @classmethod
    def from_snapshots(
        cls,
        snaps: Sequence[BookSnapshot],
        *,
        trades: Tape | None = None,
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
        """The app's volatility from the mids up to t, and trade intensity over (t - 10 s, t]."""
        i = self.index_at(t_ms)
        v = realised_vol(self.t_s[: i + 1], self.mids[: i + 1], mid=float(self.mids[i]))
        vol, vol30 = v.sigma_per_sqrt_s * 1e4, v.sigma_at_horizon * 1e4
        tps = bps = 0.0
        if self.trades is not None and len(self.trades):
            lo = int(np.searchsorted(self.trades.ts_ms, t_ms - TRADE_WINDOW_S * 1000.0, side="right"))
            hi = int(np.searchsorted(self.trades.ts_ms, t_ms, side="right"))
            tps = (hi - lo) / TRADE_WINDOW_S
            bps = float(self.trades.qty[lo:hi].sum()) / TRADE_WINDOW_S
        return FlowFeatures(vol_bps=vol, trades_per_s=tps, btc_per_s=bps, vol30_bps=vol30)

    def mid_at(self, t_ms: float) -> float:
        """The mid in force at ``t_ms``; NaN past the last book (the future is not recorded)."""
        return math.nan if t_ms > self.end_ms else float(self.mids[self.index_at(t_ms)])

    def slippage_label(self, t_ms: float, side: int, size_usd: float, latency_ms: float) -> float:
        """Cost (bps of executed notional) of a market order decided at t and walked at t + L, vs mid(t)."""
        mid_t = float(self.mids[self.index_at(t_ms)])
        later = self.snapshot(self.index_at(t_ms + latency_ms))
        w = walk_book(later, "buy" if side > 0 else "sell", size_usd)
        # w.cost is measured from the mid at t + L; move it to the mid at t. Written this way the label is
        # bit-identical to the baseline's ``cost_bps`` whenever the book did not change.
        return (w.cost + side * w.filled_base * (later.mid - mid_t)) / w.filled_quote * 1e4

    def maker_fill(self, t_ms: float, side: int, size_usd: float, offset_bps: float, horizon_s: float) -> MakerFill:
        """A passive order placed at t (no latency) resting until t + H, filled on the recorded tape by the
        validator's size-aware rule (``core.learned.fill.resting_fill``): the visible size at its
        price when placed is ahead of it; trades at its price eat that queue first; trades through its price
        fill it directly; it never fills more than traded. Fills at the limit price are maker fills."""
        tr = self.trades
        if tr is None:
            raise SimulatorError("Maker labels need recorded trades.")
        snap = self.snapshot(self.index_at(t_ms))
        lp = limit_price(snap, side, offset_bps, self.tick)
        order = size_usd / lp.price
        f = resting_fill(
            tr.ts_ms,
            tr.price,
            tr.qty,
            tr.side,
            side=side,
            limit_px=lp.price,
            tick=self.tick,
            placed_ms=int(t_ms),
            horizon_ms=round(horizon_s * 1000.0),
            queue_ahead=lp.queue_base,
            size=order,
        )
        return MakerFill(
            lp.price, lp.ticks, order, lp.queue_base, f.filled_base, f.fraction, f.fraction >= 1.0 - 1e-12, f.fill_ms
        )

    def limit_markouts(self, t_ms: float, side: int, horizon_s: float, fill: MakerFill) -> tuple[float, float]:
        """(adverse selection, opportunity) in bps of the mid at placement, positive = cost (module doc):
        the move against the filled part from placement to ``MARKOUT_S`` after its last fill (NaN when
        nothing filled or past the recording), and the move away from the order from placement to expiry."""
        m0 = self.mid_at(t_ms)
        adverse = math.nan
        if fill.fill_ms is not None:
            adverse = markout_bps(side, True, m0, self.mid_at(fill.fill_ms + MARKOUT_S * 1000.0))
        return adverse, markout_bps(side, False, m0, self.mid_at(t_ms + horizon_s * 1000.0))


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
    tr = _sorted(Tape.from_parquet(trades)) if trades is not None else None
    return MarketData.from_snapshots(snaps, trades=tr, tick=inst.tick_size, is_spot=inst.kind == "spot", name=path.name)


def _sorted(tape: Tape) -> Tape:
    order = np.argsort(tape.ts_ms, kind="stable")
    return Tape(ts_ms=tape.ts_ms[order], price=tape.price[order], qty=tape.qty[order], side=tape.side[order])


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
    """Decision times for maker rows: the longest horizon (and the markout after it) must end inside both
    the books and the trades."""
    span = (max(HORIZONS_S) + MARKOUT_S) * 1000.0
    lo, hi = _window(m, span)
    if m.trades is not None and len(m.trades):
        hi = min(hi, float(m.trades.ts_ms[-1]) - span)
    return lo, hi


def _times(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    return np.sort(np.floor(rng.uniform(lo, hi, size=n)))


def _log_uniform(rng: np.random.Generator, n: int, hi: float = MAX_USD) -> np.ndarray:
    return np.exp(rng.uniform(math.log(MIN_USD), math.log(hi), size=n))


#: every training row's identity: where and when it was drawn, its size and side
ROW_KEYS = ("recording", "t_ms", "span_ms", "size_usd", "side_sign")


def _frame(meta: list, extra: tuple[str, ...], rows: list, names) -> pd.DataFrame:
    """Rows' identity and labels (``meta``: ``ROW_KEYS`` then ``extra``) beside their model inputs ``names``."""
    info = pd.DataFrame(meta, columns=[*ROW_KEYS, *extra])
    return pd.concat([info, pd.DataFrame(np.vstack(rows), columns=list(names))], axis=1)


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
    return _frame(meta, ("baseline_walk_bps", "label_bps", "beyond_visible"), rows, SLIPPAGE_NAMES)


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
        sizes = _log_uniform(rng, per_time, MAKER_MAX_USD)
        sides = rng.choice((-1, 1), size=per_time)
        offs = rng.choice(OFFSETS_BPS, size=per_time)
        hors = rng.choice(HORIZONS_S, size=per_time)
        for size, side, off, hor in zip(sizes, sides, offs, hors, strict=False):
            lp = limit_price(snap, int(side), float(off), m.tick)
            if not lp.visible:
                continue  # the queue at a price past the recorded levels is unknown
            f = m.maker_fill(t, int(side), float(size), float(off), float(hor))
            adverse, opportunity = m.limit_markouts(t, int(side), float(hor), f)
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
                    (float(hor) + MARKOUT_S) * 1000.0,
                    float(size),
                    int(side),
                    float(off),
                    float(hor),
                    f.fraction,
                    f.full,
                    f.queue_ahead_base,
                    -1 if f.fill_ms is None else f.fill_ms,
                    adverse,
                    opportunity,
                    bf.mid,
                    (float(t) - float(m.ts_ms[0])) / 1000.0,
                )
            )
    return _frame(
        meta,
        (
            "offset",
            "horizon",
            "fill_fraction",
            "filled_full",
            "queue_ahead_base",
            "fill_ms",
            "adverse_selection_bps",
            "opportunity_bps",
            "mid",
            "history_s",
        ),
        rows,
        MAKER_NAMES,
    )


@dataclass(frozen=True)
class Split:
    """Fitting rows and validation rows of the training days; ``bounds`` holds each recording's blocks."""

    train: pd.DataFrame  # fitting rows
    test: pd.DataFrame  # validation rows
    bounds: dict[str, dict[str, Any]]  # recording -> {window_start, window_end, validation_blocks (ms pairs)}
    purged: int  # fitting rows dropped because their label reached into a validation block


def block_split(
    df: pd.DataFrame,
    windows: dict[str, tuple[float, float]],
    *,
    block_s: float = BLOCK_S,
    every: int = VALIDATION_EVERY,
    phase: int = VALIDATION_PHASE,
) -> Split:
    """Cut each recording's window into ``block_s`` blocks; block ``k`` validates when ``k % every == phase``.

    A fitting row whose label window ``[t, t + span]`` reaches into a validation block is purged."""
    fit, val, bounds, purged = [], [], {}, 0
    block_ms = block_s * 1000.0
    for name, part in df.groupby("recording", sort=True):
        lo, hi = windows[str(name)]
        n_blocks = max(1, math.ceil((hi - lo) / block_ms))
        blocks = [(lo + k * block_ms, min(hi, lo + (k + 1) * block_ms)) for k in range(n_blocks) if k % every == phase]
        t = part["t_ms"].to_numpy(np.float64)
        end = t + part["span_ms"].to_numpy(np.float64)
        in_val = np.zeros(t.size, dtype=bool)
        touches = np.zeros(t.size, dtype=bool)
        for a, b in blocks:
            in_val |= (t >= a) & (t < b)
            touches |= (end >= a) & (t < b)
        ok = ~in_val & ~touches
        purged += int((~in_val & touches).sum())
        fit.append(part[ok])
        val.append(part[in_val])
        bounds[str(name)] = {"window_start": int(lo), "window_end": int(hi), "validation_blocks": blocks}
    return Split(
        train=pd.concat(fit).reset_index(drop=True),
        test=pd.concat(val).reset_index(drop=True),
        bounds=bounds,
        purged=purged,
    )

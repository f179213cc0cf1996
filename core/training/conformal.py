"""The p90 band widened so real taker orders of the training days are covered 90% of the time (split conformal).

The quantile model learns from simulated orders walked on the recorded books (``core.training.dataset``). Real
taker orders pay more than that in the tail: the book they met had moved since the last book the feed showed,
other orders took the same levels in the same millisecond. So after training, every public taker order on the
calibration recordings is priced as ``core.validation.market_orders`` prices it (the book it met, the app's
volatility, that book's age as latency) and scored ``s = (realised - p90) / d``: the miss in units of a
normaliser ``d = max(column, floor)`` of the model's inputs. Per market kind (spot, derivative) and size bucket
(the validator's) the band moves by the split-conformal 90% quantile of ``s`` (the ``ceil((n + 1) 0.9)``-th
smallest) times the order's ``d``, inside the net (``core.learned.nets.BandShift``), so the Simulator, the
per-tick path and the validator serve the same band. Clipped, the quantile is floored at 0 (the correction only
widens); two-sided, it is not (where the model's band is already too wide for real orders, it narrows), with a
guard: the p90 never falls below the p50 (the served net keeps the p90 increment at or above 0; the app also
clips the band to the expected cost). A bucket with fewer than ``MIN_CELL`` orders takes the pooled figure of
itself and the smaller buckets.

The calibration recordings are every recording of the training days' dates (2024-08-08: BTCUSDT perpetual and
spot, which trained the model, and ETHUSDT perpetual and spot and the COIN-M inverse perpetual, which it never
saw; 2023-04-04: the BTCUSDT perpetual, a training recording). The quantile model never saw a real order's cost, so they are a fair calibration set; the held-out day is
never used, to fit or to choose.

The normaliser, and clipped or two-sided, are chosen together from the eligible ``NORMALISERS`` by cross-validation inside the calibration set
(``cross_validate``): leave one recording out (another asset or venue), and leave one volatility tercile out (the
failure this guards against: a day whose volatility is far from the calibration days', with misses that do not
scale with it). The choice is the normaliser whose worst cell (recording or tercile x market kind x size bucket
with at least ``MIN_JUDGED`` orders) is closest to 90%, the mean deviation breaking ties, and on a tie of both the
clipped variant (the incumbent, which cannot narrow the band) wins: ``CHOICE_RULE``, written down before the
two-sided variant was scored on any data. Units that grow with
the order's size or latency (the walk cost, the latency move) are scored but not eligible: the calibration
orders stop near $1M and 150 ms, the app prices $10M and 1 s, and their fitted bands were 12-15 units wide
(``Normaliser.eligible``). The evidence (every candidate's cells) is on the model card and in
``docs/MODELS.md``. ``check`` recomputes the table from orders outside the
validation blocks and reports the coverage inside them, an out-of-block check inside the calibration days.

Instruments that need very different corrections share a pooled cell (on 2024-08-08 the perpetuals' $100k-$1M cell
pooled COIN-M and ETHUSDT orders needing 26-95 spread units with BTCUSDT's needing about 6), so the chosen
normaliser is also fitted with instrument rows (``fit_instrument_table``: an instrument's own cell where it has
``MIN_INSTRUMENT_CELL`` orders, else the pooled one), made one of the ways of ``Cells`` (``combine_cells``: as
fitted, at least the pooled cell, shrunk toward it by the order count, or monotone in size), chosen among them and
the pooled table by ``CELLS_RULE`` on the same folds (written before the three combinations were scored, after the
held-out day had shown the plain per-instrument cells under-covering one bucket: a forking path, said on the card).
The instrument is not a model input: the band looks it up through the instrument table
(``core.learned.models.band_instrument``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.models import ModelInput
from core.costs.order import Order, Side, SizeUnit
from core.costs.volatility import realised_vol
from core.costs.walk import walk_book
from core.errors import OrderError
from core.learned.features import ROLE_INPUTS, VOL_FLOOR_BPS
from core.learned.models import SlippageModelImpl, band_instrument
from core.learned.nets import BandShift, NumpyNet
from core.market.tape import Tape, group_orders, realised_cost_bps
from core.validation.books import load_books
from core.validation.bootstrap import BlockBootstrap, Resampler
from core.validation.delay import measure_delay
from core.validation.market_orders import SIZE_BUCKETS

LEVEL = 0.9
MIN_CELL = 50  # orders; a thinner bucket pools with the smaller buckets of its market kind
MIN_JUDGED = 100  # orders; a cross-validation cell with fewer is reported, not judged (as the validator's buckets)
EDGES_LOG10_USD = np.log10([lo for _, lo, _ in SIZE_BUCKETS[1:]])
_NAMES = list(ROLE_INPUTS["slippage_quantiles"])


@dataclass(frozen=True)
class Normaliser:
    """The unit of the conformal score: ``max(column, floor)`` of the quantile model's inputs (bps)."""

    column: str
    floor: float
    #: False for a unit that grows with what the trader chooses, past what the calibration orders span: their
    #: sizes stop near $1M and their latencies (the book's age) near 150 ms, while the app prices $10M orders
    #: and 1 s latencies, so such a unit would widen those bands by a factor no calibration order checked.
    #: (The volatility and the spread also reach values no calibration order had, but only on another market
    #: day, which is what the volatility-tercile folds test.) Scored and reported, never chosen.
    eligible: bool = True
    #: False: the band only widens (the score's quantile floored at 0); True: it moves down as well as up
    two_sided: bool = False

    @property
    def unit(self) -> str:
        return f"max({self.column}, {self.floor:g})"

    @property
    def name(self) -> str:
        return self.unit + (", two-sided" if self.two_sided else "")

    def of(self, x: np.ndarray) -> np.ndarray:
        return np.fmax(x[:, _NAMES.index(self.column)], self.floor)


#: the candidates, compared by ``cross_validate``: the volatility (the first fit's choice, floored at
#: VOL_FLOOR_BPS), hybrids that floor it near and above every calibration order's volatility (1 and 4 bps per
#: sqrt(s): nearly absolute bps), the latency move the model scales its band by, the spread (about a tick or
#: two), and the order's book-walk cost floored at a few ticks of BTC (0.03 bps) or more. The latency move and
#: the walk are not eligible (they grow with the latency and the size the trader picks; fitted, the band was
#: 12 latency moves wide for perpetual orders of $1M and more, 15 walks wide on spot). Each eligible unit comes
#: clipped (only widens) and two-sided (may narrow, never below the p50), compared on the same folds and cells.
_CLIPPED: tuple[Normaliser, ...] = (
    Normaliser("vol_bps", VOL_FLOOR_BPS),
    Normaliser("vol_bps", 1.0),
    Normaliser("vol_bps", 4.0),
    Normaliser("latency_move_bps", 0.03, eligible=False),
    Normaliser("spread_bps", 0.03),
    Normaliser("walk_bps", 0.03, eligible=False),
    Normaliser("walk_bps", 0.1, eligible=False),
    Normaliser("walk_bps", 0.3, eligible=False),
)
NORMALISERS: tuple[Normaliser, ...] = _CLIPPED + tuple(replace(n, two_sided=True) for n in _CLIPPED if n.eligible)

#: how ``choose_normaliser`` decides, fixed before the two-sided variant was scored on any recording
CHOICE_RULE = (
    "each candidate (a normaliser, clipped or two-sided) refitted without one fold and scored on it: leave one "
    "recording out, and leave one volatility tercile out; chosen among the eligible ones (a unit that grows with the "
    "size or the latency the trader picks, the walk or the latency move, is not: the calibration orders stop near "
    "$1M and 150 ms, so it would widen the band of a $10M or 1 s order by a factor no calibration order checked): "
    "the smallest worst |coverage - 90%| over the cells (fold x market kind x size bucket) with at least "
    f"{MIN_JUDGED} orders, then the smallest mean, then clipped before two-sided (the incumbent wins a tie)"
)


#: the least calibration orders an instrument needs in a size bucket for a cell of its own; with fewer, its orders
#: in that bucket take the pooled (market kind x size bucket) cell. An assumption, not fitted: the same floor as
#: ``MIN_CELL`` (a split-conformal 90% quantile of 50 scores covers a new order with probability Beta(46, 5):
#: mean 90.2%, standard deviation about 4 points).
MIN_INSTRUMENT_CELL = MIN_CELL

#: the shrinkage of an instrument's own cell toward its market kind's pooled cell (``Cells.SHRUNK``): weight
#: ``n / (n + SHRINK_K)`` on the own quantile, ``n`` the instrument's calibration orders in that bucket (half weight
#: at 500 orders, 0.91 at 5,000). An assumption, not fitted, and written after the held-out day's coverage of the
#: pooled and the per-instrument tables had been seen (a forking path, said on the model card).
SHRINK_K = 500


class Cells(Enum):
    """How the served table's cells are made; in the order ``CELLS_RULE`` prefers them on a full tie (the
    incumbent first, then the ones never narrower than it, then the ones that may be)."""

    POOLED = "pooled"  # market kind x size bucket: no instrument rows (main's table)
    AT_LEAST_POOLED = "at least pooled"  # an instrument's own cell or the pooled one, whichever is wider
    SHRUNK = "shrunk toward pooled"  # own x n / (n + SHRINK_K) + pooled x SHRINK_K / (n + SHRINK_K)
    MONOTONE = "per instrument, monotone in size"  # own cells, each at least the instrument's smaller buckets'
    OWN = "per instrument"  # an instrument's own cell where it has MIN_INSTRUMENT_CELL orders (branch s8-p90)


#: how the served table's cells are chosen, after ``CHOICE_RULE`` chose the normaliser, on 2024-08-08 alone;
#: written (with ``SHRINK_K`` and the variants of ``Cells``) before any variant but the first and the last was
#: fitted or scored on any recording, and after the held-out day's coverage of those two had been seen
CELLS_RULE = (
    "the normaliser chosen by the rule above, fitted five ways on the same folds: pooled (market kind x size "
    "bucket); per instrument (an instrument's own size-bucket cell where it has at least "
    f"{MIN_INSTRUMENT_CELL} calibration orders there, else the pooled cell; an instrument is an (exchange, symbol) "
    "row of the instrument table, and the served band looks it up there, so an instrument with no row gets the "
    "pooled band); at least pooled (each own cell raised to the pooled cell where that is wider); shrunk toward "
    f"pooled (own x n / (n + {SHRINK_K}) + pooled x {SHRINK_K} / (n + {SHRINK_K}), n the instrument's orders in the "
    "bucket); per instrument, monotone in size (each own cell raised to the largest of the instrument's smaller "
    "buckets). Judged on the cells of the rule above (fold x market kind x size bucket) and on instrument cells "
    "(per fold family, leave-one-recording-out and volatility terciles, every order scored by the table fitted "
    "without its fold, per instrument x size bucket), each with at least "
    f"{MIN_JUDGED} orders: the smallest worst shortfall below 90% (max(0, 90% - coverage): a band too narrow is the "
    "worse failure for a trader), then the smallest worst |coverage - 90%|, then the smallest mean |coverage - "
    "90%|; on a tie of all three the first of pooled, at least pooled, shrunk, monotone, per instrument (the "
    "incumbent, then the variants never narrower than it)"
)


#: how the held-out day (2024-07-18, never used to fit or choose) is read after the choice, written with
#: ``CELLS_RULE`` before any new variant was scored: per size bucket of the validator with at least 100 orders
#: (``core.training.train.MIN_BUCKET_N``), the chosen table transfers if every such bucket's p90 coverage is within
#: 4 points of 90% (86-94%); it is better than main's pooled table if its worst shortfall below 90% is smaller, then
#: its worst |coverage - 90%| (the order of ``CELLS_RULE``). Each variant's held-out figures are looked at once,
#: after the choice; they are reported, never used to choose what is served.
TRANSFER_RULE = (
    "on the held-out day, per size bucket with at least 100 orders: transfers if every such bucket is within 4 "
    "points of 90% (86-94%); better than the pooled table if its worst shortfall below 90% is smaller, then its "
    "worst |coverage - 90%|; looked at once per variant, after the choice, never used to choose"
)


@dataclass(frozen=True)
class TakerScores:
    """One row per real taker order of the calibration recordings, priced by the uncorrected quantile model."""

    recording: np.ndarray
    ts_ms: np.ndarray
    x: np.ndarray  # the quantile model's input rows
    p90_bps: np.ndarray  # the model's p90 before any correction
    realised_bps: np.ndarray
    p50_bps: np.ndarray | None = None  # the model's p50: the floor of a two-sided band (None: no floor)
    #: each order's instrument, its ``core.learned.models.band_instrument`` key ("" where the instrument table does
    #: not list it); None: unknown, so no per-instrument cells
    instrument: np.ndarray | None = None

    @property
    def vol_bps(self) -> np.ndarray:
        return self.x[:, _NAMES.index("vol_bps")]

    def score(self, norm: Normaliser) -> np.ndarray:
        return (self.realised_bps - self.p90_bps) / norm.of(self.x)

    @property
    def group(self) -> np.ndarray:
        return (self.x[:, _NAMES.index("is_spot")] > 0.5).astype(np.intp)

    @property
    def bucket(self) -> np.ndarray:
        return np.searchsorted(EDGES_LOG10_USD, self.x[:, _NAMES.index("log10_size_usd")], side="right")

    def rows(self, instruments: Sequence[str] = ()) -> np.ndarray:
        """Each order's row of a table whose rows after the two pooled ones are ``instruments``' (as
        ``BandShift.rows``): its instrument's, else its market kind's."""
        g = self.group
        if not instruments or self.instrument is None:
            return g
        at = {k: 2 + i for i, k in enumerate(instruments)}
        own = np.fromiter((at.get(str(k), -1) for k in self.instrument), dtype=np.intp, count=g.size)
        return np.where(own >= 0, own, g)

    def subset(self, mask: np.ndarray) -> TakerScores:
        return TakerScores(
            recording=self.recording[mask],
            ts_ms=self.ts_ms[mask],
            x=self.x[mask],
            p90_bps=self.p90_bps[mask],
            realised_bps=self.realised_bps[mask],
            p50_bps=None if self.p50_bps is None else self.p50_bps[mask],
            instrument=None if self.instrument is None else self.instrument[mask],
        )


def score_taker_orders(
    recordings: Sequence[tuple[Path, Path]], net: NumpyNet, impute: dict[str, dict[str, float]]
) -> TakerScores:
    """Every taker order of each (recording, trades) priced as the validator prices it, by ``net``."""
    slip = SlippageModelImpl(name="calibration", expected=None, quantiles=net, impute=impute)
    names, stamps, rows, realised, keys = [], [], [], [], []
    for rec, trades in recordings:
        books = load_books(rec)
        orders = group_orders(Tape.from_parquet(trades))
        lag = measure_delay(books, orders).lag_ms
        idx = books.index_at(orders.ts_ms + lag)
        use = np.flatnonzero((idx >= 0) & (orders.ts_ms <= books.ts_ms[-1]))
        snaps = books.snapshots(idx[use])
        t_s, mids = books.ts_ms / 1000.0, books.mid
        vols = {}
        for i in use:
            b = int(idx[i])
            snap = snaps[b]
            if b not in vols:
                vols[b] = realised_vol(t_s[: b + 1], mids[: b + 1], mid=snap.mid)
            side, qty = int(orders.side[i]), float(orders.qty[i])
            age_ms = max(float(orders.ts_ms[i] - books.ts_ms[b]), 0.0)
            order = Order(side=Side.BUY if side > 0 else Side.SELL, quantity=qty, unit=SizeUnit.BASE, latency_ms=age_ms)
            try:
                walk = walk_book(snap, order.side, qty, unit=SizeUnit.BASE)
            except OrderError:
                continue
            x = ModelInput(snapshot=snap, order=order, walk=walk, volatility=vols[b], notional_usd=walk.filled_quote)
            rows.append(slip.features(x, latency_ms=age_ms))
            realised.append(realised_cost_bps(side, qty, float(orders.notional[i]), snap.mid))
            names.append(rec.name)
            stamps.append(int(orders.ts_ms[i]))
            keys.append(band_instrument(snap.exchange, snap.symbol) or "")
    x_all = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(_NAMES))
    q = net.forward(x_all) if len(rows) else np.empty((0, 3))
    return TakerScores(
        recording=np.asarray(names),
        ts_ms=np.asarray(stamps, dtype=np.int64),
        x=x_all,
        p90_bps=q[:, 1],
        realised_bps=np.asarray(realised, dtype=np.float64),
        p50_bps=q[:, 0],
        instrument=np.asarray(keys, dtype=np.str_),
    )


def conformal_quantile(scores: np.ndarray, level: float = LEVEL, two_sided: bool = False) -> float:
    """The ``ceil((n + 1) level)``-th smallest score (the largest when that exceeds n); never below 0 unless
    ``two_sided``; 0 for no scores."""
    s = np.sort(scores)
    if not s.size:
        return 0.0
    q = float(s[min(math.ceil((s.size + 1) * level), s.size) - 1])
    return q if two_sided else max(q, 0.0)


def fit_table(t: TakerScores, norm: Normaliser) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(2, buckets) table of score quantiles and one row per cell saying what it was made of."""
    n_buckets = len(SIZE_BUCKETS)
    table = np.zeros((2, n_buckets))
    cells = []
    score, group, bucket = t.score(norm), t.group, t.bucket
    for g in (0, 1):
        for k in range(n_buckets):
            own = (group == g) & (bucket == k)
            pool = own
            lo = k
            while int(pool.sum()) < MIN_CELL and lo > 0:
                lo -= 1
                pool = (group == g) & (bucket >= lo) & (bucket <= k)
            table[g, k] = conformal_quantile(score[pool], two_sided=norm.two_sided)
            cells.append(
                {
                    "market": "spot" if g else "derivative",
                    "bucket": SIZE_BUCKETS[k][0],
                    "n": int(own.sum()),
                    "pooled_from": SIZE_BUCKETS[lo][0] if lo < k else None,
                    "shift_units": float(table[g, k]),
                }
            )
    return table, cells


def fit_instrument_table(
    t: TakerScores, norm: Normaliser, pooled: np.ndarray | None = None, cells: Cells = Cells.OWN
) -> tuple[np.ndarray, tuple[str, ...], list[dict[str, Any]]]:
    """``pooled`` (``fit_table``'s, fitted here when None) with one row per instrument of ``t`` that has a cell of
    its own below it: an (instrument, size bucket) with at least ``MIN_INSTRUMENT_CELL`` orders takes their
    score quantile (combined with the pooled cell as ``cells`` says), a thinner one the pooled cell of its market
    kind. Returns (table, the rows' instrument keys, one row per instrument x bucket saying what it was made of);
    ``Cells.POOLED``: ``pooled`` alone."""
    if pooled is None:
        pooled, _ = fit_table(t, norm)
    if t.instrument is None or cells is Cells.POOLED:
        return pooled, (), []
    score, bucket = t.score(norm), t.bucket
    extra, kept, made = [], [], []
    for key in sorted({str(k) for k in t.instrument if k}):
        mine = t.instrument == key
        g = int(t.group[mine][0])
        n = np.array([int((mine & (bucket == k)).sum()) for k in range(len(SIZE_BUCKETS))])
        own = n >= MIN_INSTRUMENT_CELL
        quantile = pooled[g].copy()
        for b in np.flatnonzero(own):
            quantile[b] = conformal_quantile(score[mine & (bucket == b)], two_sided=norm.two_sided)
        row = combine_cells(quantile, pooled[g], np.where(own, n, 0), cells)
        for k, (name, _, _) in enumerate(SIZE_BUCKETS):
            made.append(
                {
                    "instrument": key,
                    "market": "spot" if g else "derivative",
                    "bucket": name,
                    "n": int(n[k]),
                    "own": bool(own[k]),
                    "own_units": float(quantile[k]),
                    "shift_units": float(row[k]),
                }
            )
        if own.any():
            extra.append(row)
            kept.append(key)
    return np.vstack([pooled, *extra]), tuple(kept), made


def combine_cells(own: np.ndarray, pooled: np.ndarray, n: np.ndarray, cells: Cells) -> np.ndarray:
    """One instrument's row of the served table from its own score quantiles ``own`` (per size bucket; where ``n``,
    its orders there, is 0 the pooled cell is used as is) and its market kind's ``pooled`` row, as ``cells`` says."""
    has = n > 0
    if cells is Cells.POOLED:
        return pooled.copy()
    if cells is Cells.AT_LEAST_POOLED:
        return np.where(has, np.maximum(own, pooled), pooled)
    if cells is Cells.SHRUNK:
        w = n / (n + SHRINK_K)
        return np.where(has, w * own + (1.0 - w) * pooled, pooled)
    row = np.where(has, own, pooled)
    if cells is Cells.MONOTONE:  # a bigger order's cell at least the largest of the smaller buckets' own cells
        below = np.maximum.accumulate(np.where(has, own, -np.inf))
        row = np.where(has, np.maximum(row, below), row)
    return row


def band_shift(table: np.ndarray, norm: Normaliser, instruments: Sequence[str] = ()) -> BandShift:
    return BandShift(
        edges=EDGES_LOG10_USD.astype(np.float64),
        table=table,
        size_col=_NAMES.index("log10_size_usd"),
        group_col=_NAMES.index("is_spot"),
        scale_col=_NAMES.index(norm.column),
        floor=norm.floor,
        instruments=tuple(instruments),
    )


def shifted_p90(t: TakerScores, table: np.ndarray, norm: Normaliser, instruments: Sequence[str] = ()) -> np.ndarray:
    """``t``'s p90 moved by ``table`` (rows after the pooled two: ``instruments``') in units of ``norm``, never below
    the p50 (as ``NumpyNet.forward`` serves it)."""
    p90 = t.p90_bps + table[t.rows(instruments), t.bucket] * norm.of(t.x)
    return p90 if t.p50_bps is None else np.maximum(p90, t.p50_bps)


def covered(t: TakerScores, table: np.ndarray, norm: Normaliser, instruments: Sequence[str] = ()) -> np.ndarray:
    """Which of ``t``'s orders are at or below the p90 moved by ``table`` in units of ``norm``."""
    return t.realised_bps <= shifted_p90(t, table, norm, instruments) + 1e-6


def coverage(t: TakerScores, net: NumpyNet) -> list[dict[str, Any]]:
    """Share of ``t``'s orders at or below ``net``'s p90, per market kind and size bucket (and all)."""
    keys = None if t.instrument is None else [str(k) for k in t.instrument]
    hit = t.realised_bps <= net.forward(t.x, keys)[:, 1] + 1e-6 if len(t.ts_ms) else np.empty(0, bool)
    out = [{"market": "all", "bucket": "all sizes", "n": int(hit.size), "coverage": _mean(hit)}]
    for g in (0, 1):
        for k, (name, _, _) in enumerate(SIZE_BUCKETS):
            m = (t.group == g) & (t.bucket == k)
            if m.any():
                out.append(
                    {
                        "market": "spot" if g else "derivative",
                        "bucket": name,
                        "n": int(m.sum()),
                        "coverage": _mean(hit[m]),
                    }
                )
    return out


def coverage_by_instrument(t: TakerScores, net: NumpyNet) -> list[dict[str, Any]]:
    """Share of ``t``'s orders at or below ``net``'s p90 (each with its instrument's band), per instrument x size
    bucket."""
    if t.instrument is None or not len(t.ts_ms):
        return []
    hit = t.realised_bps <= net.forward(t.x, [str(k) for k in t.instrument])[:, 1] + 1e-6
    out = []
    for key in sorted({str(k) for k in t.instrument}):
        for k, (name, _, _) in enumerate(SIZE_BUCKETS):
            m = (t.instrument == key) & (t.bucket == k)
            if m.any():
                out.append(
                    {"instrument": key or "unlisted", "bucket": name, "n": int(m.sum()), "coverage": _mean(hit[m])}
                )
    return out


def folds(t: TakerScores) -> list[tuple[str, np.ndarray]]:
    """The cross-validation folds (name, held-out mask): each recording, then each volatility tercile."""
    out = [(f"recording {r}", t.recording == r) for r in np.unique(t.recording)]
    if len(t.ts_ms) >= 3:
        cut = np.quantile(t.vol_bps, [1 / 3, 2 / 3])
        tercile = np.digitize(t.vol_bps, cut)
        names = ("low", "middle", "high")
        for i in range(3):
            m = tercile == i
            lo, hi = float(t.vol_bps[m].min()), float(t.vol_bps[m].max())
            out.append((f"volatility {names[i]} tercile ({lo:.2f}-{hi:.2f} bps per sqrt(s))", m))
    return out


def cross_validate(t: TakerScores, norm: Normaliser, cells_of: Cells = Cells.POOLED) -> dict[str, Any]:
    """Coverage of each fold's orders by the table (its cells made as ``cells_of`` says) fitted on the others, per
    market kind x size bucket; the worst and mean |coverage - 90%| over the cells with at least ``MIN_JUDGED``
    orders (``CHOICE_RULE``). Also, per fold family (each order scored by the table fitted without its fold),
    per instrument x size bucket, and the worst and mean over both kinds of judged cells (``CELLS_RULE``)."""
    cells: list[dict[str, Any]] = []
    out_of_fold: dict[str, np.ndarray] = {}
    for fold, held in folds(t):
        fit = t.subset(~held)
        table, _ = fit_table(fit, norm)
        table, instruments, _ = fit_instrument_table(fit, norm, table, cells_of)
        part = t.subset(held)
        hit = covered(part, table, norm, instruments)
        out_of_fold.setdefault(fold.split(" ")[0], np.zeros(len(t.ts_ms), dtype=bool))[held] = hit
        for g in (0, 1):
            for k, (name, _, _) in enumerate(SIZE_BUCKETS):
                m = (part.group == g) & (part.bucket == k)
                if m.any():
                    cells.append(
                        {
                            "fold": fold,
                            "market": "spot" if g else "derivative",
                            "bucket": name,
                            "n": int(m.sum()),
                            "coverage": float(hit[m].mean()),
                        }
                    )
    inst_cells = _instrument_cells(t, out_of_fold)
    dev = np.array([abs(c["coverage"] - LEVEL) for c in cells if c["n"] >= MIN_JUDGED])
    judged = np.array([c["coverage"] for c in cells + inst_cells if c["n"] >= MIN_JUDGED])
    both = np.abs(judged - LEVEL)
    return {
        "normaliser": norm.name,
        "cells_variant": cells_of.value,
        "worst_deviation": float(dev.max()) if dev.size else None,
        "mean_deviation": float(dev.mean()) if dev.size else None,
        "cells": cells,
        "instrument_cells": inst_cells,
        "cells_worst_shortfall": float(np.fmax(LEVEL - judged, 0.0).max()) if both.size else None,
        "cells_worst_deviation": float(both.max()) if both.size else None,
        "cells_mean_deviation": float(both.mean()) if both.size else None,
    }


def _instrument_cells(t: TakerScores, out_of_fold: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Out-of-fold coverage per fold family x instrument x size bucket (none without the orders' instruments)."""
    if t.instrument is None:
        return []
    cells = []
    for family, hit in out_of_fold.items():
        for key in sorted({str(k) for k in t.instrument if k}):
            for k, (name, _, _) in enumerate(SIZE_BUCKETS):
                m = (t.instrument == key) & (t.bucket == k)
                if m.any():
                    cells.append(
                        {
                            "family": family,
                            "instrument": key,
                            "bucket": name,
                            "n": int(m.sum()),
                            "coverage": float(hit[m].mean()),
                        }
                    )
    return cells


def choose_cells(t: TakerScores, norm: Normaliser) -> tuple[Cells, dict[str, Any]]:
    """``CELLS_RULE``: how ``norm``'s table's cells are made (pooled without the orders' instruments), and the
    evidence of every variant, by ``Cells`` value."""
    if t.instrument is None or not any(str(k) for k in t.instrument):
        return Cells.POOLED, {Cells.POOLED.value: cross_validate(t, norm)}
    evidence = {c.value: cross_validate(t, norm, c) for c in Cells}

    def key(c: Cells) -> tuple[float, float, float, int]:
        e = evidence[c.value]
        s, w, m = (e[f] for f in ("cells_worst_shortfall", "cells_worst_deviation", "cells_mean_deviation"))
        inf = math.inf
        return (inf if s is None else s, inf if w is None else w, inf if m is None else m, list(Cells).index(c))

    return min(Cells, key=key), evidence


def choose_normaliser(
    t: TakerScores, candidates: Sequence[Normaliser] = NORMALISERS
) -> tuple[Normaliser, list[dict[str, Any]]]:
    """The eligible candidate whose cross-validated worst cell is closest to 90% (then the lowest mean deviation,
    then clipped before two-sided: ``CHOICE_RULE``); every candidate's evidence, the ineligible ones' too."""
    evidence = [cross_validate(t, n) | {"eligible": n.eligible} for n in candidates]

    def key(i: int) -> tuple[float, float, bool]:
        e = evidence[i]
        return (
            math.inf if e["worst_deviation"] is None else e["worst_deviation"],
            math.inf if e["mean_deviation"] is None else e["mean_deviation"],
            candidates[i].two_sided,
        )

    best = min((i for i, n in enumerate(candidates) if n.eligible), key=key)
    return candidates[best], evidence


def _mean(v: np.ndarray) -> float | None:
    return float(v.mean()) if v.size else None


def held_out_coverage(t: TakerScores, net: NumpyNet, spec: BlockBootstrap) -> dict[str, dict[str, Any]]:
    """The served band (``net`` with its shift) on the held-out day's real taker orders, per recording: the share at
    or below the p90, overall and per size bucket, with block-bootstrap intervals (``BLOCK_RULE``, on the covered
    indicator: this module has no expected cost). Before the app clips the band to the expected cost, which can
    only cover more (``docs/VALIDATION.md`` scores the band as shown)."""
    if not len(t.ts_ms):
        return {}
    keys = None if t.instrument is None else [str(k) for k in t.instrument]
    hit = (t.realised_bps <= net.forward(t.x, keys)[:, 1] + 1e-6).astype(np.float64)
    out: dict[str, dict[str, Any]] = {}
    for rec in np.unique(t.recording):
        m = t.recording == rec
        second = t.ts_ms[m] // 1000 - int(t.ts_ms[m].min()) // 1000
        n_seconds = int(second.max()) + 1
        h, b = hit[m], t.bucket[m]
        fam = spec.for_family(second, [h], n_seconds, window_s=0.0)
        rs = Resampler.of(fam, second, n_seconds)
        out[str(rec)] = {
            "n": int(h.size),
            "coverage": float(h.mean()),
            "coverage_ci": rs.interval(h),
            "by_size": [
                {
                    "bucket": name,
                    "n": int((b == k).sum()),
                    "coverage": _mean(h[b == k]),
                    "coverage_ci": rs.interval(h, b == k),
                }
                for k, (name, _, _) in enumerate(SIZE_BUCKETS)
                if (b == k).any()
            ],
            "bootstrap": fam.to_dict(n_seconds),
        }
    return out


def in_blocks(t: TakerScores, blocks: dict[str, list[tuple[float, float]]]) -> np.ndarray:
    m = np.zeros(len(t.ts_ms), dtype=bool)
    for name, spans in blocks.items():
        for lo, hi in spans:
            m |= (t.recording == name) & (t.ts_ms >= lo) & (t.ts_ms < hi)
    return m


def calibrate(
    net: NumpyNet,
    t: TakerScores,
    blocks: dict[str, list[tuple[float, float]]],
    candidates: Sequence[Normaliser] = NORMALISERS,
) -> tuple[NumpyNet, dict[str, Any]]:
    """``net`` with its band shift fitted on every taker order of ``t`` in the normaliser chosen among
    ``candidates`` by cross-validation (``CHOICE_RULE``), with per-instrument cells where ``CELLS_RULE`` chose
    them, and the card's account of both."""
    norm, evidence = choose_normaliser(t, candidates)
    chosen, cells_evidence = choose_cells(t, norm)
    per_instrument = chosen is not Cells.POOLED
    pooled, cells = fit_table(t, norm)
    table, instruments, _ = fit_instrument_table(t, norm, pooled, chosen)
    # every variant's table fitted on every order (the card shows them; only the chosen one is served)
    variants = {c.value: fit_instrument_table(t, norm, pooled, c)[2] for c in Cells if c is not Cells.POOLED}
    out = replace(net, band_shift=band_shift(table, norm, instruments))
    val = in_blocks(t, blocks)
    check_pooled, _ = fit_table(t.subset(~val), norm)
    check_table, check_keys, _ = fit_instrument_table(t.subset(~val), norm, check_pooled, chosen)
    checked = replace(net, band_shift=band_shift(check_table, norm, check_keys))
    direction = (
        "(up or down, two-sided, never below the p50)" if norm.two_sided else "(never down: a negative quantile is 0)"
    )
    return out, {
        "method": (
            "split conformal per market kind and size bucket on every real taker order of the calibration "
            "recordings, priced as core.validation prices them: the p90 moves by the "
            f"ceil((n + 1) x {LEVEL:g})-th smallest (realised - p90) / {norm.unit} times the order's {norm.unit} "
            f"{direction}; a bucket under {MIN_CELL} orders pools with the smaller ones"
            + (
                f"; an instrument with at least {MIN_INSTRUMENT_CELL} orders in a bucket has a cell of its own there, "
                f"made {chosen.value} (the served band looks the instrument up in the instrument table; any other "
                "order takes the pooled cell)"
                if per_instrument
                else ""
            )
        ),
        "normaliser": {
            "column": norm.column,
            "floor": norm.floor,
            "name": norm.name,
            "unit": norm.unit,
            "two_sided": norm.two_sided,
        },
        "choice": {"what": CHOICE_RULE, "candidates": evidence},
        "cells": {
            "what": CELLS_RULE,
            "min_instrument_cell": MIN_INSTRUMENT_CELL,
            "shrink_k": SHRINK_K,
            "chosen": chosen.value,
            "order": [c.value for c in Cells],
            "served_instruments": list(instruments),
            "candidates": cells_evidence,
            "transfer_rule": TRANSFER_RULE,
            # the chosen variant's instrument rows fitted on every order (served), and every variant's (the card's)
            "instrument_table": variants[(Cells.OWN if chosen is Cells.POOLED else chosen).value],
            "instrument_tables": variants,
        },
        "orders": len(t.ts_ms),
        "by_recording": {str(r): int((t.recording == r).sum()) for r in np.unique(t.recording)},
        "table": cells,
        "edges_log10_usd": EDGES_LOG10_USD.tolist(),
        "coverage_before": coverage(t, net),
        "coverage_after": coverage(t, out),
        "coverage_by_instrument": {"before": coverage_by_instrument(t, net), "after": coverage_by_instrument(t, out)},
        "check": {
            "what": (
                "the table refitted on the orders outside the validation blocks, scored on the orders inside them "
                "(an out-of-block check inside the calibration recordings)"
            ),
            "fitted_on": int((~val).sum()),
            "before": coverage(t.subset(val), net),
            "after": coverage(t.subset(val), checked),
        },
    }

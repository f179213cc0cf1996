"""The app checking its own estimates against what executes on the tape, as it plays, and correcting them.

On a source with a trade tape (the replay of a bundled recording with trades) every public taker order is priced
the moment it prints, with the static models on the last book before it (as ``core.validation`` prices it), and
its real cost says whether the band shown for it held; every 5 s the validator's grid of resting limit orders is
placed on the book, and when each one's rest ends the size-aware fill on the tape (``core.learned.fill``) says
how much of it filled. Each outcome moves the trackers of ``core.learned.online``, which the served models carry,
so the Simulator's p90 band and maker share follow what this tape's orders really paid and got. A source of books
alone (the GoQuant endpoint, a visitor's recording) has no tape: the trackers stay at 0, the static models. A live
source that streams its public trades beside its books (OKX: ``books`` and ``trades`` on one connection) is scored
the same way on the trades as they arrive (``core.market.tape.LiveTape``), ``LIVE_LAG_MS`` of book time behind the
last take of the trades, so that a moment's trades have all arrived before it is scored; a reconnect's resting test
orders are counted, not scored. The work runs on its own thread, fed frozen book snapshots through a bounded queue,
so a slow step never holds up the feed; a full queue drops books (counted), and the calibration then learns from
fewer outcomes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.models import Models
from core.costs.order import Order, Side, SizeUnit
from core.costs.volatility import Volatility, realised_vol
from core.errors import OrderError, ParseError, SimulatorError
from core.learned.fill import GRID_STEP_S, grid_orders, resting_fill
from core.learned.models import MakerTakerModelImpl, SlippageModelImpl
from core.learned.online import BandTracker, OnlineSteps, ShareTracker, TrackerState
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.market.tape import LiveTape, TakerOrders, Tape, group_orders, realised_cost_bps

log = logging.getLogger(__name__)

#: books kept to price a taker order on the last one before it; mids kept for the volatility (its EWMA half-life
#: is 300 s, so older mids weigh little)
BOOKS_KEPT = 256
MIDS_KEPT_S = 1800.0
QUEUE_MAX = 2048
#: a book this much older than the previous one means the replay started its recording again
REWIND_MS = 1000
#: a taker order whose last book is older than this met a book the feed never delivered (a reconnect, dropped
#: books): it is skipped (counted), not priced on a stale book
STALE_BOOK_MS = 5000
#: the calibration thread refreshes the status snapshot the bus publishes this often while it works
SNAPSHOT_EVERY_S = 0.1
#: on a live tape, outcomes are scored this far (book time) behind the last take of the trades: a trade can arrive
#: after a later book (two channels), and a moment is scored once, so it waits until that moment's trades are all in
LIVE_LAG_MS = 1000
#: a live tape keeps this much of its trades (book time): a resting order's rest (at most 60 s) and the lag
LIVE_KEEP_MS = 120_000
#: new live trades are taken at most this often (book time): each take regroups the kept trades into orders
LIVE_SYNC_MS = 250
#: the trackers' ``applies_to`` while no tape is followed: no order's instrument
NO_INSTRUMENT = ("", "")
#: what the status calls a live source's tape
LIVE_TAPE = "the live trades its feed streams"


class CalibrationState(Enum):
    OFF = "off"  # no trade tape for this source: the static models
    WAITING = "waiting"  # the tape is read shortly (``load_delay_s`` after the source started)
    LEARNING = "learning"  # following a tape


@dataclass(frozen=True)
class CalibrationStatus:
    """What the online calibration has done (crosses threads)."""

    state: CalibrationState
    tape: str  # the tape followed ("" when off)
    instrument: tuple[str, str] | None
    taker_orders: int  # real taker orders scored
    resting_orders: int  # simulated resting orders whose rest ended
    pending: int  # resting orders still resting
    skipped: dict[str, int] = field(default_factory=dict)
    since_s: float = 0.0  # wall-clock time (epoch s) the trackers last started over (a source, a replay's new pass)
    band: TrackerState | None = None
    share: TrackerState | None = None
    #: a bus replica's view of its ingest's calibration (``BusCalibration``), and the ingest run it follows
    from_bus: bool = False
    ingest_run: str = ""
    live: bool = False  # the tape is a live source's trades as they arrive (not a recording's)

    def to_doc(self) -> dict[str, Any]:
        """As JSON for the bus: the ingest adds it to the instrument's status document."""
        return {
            "state": self.state.value,
            "tape": self.tape,
            "instrument": list(self.instrument) if self.instrument else None,
            "taker_orders": self.taker_orders,
            "resting_orders": self.resting_orders,
            "pending": self.pending,
            "skipped": dict(self.skipped),
            "since_s": self.since_s,
            "band": self.band.to_doc() if self.band is not None else None,
            "share": self.share.to_doc() if self.share is not None else None,
            "live": self.live,
        }

    @staticmethod
    def from_doc(doc: Any, *, run: str) -> CalibrationStatus:
        """The status an ingest run published; ``ParseError`` for a document that is not one (counted, skipped)."""
        try:
            inst = doc["instrument"]
            if inst is not None and not (isinstance(inst, list) and len(inst) == 2):
                raise ParseError("bad_calibration", "instrument: not [exchange, symbol]")
            skipped = doc.get("skipped") or {}
            if not isinstance(skipped, dict):
                raise ParseError("bad_calibration", "skipped: not counts")
            return CalibrationStatus(
                state=CalibrationState(doc["state"]),
                tape=str(doc["tape"]),
                instrument=(str(inst[0]), str(inst[1])) if inst else None,
                taker_orders=int(doc["taker_orders"]),
                resting_orders=int(doc["resting_orders"]),
                pending=int(doc["pending"]),
                skipped={str(k): int(v) for k, v in skipped.items()},
                since_s=float(doc["since_s"]),
                band=TrackerState.from_doc(doc["band"]) if doc.get("band") is not None else None,
                share=TrackerState.from_doc(doc["share"]) if doc.get("share") is not None else None,
                from_bus=True,
                ingest_run=run,
                live=bool(doc.get("live", False)),
            )
        except (KeyError, TypeError, IndexError, ValueError) as exc:
            raise ParseError("bad_calibration", f"not a calibration status ({type(exc).__name__}: {exc})") from exc


@dataclass
class _Resting:
    end_ms: int
    placed_ms: int
    side: int
    size_base: float
    limit_px: float
    queue_base: float
    shown: float
    bucket: int


class OnlineCalibration:
    """Feeds the trackers from a book stream and a trade tape (module doc). Call it with each book (a feed
    listener); ``follow`` names the tape of the source that runs."""

    def __init__(
        self, models: Models, steps: OnlineSteps, *, load_delay_s: float = 0.0, keep_history: bool = False
    ) -> None:
        slip, maker = models.slippage, models.maker_taker
        self.steps = steps
        self.band = BandTracker(steps.band_step, buckets=steps.band_buckets, unit=steps.band_unit)
        self.share = ShareTracker(steps.share_step, steps.share_buckets)
        # the static models price the outcomes; the served ones carry the trackers
        self._static = Models(
            slippage=replace(slip, band=None) if isinstance(slip, SlippageModelImpl) else slip,
            maker_taker=replace(maker, share=None) if isinstance(maker, MakerTakerModelImpl) else maker,
        )
        #: (generation, book, feed connection count): a book queued before the latest ``follow`` is of the old source
        #: and is skipped; a new connection count is a reconnect (``on_book``)
        self._queue: queue.Queue[tuple[int, BookSnapshot, int] | _Marker | None] = queue.Queue(QUEUE_MAX)
        self._lock = threading.Lock()
        self._thread_lock = threading.Lock()  # starting the thread, counting drops: never held for long
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._dropped = 0
        #: seconds between ``follow`` and reading its tape (the runtime waits, so the first page view does not
        #: pay for pandas and the Parquet read; tests read at once)
        self.load_delay_s = load_delay_s
        self._target: tuple[Path | LiveTape | None, tuple[str, str] | None] = (None, None)
        self._pending: tuple[Path | LiveTape | None, tuple[str, str] | None] | None = None
        self._load_at = 0.0
        #: every shift after each outcome, (book time ms, bucket, shift), per tracker: the validator reads what the
        #: app showed at any moment from it (``keep_history``; off in the app, where it would grow without end)
        self.keep_history = keep_history
        self._history: dict[str, list[tuple[int, int, float]]] = {"band": [], "share": []}
        self._reset(None, "", None)
        #: the status as the calibration thread last left it (at most ``SNAPSHOT_EVERY_S`` old while it works, and
        #: current once its queue is empty): what ``status(wait=False)`` gives when the thread holds the lock
        self._last_status = self._status()
        self._snapshot_at = 0.0

    # ---- served models ------------------------------------------------------------------------
    def wrap(self, models: Models) -> Models:
        """``models`` carrying this calibration's trackers (the static ones where a slot is not ours)."""
        return carrying(models, self.band, self.share)

    # ---- source ---------------------------------------------------------------------------------
    def follow(self, tape: Path | LiveTape | None, instrument: tuple[str, str] | None) -> None:
        """Start over on ``tape`` (the trades of the recording that now plays, for ``instrument``, or the live trades
        its source streams; None: a source without trades, the static models). The trackers go back to 0 at once; a
        recording's tape is read by the first book that arrives ``load_delay_s`` after this call, so a page view never
        waits for it. The same source again (a start that changed nothing) keeps what was learnt, unless its tape
        could not be read."""
        target = (tape, instrument)
        with self._lock:
            if target == self._target and (tape is None or self._tape is not None or self._pending is not None):
                return
            self._target = target
            self._generation += 1
            self._reset(None, "", None)
            if isinstance(tape, LiveTape):
                tape.take()  # trades from before this call may be the last source's
                self._reset(Tape.empty(), LIVE_TAPE, instrument, live=tape)
                self._pending = None
            else:
                self._pending = target if tape is not None else None
            self._last_status = self._status()
            self._load_at = time.monotonic() + self.load_delay_s

    def _load_pending(self) -> None:
        """Read the pending tape (with the lock held)."""
        assert self._pending is not None
        path, instrument = self._pending
        self._pending = None
        assert isinstance(path, Path)
        try:
            tape = Tape.from_parquet(path)
        except (OSError, ValueError, SimulatorError) as exc:
            log.warning("online calibration: tape %s not read (%s); the static models are used", path, exc)
            return
        self._reset(tape, path.name, instrument)

    def _reset(
        self, tape: Tape | None, name: str, instrument: tuple[str, str] | None, *, live: LiveTape | None = None
    ) -> None:
        self._live = live
        self._cursor_ms = 0  # taker orders before this book time are scored (or were before the source's books)
        self._first_ms = 0  # the first book's time since the last rewind
        self._connection: int | None = None  # the feed connection of the last book (``on_book``)
        self._live_synced_ms = -LIVE_SYNC_MS
        self.band.reset()
        self.share.reset()
        # no tape: the trackers (all 0) correct no order, so no order is said to be corrected
        self.band.applies_to = self.share.applies_to = instrument if tape is not None else NO_INSTRUMENT
        self._tape = tape
        self._name = name
        self._instrument = instrument if tape is not None else None
        self._orders: TakerOrders | None = group_orders(tape) if tape is not None else None
        if tape is not None:
            order = np.argsort(tape.ts_ms, kind="stable")
            self._trades = (tape.ts_ms[order], tape.price[order], tape.qty[order], tape.side[order])
        self._next_order = 0
        self._books: deque[BookSnapshot] = deque(maxlen=BOOKS_KEPT)
        self._mids: deque[tuple[float, float]] = deque()
        self._vol: tuple[int, Volatility] | None = None
        self._resting: list[_Resting] = []
        self._next_grid_ms = -1
        self._scored = self._matured = 0
        self._since = time.time()
        self._tick = 0.0
        self._skipped = {"no_book_yet": 0, "stale_book": 0, "unpriceable": 0, "other_instrument": 0}
        if live is not None:
            self._skipped["late_trades"] = 0  # live trades that arrived after their moment was scored
            self._skipped["resting_in_gap"] = 0  # test orders whose rest reached into a reconnect: not scored
        self._history = {"band": [], "share": []}

    def history(self, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(book time ms, bucket, shift after) of every outcome the ``kind`` tracker ("band" or "share") took."""
        with self._lock:
            rows = list(self._history[kind])
        cols = list(zip(*rows, strict=True)) if rows else [(), (), ()]
        return (
            np.asarray(cols[0], dtype=np.int64),
            np.asarray(cols[1], dtype=np.int64),
            np.asarray(cols[2], dtype=np.float64),
        )

    def status(self, *, wait: bool = True) -> CalibrationStatus:
        """What it has done; ``wait=False`` (the bus publisher's heartbeat, which must not wait out a tape read or a
        grid of resting orders) gives, when the calibration thread holds the lock, the snapshot that thread keeps
        (a busy thread holds it nearly all the time, so a snapshot taken only here would go stale)."""
        if not self._lock.acquire(blocking=wait):
            return self._last_status
        try:
            self._last_status = self._status()
            return self._last_status
        finally:
            self._lock.release()

    def bus_document(self) -> dict[str, Any]:
        """The status as the ingest publishes it on the bus (never waits for the calibration thread)."""
        return self.status(wait=False).to_doc()

    def _status(self) -> CalibrationStatus:
        return CalibrationStatus(
            state=(
                CalibrationState.LEARNING
                if self._tape is not None
                else CalibrationState.WAITING
                if self._pending is not None
                else CalibrationState.OFF
            ),
            tape=self._name,
            instrument=self._instrument,
            taker_orders=self._scored,
            resting_orders=self._matured,
            pending=len(self._resting),
            skipped={**self._skipped, "books_dropped": self._dropped},
            since_s=self._since,
            band=self.band.state(),
            share=self.share.state(),
            live=self._live is not None,
        )

    # ---- the book stream ------------------------------------------------------------------------
    def __call__(self, adapter: object, snap: BookSnapshot) -> None:
        """A feed listener (``adapter`` unused): hand the book to the calibration thread. Never blocks the feed: a
        full queue drops the book (counted), and the thread's lock is never taken here."""
        if self._tape is None and self._pending is None:
            return
        if self._thread is None:
            with self._thread_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="online-calibration", daemon=True)
                    self._thread.start()
        try:
            self._queue.put_nowait((self._generation, snap, int(getattr(adapter, "connections", 0))))
        except queue.Full:
            with self._thread_lock:
                self._dropped += 1

    def close(self) -> None:
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=5.0)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until every book handed over so far has been processed (tests, CLIs)."""
        if self._thread is None:
            return
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout_s)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Marker):
                with self._lock:
                    self._last_status, self._snapshot_at = self._status(), time.monotonic()
                item.done.set()
                continue
            generation, snap, connection = item
            try:
                with self._lock:
                    if generation == self._generation:  # else a book of the source before the last follow
                        self.on_book(snap, connection=connection)
                    now = time.monotonic()
                    if now >= self._snapshot_at + SNAPSHOT_EVERY_S or self._queue.empty():
                        self._last_status, self._snapshot_at = self._status(), now
            except Exception:  # a bug here must not stop the calibration thread; the feed never sees it
                log.exception("online calibration: a book was not processed")

    def on_book(self, snap: BookSnapshot, *, connection: int | None = None) -> None:
        """Everything this book makes known, in exchange time: the taker orders printed up to it, the resting orders
        whose rest ended by it, and the next grid of resting orders (call with the lock held, or single-threaded).
        ``connection``: the feed's connection count with this book (``Adapter.connections``); on a live tape a new
        one is a reconnect, whose trades in between never arrived, however short it was."""
        if self._pending is not None and time.monotonic() >= self._load_at:
            self._load_pending()
        if self._tape is None or self._orders is None:
            return
        if self._instrument is not None and (snap.exchange, snap.symbol) != self._instrument:
            self._skipped["other_instrument"] += 1
            return
        t = int(snap.exchange_ts_ms)
        live = self._live is not None
        if not self._books:  # the first book (the replay may start mid-recording, on the venues' shared clock)
            if live:  # trades from before it are kept (and never scored: they met no book of this source)
                self._sync_live(t)
            self._rewind(t, restart=False)
        elif t < self._books[-1].exchange_ts_ms - REWIND_MS:  # the replay looped: learn this pass afresh
            self._rewind(t, restart=True)
        elif live and (
            t - self._books[-1].exchange_ts_ms > STALE_BOOK_MS  # the books stopped: a reconnect, or books lost
            or (connection is not None and self._connection is not None and connection != self._connection)
        ):
            self._live_gap()
        if connection is not None:
            self._connection = connection
        if live:
            self._sync_live(t)
        self._books.append(snap)
        self._mids.append((t / 1000.0, snap.mid))
        while self._mids and self._mids[0][0] < t / 1000.0 - MIDS_KEPT_S:
            self._mids.popleft()
        # live: scored up to the lag behind the last take of the tape, so a trade that arrived within the lag of its
        # moment is in, whenever between takes it came
        cut = self._live_synced_ms - LIVE_LAG_MS if live else t
        self._score_taker_orders(cut)
        self._score_resting(cut)
        if t >= self._next_grid_ms:
            self._place_grid(snap)
            self._next_grid_ms = t + int(GRID_STEP_S * 1000)

    def _rewind(self, t: int, *, restart: bool) -> None:
        """The tape's cursor at book time ``t`` (earlier orders had no book here). ``restart``: the replay began its
        recording again, so the trackers start over too; kept, they would show at recorded time t what the last pass
        learnt from later in the recording. A live feed's clock stepping back starts over the same way, its kept
        trades dropped (they are of the time it left)."""
        assert self._orders is not None
        if restart:
            self.band.reset()
            self.share.reset()
            self._scored = self._matured = 0
            self._since = time.time()
            if self._live is not None:
                self._live.take()  # what arrived before this book belongs to the time the clock left
                empty = Tape.empty()
                self._trades = (empty.ts_ms, empty.price, empty.qty, empty.side)
                self._orders = group_orders(empty)
                self._live_synced_ms = -LIVE_SYNC_MS
        self._books.clear()
        self._mids.clear()
        self._vol = None
        self._resting = []
        self._next_grid_ms = -1
        self._next_order = int(np.searchsorted(self._orders.ts_ms, t, side="left"))
        self._cursor_ms = self._first_ms = t

    def _live_gap(self) -> None:
        """The live feed reconnected (a new connection, or books stopped for more than ``STALE_BOOK_MS``): the trades
        of that time never arrived, so a resting order whose rest reached into it cannot be scored (it would look
        unfilled)."""
        last = self._books[-1].exchange_ts_ms
        spanning = [r for r in self._resting if r.end_ms > last]
        self._skipped["resting_in_gap"] = self._skipped.get("resting_in_gap", 0) + len(spanning)
        self._resting = [r for r in self._resting if r.end_ms <= last]

    def _sync_live(self, t: int) -> None:
        """Take the live trades that arrived, keep the last ``LIVE_KEEP_MS`` of them (and any a resting order still
        needs) and regroup them into taker orders; the cursor stays where scoring left it (a trade older than it came
        too late: counted, not scored)."""
        if self._live is None or t < self._live_synced_ms + LIVE_SYNC_MS:
            return
        self._live_synced_ms = t
        new = self._live.take()
        ts, px, qty, side = self._trades
        keep_from = min([t - LIVE_KEEP_MS, *(r.placed_ms for r in self._resting)])
        if not len(new) and (not ts.size or ts[0] >= keep_from):
            return
        # late: older than the moment scored, yet of this source's books (older ones met no book here, as on a replay)
        late = (new.ts_ms < self._cursor_ms) & (new.ts_ms >= self._first_ms)
        self._skipped["late_trades"] += int(np.count_nonzero(late))
        kept = Tape.joined([Tape(ts, px, qty, side), new]).since(keep_from)
        self._trades = (kept.ts_ms, kept.price, kept.qty, kept.side)
        self._orders = group_orders(kept)
        self._next_order = int(np.searchsorted(self._orders.ts_ms, self._cursor_ms, side="left"))

    def _volatility(self, snap: BookSnapshot) -> Volatility:
        if self._vol is None or self._vol[0] != snap.exchange_ts_ms:
            upto = [(s, m) for s, m in self._mids if s <= snap.exchange_ts_ms / 1000.0]
            ts = np.fromiter((s for s, _ in upto), dtype=np.float64, count=len(upto))
            mids = np.fromiter((m for _, m in upto), dtype=np.float64, count=len(upto))
            self._vol = (snap.exchange_ts_ms, realised_vol(ts, mids, mid=snap.mid))
        return self._vol[1]

    def _book_before(self, ts_ms: int) -> BookSnapshot | None:
        for snap in reversed(self._books):
            if snap.exchange_ts_ms <= ts_ms:
                return snap
        return None

    def _score_taker_orders(self, t: int) -> None:
        """Each public taker order printed before book time ``t``: the band the app showed for it (the orders of one
        millisecond all before any of their outcomes counts), then its outcome."""
        o = self._orders
        assert o is not None
        while self._next_order < len(o) and o.ts_ms[self._next_order] < t:
            ms = int(o.ts_ms[self._next_order])
            seen: list[tuple[int, bool, bool]] = []
            while self._next_order < len(o) and o.ts_ms[self._next_order] == ms:
                i = self._next_order
                self._next_order += 1
                scored = self._taker_outcome(o, i)
                if scored is not None:
                    seen.append(scored)
            for bucket, missed, at_floor in seen:
                self.band.observe(bucket, missed, at_floor=at_floor)
                self._scored += 1
                if self.keep_history:
                    self._history["band"].append((t, bucket, self.band.shift(bucket)))
        self._cursor_ms = max(self._cursor_ms, t)

    def _taker_outcome(self, o: TakerOrders, i: int) -> tuple[int, bool, bool] | None:
        """(size bucket, paid more than the band shown, the band was the expectation) of taker order ``i``; None
        where it cannot be scored (counted)."""
        book = self._book_before(int(o.ts_ms[i]))
        if book is None:
            self._skipped["no_book_yet"] += 1
            return None
        if o.ts_ms[i] - book.exchange_ts_ms > STALE_BOOK_MS:  # a gap in the books: the order met a book not seen
            self._skipped["stale_book"] += 1
            return None
        side, qty, notional = int(o.side[i]), float(o.qty[i]), float(o.notional[i])
        age_ms = max(float(o.ts_ms[i] - book.exchange_ts_ms), 0.0)
        try:
            order = Order(side=Side.BUY if side > 0 else Side.SELL, quantity=qty, unit=SizeUnit.BASE, latency_ms=age_ms)
            e = estimate(
                book,
                order,
                fee_tier=get_tier(book.exchange, get_instrument(book.exchange, book.symbol).kind),
                volatility=self._volatility(book),
                models=self._static,
            )
        except OrderError:
            self._skipped["unpriceable"] += 1
            return None
        if e.slippage_p90_usd is None or not e.filled_usd > 0:
            return None
        exp = e.slippage_usd / e.filled_usd * 1e4
        bucket = self.band.buckets.of(notional)
        shown = self.band.band_bps(e.slippage_p90_usd / e.filled_usd * 1e4, book.spread_bps, bucket, exp)
        realised = realised_cost_bps(side, qty, notional, book.mid)
        return bucket, realised > shown + 1e-6, shown <= exp

    def _score_resting(self, t: int) -> None:
        """Each resting order whose rest ended before book time ``t``: its size-aware fill on the tape."""
        ts, px, qty, agg = self._trades
        keep: list[_Resting] = []
        for r in self._resting:
            if r.end_ms >= t:
                keep.append(r)
                continue
            fill = resting_fill(
                ts,
                px,
                qty,
                agg,
                side=r.side,
                limit_px=r.limit_px,
                tick=self._tick,
                placed_ms=r.placed_ms,
                horizon_ms=r.end_ms - r.placed_ms,
                queue_ahead=r.queue_base,
                size=r.size_base,
            )
            self.share.observe(r.bucket, fill.fraction, r.shown)
            self._matured += 1
            if self.keep_history:
                self._history["share"].append((t, r.bucket, self.share.shift(r.bucket)))
        self._resting = keep

    def _place_grid(self, snap: BookSnapshot) -> None:
        """The validator's grid of resting orders on this book, each with the share the app would have shown."""
        if self._static.maker_taker is None:
            return
        inst = get_instrument(snap.exchange, snap.symbol)
        self._tick = inst.tick_size
        tier = get_tier(snap.exchange, inst.kind)
        vol = self._volatility(snap)
        t = int(snap.exchange_ts_ms)
        orders, _ = grid_orders(snap, inst.tick_size)
        for g in orders:
            try:
                e = estimate(snap, g.order, fee_tier=tier, volatility=vol, models=self._static)
            except OrderError:
                continue
            bucket = self.share.buckets.of(g.size_usd)
            self._resting.append(
                _Resting(
                    end_ms=t + round(g.horizon_s * 1000),
                    placed_ms=t,
                    side=g.side,
                    size_base=g.size_usd / g.price.price,
                    limit_px=g.price.price,
                    queue_base=g.price.queue_base,
                    shown=self.share.share(e.maker_fraction, bucket),
                    bucket=bucket,
                )
            )


@dataclass
class _Marker:
    done: threading.Event


def carrying(models: Models, band: BandTracker, share: ShareTracker) -> Models:
    """``models`` whose learned slippage and maker models carry ``band`` and ``share`` (others as they are)."""
    slip, maker = models.slippage, models.maker_taker
    return Models(
        slippage=replace(slip, band=band) if isinstance(slip, SlippageModelImpl) else slip,
        maker_taker=replace(maker, share=share) if isinstance(maker, MakerTakerModelImpl) else maker,
    )


class BusCalibration:
    """A bus replica's online calibration: the ingest runs it on its feed and tape and publishes its trackers with
    the instrument's status (every heartbeat); the replica loads them into trackers its served models carry, so
    every replica shows the same corrected p90 and maker share as the ingest, within a heartbeat. It learns
    nothing itself (its books come without the tape). A document that is not a calibration status is counted
    (``bad_documents``) and skipped, the last good trackers kept; so are they when the ingest goes away."""

    def __init__(self, steps: OnlineSteps, instrument: tuple[str, str]) -> None:
        self.instrument = instrument
        self.band = BandTracker(steps.band_step, buckets=steps.band_buckets, unit=steps.band_unit)
        self.share = ShareTracker(steps.share_step, steps.share_buckets)
        self.band.applies_to = self.share.applies_to = NO_INSTRUMENT  # until the ingest's status says which
        self._lock = threading.Lock()
        self._status: CalibrationStatus | None = None
        self.bad_documents = 0

    def wrap(self, models: Models) -> Models:
        return carrying(models, self.band, self.share)

    def on_status(self, instrument: tuple[str, str], doc: dict | None) -> None:
        """A bus status listener: the ingest's status document of ``instrument`` (None: expired or not seen)."""
        if instrument != self.instrument or doc is None:
            return
        cal = doc.get("calibration")
        try:
            if cal is None:  # the ingest runs no calibration for it (a source without a tape)
                run = str(doc.get("run", ""))
                st = CalibrationStatus(CalibrationState.OFF, "", None, 0, 0, 0, from_bus=True, ingest_run=run)
            else:
                st = CalibrationStatus.from_doc(cal, run=str(doc.get("run", "")))
            band = (
                st.band
                if st.band is not None
                else BandTracker(0.0, buckets=self.band.buckets, unit=self.band.unit).state()
            )
            share = st.share if st.share is not None else ShareTracker(0.0, self.share.buckets).state()
            if band.buckets != self.band.buckets or share.buckets != self.share.buckets:  # both or neither
                raise ParseError("bad_calibration", "size buckets other than this app's models/online.json")
            self.band.load(band)
            self.share.load(share)
        except (ParseError, ValueError, TypeError) as exc:
            with self._lock:
                self.bad_documents += 1
                first = self.bad_documents == 1
            if first:  # once, never per heartbeat
                log.warning("online calibration from the bus: a status document skipped (%s)", exc)
            return
        self.band.applies_to = self.share.applies_to = st.instrument or NO_INSTRUMENT
        with self._lock:
            self._status = st

    def status(self) -> CalibrationStatus:
        """The ingest's calibration as last read (OFF before any), with the documents skipped."""
        with self._lock:
            st, bad = self._status, self.bad_documents
        if st is None:
            st = CalibrationStatus(
                CalibrationState.OFF, "", None, 0, 0, 0, band=self.band.state(), share=self.share.state(), from_bus=True
            )
        return replace(st, skipped={**st.skipped, "bad_bus_documents": bad})

    def close(self) -> None:
        """Nothing runs here (the bus reader calls ``on_status``)."""

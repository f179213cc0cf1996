"""The book bus: one ingest process publishes every validated book to Redis; app replicas read the newest.

Layout in Redis (one stream and one status key per instrument):

- ``book:{exchange}:{symbol}`` — a stream bounded with ``XADD … MAXLEN ~ N``; each entry is one book.
- ``feed:{exchange}:{symbol}`` — the ingest feed's status as JSON (state, counters, parse-error reasons,
  run id, heartbeat time), rewritten at least once a second with an expiry, so a dead ingest disappears. Where the
  ingest runs the online calibration on the instrument's tape, its trackers ride along (``calibration``), so every
  replica shows the same corrected figures (``core.pricing.calibration.BusCalibration``).

An entry carries the ingest ``run`` id (new on every ingest start), a ``seq`` number (per instrument and
run, increasing), the publish time ``pub_ns`` and the book in its *validated* form: the four float64 arrays
(prices quote, sizes base units, little-endian bytes) plus the exchange time, receive time and sequence the
ingest's adapter gave it. That form, not the venue's JSON, because the reader gets bit-for-bit the arrays
the ingest validated (no decimal round trip, no contract conversion to repeat) and decoding a 400-level book
is four ``np.frombuffer`` calls instead of a JSON parse. Bytes from Redis are still untrusted: the reader
checks every field and rebuilds the book with ``BookSnapshot.build``, i.e. the same side checks (finite,
positive, sorted, not crossed) every feed message passes; anything else is counted under a reason and
skipped, never shown.

The publisher runs on its own thread behind a one-slot-per-instrument mailbox, so a slow or frozen Redis
never stalls a feed thread (a book waiting to be sent is replaced by a newer one). The reader is one thread
per process: it takes the newest entry of each instrument (``XREVRANGE key + (last COUNT 1``) and only
waits (``XREAD BLOCK``) when nothing is new, so a slow reader skips ahead instead of falling behind. A
frozen Redis raises nothing, so freshness comes from the age of the last accepted book, never from
exceptions: the store's state is LIVE while the newest book is younger than ``stale_after_s`` and STALE
after, and the last good book stays in the store meanwhile. Connection errors reconnect with backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlunparse

import numpy as np
import orjson

from core.errors import InputError, ParseError, SourceUnavailable
from core.feed.client import Backoff, Feed
from core.feed.replay import ReplayInfo, bundled_recordings
from core.feed.store import BookStore, FeedState, FeedStatus
from core.market.book import BookSnapshot

if TYPE_CHECKING:  # redis is imported where a bus is used: the embedded app (no bus) never pays for it
    import redis

log = logging.getLogger(__name__)

Instrument = tuple[str, str]  # (exchange, symbol)
BookListener = Callable[[Any, BookSnapshot], None]
#: called with (instrument, the ingest's status document or None) after each read of the status keys
StatusListener = Callable[[Instrument, dict[str, Any] | None], None]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_F8 = np.dtype("<f8")
_ARRAYS = ("bid_px", "bid_sz", "ask_px", "ask_sz")
_INTS = ("seq", "pub_ns", "ts_ms", "recv_ns", "book_seq")
FIELDS = ("run", *_INTS, "exchange", "symbol", "source", *_ARRAYS)


DEFAULT_READER_INTERVAL_S = 0.05  # an app replica's default cap: 20 books a second per instrument


@dataclass(frozen=True)
class BusSettings:
    """Stream length, timings and limits of the bus; keyword-only overrides (``TCS_BUS_*`` in the app)."""

    maxlen: int = 100  # entries kept per stream (approximately: MAXLEN ~)
    stale_after_s: float = 3.0  # a book older than this (since it was read) is shown stale
    heartbeat_s: float = 0.5  # the ingest rewrites each status key at least this often
    status_ttl_s: float = 10.0  # a status key not rewritten this long expires (the ingest is gone)
    lease_ttl_s: float = 5.0  # an instrument's publishing lease lapses this long after its ingest stopped renewing
    block_ms: int = 250  # longest XREAD BLOCK; the reader checks ages at least this often
    socket_timeout_s: float = 1.0  # a frozen Redis surfaces as a timeout after this long
    connect_timeout_s: float = 1.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 2.0
    max_levels: int = 10_000  # per side; a bigger entry is refused
    # A reader takes at most one book per instrument this often (0: every one it sees). Decoding, publishing
    # and pricing a book costs a replica ~1.5 ms of CPU: at 190 books/s that is more of the core its pages
    # need than the feed it replaces, while pages refresh once a second. The newest book is always the one
    # taken, so a cap only skips intermediate books (like a slow reader), it never adds lag beyond itself.
    min_interval_s: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BusSettings:
        """``TCS_BUS_MAXLEN``, ``TCS_BUS_STALE_S`` and ``TCS_BUS_MIN_INTERVAL_S`` (what an operator tunes; a
        replica takes at most 20 books a second per instrument unless told otherwise)."""
        env = os.environ if env is None else env
        return cls(
            maxlen=int(env.get("TCS_BUS_MAXLEN") or cls.maxlen),
            stale_after_s=float(env.get("TCS_BUS_STALE_S") or cls.stale_after_s),
            min_interval_s=float(env.get("TCS_BUS_MIN_INTERVAL_S") or DEFAULT_READER_INTERVAL_S),
        )


def bus_instruments(env: Mapping[str, str] | None = None) -> tuple[Instrument, ...]:
    """What an app replica reads: ``TCS_BUS_INSTRUMENTS`` (``exchange:symbol,…``), else every bundled
    recording's instrument, the default one first (what ``python -m core.ingest`` publishes by default)."""
    env = os.environ if env is None else env
    raw = [s.strip() for s in (env.get("TCS_BUS_INSTRUMENTS") or "").split(",") if s.strip()]
    if raw:
        pairs = [s.partition(":") for s in raw]
        if any(not ex or not sym for ex, _, sym in pairs):
            raise InputError(f"TCS_BUS_INSTRUMENTS must be exchange:symbol pairs, not {env['TCS_BUS_INSTRUMENTS']!r}")
        return tuple(dict.fromkeys((ex.lower(), sym.upper()) for ex, _, sym in pairs))
    recs = sorted(bundled_recordings(), key=lambda r: not r.default)
    return tuple(dict.fromkeys((r.exchange, r.symbol) for r in recs))


def stream_key(exchange: str, symbol: str) -> str:
    return f"book:{exchange}:{symbol}"


def status_key(exchange: str, symbol: str) -> str:
    return f"feed:{exchange}:{symbol}"


def lease_key(exchange: str, symbol: str) -> str:
    return f"lease:{exchange}:{symbol}"


# One ingest run publishes an instrument at a time: its lease key holds the run id with an expiry. This script
# takes a free lease or renews our own and only then appends the entry (if any), atomically, so two ingests
# can never interleave on a stream, not even when a frozen one wakes up after its lease went to another.
# KEYS: lease, stream; ARGV: run, ttl ms, maxlen, field, value, ...; returns the holder's run id.
_HOLD_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if #ARGV > 3 then redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4)) end
return ARGV[1]
"""
# KEYS: lease; ARGV: run. Deletes the lease only if it is ours (a clean stop lets a successor start at once).
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def redacted(url: str) -> str:
    """The bus URL without its password (for logs and the status line)."""
    p = urlparse(url)
    if p.password is None:
        return url
    netloc = f"{p.username or ''}:***@{p.hostname}" + (f":{p.port}" if p.port else "")
    return urlunparse(p._replace(netloc=netloc))


def bus_password(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The password the bus URL carries, else ``TCS_BUS_PASSWORD`` (keeps it out of URLs, logs and argv)."""
    env = os.environ if env is None else env
    return urlparse(url).password or env.get("TCS_BUS_PASSWORD") or None


def connect(url: str, settings: BusSettings, password: str | None = None) -> redis.Redis:
    """A client that fails fast (short timeouts, no hidden retries): the bus loops decide what to do.

    ``password`` (``bus_password``, read once when a publisher or reader is built) is used when the URL
    carries none.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        password=urlparse(url).password or password,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
    )


def plain_error(exc: redis.RedisError, url: str) -> str:
    """What went wrong with the bus, in words for the status line and logs (never the password)."""
    import redis

    where = f"Redis at {urlparse(url).hostname}:{urlparse(url).port or 6379}"
    text = str(exc).lower()
    if isinstance(exc, redis.AuthenticationError) or "noauth" in text or "wrongpass" in text:
        return (
            f"{where} refused the password (missing or wrong): set TCS_BUS_PASSWORD, or the URL's password, "
            "to the server's requirepass"
        )
    if isinstance(exc, redis.TimeoutError):
        return f"{where} did not answer in time (frozen or overloaded)"
    if isinstance(exc, redis.ConnectionError):
        return f"{where} is not reachable (down or restarting)"
    return f"{where} answered with an error ({type(exc).__name__})"


# ---- codec ---------------------------------------------------------------------------------------
def encode_book(snap: BookSnapshot, *, run: str, seq: int, pub_ns: int) -> dict[str, bytes | str | int]:
    """One stream entry for ``snap`` (see the module docstring for why the arrays go as bytes)."""
    return {
        "run": run,
        "seq": seq,
        "pub_ns": pub_ns,
        "exchange": snap.exchange,
        "symbol": snap.symbol,
        "source": snap.source,
        "ts_ms": snap.exchange_ts_ms,
        "recv_ns": snap.recv_ns,
        "book_seq": snap.seq,
        **{name: np.ascontiguousarray(getattr(snap, name), dtype=_F8).tobytes() for name in _ARRAYS},
    }


@dataclass(frozen=True)
class BusEntry:
    """A decoded, validated stream entry."""

    run: str
    seq: int
    pub_ns: int
    book: BookSnapshot


def decode_entry(fields: Mapping[bytes, bytes], *, max_levels: int = BusSettings.max_levels) -> BusEntry:
    """Check and rebuild one entry; raises ``ParseError`` with a countable reason (never a partial book)."""
    for name in FIELDS:
        if name.encode() not in fields:
            raise ParseError("missing_field", name)
    try:
        text = {k: fields[k.encode()].decode() for k in ("run", "exchange", "symbol", "source")}
        ints = {k: int(fields[k.encode()]) for k in _INTS}
    except (UnicodeDecodeError, ValueError):
        raise ParseError("bad_field", "not text or not an integer") from None
    arrays = []
    for name in _ARRAYS:
        raw = fields[name.encode()]
        if len(raw) % _F8.itemsize or len(raw) // _F8.itemsize > max_levels:
            raise ParseError("wrong_shape", f"{name}: {len(raw)} bytes")
        arrays.append(np.frombuffer(raw, dtype=_F8).astype(np.float64))  # a writable native copy
    bid_px, bid_sz, ask_px, ask_sz = arrays
    book = BookSnapshot.build(
        exchange=text["exchange"],
        symbol=text["symbol"],
        source=text["source"],
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        exchange_ts_ms=ints["ts_ms"],
        recv_ns=ints["recv_ns"],
        seq=ints["book_seq"],
    )
    return BusEntry(run=text["run"], seq=ints["seq"], pub_ns=ints["pub_ns"], book=book)


def status_document(
    status: FeedStatus,
    *,
    run: str,
    heartbeat_ns: int,
    replay: ReplayInfo | None = None,
    msgs_per_s: float = 0.0,
    calibration: Mapping[str, Any] | None = None,
) -> bytes:
    """The ingest feed's status as the JSON the status key holds (with the replay's date and speed, if one, and the
    online calibration's state, if it runs one)."""
    return orjson.dumps(
        {
            "calibration": calibration,
            "replay": {"file": replay.file, "date": replay.date, "speed": replay.speed} if replay else None,
            "msgs_per_s": msgs_per_s,
            "run": run,
            "heartbeat_ns": heartbeat_ns,
            "state": status.state.value,
            "source": status.source,
            "exchange": status.exchange,
            "symbol": status.symbol,
            "last_error": status.last_error,
            "messages": status.messages,
            "books": status.books,
            "parse_errors": dict(status.parse_errors),
            "sequence_gaps": status.sequence_gaps,
            "resyncs": status.resyncs,
            "reconnects": status.reconnects,
            "last_message_at": status.last_message_at,
        }
    )


# ---- publisher (ingest side) ---------------------------------------------------------------------
class BusPublisher:
    """Publishes the books of the feeds attached to it; see the module docstring.

    ``attach(feed)`` makes it a listener of that feed (it only drops the book into a mailbox, on the feed
    thread) and adds the feed's status to the heartbeat. One thread does every Redis write.
    """

    def __init__(self, url: str = DEFAULT_URL, *, settings: BusSettings = BusSettings(), run: str = "") -> None:
        self.url = url
        self.settings = settings
        self.run = run or uuid.uuid4().hex[:12]
        self._password = bus_password(url)
        self.published = 0  # entries written (tests and logs)
        self.refused = 0  # books not written because another run held the instrument's lease
        self._feeds: list[Feed] = []
        self._calibrations: dict[int, Callable[[], Mapping[str, Any]]] = {}
        self._seq: dict[Instrument, int] = {}
        self._pending: dict[Instrument, tuple[int, BookSnapshot]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        import redis

        self._redis: redis.Redis | None = None
        self._holders: dict[Instrument, str] = {}  # who held each instrument's lease at our last try
        self._hold = redis.Redis().register_script(_HOLD_LUA)  # a script object; the client is given per call
        self._release = redis.Redis().register_script(_RELEASE_LUA)

    def attach(self, feed: Feed, *, calibration: Callable[[], Mapping[str, Any]] | None = None) -> None:
        """Publish ``feed``'s books and status; ``calibration`` gives the state of the online calibration run on its
        tape, for the status document (the feed layer does not know what it is)."""
        self._feeds.append(feed)
        if calibration is not None:
            self._calibrations[id(feed)] = calibration
        feed.add_listener(self)

    def __call__(self, adapter: Any, snap: BookSnapshot) -> None:
        """Feed listener: number the book and leave it for the publisher thread (replacing an unsent one)."""
        with self._lock:
            seq = self._seq[snap.key] = self._seq.get(snap.key, 0) + 1
            self._pending[snap.key] = (seq, snap)
        self._wake.set()

    def start(self) -> BusPublisher:
        self._thread = threading.Thread(target=self._loop, name="tcs-bus-publisher", daemon=True)
        self._thread.start()
        return self

    def claim(
        self, wanted: Iterable[Instrument], *, wait_s: float, on_wait: Callable[[str], None] | None = None
    ) -> None:
        """Take the lease of every instrument before publishing any, waiting up to ``wait_s`` for leases held
        by another run (an ingest that just died lets its lapse within ``lease_ttl_s``). Raises
        ``SourceUnavailable`` in words when another ingest still publishes one, releasing what it took. An
        unreachable Redis is not a refusal: the publisher takes free leases once Redis answers."""
        import redis

        wanted = tuple(dict.fromkeys(wanted))
        deadline = time.monotonic() + wait_s
        told = False
        r = connect(self.url, self.settings, self._password)
        try:
            while True:
                held = self._renew(r, wanted)
                others = {inst: run for inst, run in held.items() if run != self.run}
                if not others:
                    return
                words = "; ".join(f"{ex}/{sym} by ingest run {run}" for (ex, sym), run in others.items())
                if time.monotonic() >= deadline:
                    self._give_back(r, wanted)
                    raise SourceUnavailable(
                        f"Another ingest already publishes {words}. Two ingests on one instrument would interleave "
                        "their books, so this one does not start: stop the other one, or start this one with a "
                        "longer --lease-wait to take over when the other's lease lapses."
                    )
                if not told and on_wait is not None:
                    on_wait(f"waiting up to {wait_s:.0f} s for the lease of {words}")
                    told = True
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        except redis.RedisError as exc:
            log.warning("bus: leases not checked at start (%s); taken when Redis answers", plain_error(exc, self.url))
        finally:
            r.close()

    def holders(self) -> dict[Instrument, str]:
        """Who held each instrument's lease at the publisher's last attempt (our run id when we did)."""
        return dict(self._holders)

    def close(self, timeout_s: float = 5.0) -> None:
        import redis

        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        with contextlib.suppress(redis.RedisError):  # a clean stop frees the leases at once for a successor
            r = connect(self.url, self.settings, self._password)
            try:
                self._give_back(r, [*self._seq, *self._holders])
            finally:
                r.close()

    def _renew(self, r: redis.Redis, instruments: Iterable[Instrument]) -> dict[Instrument, str]:
        """Take or renew each free-or-ours lease; the holder of each (our run id when we hold it)."""
        instruments = tuple(instruments)
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        pipe = r.pipeline(transaction=False)
        for inst in instruments:
            self._hold(keys=[lease_key(*inst), stream_key(*inst)], args=[self.run, ttl_ms, 0], client=pipe)
        held = {inst: _text(run) for inst, run in zip(instruments, pipe.execute(), strict=True)}
        self._note(held)
        return held

    def _give_back(self, r: redis.Redis, instruments: Iterable[Instrument]) -> None:
        pipe = r.pipeline(transaction=False)
        for inst in dict.fromkeys(instruments):
            self._release(keys=[lease_key(*inst)], args=[self.run], client=pipe)
        pipe.execute()

    def _note(self, held: Mapping[Instrument, str]) -> None:
        """Remember the holders; say once when an instrument's lease is lost to, or back from, another run."""
        for inst, run in held.items():
            before = self._holders.get(inst, self.run)
            if run != self.run and before == self.run:
                log.error("bus: %s/%s is published by ingest run %s now: not publishing it", *inst, run)
            elif run == self.run and before != self.run:
                log.warning("bus: %s/%s lease back with this run %s", *inst, self.run)
            self._holders[inst] = run

    def _loop(self) -> None:
        import redis

        s = self.settings
        backoff = Backoff(s.backoff_initial_s, 2.0, s.backoff_max_s)
        last_beat = 0.0
        while not self._stop.is_set():
            self._wake.wait(s.heartbeat_s)
            self._wake.clear()
            try:
                if self._redis is None:
                    self._redis = connect(self.url, s, self._password)
                self._flush(self._redis)
                if time.monotonic() - last_beat >= s.heartbeat_s:
                    self._heartbeat(self._redis)
                    last_beat = time.monotonic()
                backoff.reset()
            except redis.RedisError as exc:  # away, frozen or refusing: keep the newest books, retry
                log.warning("bus: %s", plain_error(exc, self.url))
                self._drop_connection()
                self._stop.wait(backoff.next())
        self._drop_connection()

    def _drop_connection(self) -> None:
        import redis

        if self._redis is not None:
            with contextlib.suppress(redis.RedisError):
                self._redis.close()
            self._redis = None

    def _flush(self, r: redis.Redis) -> None:
        import redis

        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        pipe = r.pipeline(transaction=False)
        now = time.time_ns()
        ttl_ms = int(self.settings.lease_ttl_s * 1000)
        for inst, (seq, snap) in pending.items():
            entry = encode_book(snap, run=self.run, seq=seq, pub_ns=now)
            flat = [v for kv in entry.items() for v in kv]
            args = [self.run, ttl_ms, self.settings.maxlen, *flat]
            self._hold(keys=[lease_key(*inst), stream_key(*inst)], args=args, client=pipe)
        try:
            results = pipe.execute()
        except redis.RedisError:
            with self._lock:  # not sent: put back what no newer book has replaced meanwhile
                for key, item in pending.items():
                    self._pending.setdefault(key, item)
            raise
        held = {inst: _text(run) for inst, run in zip(pending, results, strict=True)}
        self._note(held)
        self.published += sum(run == self.run for run in held.values())
        self.refused += sum(run != self.run for run in held.values())

    def _heartbeat(self, r: redis.Redis) -> None:
        statuses = [(feed, feed.store.status()) for feed in self._feeds]
        held = self._renew(r, [(st.exchange, st.symbol) for _, st in statuses if st.exchange and st.symbol])
        now = time.time_ns()
        pipe = r.pipeline(transaction=False)
        for feed, st in statuses:
            if held.get((st.exchange, st.symbol)) != self.run:
                continue  # not started yet, or another run publishes it: its status is that run's to write
            rate = feed.store.messages_per_second()
            cal = self._calibrations.get(id(feed))
            doc = status_document(
                st,
                run=self.run,
                heartbeat_ns=now,
                replay=feed.replay,
                msgs_per_s=rate,
                calibration=cal() if cal is not None else None,
            )
            pipe.set(status_key(st.exchange, st.symbol), doc, px=int(self.settings.status_ttl_s * 1000))
        pipe.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# ---- reader (app side) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BusInstrument:
    """What a replica knows about one instrument on the bus: its book's age and the ingest's status of it."""

    exchange: str
    symbol: str
    age_s: float  # since the newest accepted book was published (inf before the first)
    stale: bool  # older than the reader's ``stale_after_s``
    ingest: Mapping[str, Any] | None  # the ingest's status document (None: not seen, or expired)


class BusReader:
    """One thread per process: the newest valid book of each wanted instrument into ``store``.

    The first instrument is the store's own (its status line); every one is published into the store and
    handed to the listeners (the pricing tracker first), like the feed does.
    """

    def __init__(
        self,
        url: str,
        store: BookStore,
        instruments: Iterable[Instrument],
        *,
        settings: BusSettings = BusSettings(),
    ) -> None:
        self.url = url
        self.store = store
        self.instruments: tuple[Instrument, ...] = tuple(instruments)
        if not self.instruments:
            raise InputError("the bus reader needs at least one instrument")
        self.settings = settings
        self._password = bus_password(url)
        self.skipped_old = 0  # entries not newer than the last of their run (not errors)
        self._listeners: list[BookListener] = []
        self._status_listeners: list[StatusListener] = []
        self._last_id: dict[Instrument, bytes] = {}
        self._last: dict[Instrument, tuple[str, int]] = {}  # (run, seq) of the last accepted entry
        self._accepted_at: dict[Instrument, float] = {}  # monotonic time the last book was accepted
        self._ingest: dict[Instrument, dict] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- any thread --------------------------------------------------------------------------------
    def add_listener(self, fn: BookListener, *, first: bool = False) -> None:
        self._listeners = [fn, *self._listeners] if first else [*self._listeners, fn]

    def remove_listener(self, fn: BookListener) -> None:
        self._listeners = [f for f in self._listeners if f is not fn]

    def add_status_listener(self, fn: StatusListener) -> None:
        """``fn(instrument, document or None)`` after each read of the ingest's status keys (on the reader thread:
        keep it short). A listener that raises is logged and counted (``bad_status``), and the reader goes on."""
        self._status_listeners = [*self._status_listeners, fn]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BusReader:
        if self.running:
            return self
        exchange, symbol = self.instruments[0]
        self.store.begin(source="bus", url=redacted(self.url), exchange=exchange, symbol=symbol)
        self.store.set_state(FeedState.CONNECTING)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tcs-bus-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.store.set_state(FeedState.STOPPED)

    def age_s(self, exchange: str, symbol: str) -> float:
        """Age of the newest book this reader accepted for the instrument, from its publish time (inf before the first)."""
        t = self._accepted_at.get((exchange, symbol))
        return time.monotonic() - t if t is not None else float("inf")

    def instrument_states(self) -> tuple[BusInstrument, ...]:
        """Every wanted instrument, in order (the status line's first), as frozen values for any thread."""
        out = []
        for ex, sym in self.instruments:
            age = self.age_s(ex, sym)
            out.append(BusInstrument(ex, sym, age, age > self.settings.stale_after_s, self._ingest.get((ex, sym))))
        return tuple(out)

    def ingest_status(self, exchange: str, symbol: str) -> dict | None:
        """The ingest feed's last status document for the instrument (None when none was read)."""
        return self._ingest.get((exchange, symbol))

    # ---- reader thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        import redis

        s = self.settings
        backoff = Backoff(s.backoff_initial_s, 2.0, s.backoff_max_s)
        r: redis.Redis | None = None
        last_status = 0.0
        while not self._stop.is_set():
            try:
                if r is None:
                    r = connect(self.url, s, self._password)
                    r.ping()
                    self.store.count_connect()
                if not self._take_newest(r):
                    self._wait(r)
                elif s.min_interval_s > 0:
                    self._stop.wait(s.min_interval_s)  # then the newest again: the ones between are skipped
                if time.monotonic() - last_status >= s.heartbeat_s:
                    self._read_status(r)
                    last_status = time.monotonic()
                backoff.reset()
                self._check_age()
            except redis.RedisError as exc:  # away, frozen (timeout) or refusing: keep the last book
                self.store.set_state(self.store.state, plain_error(exc, self.url))
                if r is not None:
                    r.close()
                    r = None
                self._check_age()
                self._stop.wait(backoff.next())
                self._check_age()
            except Exception as exc:  # a bug must not kill the reader thread silently
                log.error("bus reader error", exc_info=True)
                self.store.set_state(self.store.state, f"{type(exc).__name__}: {exc}")
                self._stop.wait(s.backoff_max_s)
        if r is not None:
            r.close()

    def _take_newest(self, r: redis.Redis) -> bool:
        """Take the newest entry after the last one read, per instrument; True when any was new."""
        pipe = r.pipeline(transaction=False)
        for inst in self.instruments:
            last = self._last_id.get(inst)
            pipe.xrevrange(stream_key(*inst), "+", b"(" + last if last else "-", count=1)
        got = False
        for inst, entries in zip(self.instruments, pipe.execute(), strict=True):
            if entries:  # stream ids are time-based, so a Redis restarted empty still gives later ids
                entry_id, fields = entries[0]
                self._last_id[inst] = entry_id
                self._handle(inst, fields)
                got = True
        return got

    def _wait(self, r: redis.Redis) -> None:
        """Block until any wanted stream has an entry after the last read (at most ``block_ms``)."""
        streams = {stream_key(*inst): self._last_id.get(inst, b"0-0") for inst in self.instruments}
        r.xread(streams, count=1, block=self.settings.block_ms)  # type: ignore[arg-type]

    def _handle(self, inst: Instrument, fields: Mapping[bytes, bytes]) -> None:
        store = self.store
        store.count_message(sum(len(v) for v in fields.values()))
        try:
            entry = decode_entry(fields, max_levels=self.settings.max_levels)
            if entry.book.key != inst:
                raise ParseError("wrong_instrument", f"{entry.book.key} on {stream_key(*inst)}")
        except ParseError as exc:
            store.count_parse_error(exc.reason, exc.detail)
            return
        last = self._last.get(inst)
        if last is not None and last[0] == entry.run and entry.seq <= last[1]:
            self.skipped_old += 1
            return
        if last is not None and last[0] != entry.run:
            log.info("bus %s/%s: following a new ingest run %s (was %s)", *inst, entry.run, last[0])
        self._last[inst] = (entry.run, entry.seq)
        # the book's age counts from its publish time, not from when this reader took it: a replica that
        # (re)starts after the ingest died must not show the stream's last, old entry as live (ingest and
        # replica hosts need synchronised clocks, e.g. NTP)
        age = max(0.0, (time.time_ns() - entry.pub_ns) / 1e9)
        self._accepted_at[inst] = time.monotonic() - age
        fresh = age <= self.settings.stale_after_s
        if inst == self.instruments[0]:
            if fresh and store.state is not FeedState.LIVE:
                store.set_state(FeedState.LIVE)  # before publishing: a reader never sees a fresh book as stale
            elif not fresh and store.state is not FeedState.STALE:
                store.set_state(FeedState.STALE, f"the newest book on the bus is {age:.0f} s old")
        store.publish(entry.book)
        for fn in self._listeners:
            try:
                fn(self, entry.book)
            except Exception:  # a listener's bug (pricing) must never stop the reader
                log.warning("bus listener failed", exc_info=True)

    def _read_status(self, r: redis.Redis) -> None:
        docs = r.mget([status_key(*inst) for inst in self.instruments])
        for inst, doc in zip(self.instruments, docs, strict=True):
            if doc is None:
                self._ingest.pop(inst, None)
            else:
                try:
                    parsed = orjson.loads(doc)
                except orjson.JSONDecodeError:
                    self.store.count_parse_error("bad_status", status_key(*inst))
                    continue
                if not isinstance(parsed, dict):
                    self.store.count_parse_error("bad_status", status_key(*inst))
                    continue
                self._ingest[inst] = parsed
            for fn in self._status_listeners:
                try:
                    fn(inst, self._ingest.get(inst))
                except Exception:  # a listener's bug must not stop the books
                    log.exception("bus reader: a status listener failed")
                    self.store.count_parse_error("bad_status", f"{status_key(*inst)}: listener failed")

    def _check_age(self) -> None:
        """Freshness by age (a frozen Redis raises nothing): LIVE -> STALE once the book is too old."""
        inst = self.instruments[0]
        if self.store.state is FeedState.LIVE and self.age_s(*inst) > self.settings.stale_after_s:
            self.store.set_state(FeedState.STALE, f"no book from the bus for {self.settings.stale_after_s:g} s")

"""The process-wide book store: latest snapshot per instrument, bounded histories, feed status.

The feed thread is the only writer; Streamlit sessions read. Publishing is a reference swap under a lock
held for microseconds, and readers get immutable values (``BookSnapshot``, ``FeedStatus``, array copies),
so no reader can observe a half-applied book or block the writer. Every history is a fixed-size ring, so
memory stays flat however long the app runs.
"""

from __future__ import annotations

import enum
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from core.market.book import BookSnapshot

log = logging.getLogger(__name__)

_perf_ns = time.perf_counter_ns

#: restarts remembered per instrument (the pages mark the recent ones; a replay loops every few minutes)
MAX_RESTARTS = 32


class FeedState(str, enum.Enum):
    """Where the connection is; the UI shows the value."""

    IDLE = "idle"  # not started
    CONNECTING = "connecting"  # first connection attempt
    LIVE = "live"  # books arriving
    STALE = "stale"  # connected but silent: the last book is shown, marked stale
    RECONNECTING = "reconnecting"  # lost; backing off and retrying by itself
    FAILED = "failed"  # a fatal error (bad URL, not allowed); needs a new configuration
    STOPPED = "stopped"  # stopped on purpose


class Ring:
    """Fixed-capacity float64 ring buffer (one or more columns). Not thread-safe by itself."""

    __slots__ = ("_buf", "_capacity", "_mem", "_n", "_pack", "_row_bytes")

    def __init__(self, capacity: int, columns: int = 1) -> None:
        self._buf = np.full((capacity, columns), np.nan)
        self._capacity = capacity
        self._n = 0  # total appended
        # a row is written as packed doubles into the array's memory: one C call per append on the feed
        # thread, where numpy's row assignment costs about a microsecond
        self._mem = memoryview(self._buf.data).cast("B")
        self._pack = struct.Struct(f"={columns}d").pack_into
        self._row_bytes = 8 * columns

    def append(self, *values: float) -> None:
        self._pack(self._mem, (self._n % self._capacity) * self._row_bytes, *values)
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self._capacity)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def total(self) -> int:
        return self._n

    def values(self) -> np.ndarray:
        """Chronological copy, shape (len, columns)."""
        if self._n <= self._capacity:
            return self._buf[: self._n].copy()
        i = self._n % self._capacity
        return np.concatenate((self._buf[i:], self._buf[:i]))

    def clear(self) -> None:
        self._n = 0


@dataclass(frozen=True)
class FeedStatus:
    """Everything the status line and the reliability tests read about the feed, as one value."""

    state: FeedState
    source: str
    url: str
    exchange: str
    symbol: str
    last_error: str
    messages: int
    bytes: int
    books: int  # messages that produced a valid book
    parse_errors: Mapping[str, int]
    sequence_gaps: int
    resyncs: int
    reconnects: int
    connects: int
    started_at: float  # wall clock, s
    state_since: float  # wall clock, s
    last_message_at: float  # wall clock, s (0 before the first)
    now: float = field(default_factory=time.time)

    @property
    def parse_error_total(self) -> int:
        return sum(self.parse_errors.values())

    @property
    def uptime_s(self) -> float:
        return self.now - self.started_at if self.started_at else 0.0

    @property
    def last_message_age_s(self) -> float:
        return self.now - self.last_message_at if self.last_message_at else float("inf")


class BookStore:
    """Thread-safe store; the only API between the feed thread and the pages."""

    def __init__(
        self, *, mid_capacity: int = 36_000, timing_capacity: int = 10_000, rate_capacity: int = 3_600
    ) -> None:
        self._lock = threading.Lock()
        self._books: dict[tuple[str, str], BookSnapshot] = {}
        self._mids: dict[tuple[str, str], Ring] = {}
        self._mid_last_t: dict[tuple[str, str], float] = {}
        self._epoch: dict[tuple[str, str], int] = {}  # ring.total when the current mid epoch began
        # receive times (wall clock s) of the first book after the feed's clock went backwards: a replay loop
        self._restarts: dict[tuple[str, str], deque[float]] = {}
        self._mid_capacity = mid_capacity
        # per tick: recv wall time s, parse us, book us, publish us, feed delay ms
        self._ticks = Ring(timing_capacity, 5)
        self._cost_us = Ring(timing_capacity)  # cost computation time, as measured by CostEstimate
        self._tick_cost = Ring(timing_capacity, 2)  # (µs pricing every tracked order on one book, orders)
        self._refresh_ms = Ring(timing_capacity)  # page fragment reruns, server side
        self._rate = Ring(rate_capacity, 2)  # (second, messages in that second)
        self._rate_second = 0
        self._rate_count = 0
        self._reset_status("", "", "", "")

    # ---- writer side (feed thread) -------------------------------------------------------------
    def _reset_status(self, source: str, url: str, exchange: str, symbol: str) -> None:
        now = time.time()
        self._state = FeedState.IDLE
        self._source, self._url, self._exchange, self._symbol = source, url, exchange, symbol
        self._last_error = ""
        self._messages = self._bytes = self._books_count = 0
        self._parse_errors: dict[str, int] = {}
        self._gaps = self._resyncs = self._reconnects = self._connects = 0
        self._started_at = now
        self._state_since = now
        self._last_message_at = 0.0

    def begin(self, *, source: str, url: str, exchange: str, symbol: str) -> None:
        """A new feed configuration starts: counters restart, and this instrument's book and mid history
        from the previous source are dropped (a 2024 replay must not show under a LIVE badge, nor its prices
        mix into the live volatility). Other instruments' books stay."""
        with self._lock:
            self._reset_status(source, url, exchange, symbol)
            self._books.pop((exchange, symbol), None)
            self._mids.pop((exchange, symbol), None)
            self._mid_last_t.pop((exchange, symbol), None)
            self._epoch.pop((exchange, symbol), None)
            self._restarts.pop((exchange, symbol), None)
            self._ticks.clear()
            self._tick_cost.clear()
            self._rate.clear()
            self._rate_count = 0
            self._rate_second = 0

    def set_state(self, state: FeedState, error: str = "") -> None:
        with self._lock:
            changed = state != self._state
            if changed:
                self._state = state
                self._state_since = time.time()
            if error:
                self._last_error = error
        if changed:
            log.info(
                "feed %s %s/%s -> %s%s",
                self._source,
                self._exchange,
                self._symbol,
                state.value,
                f" ({error})" if error else "",
            )

    def count_message(self, nbytes: int) -> None:
        now = time.time()
        sec = int(now)
        with self._lock:
            self._messages += 1
            self._bytes += nbytes
            self._last_message_at = now
            if sec != self._rate_second:
                if self._rate_second:
                    self._rate.append(self._rate_second, self._rate_count)
                    # seconds with no message at all count as zero, so the rate falls when the feed stops
                    for s in range(self._rate_second + 1, min(sec, self._rate_second + 60)):
                        self._rate.append(s, 0)
                self._rate_second, self._rate_count = sec, 0
            self._rate_count += 1

    def count_parse_error(self, reason: str, detail: str = "") -> None:
        with self._lock:
            first = reason not in self._parse_errors
            self._parse_errors[reason] = self._parse_errors.get(reason, 0) + 1
            self._last_error = f"{reason}{': ' + detail if detail else ''}"
        if first:  # log each reason once, never per tick
            log.warning("feed %s: skipped a message (%s)", self._source, self._last_error)

    def count_gap(self) -> None:
        with self._lock:
            self._gaps += 1

    def count_resync(self, reason: str) -> None:
        with self._lock:
            self._resyncs += 1
            self._last_error = reason
        log.warning("feed %s: resync (%s)", self._source, reason)

    def count_connect(self) -> None:
        with self._lock:
            self._connects += 1
            if self._connects > 1:
                self._reconnects += 1

    def publish(self, snap: BookSnapshot, *, parse_ns: int = 0, book_ns: int = 0) -> None:
        """Make ``snap`` the latest book of its instrument (a reference swap) and record its timings."""
        t0 = _perf_ns()
        mid = snap.mid
        delay = snap.feed_delay_ms()
        with self._lock:
            self._put_locked(snap, mid)
            self._books_count += 1
            self._ticks.append(snap.recv_ns / 1e9, parse_ns / 1e3, book_ns / 1e3, (_perf_ns() - t0) / 1e3, delay)

    def put(self, snap: BookSnapshot) -> bool:
        """Make ``snap`` the latest book of another instrument than the feed's own (a venue of
        ``core.feed.group``): the book and its mid history only, not the feed's counters or tick timings.
        Refused (False) for the feed's own instrument, checked under the lock that ``begin`` takes, so one
        instrument never has two writers, not even while the feed switches."""
        mid = snap.mid
        with self._lock:
            if snap.key == (self._exchange, self._symbol):
                return False
            self._put_locked(snap, mid)
        return True

    def _put_locked(self, snap: BookSnapshot, mid: float) -> None:
        # the mid history runs on exchange time where the feed has one: a replay at 10x then measures the
        # recording's volatility, not 10x it; time going backwards (a replay starting over) starts a new epoch:
        # the volatility restarts from there (the end and the start of a recording are not one price path),
        # while the chart keeps the older mids on receive time, with the restart marked
        key = (snap.exchange, snap.symbol)
        recv_s = snap.recv_ns / 1e9
        t = snap.exchange_ts_ms / 1e3 if snap.exchange_ts_ms > 0 else recv_s
        self._books[key] = snap
        ring = self._mids.get(key)
        if ring is None:
            ring = self._mids[key] = Ring(self._mid_capacity, 3)
            self._epoch[key] = 0
        elif ring._n and t < self._mid_last_t.get(key, t):  # not empty (``len`` without a Python call)
            self._epoch[key] = ring.total
            self._restarts.setdefault(key, deque(maxlen=MAX_RESTARTS)).append(recv_s)
        self._mid_last_t[key] = t
        ring.append(t, recv_s, mid)

    def record_cost_latency(self, latency_us: float) -> None:
        with self._lock:
            self._cost_us.append(latency_us)

    def record_tick_cost(self, us: float, orders: int) -> None:
        """Time the feed thread spent pricing the ``orders`` tracked orders on one book (core.pricing.tracker)."""
        with self._lock:
            self._tick_cost.append(us, orders)

    def record_refresh(self, ms: float) -> None:
        with self._lock:
            self._refresh_ms.append(ms)

    # ---- reader side (any thread) --------------------------------------------------------------
    def latest(self, exchange: str | None = None, symbol: str | None = None) -> BookSnapshot | None:
        """Latest book of an instrument (default: the instrument the feed is on)."""
        with self._lock:
            key = (exchange or self._exchange, symbol or self._symbol)
            return self._books.get(key)

    def mids(self, exchange: str | None = None, symbol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(time s, mid) history of an instrument, oldest first; time is the exchange's (receive time
        when the feed has none), restarted when it goes backwards (``restarts``)."""
        with self._lock:
            key = (exchange or self._exchange, symbol or self._symbol)
            ring = self._mids.get(key)
            v = ring.values() if ring is not None else np.empty((0, 3))
            n = min(len(v), ring.total - self._epoch.get(key, 0)) if ring is not None else 0
        v = v[len(v) - n :]
        return v[:, 0], v[:, 2]

    def mid_chart(self, exchange: str | None = None, symbol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(receive time, wall-clock s, mid) of every kept book of an instrument, across restarts, oldest first:
        what a chart draws (``restarts`` says where to break the line)."""
        with self._lock:
            ring = self._mids.get((exchange or self._exchange, symbol or self._symbol))
            v = ring.values() if ring is not None else np.empty((0, 3))
        return v[:, 1], v[:, 2]

    def restarts(self, exchange: str | None = None, symbol: str | None = None) -> tuple[float, ...]:
        """When (receive time, wall-clock s) the instrument's feed clock went backwards, oldest first: a replay
        starting over (or a live feed whose exchange time stepped back). Its mid history restarted there."""
        with self._lock:
            return tuple(self._restarts.get((exchange or self._exchange, symbol or self._symbol), ()))

    def tick_timings(self) -> dict[str, np.ndarray]:
        """Per-tick processing times (µs) and feed delay (ms), oldest first."""
        with self._lock:
            v = self._ticks.values()
            cost = self._cost_us.values()[:, 0]
            refresh = self._refresh_ms.values()[:, 0]
            tick_cost = self._tick_cost.values()
        return {
            "recv_s": v[:, 0],
            "parse_us": v[:, 1],
            "book_us": v[:, 2],
            "publish_us": v[:, 3],
            "feed_delay_ms": v[:, 4],
            "cost_us": cost,
            "refresh_ms": refresh,
            "tick_cost_us": tick_cost[:, 0],
            "tracked_orders": tick_cost[:, 1],
        }

    def message_rate(self) -> tuple[np.ndarray, np.ndarray]:
        """(second, messages in that second) for completed seconds, oldest first."""
        with self._lock:
            v = self._rate.values()
        return v[:, 0], v[:, 1]

    def messages_per_second(self, window_s: int = 5) -> float:
        """Average rate over the last ``window_s`` completed seconds (0 when the feed is silent)."""
        now = int(time.time())
        secs, counts = self.message_rate()
        recent = counts[secs >= now - window_s] if secs.size else counts
        return float(recent.sum()) / window_s if recent.size else 0.0

    @property
    def state(self) -> FeedState:
        return self._state  # a single reference read; no lock needed

    def status(self) -> FeedStatus:
        with self._lock:
            return FeedStatus(
                state=self._state,
                source=self._source,
                url=self._url,
                exchange=self._exchange,
                symbol=self._symbol,
                last_error=self._last_error,
                messages=self._messages,
                bytes=self._bytes,
                books=self._books_count,
                parse_errors=MappingProxyType(dict(self._parse_errors)),
                sequence_gaps=self._gaps,
                resyncs=self._resyncs,
                reconnects=self._reconnects,
                connects=self._connects,
                started_at=self._started_at,
                state_since=self._state_since,
                last_message_at=self._last_message_at,
            )

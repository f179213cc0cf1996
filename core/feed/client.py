"""The feed: one daemon thread owning an asyncio loop, the WebSocket client and (for replay) the server.

Every session of a process shares one ``Feed`` through ``core.runtime.Runtime``, which calls ``start(config)``,
which is idempotent and thread-safe: the same config does nothing, a new one switches over. Everything
else happens on the feed thread: connect, subscribe, read, hand each message to the source's adapter,
publish books to the ``BookStore``, watch for silence, back off and reconnect by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import CloseCode

from core.errors import FeedError, ParseError, ResyncNeeded, SequenceGap, ServerNotice
from core.feed.adapter import Adapter
from core.feed.config import FeedConfig, Source, SourcePolicy, tape_of
from core.feed.goquant import GoQuantAdapter
from core.feed.okx import OkxAdapter
from core.feed.recording import Recording
from core.feed.replay import PROTOCOL as REPLAY_PROTOCOL
from core.feed.replay import ReplayInfo, ReplayServer, default_recording, open_replay
from core.feed.store import BookStore, FeedState
from core.market.book import BookSnapshot
from core.market.instruments import InstrumentTable, instruments
from core.market.tape import LiveTape
from core.market.venues import Protocol, venue

log = logging.getLogger(__name__)

Listener = Callable[[Adapter, BookSnapshot], None]


@dataclass(frozen=True)
class FeedSettings:
    """Timings and limits of the client; keyword-only overrides in tests."""

    stale_after_s: float = 3.0  # silence before the book is marked stale
    reconnect_after_s: float = 10.0  # silence before the connection is dropped and reopened
    keepalive_after_s: float = 20.0  # silence before an application ping (OKX closes at 30 s)
    max_message_bytes: int = 4 * 1024 * 1024  # larger frames close the connection (1009) and count
    open_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_factor: float = 2.0
    backoff_max_s: float = 30.0
    snapshot_wait_s: float = 2.0  # OKX: no WS snapshot this long after the ack -> REST snapshot


#: the one place a wire protocol of the venue registry (``core.market.venues``) meets its adapter class (which
#: says what it can do before one is made, and makes one with ``Adapter.for_feed``)
ADAPTERS: dict[Protocol, type[Adapter]] = {Protocol.GOQUANT: GoQuantAdapter, Protocol.OKX: OkxAdapter}


def streams_trades(config: FeedConfig) -> bool:
    """A live source whose connection also carries its public trades (the online calibration can follow them)."""
    if config.source is Source.REPLAY:
        return False
    protocol = venue(config.source.value).protocol
    return protocol is not None and ADAPTERS[protocol].carries_trades


class Backoff:
    """Capped exponential backoff with jitter; reset after a connection delivered a good book."""

    def __init__(self, initial: float, factor: float, cap: float, rng: random.Random | None = None) -> None:
        self.initial, self.factor, self.cap = initial, factor, cap
        self._next = initial
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self._next = self.initial

    def next(self) -> float:
        delay = self._next * (0.5 + 0.5 * self._rng.random())  # "equal jitter": half fixed, half random
        self._next = min(self.cap, self._next * self.factor)
        return delay


def _is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Silence(Exception):
    """No message for ``reconnect_after_s``: drop the connection."""


class Feed:
    """One feed per process; see the module docstring."""

    def __init__(
        self,
        store: BookStore | None = None,
        *,
        settings: FeedSettings = FeedSettings(),
        table: InstrumentTable | None = None,
        policy: SourcePolicy | None = None,
    ) -> None:
        """``policy`` restricts live URLs (the app passes the operator's; CLIs and tests run unrestricted)."""
        self.store = store or BookStore()
        self.policy = policy
        self.settings = settings
        self.table = table or instruments()
        self._lock = threading.Lock()  # serialises start/stop from concurrent sessions
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._server: ReplayServer | None = None
        self._config: FeedConfig | None = None
        self._replay: ReplayInfo | None = None
        self._listeners: list[Listener] = []
        self._recordings: dict[tuple[str, float], Recording] = {}
        self._delivered = False  # the current connection has published at least one book
        #: the live source's public trades, where its connection carries them (``Adapter.carries_trades``)
        self.trades = LiveTape()
        self._trades_live = False
        self._last_book_at = 0.0  # loop time of the last published book (watchdog)

    # ---- public API (any thread) ---------------------------------------------------------------
    @property
    def config(self) -> FeedConfig | None:
        return self._config

    @property
    def replay(self) -> ReplayInfo | None:
        return self._replay

    @property
    def live_trades(self) -> LiveTape | None:
        """The trades the running live source streams beside its books (None: it streams books alone)."""
        return self.trades if self._trades_live else None

    def tape(self) -> tuple[Path | LiveTape | None, tuple[str, str] | None]:
        """What the online calibration follows for the running source, and its instrument: a replayed bundled
        recording's trades file, the trades a live source streams, or (None, None) for books alone."""
        path, instrument = tape_of(self._config)
        if path is not None:
            return path, instrument
        config = self._config
        if self._trades_live and config is not None:
            inst = self.table.get(config.exchange, config.symbol)
            return self.trades, (inst.exchange, inst.symbol)
        return None, None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, config: FeedConfig | None = None, *, timeout_s: float = 30.0) -> None:
        """Run ``config`` (default: replay). Calling again with the same config does nothing."""
        config = (config or FeedConfig()).resolved()
        if self.policy is not None and config.is_live:
            self.policy.check(config.url)  # before anything changes: a refused URL leaves the feed as it was
        with self._lock:
            if config == self._config and self.running:
                return
            self._ensure_thread()
            fut = asyncio.run_coroutine_threadsafe(self._switch(config), self._loop)  # type: ignore[arg-type]
            fut.result(timeout=timeout_s)

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the connection (and replay server); the thread stays for a later start."""
        with self._lock:
            if self._loop is None:
                return
            fut = asyncio.run_coroutine_threadsafe(self._switch(None), self._loop)
            fut.result(timeout=timeout_s)

    def shutdown(self, *, timeout_s: float = 10.0) -> None:
        """Stop and end the thread (tests, CLI)."""
        self.stop(timeout_s=timeout_s)
        with self._lock:
            if self._loop is not None and self._thread is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout_s)
                self._thread = self._loop = None

    def add_listener(self, fn: Listener, *, first: bool = False) -> None:
        """Call ``fn(adapter, snapshot)`` on the feed thread after each published book (keep it fast).

        Listeners run in order, ``first=True`` ones before all others; an exception in one is logged and
        the feed, and the listeners after it, go on.
        """
        self._listeners = [fn, *self._listeners] if first else [*self._listeners, fn]

    def remove_listener(self, fn: Listener) -> None:
        self._listeners = [f for f in self._listeners if f is not fn]

    # ---- feed thread ---------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="tcs-feed", daemon=True)
        self._thread.start()
        ready.wait(5)

    async def _switch(self, config: FeedConfig | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self._trades_live = False  # until an adapter that streams trades runs
        if config is None:
            self.store.set_state(FeedState.STOPPED)
            self._config = None
            return
        try:
            adapter = await self._make_adapter(config)
        except Exception as exc:
            self.store.begin(source=config.source.value, url=config.url, exchange=config.exchange, symbol=config.symbol)
            self.store.set_state(FeedState.FAILED, f"{type(exc).__name__}: {exc}")
            self._config = config
            raise
        self._config = config
        self._task = asyncio.get_running_loop().create_task(self._run(adapter), name="tcs-feed-connection")

    async def _load(self, path: str, speed: float) -> Recording:
        key = (str(Path(path).resolve()), 0.0)
        rec = self._recordings.get(key)
        if rec is None:
            rec = await asyncio.to_thread(open_replay, path)  # a bundled one: its first line only
            self._recordings = {key: rec}  # keep only the current one in memory
        return rec

    async def _make_adapter(self, config: FeedConfig) -> Adapter:
        if config.source is Source.REPLAY:
            path = config.replay_file or str(default_recording().path)
            rec = await self._load(path, config.replay_speed)
            clock = config.replay_clock
            self._server = ReplayServer(rec, speed=config.replay_speed, loop=config.replay_loop, clock=clock)
            url = await self._server.start()
            inst = self.table.get(rec.exchange, rec.symbol)
            self._replay = ReplayInfo(
                file=Path(path).name,
                date=rec.date,
                exchange=rec.exchange,
                symbol=rec.symbol,
                messages=len(rec),
                duration_s=rec.duration_s if clock is None else clock.period_s * clock.speed,
                speed=config.replay_speed,
                url=url,
            )
            adapter = ADAPTERS[REPLAY_PROTOCOL].for_feed(
                inst, url, source=Source.REPLAY.value, snapshot_wait_s=self.settings.snapshot_wait_s
            )
        else:
            self._replay = None
            inst = self.table.get(config.exchange, config.symbol)
            protocol = venue(config.source.value).protocol
            assert protocol is not None  # a live Source is a venue with a protocol
            adapter = ADAPTERS[protocol].for_feed(
                inst, config.url, source=config.source.value, snapshot_wait_s=self.settings.snapshot_wait_s
            )
        self.trades.clear()  # a new source: the last one's trades are not this one's
        self._trades_live = adapter.carries_trades and config.source is not Source.REPLAY
        if self._trades_live:
            adapter.trades = self.trades
        self.store.begin(source=adapter.source, url=adapter.url, exchange=inst.exchange, symbol=inst.symbol)
        return adapter

    async def _run(self, adapter: Adapter) -> None:
        s = self.settings
        backoff = Backoff(s.backoff_initial_s, s.backoff_factor, s.backoff_max_s)
        first = True
        while True:
            self.store.set_state(FeedState.CONNECTING if first else FeedState.RECONNECTING)
            self._delivered = False
            try:
                async with connect(
                    adapter.url,
                    max_size=s.max_message_bytes,
                    open_timeout=s.open_timeout_s,
                    close_timeout=2,
                    compression=None,
                    proxy=None if _is_loopback(adapter.url) else True,
                    max_queue=64,
                ) as ws:
                    self.store.count_connect()
                    adapter.connections += 1
                    adapter.reset()
                    for m in adapter.on_connect():
                        await ws.send(m)
                    await self._consume(ws, adapter)
            except asyncio.CancelledError:
                raise
            except InvalidURI as exc:
                self.store.set_state(FeedState.FAILED, f"invalid URL: {exc}")
                return
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else (exc.sent.code if exc.sent else None)
                if code == CloseCode.MESSAGE_TOO_BIG:
                    self.store.count_parse_error("message_too_large", f"over {s.max_message_bytes} bytes")
                self.store.set_state(FeedState.RECONNECTING, f"connection closed ({code or 'abnormal'})")
            except _Silence:
                self.store.set_state(FeedState.RECONNECTING, f"no valid book for {s.reconnect_after_s:.0f} s")
            except ServerNotice as exc:
                self.store.set_state(FeedState.RECONNECTING, str(exc))
            except (OSError, TimeoutError, InvalidHandshake, FeedError) as exc:
                self.store.set_state(FeedState.RECONNECTING, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a bug must not kill the feed thread silently
                log.error("feed loop error", exc_info=True)
                self.store.set_state(FeedState.RECONNECTING, f"{type(exc).__name__}: {exc}")
            first = False
            if self._delivered:
                backoff.reset()
            await asyncio.sleep(backoff.next())

    async def _consume(self, ws: ClientConnection, adapter: Adapter) -> None:
        """Read until the connection ends; sets ``_delivered`` once a book was published.

        Staleness and the reconnect watchdog run on the time since the last *valid book*, so a stream of
        rejected messages goes stale and reconnects like silence does; the keepalive runs on message silence.
        """
        s = self.settings
        store = self.store
        loop = asyncio.get_running_loop()
        last = self._last_book_at = loop.time()
        pinged = False
        while True:
            silent = loop.time() - last
            no_book = loop.time() - self._last_book_at
            wait = (s.stale_after_s - no_book) if no_book < s.stale_after_s else min(0.5, s.reconnect_after_s - no_book)
            try:
                async with asyncio.timeout(max(wait, 0.01)):
                    raw = await ws.recv()
            except TimeoutError:
                silent = loop.time() - last
                self._watchdog(loop.time())
                ka = adapter.keepalive()
                if ka and not pinged and silent >= min(s.keepalive_after_s, s.reconnect_after_s / 2):
                    await ws.send(ka)
                    pinged = True
                await self._maybe_bootstrap(ws, adapter)
                continue
            last = loop.time()
            pinged = False
            recv_ns = time.time_ns()
            store.count_message(len(raw))
            if not await self._handle(ws, adapter, functools.partial(adapter.on_message, raw, recv_ns)):
                return
            self._watchdog(loop.time())
            await self._maybe_bootstrap(ws, adapter)

    def _watchdog(self, now: float) -> None:
        """Stale after ``stale_after_s`` without a valid book; drop the connection after ``reconnect_after_s``."""
        s = self.settings
        no_book = now - self._last_book_at
        if no_book >= s.reconnect_after_s:
            raise _Silence()
        if no_book >= s.stale_after_s and self.store.state is not FeedState.STALE:
            self.store.set_state(FeedState.STALE, f"no valid book for {no_book:.1f} s")

    async def _handle(self, ws: ClientConnection, adapter: Adapter, produce: Callable[[], BookSnapshot | None]) -> bool:
        """Run one adapter step and act on its outcome; False when the connection must be dropped."""
        store = self.store
        try:
            snap = produce()
        except ParseError as exc:
            store.count_parse_error(exc.reason, exc.detail)
            return True
        except ResyncNeeded as exc:
            if isinstance(exc, SequenceGap):
                store.count_gap()
            store.count_resync(f"{exc.reason}: {exc}")
            store.set_state(FeedState.STALE, f"resync: {exc.reason}")
            msgs = adapter.resync()
            for m in msgs:
                await ws.send(m)
            return bool(msgs)
        if snap is None:
            return True
        if store.state is not FeedState.LIVE:  # before publishing: a reader never sees a fresh book as stale
            store.set_state(FeedState.LIVE)
        store.publish(snap, parse_ns=adapter.last_parse_ns, book_ns=adapter.last_book_ns)
        self._delivered = True
        self._last_book_at = asyncio.get_running_loop().time()
        for fn in self._listeners:  # the pricing tracker first (core.runtime attaches it with first=True)
            try:
                fn(adapter, snap)
            except Exception:  # a listener's bug (pricing, a capture) must never stop the feed
                log.warning("feed listener failed", exc_info=True)
        return True

    async def _maybe_bootstrap(self, ws: ClientConnection, adapter: Adapter) -> None:
        """Fetch a REST snapshot when the adapter asks for one (OKX without a WS snapshot)."""
        url = adapter.bootstrap_request(time.monotonic())
        if url is None:
            return
        timeout = self.settings.open_timeout_s
        try:
            body = await asyncio.wait_for(
                asyncio.to_thread(_http_get, url, self.settings.max_message_bytes, timeout), timeout + 1
            )
        except Exception as exc:  # unreachable or refused: resubscribe and hope for a WS snapshot
            self.store.count_resync(f"rest_snapshot_failed: {type(exc).__name__}")
            for m in adapter.resync():
                await ws.send(m)
            return
        log.info("feed %s: book bootstrapped from REST %s", adapter.source, url)
        await self._handle(ws, adapter, lambda: adapter.on_bootstrap(body, time.time_ns()))


def _http_get(url: str, max_bytes: int, timeout: float) -> bytes:
    """Blocking GET (run in a worker thread), refusing bodies over ``max_bytes``."""
    req = urllib.request.Request(url, headers={"User-Agent": "trade-cost-simulator"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise ValueError(f"REST response over {max_bytes} bytes")
    return body

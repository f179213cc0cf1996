"""Built once, shown to every session: what many sessions of one process would otherwise each build.

A chart that redraws at most every ``period_s`` looks the same to every session showing the same thing (the
Simulator's four charts of one order, the Market page's mid-price chart of one instrument), so one session
builds it and the others take that build until it is ``period_s`` old. Without a guard, every session whose
refresh lands while the first builder is still at work finds the entry expired and builds it too (under
load that took the Simulator's builds to about three times the one per period they should be); here the
first session to find it expired claims the build, and until its result arrives the others keep showing
the previous one, which is at most ``period_s`` plus one build old. A claim that never ends in ``put`` (the
run stopped) lapses after ``period_s``. Thread-safe: sessions run on threads of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from core.market.book import BookSnapshot
from core.runtime import Runtime
from core.views import simulator as sim
from core.views.inputs import Scenario


class SharedBuilds:
    """Values per key (the order and instrument a chart shows), built by one session at a time."""

    def __init__(self, period_s: float, max_keys: int = 64) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._entries: dict[Hashable, tuple[float, Any]] = {}  # key -> (built at s, value); oldest build first
        self._claims: dict[Hashable, float] = {}  # key -> when a session claimed its next build (monotonic s)
        self._lock = threading.Lock()

    def fresh_entry(self, key: Hashable, now_s: float) -> tuple[float, Any] | None:
        """(built at, value) of the build for ``key`` to show now, or None: then the caller builds it and
        calls ``put``. None means the build is under ``period_s`` old, or another session is building the
        next one (claimed under ``period_s`` ago) and this one is its predecessor."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now_s - entry[0] < self.period_s:
                return entry
            claimed = self._claims.get(key)
            if entry is not None and claimed is not None and now_s - claimed < self.period_s:
                return entry  # being rebuilt by another session: the previous build meanwhile
            self._claims[key] = now_s
            return None

    def fresh(self, key: Hashable, now_s: float) -> Any | None:
        """The value of ``fresh_entry``, or None (build it, then ``put``)."""
        entry = self.fresh_entry(key, now_s)
        return None if entry is None else entry[1]

    def put(self, key: Hashable, value: Any, now_s: float) -> Any:
        """Share ``value`` built at ``now_s`` for ``key`` (and end this key's claim); returns ``value``."""
        with self._lock:
            self._claims.pop(key, None)
            old = self._entries.pop(key, None)  # re-inserted last: the dict's order is the build order
            if old is None or old[0] <= now_s:  # a slower build that started earlier never replaces a newer one
                old = (now_s, value)
            self._entries[key] = old
            while len(self._entries) > self.max_keys:
                dropped = next(iter(self._entries))
                del self._entries[dropped]
                self._claims.pop(dropped, None)
        return value


#: sessions refreshing within this long of each other read the same book (``SharedViews.book``); a tenth of the
#: default 1 s refresh, below the status line's 0.1 s resolution of a book's age. An assumption, not a fit.
BOOK_WINDOW_S = 0.1


class SharedViews:
    """The Simulator's live view of one order on one book, computed once for every session showing that order.

    Thirty sessions refreshing once a second each priced the same order on a book of their own (the feed
    publishes about 190 books a second at the benchmark's 10x replay), so no two ever shared one. Here the
    first session to refresh reads the newest book and every session refreshing within ``window_s`` after it
    takes that same book (at most ``window_s`` older than the newest; every age the page shows is that book's
    own, so it says so); the view of (order, book) is then computed once and shared. The view is a frozen
    dataclass of values nobody changes. Each session still asks the tracker for its order's track, so the
    feed thread keeps pricing it for every session that shows it."""

    def __init__(self, window_s: float = BOOK_WINDOW_S, max_views: int = 64) -> None:
        self.window_s = window_s
        self.max_views = max_views
        self._books: dict[tuple[str, str], tuple[float, BookSnapshot]] = {}  # (exchange, symbol) -> (read at s, book)
        self._views: dict[Hashable, sim.SimulatorView] = {}  # (order key, book) -> view; oldest first
        self._derived: dict[tuple[int, str], tuple[sim.SimulatorView, Any]] = {}  # (id(view), name) -> (view, value)
        self._lock = threading.Lock()

    def book(self, rt: Runtime, exchange: str, symbol: str, now_s: float) -> BookSnapshot | None:
        """The newest book of (exchange, symbol), as read by the first session within the last ``window_s``."""
        with self._lock:
            entry = self._books.get((exchange, symbol))
        if entry is not None and now_s - entry[0] < self.window_s:
            return entry[1]
        snap = rt.latest(exchange, symbol)
        if snap is not None:
            with self._lock:
                self._books[(exchange, symbol)] = (now_s, snap)
        return snap

    def first_book(
        self, rt: Runtime, exchange: str, symbol: str, wait_s: float, poll_s: float = 0.01
    ) -> BookSnapshot | None:
        """``book``, waiting up to ``wait_s`` for a feed that has just started to deliver its first one (a session's
        first run: without it the cost cards would wait for the next refresh); bounded, and the sleep lets the feed
        thread run."""
        end = time.monotonic() + wait_s
        snap = self.book(rt, exchange, symbol, time.monotonic())
        while snap is None and time.monotonic() < end:
            time.sleep(poll_s)
            snap = self.book(rt, exchange, symbol, time.monotonic())
        return snap

    def live_view(
        self,
        rt: Runtime,
        snapshot: BookSnapshot,
        scenario: Scenario,
        *,
        exchange: str,
        symbol: str,
        owner: Hashable,
        curve: bool = True,
    ) -> sim.SimulatorView:
        """``core.views.simulator.live_view``, computed once per (order, book) for all sessions."""
        models = rt.models().models
        order_key = sim.track_key(scenario, exchange, symbol, models)
        key = (order_key, snapshot.exchange, snapshot.symbol, snapshot.recv_ns, curve)
        with self._lock:
            view = self._views.get(key)
        if view is not None:
            rt.track(  # this session shows the order too: its track stays priced on every book (and is its own)
                order_key,
                lambda: sim.pricer_for(scenario, models),
                exchange=exchange,
                symbol=symbol,
                volatility_override=scenario.volatility_override,
                owner=owner,
            )
            return view
        view = sim.live_view(rt, snapshot, scenario, exchange=exchange, symbol=symbol, owner=owner, curve=curve)
        with self._lock:
            self._views[key] = view
            while len(self._views) > self.max_views:
                del self._views[next(iter(self._views))]
        return view

    def derived(self, view: sim.SimulatorView, name: str, build: Callable[[], Any]) -> Any:
        """``build()``, a text or table made from ``view`` alone (``name`` says which), made once per shared view:
        the sessions that share a view also share what is made from it. The entry holds the view, so its id
        names it for as long as the entry lives."""
        key = (id(view), name)
        with self._lock:
            entry = self._derived.get(key)
        if entry is not None and entry[0] is view:
            return entry[1]
        value = build()
        with self._lock:
            self._derived[key] = (view, value)
            while len(self._derived) > 4 * self.max_views:
                del self._derived[next(iter(self._derived))]
        return value

"""Tick-by-tick cost of the orders the open pages show, computed on the feed thread as each book lands.

A page asks ``CostTracker.track(...)`` for its current inputs on every refresh; the tracker keeps one
``TickPricer`` per distinct input set (sessions with the same inputs share it), prices it on every new book
of its instrument, and keeps the last ``capacity`` ``CostFigures``. A session holds one track at a time
(asking for new inputs releases its old ones, so one visitor dragging a slider cannot push out everyone
else's), inputs no page has asked for within ``idle_s`` are dropped, and at most ``max_tracks`` are kept, so
per-tick work stays bounded however many tabs are open. Volatility is the realised EWMA of the mid history (or the
page's override), refreshed once a second: it is a statistic on a 1 s grid, so recomputing it on every
tick would change nothing but the cost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.costs.volatility import Volatility, realised_vol
from core.errors import SimulatorError
from core.market.book import BookSnapshot
from core.pricing.pricer import CostFigures, TickPricer

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 600  # figures kept per track (a minute at 10 msg/s)
DEFAULT_MAX_TRACKS = 32
DEFAULT_IDLE_S = 30.0
VOL_REFRESH_S = 1.0
_perf_ns = time.perf_counter_ns

#: (exchange, symbol) -> (exchange times in s, mids): the price history volatility is estimated from
Mids = Callable[[str, str], tuple[np.ndarray, np.ndarray]]
#: (microseconds spent, tracks priced) for one book: where the per-tick pricing time is reported
TickCost = Callable[[float, int], None]


def _ignore_tick_cost(us: float, tracks: int) -> None:
    return None


@dataclass
class Track:
    """One tracked input set: its pricer, recent figures, and the last plain-language error."""

    key: Hashable
    exchange: str
    symbol: str
    pricer: TickPricer
    volatility_override: float | None
    figures: deque = field(default_factory=deque)
    error: str | None = None
    last_asked: float = 0.0
    owners: set = field(default_factory=set)  # sessions whose current inputs these are
    vol_key: tuple = field(init=False)  # its entry in the tracker's volatility cache

    def __post_init__(self) -> None:
        self.vol_key = CostTracker._vol_key(self.volatility_override, self.exchange, self.symbol)


class CostTracker:
    """Feed listener: ``tracker(adapter, snap)`` prices every live track on ``snap``; pages read figures.

    It knows no store: ``mids`` gives the price history and ``record_tick_cost`` takes the time each book
    cost (``core.runtime`` passes the ``BookStore``'s methods).
    """

    def __init__(
        self,
        *,
        mids: Mids,
        record_tick_cost: TickCost = _ignore_tick_cost,
        capacity: int = DEFAULT_CAPACITY,
        max_tracks: int = DEFAULT_MAX_TRACKS,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Any = time.monotonic,
    ) -> None:
        self._mids = mids
        self._record_tick_cost = record_tick_cost
        self.capacity = capacity
        self.max_tracks = max_tracks
        self.idle_s = idle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tracks: dict[Hashable, Track] = {}
        self._by_instrument: dict[tuple[str, str], tuple[Track, ...]] = {}
        self._vol: dict[tuple[str | None, str, str], tuple[float, Volatility]] = {}
        self._vol_lock = threading.Lock()  # the volatility cache: written by the feed thread, pruned by pages

    # ---- page side ------------------------------------------------------------------------------
    def track(
        self,
        key: Hashable,
        factory: Any,
        *,
        exchange: str,
        symbol: str,
        volatility_override: float | None = None,
        owner: Hashable | None = None,
    ) -> Track:
        """The track for ``key`` (created from ``factory()`` -> TickPricer on first ask); marks it in use.

        ``owner`` (a session id) releases that session's previous track when its inputs change.
        """
        now = self._clock()
        built: TickPricer | None = None
        while True:
            with self._lock:
                t = self._tracks.get(key)
                if t is None and built is not None:
                    t = Track(
                        key, exchange, symbol, built, volatility_override, deque(maxlen=self.capacity), last_asked=now
                    )
                    self._tracks[key] = t
                if t is not None:
                    return self._ask(t, now, owner, built is not None)
            built = factory()  # compiling the models' nets happens outside the lock

    def _ask(self, t: Track, now: float, owner: Hashable | None, built: bool) -> Track:
        """Mark ``t`` asked for (by ``owner``) now; the caller holds the lock."""
        t.last_asked = now
        if owner is not None and owner not in t.owners:
            for other in self._tracks.values():
                if other is not t and owner in other.owners:
                    other.owners.discard(owner)
                    if not other.owners:
                        other.last_asked = -float("inf")  # nobody shows it any more: drop it now
            t.owners.add(owner)
        if built or owner is not None:
            self._prune(now)
        return t

    def figures(self, track: Track) -> list[CostFigures]:
        """A copy of the track's figures, oldest first."""
        with self._lock:
            return list(track.figures)

    def __len__(self) -> int:
        return len(self._tracks)

    def _prune(self, now: float) -> None:
        live = {k: t for k, t in self._tracks.items() if now - t.last_asked <= self.idle_s}
        if len(live) > self.max_tracks:  # the most recently asked survive
            keep = sorted(live.values(), key=lambda t: t.last_asked, reverse=True)[: self.max_tracks]
            live = {t.key: t for t in keep}
        self._tracks = live
        by: dict[tuple[str, str], list[Track]] = {}
        for t in live.values():
            by.setdefault((t.exchange, t.symbol), []).append(t)
        self._by_instrument = {k: tuple(v) for k, v in by.items()}
        wanted = {self._vol_key(t.volatility_override, t.exchange, t.symbol) for t in live.values()}
        with self._vol_lock:
            self._vol = {k: v for k, v in self._vol.items() if k in wanted}

    @staticmethod
    def _vol_key(override: float | None, exchange: str, symbol: str) -> tuple[str | None, str, str]:
        return (None if override is None else repr(override), exchange, symbol)

    # ---- feed side ------------------------------------------------------------------------------
    def volatility(self, snap: BookSnapshot, override: float | None) -> Volatility:
        """Realised (or overridden) volatility for ``snap``'s instrument, recomputed at most once a second."""
        return self._volatility(snap, override, self._vol_key(override, snap.exchange, snap.symbol), self._clock())

    def _volatility(self, snap: BookSnapshot, override: float | None, key: tuple, now: float) -> Volatility:
        # only this (the feed) thread writes entries; pages only swap in a pruned dict, so a read needs no lock
        hit = self._vol.get(key)
        if hit is not None and now - hit[0] < VOL_REFRESH_S:
            return hit[1]
        t, m = self._mids(snap.exchange, snap.symbol)
        vol = realised_vol(t, m, override_annual=override, mid=snap.mid)
        with self._vol_lock:
            self._vol[key] = (now, vol)
        return vol

    def __call__(self, adapter: Any, snap: BookSnapshot) -> None:
        tracks = self._by_instrument.get((snap.exchange, snap.symbol), ())
        if not tracks:
            return
        t0 = _perf_ns()
        now = self._clock()
        stale = False
        vols = self._vol
        for t in tracks:
            if now - t.last_asked > self.idle_s:
                stale = True
                continue
            try:
                hit = vols.get(t.vol_key)  # within the second: the cached volatility, without a call
                vol = hit[1] if hit is not None and now - hit[0] < VOL_REFRESH_S else None
                if vol is None:
                    vol = self._volatility(snap, t.volatility_override, t.vol_key, now)
                f = t.pricer.figures(snap, vol)
            except (SimulatorError, ValueError) as exc:  # an order this book cannot price: say so, keep going
                t.error = str(exc)
                continue
            except Exception:  # a bug must not stop the other tracks (nor the feed): log it, say so, go on
                log.warning("pricing a tracked order failed", exc_info=True)
                t.error = "This order could not be priced on the latest book (an internal error, logged)."
                continue
            with self._lock:
                t.figures.append(f)
            t.error = None
        self._record_tick_cost((_perf_ns() - t0) / 1e3, len(tracks))
        if stale:
            with self._lock:
                self._prune(now)

"""Several venues at once in the embedded default: the same recorded minutes of every bundled venue, together.

One ``Feed`` per recording (the same client, adapter, validation, watchdog and reconnects as the main feed; one
loopback replay server and one connection each), all on one ``ReplayClock``, so every venue's book at a moment
comes from the same recorded instant and they start over together. Each feed keeps its status in a small
private store; a listener puts every validated book into the shared ``BookStore`` beside the main feed's
(``BookStore.put``, which never writes the main feed's own instrument).

The group never serves the instrument the main feed streams (``follow``): one connection per instrument, and one
writer per store key, so two days of one instrument are never interleaved. The composition root
(``core.runtime``) puts the main feed's replay of a group recording on the same clock, and starts the group
on first use, in the background, so the app's first figure never waits for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from core.feed.client import Feed, FeedSettings
from core.feed.config import FeedConfig, Source
from core.feed.replay import RecordingInfo, ReplayClock, default_recording
from core.feed.store import BookStore, FeedStatus
from core.market.book import BookSnapshot
from core.market.instruments import InstrumentTable

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (exchange, symbol)


class ReplayGroup:
    """The venues of one recorded window, replayed on one clock into a shared store; see the module docstring."""

    def __init__(
        self,
        store: BookStore,
        recordings: Sequence[RecordingInfo],
        clock: ReplayClock,
        *,
        table: InstrumentTable | None = None,
        settings: FeedSettings | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.recordings = {(r.exchange, r.symbol): r for r in recordings}  # one per instrument
        self._table = table
        self._settings = settings or FeedSettings()
        self._feeds: dict[Key, Feed] = {}
        self._skip: Key | None = None  # the main feed's instrument
        self._started = False
        self._closed = False
        self._lock = threading.Lock()  # serialises applying the wanted set (start, follow, shutdown)
        self._workers: list[threading.Thread] = []

    @property
    def instruments(self) -> tuple[Key, ...]:
        return tuple(self.recordings)

    @property
    def started(self) -> bool:
        return self._started

    def serves(self, key: Key) -> bool:
        """This group streams ``key`` (it is one of its venues and the main feed does not stream it)."""
        return key in self.recordings and key != self._skip

    def on_clock(self, config: FeedConfig) -> FeedConfig:
        """``config`` on the group's clock when it replays one of the group's recordings, looping, at the clock's
        speed (the main feed's book is then from the same instant as the others); otherwise unchanged."""
        if config.source is not Source.REPLAY or config.replay_clock is not None or not config.replay_loop:
            return config
        if config.replay_speed != self.clock.speed:
            return config
        file = config.replay_file or str(default_recording().path)
        if any(Path(r.path).resolve() == Path(file).resolve() for r in self.recordings.values()):
            return replace(config, replay_file=file, replay_clock=self.clock)
        return config

    def config(self, key: Key) -> FeedConfig:
        r = self.recordings[key]
        return FeedConfig(
            source=Source.REPLAY, replay_file=str(r.path), replay_speed=self.clock.speed, replay_clock=self.clock
        )

    def start(self) -> None:
        """Start every venue but the main feed's, in the background (idempotent)."""
        if not self._started and not self._closed:
            self._started = True
            self._apply_in_background()

    def follow(self, main: Key) -> None:
        """The main feed now streams ``main``: stop that venue here, and serve the one it left."""
        if main == self._skip:
            return
        self._skip = main
        if self._started:
            self._apply_in_background()

    def status(self, key: Key) -> FeedStatus | None:
        """The connection status of one venue of the group (None when it does not run here)."""
        feed = self._feeds.get(key)
        return feed.store.status() if feed is not None else None

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop every connection and end every thread of the group."""
        self._closed = True
        with self._lock:
            for feed in self._feeds.values():
                feed.shutdown(timeout_s=timeout_s)
            self._feeds.clear()
        for worker in self._workers:
            worker.join(timeout_s)
        self._workers.clear()

    # ---- background ----------------------------------------------------------------------------
    def _apply_in_background(self) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=self._apply, name="tcs-venues-start", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _apply(self) -> None:
        """Make the running venues the wanted ones: every recording but the main feed's instrument."""
        with self._lock:
            for key in self.recordings:
                if self._closed:
                    return
                feed = self._feeds.get(key)
                try:
                    if key == self._skip:
                        if feed is not None and feed.running:
                            feed.stop()
                        continue
                    if feed is None:
                        feed = self._feeds[key] = Feed(
                            BookStore(mid_capacity=16, timing_capacity=16, rate_capacity=16),
                            settings=self._settings,
                            table=self._table,
                        )
                        feed.add_listener(self._put)
                    feed.start(self.config(key))
                except Exception:  # one venue that cannot start must not stop the others
                    log.warning("venue %s/%s did not start", *key, exc_info=True)

    def _put(self, _adapter: object, snap: BookSnapshot) -> None:
        self.store.put(snap)

"""The embedded default's several venues at once: the app's own runtime (no Redis), real replay servers and
feed connections on 127.0.0.1, every same-minute venue's book in the one store, from the same recorded instant."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from core.feed.config import FeedConfig
from core.feed.replay import bundled_recordings
from core.feed.store import FeedState
from core.ingest import Ingest
from core.runtime import from_environment
from core.views.venues import Standing, VenueOrder, venues_view
from tests.conftest import FAST, wait_for
from tests.loopback.test_bus import RedisServer

SAME_MINUTES = {
    ("binance-futures", "BTCUSDT"),
    ("binance", "BTCUSDT"),
    ("binance-coinm", "BTCUSD_PERP"),
    ("binance-futures", "ETHUSDT"),
    ("binance", "ETHUSDT"),
}
MAIN = ("binance-futures", "BTCUSDT")
ENV = ("TCS_BUS", "TCS_SOURCE", "TCS_FEED_URL", "TCS_REPLAY_FILE", "TCS_REPLAY_SPEED", "TCS_METRICS_FILE")


@pytest.fixture
def runtime(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    before = set(threading.enumerate())
    rt = from_environment()
    yield rt
    rt.close()
    # every feed, replay server and start-up thread of the group ends (the instruments refresh may take a moment)
    assert wait_for(lambda: set(threading.enumerate()) <= before, 15), set(threading.enumerate()) - before


def test_every_same_minute_venue_reaches_the_store_from_one_recorded_instant(runtime):
    rt = runtime
    group = rt.group
    assert group is not None and set(group.instruments) == SAME_MINUTES  # not the 2024-07-18 recording
    assert rt.config.replay_clock is group.clock  # the main feed's replay runs on the group's clock
    assert not group.started  # nothing more starts until a page asks for the venues
    assert {(b.instrument.exchange, b.instrument.symbol) for b in rt.venues().books} == SAME_MINUTES
    assert wait_for(lambda: all(b.book is not None for b in rt.venues().books), 60)
    assert group.status(MAIN) is None  # one connection per instrument: the main feed's, not the group's
    assert all(b.note == "" for b in rt.venues().books)

    spreads = []
    for _ in range(10):
        books = rt.venues()
        instant = books.clock.recorded_ms()
        ts = [b.book.exchange_ts_ms for b in books.books]
        assert all(group.clock.start_ms - 1000 <= t <= instant for t in ts)  # never ahead of the shared clock
        spreads.append(max(ts) - min(ts))
        time.sleep(0.2)
    # books are sent at their recorded time, at most 0.72 s apart in these recordings; replayed each from its own
    # start, the venues' books would be 1.1 to 2.5 s apart (the recordings start at 23:54:15.4 to 23:54:17.9)
    assert sorted(spreads)[len(spreads) // 2] <= 1000, spreads


def test_the_group_leaves_the_main_feeds_instrument_to_it_and_never_mixes_two_days(runtime):
    rt = runtime
    group = rt.group
    rt.venues()
    assert wait_for(lambda: all(b.book is not None for b in rt.venues().books), 60)
    other_day = next(r for r in bundled_recordings() if r.date == "2024-07-18")
    rt.start(FeedConfig(replay_file=str(other_day.path)))  # the same instrument, another day
    assert rt.config.replay_clock is None  # not one of the group's minutes: its own timeline
    assert not group.serves(MAIN)
    # the USD-M BTCUSDT book is the main feed's 2024-07-18 one, and the Venues view says it is not comparable
    assert wait_for(lambda: (b := rt.latest(*MAIN)) is not None and b.exchange_ts_ms < group.clock.start_ms, 30)
    usdm = next(b for b in rt.venues().books if (b.instrument.exchange, b.instrument.symbol) == MAIN)
    assert "not from the same recorded instant" in usdm.note

    spot = next(r for r in bundled_recordings() if (r.exchange, r.symbol) == ("binance", "BTCUSDT"))
    rt.start(FeedConfig(replay_file=str(spot.path)))  # a group recording: back on the clock
    assert rt.config.replay_clock is group.clock
    # the group stops its spot connection and serves USD-M again, from the 2024-08-08 recording
    assert wait_for(lambda: group.status(("binance", "BTCUSDT")).state is FeedState.STOPPED, 30)
    assert wait_for(lambda: (s := group.status(MAIN)) is not None and s.state is FeedState.LIVE, 30)
    assert wait_for(lambda: rt.latest(*MAIN).exchange_ts_ms >= group.clock.start_ms, 30)
    assert all(b.note == "" for b in rt.venues().books)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed (`make test` does)")
def test_on_a_bus_replica_the_venues_are_the_ingests_instruments(monkeypatch):
    """The same Runtime API and view on a replica: a real redis-server, a real ingest of two venues."""
    server = RedisServer()
    server.start()
    wanted = [("binance", "BTCUSDT"), ("binance-coinm", "BTCUSD_PERP")]
    files = {(r.exchange, r.symbol): str(r.path) for r in bundled_recordings() if r.date == "2024-08-08"}
    ingest = Ingest([FeedConfig(replay_file=files[k]) for k in wanted], bus_url=server.url, feed_settings=FAST)
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TCS_BUS", server.url)
    monkeypatch.setenv("TCS_BUS_INSTRUMENTS", ",".join(f"{e}:{s}" for e, s in wanted))
    monkeypatch.setenv("TCS_BUS_STALE_S", "1.5")
    rt = None
    try:
        ingest.start()
        rt = from_environment()
        assert rt.group is None
        assert wait_for(lambda: venues_view(rt, VenueOrder()).best.startswith("Cheapest"), 30)
        # both venues fresh in one view (a replica's book goes stale after 1.5 s; COIN-M publishes less often)
        seen: list = []

        def both_fresh() -> bool:
            seen.append(venues_view(rt, VenueOrder(size=10_000.0)))
            return all(c.standing is Standing.FRESH for c in seen[-1].rows)

        assert wait_for(both_fresh, 30)
        view = seen[-1]
        assert "ingest service" in view.source
        # both fresh; COIN-M's entry taker fee is 5 bps against spot's 10 bps, and both spreads are a tick
        assert [(c.instrument.exchange, c.standing) for c in view.rows] == [
            ("binance-coinm", Standing.FRESH),
            ("binance", Standing.FRESH),
        ]
        ingest.stop()  # the last books stay, by age stale
        assert wait_for(lambda: "every book is stale" in venues_view(rt, VenueOrder()).best, 15)
    finally:
        ingest.stop()
        if rt is not None:
            rt.close()
        server.kill()

"""``core.views.shared.SharedViews`` on a real replay: sessions refreshing together read one book and share
one view of it, and every one of them still owns the order's track (the feed thread keeps pricing it)."""

from __future__ import annotations

from dataclasses import replace

from core.feed.config import FeedConfig, Source
from core.market.instruments import get_instrument
from core.runtime import Runtime
from core.views import inputs as vi
from core.views import simulator as sc
from core.views.shared import SharedViews
from tests.conftest import wait_for

FUT = get_instrument("binance-futures", "BTCUSDT")


def test_sessions_refreshing_together_share_one_book_and_one_view(feed, slice_file):
    rt = Runtime(feed)
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=1.0, replay_loop=True))
    assert wait_for(lambda: rt.latest(FUT.exchange, FUT.symbol) is not None, 20)
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), quantity_usd=20_000.0), exchange=FUT.exchange, market="swap", limit_available=False
    )
    shared = SharedViews(window_s=0.1)
    first = shared.book(rt, FUT.exchange, FUT.symbol, 100.0)
    assert first is not None
    assert wait_for(lambda: rt.latest(FUT.exchange, FUT.symbol).recv_ns != first.recv_ns, 20)  # a newer book
    assert shared.book(rt, FUT.exchange, FUT.symbol, 100.09) is first  # within the window: the same book
    newer = shared.book(rt, FUT.exchange, FUT.symbol, 100.2)  # after it: the newest book
    assert newer is not None and newer.recv_ns > first.recv_ns

    views = [
        shared.live_view(rt, newer, scenario, exchange=FUT.exchange, symbol=FUT.symbol, owner=f"s{i}", curve=False)
        for i in range(3)
    ]
    assert views[0].estimate is not None and views[1] is views[0] and views[2] is views[0]
    # the same figures as a session computing it alone
    alone = sc.live_view(rt, newer, scenario, exchange=FUT.exchange, symbol=FUT.symbol, owner="alone", curve=False)
    assert alone.estimate is not None and alone.estimate.net_cost_usd == views[0].estimate.net_cost_usd
    track = rt.track(
        sc.track_key(scenario, FUT.exchange, FUT.symbol, rt.models().models),
        lambda: sc.pricer_for(scenario, rt.models().models),
        exchange=FUT.exchange,
        symbol=FUT.symbol,
    )
    assert {"s0", "s1", "s2", "alone"} <= track.owners  # a shared view still marks each session's track
    other = shared.live_view(rt, first, scenario, exchange=FUT.exchange, symbol=FUT.symbol, owner="s0", curve=False)
    assert other is not views[0] and other.recv_ns == first.recv_ns  # another book: a view of its own


def test_a_first_run_waits_for_the_first_book_of_a_feed_just_started(feed, slice_file):
    """The Simulator's first run asks ``first_book`` right after the feed starts: it gets the first book instead of
    "waiting for the first order book" until the next refresh; with no book coming it returns None once the bound
    has passed (an instrument the feed does not stream)."""
    rt = Runtime(feed)
    shared = SharedViews(window_s=0.1)
    assert shared.first_book(rt, FUT.exchange, FUT.symbol, 0.0) is None  # nothing streams yet, no wait asked
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=1.0, replay_loop=True))
    snap = shared.first_book(rt, FUT.exchange, FUT.symbol, 30.0)
    assert snap is not None and snap.symbol == FUT.symbol
    assert shared.first_book(rt, "okx", "BTC-USDT", 0.05) is None  # bounded: another instrument never comes

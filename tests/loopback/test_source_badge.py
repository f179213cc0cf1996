"""The status line's source badge on a real feed: never LIVE before a first live book, nor once books stop.

A live (GoQuant-format) source pointed at a loopback port where nothing listens must say CONNECTING, not a
green LIVE beside the connection error; then a real server on that port sends one recorded book (LIVE); then
it falls silent (STALE).
"""

from __future__ import annotations

import asyncio
import time

from core.feed.client import Feed
from core.feed.config import FeedConfig, Source
from core.feed.store import FeedState
from core.views.market import SourceBadge, summarize
from tests.conftest import FAST, wait_for
from tests.servers import LoopbackServer, free_port

PATH = "/ws/l2-orderbook/binance-futures/BTCUSDT"


def badge(feed: Feed) -> SourceBadge:
    return summarize(feed.store.latest(), feed.store.status(), None, msgs_per_s=0.0, now_ns=time.time_ns()).badge


def test_badge_is_connecting_until_a_live_book_arrives_then_live_then_stale(recorded_messages):
    port = free_port()

    async def handler(ws, server):
        await ws.send(recorded_messages[0], text=True)
        await asyncio.sleep(3600)  # connected but silent: the book ages

    server = LoopbackServer(handler, port=port)  # not started yet: connections are refused
    feed = Feed(settings=FAST)
    try:
        feed.start(FeedConfig(source=Source.GOQUANT, url=server.url(PATH)))
        assert wait_for(lambda: feed.store.state is FeedState.RECONNECTING and feed.store.status().last_error, 5)
        assert feed.store.latest() is None
        assert badge(feed) is SourceBadge.CONNECTING  # an unreachable live source is never LIVE
        server.start()
        assert wait_for(lambda: badge(feed) is SourceBadge.LIVE, 5), feed.store.status()
        assert wait_for(lambda: badge(feed) is SourceBadge.STALE, 5), feed.store.status()
    finally:
        feed.shutdown()
        server.close()

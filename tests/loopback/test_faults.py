"""Fault matrix: a real server on 127.0.0.1 misbehaves on cue; the real feed client must survive.

For every case: no crash and no stuck thread; status and counters say what happened; the last good book
stays available and is never replaced by a corrupt one; the client recovers by itself once the server
behaves again.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import orjson
import pytest

from core.feed.client import Feed
from core.feed.config import FeedConfig, Source
from core.feed.goquant import parse_snapshot
from core.feed.store import FeedState
from core.market.instruments import get_instrument
from tests.conftest import FAST, record_states, wait_for
from tests.servers import LoopbackServer, free_port

FUT = get_instrument("binance-futures", "BTCUSDT")
PATH = "/ws/l2-orderbook/binance-futures/BTCUSDT"


def trimmed(raw: bytes, levels: int = 20) -> bytes:
    d = orjson.loads(raw)
    d["asks"], d["bids"] = d["asks"][:levels], d["bids"][:levels]
    return orjson.dumps(d)


@pytest.fixture(scope="module")
def good(recorded_messages) -> list[bytes]:
    return [trimmed(m) for m in recorded_messages[:40]]


def mutate(raw: bytes, **changes) -> bytes:
    d = orjson.loads(raw)
    for k, v in changes.items():
        if v is KeyError:
            d.pop(k, None)
        else:
            d[k] = v
    return orjson.dumps(d)


def content_cases(g: bytes) -> dict[str, tuple[bytes, str]]:
    d = orjson.loads(g)
    bids, asks = d["bids"], d["asks"]
    best_bid = float(bids[0][0])
    return {
        "malformed_json": (b'{"asks": [["1", "2"]', "malformed_json"),
        "json_list": (b"[1, 2, 3]", "wrong_shape"),
        "json_string": (b'"hello"', "wrong_shape"),
        "missing_asks": (mutate(g, asks=KeyError), "missing_asks"),
        "missing_bids": (mutate(g, bids=KeyError), "missing_bids"),
        "asks_not_list": (mutate(g, asks={"a": 1}), "wrong_shape"),
        "empty_asks": (mutate(g, asks=[]), "empty_side"),
        "empty_bids": (mutate(g, bids=[]), "empty_side"),
        "crossed": (mutate(g, asks=[[f"{best_bid - 1:.1f}", "1"]] + asks), "crossed_book"),
        "crossed_top": (mutate(g, bids=[[f"{float(asks[0][0]) + 1:.1f}", "1"]] + bids[1:]), "crossed_book"),
        "unsorted": (mutate(g, bids=[bids[1], bids[0]] + bids[2:]), "unsorted_levels"),
        "duplicate": (mutate(g, asks=[asks[0], asks[0]] + asks[1:]), "unsorted_levels"),
        "text_price": (mutate(g, asks=[["abc", "1"]] + asks[1:]), "non_numeric_level"),
        "nan_size": (mutate(g, bids=[[bids[0][0], "NaN"]] + bids[1:]), "non_finite_level"),
        "inf_price": (mutate(g, asks=asks[:-1] + [["Infinity", "1"]]), "non_finite_level"),
        "negative_price": (mutate(g, bids=bids[:-1] + [["-5", "1"]]), "non_positive_price"),
        "negative_size": (mutate(g, asks=[[asks[0][0], "-1"]] + asks[1:]), "negative_size"),
        "overflow_price": (mutate(g, asks=[["1e999", "1"]]), "non_finite_level"),
        "level_too_short": (mutate(g, asks=[[asks[0][0]]]), "wrong_shape"),
        "wrong_symbol": (mutate(g, symbol="ETHUSDT"), "wrong_instrument"),
        "bad_timestamp": (mutate(g, timestamp="not a time"), "bad_timestamp"),
    }


def run_feed(server: LoopbackServer) -> tuple[Feed, list]:
    feed = Feed(settings=FAST)
    published: list = []
    feed.add_listener(lambda a, s: published.append(s))
    feed.start(FeedConfig(source=Source.GOQUANT, url=server.url(PATH)))
    return feed, published


def assert_only_good_books(published, good_msgs):
    want = {
        parse_snapshot(m, instrument=FUT).ask_px.tobytes() + parse_snapshot(m, instrument=FUT).bid_sz.tobytes()
        for m in good_msgs
    }
    for s in published:
        assert s.ask_px.tobytes() + s.bid_sz.tobytes() in want, "a corrupt book was published"


@pytest.mark.parametrize("case", list(content_cases(b'{"asks":[["2","1"],["3","1"]],"bids":[["1","1"],["0.5","1"]]}')))
def test_content_fault_is_counted_skipped_and_never_published(case, good):
    bad, reason = content_cases(good[0])[case]
    threads_before = threading.active_count()

    async def handler(ws, server):
        await ws.send(good[0], text=True)
        await asyncio.sleep(0.05)
        await ws.send(bad, text=True)
        await asyncio.sleep(0.05)
        await ws.send(good[1], text=True)
        await asyncio.sleep(3600)

    with LoopbackServer(handler) as server:
        feed, published = run_feed(server)
        try:
            assert wait_for(lambda: feed.store.status().books == 2, 10), feed.store.status()
            st = feed.store.status()
            assert dict(st.parse_errors) == {reason: 1}, st.parse_errors
            assert st.messages == 3 and st.reconnects == 0 and st.state is FeedState.LIVE
            assert reason in st.last_error
            assert_only_good_books(published, good[:2])
            assert np.array_equal(feed.store.latest().ask_px, parse_snapshot(good[1], instrument=FUT).ask_px)
        finally:
            feed.shutdown()
    assert wait_for(lambda: threading.active_count() <= threads_before, 5)


def test_message_over_size_limit_closes_counts_and_recovers(good):

    async def handler(ws, server):
        await ws.send(good[0], text=True)
        if server.connections == 1:
            await asyncio.sleep(0.05)
            await ws.send(b'{"x":"' + b"a" * (FAST.max_message_bytes + 10) + b'"}', text=True)
        else:
            await ws.send(good[1], text=True)
        await asyncio.sleep(3600)

    with LoopbackServer(handler) as server:
        feed, published = run_feed(server)
        try:
            assert wait_for(lambda: server.connections >= 2 and feed.store.status().books >= 3, 10), feed.store.status()
            st = feed.store.status()
            assert st.parse_errors.get("message_too_large") == 1 and st.reconnects >= 1
            assert_only_good_books(published, good[:2])
        finally:
            feed.shutdown()


def test_burst_of_10000_messages(good):
    async def handler(ws, server):
        for i in range(10_000):
            await ws.send(good[i % len(good)], text=True)
        await asyncio.sleep(3600)

    with LoopbackServer(handler) as server:
        feed, _published = run_feed(server)
        try:
            assert wait_for(lambda: feed.store.status().books == 10_000, 60), feed.store.status()
            st = feed.store.status()
            assert st.messages == 10_000 and st.parse_error_total == 0 and st.reconnects == 0
            assert len(feed.store.tick_timings()["parse_us"]) <= 10_000  # bounded history
        finally:
            feed.shutdown()


def test_close_in_the_middle_of_a_burst_recovers(good):
    async def handler(ws, server):
        if server.connections == 1:
            for m in good[:30]:
                await ws.send(m, text=True)
            ws.transport.abort()  # mid-burst, no close frame
            return
        for m in good[30:]:
            await ws.send(m, text=True)
        await asyncio.sleep(3600)

    with LoopbackServer(handler) as server:
        feed, published = run_feed(server)
        try:
            want_last = parse_snapshot(good[-1], instrument=FUT)
            assert wait_for(
                lambda: (
                    feed.store.latest() is not None and np.array_equal(feed.store.latest().ask_px, want_last.ask_px)
                ),
                10,
            )
            st = feed.store.status()
            assert st.reconnects >= 1 and st.parse_error_total == 0
            assert_only_good_books(published, good)
        finally:
            feed.shutdown()


def test_refuses_connections_for_a_while_then_accepts(good):
    port = free_port()

    async def handler(ws, server):
        await ws.send(good[0], text=True)
        await asyncio.sleep(3600)

    server = LoopbackServer(handler, port=port)  # not started: connections are refused
    feed = Feed(settings=FAST)
    try:
        feed.start(FeedConfig(source=Source.GOQUANT, url=server.url(PATH)))
        assert wait_for(lambda: feed.store.state is FeedState.RECONNECTING, 5)
        assert feed.store.latest() is None
        server.start()
        assert wait_for(lambda: feed.store.state is FeedState.LIVE, 5), feed.store.status()
        assert feed.store.status().connects == 1
    finally:
        feed.shutdown()
        server.close()


def test_slow_drip_goes_stale_between_messages_but_never_drops(good):
    async def handler(ws, server):
        for m in good[:4]:
            await ws.send(m, text=True)
            await asyncio.sleep(1.0)  # > stale_after (0.6 s) but < reconnect_after (2 s)
        await asyncio.sleep(3600)

    with LoopbackServer(handler) as server:
        feed, _published = run_feed(server)
        try:
            seen = record_states(feed, lambda seen: feed.store.status().books >= 4)
            assert seen.count(FeedState.STALE) >= 2 and seen[-1] is FeedState.LIVE
            assert feed.store.status().reconnects == 0 and server.connections == 1
        finally:
            feed.shutdown()


# ---- OKX-specific faults -------------------------------------------------------------------------
from tests.loopback.test_feed import _okx_books  # noqa: E402  (real captured frames with today's seqIds)


def okx_feed(server):
    feed = Feed(settings=FAST)
    published: list = []
    feed.add_listener(lambda a, s: published.append(s))
    feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
    return feed, published


def okx_handler(first_pass, later_pass):
    async def handler(ws, server):
        async for msg in ws:
            server.received.append(msg)
            if msg == "ping":
                if server.state.get("pong", True):
                    await ws.send("pong")
                continue
            req = orjson.loads(msg)
            await ws.send(orjson.dumps({"event": req["op"], "arg": req["args"][0]}).decode())
            if req["op"] != "subscribe":
                continue
            n = server.state["subs"] = server.state.get("subs", 0) + 1
            for m in first_pass if n == 1 else later_pass:
                await ws.send(m if isinstance(m, str) else orjson.dumps(m).decode())
                await asyncio.sleep(0.005)

    return handler


def test_okx_checksum_mismatch_resyncs_and_keeps_the_last_good_book():
    frames = _okx_books()[:12]
    bad = orjson.loads(orjson.dumps(frames[6]))
    bad["data"][0]["checksum"] = 1234567
    with LoopbackServer(okx_handler(frames[:6] + [bad], frames)) as server:
        feed, published = okx_feed(server)
        try:
            assert wait_for(
                lambda: (
                    feed.store.status().resyncs == 1
                    and feed.store.latest("okx", "BTC-USDT").seq == frames[-1]["data"][0]["seqId"]
                ),
                10,
            ), feed.store.status()
            seqs = [s.seq for s in published]
            assert bad["data"][0]["seqId"] not in seqs[:6] and seqs[:6] == [f["data"][0]["seqId"] for f in frames[:6]]
            assert "bad_checksum" in feed.store.status().last_error
        finally:
            feed.shutdown()


def test_okx_update_before_snapshot_without_rest_resubscribes():
    frames = _okx_books()[:8]
    with LoopbackServer(okx_handler(frames[1:3], frames)) as server:  # no REST endpoint on this server
        feed, published = okx_feed(server)
        try:
            assert wait_for(lambda: feed.store.status().books == 8, 10), feed.store.status()
            st = feed.store.status()
            # the updates are held; no WS snapshot comes, the REST snapshot fails, so one resubscribe
            assert st.resyncs == 1 and "rest_snapshot_failed" in st.last_error
            assert published[0].seq == frames[0]["data"][0]["seqId"] and st.parse_error_total == 0
            assert [orjson.loads(m)["op"] for m in server.received] == ["subscribe", "unsubscribe", "subscribe"]
        finally:
            feed.shutdown()


def test_okx_missing_pong_leads_to_reconnect():
    frames = _okx_books()[:2]
    with LoopbackServer(okx_handler(frames, frames)) as server:
        server.state["pong"] = False
        feed, _published = okx_feed(server)
        try:
            assert wait_for(lambda: server.connections >= 2, 10)
            # the server sees the new connection before the client counts it: wait for the count (a race seen once)
            assert "ping" in server.received and wait_for(lambda: feed.store.status().reconnects >= 1, 10)
            assert feed.store.latest("okx", "BTC-USDT") is not None
        finally:
            feed.shutdown()


def test_okx_without_ws_snapshot_bootstraps_from_rest():
    """OKX announced the end of the initial WS snapshot: the client builds the book from REST + updates."""
    frames = _okx_books()[:30]
    first = frames[0]["data"][0]
    rest = orjson.dumps(
        {
            "code": "0",
            "msg": "",
            "data": [{"asks": first["asks"], "bids": first["bids"], "ts": first["ts"], "seqId": first["seqId"]}],
        }
    )
    handler = okx_handler(frames[1:], frames[1:])  # the WS never sends a snapshot
    with LoopbackServer(
        handler, http=lambda path: (200, rest) if path.startswith("/api/v5/market/books") else None
    ) as server:
        feed, published = okx_feed(server)
        try:
            last = frames[-1]["data"][0]["seqId"]
            assert wait_for(
                lambda: (
                    feed.store.latest("okx", "BTC-USDT") is not None
                    and feed.store.latest("okx", "BTC-USDT").seq == last
                ),
                10,
            ), feed.store.status()
            st = feed.store.status()
            assert st.resyncs == 0 and st.sequence_gaps == 0 and st.parse_error_total == 0
            assert server.http_requests == ["/api/v5/market/books?instId=BTC-USDT&sz=400"]
        finally:
            feed.shutdown()
        from core.feed.okx import OkxAdapter
        from core.market.instruments import get_instrument

        ws_only = OkxAdapter(get_instrument("okx", "BTC-USDT"))
        want = [ws_only.on_message(orjson.dumps(m), 0) for m in frames][-1]
        got = published[-1]
        assert got.bid_px.tolist() == want.bid_px.tolist() and got.ask_sz.tolist() == want.ask_sz.tolist()


@pytest.mark.parametrize(
    "level,why",
    [
        (["NaN", "1", "0", "1"], "non-finite price"),
        (["100", "-5", "0", "1"], "negative size"),
        (["abc", "1", "0", "1"], "text price"),
        (["-1", "1", "0", "1"], "negative price"),
    ],
)
def test_okx_corrupt_update_resyncs_and_recovers(level, why):
    """A bad level in an OKX update must never enter the maintained book; the client rebuilds it."""
    frames = _okx_books()[:12]
    bad = orjson.loads(orjson.dumps(frames[6]))
    bad["data"][0]["bids"] = [level] + bad["data"][0]["bids"]
    bad["data"][0]["checksum"] = 0
    with LoopbackServer(okx_handler(frames[:6] + [bad] + frames[7:], frames)) as server:
        feed, published = okx_feed(server)
        try:
            last = frames[-1]["data"][0]["seqId"]
            assert wait_for(
                lambda: feed.store.status().resyncs >= 1 and feed.store.latest("okx", "BTC-USDT").seq == last, 10
            ), (why, feed.store.status())
            assert "corrupt_update" in feed.store.status().last_error
            assert all(np.isfinite(s.bid_px).all() and (s.bid_sz > 0).all() for s in published)
            assert bad["data"][0]["seqId"] not in [s.seq for s in published[:7]]
        finally:
            feed.shutdown()


def test_okx_update_emptying_a_side_resyncs():
    frames = _okx_books()[:8]
    snap = frames[0]["data"][0]
    wipe = orjson.loads(orjson.dumps(frames[1]))
    wipe["data"][0].update(asks=[[p, "0", "0", "0"] for p, *_ in snap["asks"]], bids=[], checksum=0)
    with LoopbackServer(okx_handler([frames[0], wipe], frames)) as server:
        feed, published = okx_feed(server)
        try:
            assert wait_for(lambda: feed.store.status().resyncs == 1 and feed.store.status().books >= 9, 10), (
                feed.store.status()
            )
            assert all(s.ask_px.size > 0 for s in published)
        finally:
            feed.shutdown()


def test_a_stream_of_rejected_messages_goes_stale_then_reconnects(good):
    """Frames keep arriving but none is a valid book: that is no better than silence."""

    async def garbage(ws, server):
        await ws.send(good[0], text=True)
        for _ in range(400):
            await ws.send(b"{not json", text=True)
            await asyncio.sleep(0.02)

    with LoopbackServer(garbage) as server:
        feed, _published = run_feed(server)
        try:
            seen = record_states(feed, lambda seen: server.connections >= 2 and FeedState.RECONNECTING in seen)
            assert seen.index(FeedState.LIVE) < seen.index(FeedState.STALE) < seen.index(FeedState.RECONNECTING)
            assert feed.store.status().parse_errors.get("malformed_json", 0) > 10
            assert feed.store.latest() is not None  # the last good book is kept
        finally:
            feed.shutdown()

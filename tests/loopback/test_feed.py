"""The real feed client against real WebSocket servers on 127.0.0.1, fed with real recorded frames."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import orjson
import pytest

from core.feed.client import Backoff
from core.feed.config import FeedConfig, Source
from core.feed.goquant import parse_snapshot
from core.feed.store import FeedState
from core.market.instruments import get_instrument
from tests.conftest import okx_frames, record_states, wait_for
from tests.servers import LoopbackServer

FUT = get_instrument("binance-futures", "BTCUSDT")
PATH = "/ws/l2-orderbook/binance-futures/BTCUSDT"


def goquant_config(server: LoopbackServer) -> FeedConfig:
    return FeedConfig(source=Source.GOQUANT, url=server.url(PATH))


def test_replay_to_client_to_store_is_identical_to_the_recording(feed, slice_file, recorded_messages):
    got = []
    done = threading.Event()

    def collect(adapter, snap):
        got.append(snap)
        if len(got) == 200:
            done.set()

    feed.add_listener(collect)
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=0, replay_loop=False))
    assert done.wait(20), f"only {len(got)} of 200 books arrived"
    for snap, raw in zip(got, recorded_messages[:200], strict=False):
        want = parse_snapshot(raw, instrument=FUT)
        assert np.array_equal(snap.bid_px, want.bid_px) and np.array_equal(snap.bid_sz, want.bid_sz)
        assert np.array_equal(snap.ask_px, want.ask_px) and np.array_equal(snap.ask_sz, want.ask_sz)
        assert snap.exchange_ts_ms == want.exchange_ts_ms and snap.source == "replay"
    assert feed.replay is not None and feed.replay.date == "2024-08-08" and feed.replay.messages == 200
    st = feed.store.status()
    # a non-looping replay closes after the last message and the client reconnects, so more may follow
    assert st.books >= 200 and st.parse_error_total == 0 and st.source == "replay"


def test_start_is_idempotent_and_switching_replaces_the_connection(feed, slice_file):
    cfg = FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=1.0)
    feed.start(cfg)
    assert wait_for(lambda: feed.store.latest() is not None)
    url = feed.replay.url
    threads = [threading.Thread(target=feed.start, args=(cfg,)) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert feed.replay.url == url and feed.store.status().connects == 1  # same config: nothing restarted
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=2.0))
    assert feed.replay.url != url and feed.replay.speed == 2.0
    assert wait_for(lambda: feed.store.status().books > 0)
    feed.stop()
    assert feed.store.state is FeedState.STOPPED and not feed.running


def _streamer(messages, *, then=None):
    """Handler: send the messages ~20 ms apart, then optionally do ``then`` (e.g. go silent)."""

    async def handler(ws, server):
        for m in messages:
            await ws.send(m, text=True)
            await asyncio.sleep(0.02)
        if then == "silent":
            await asyncio.sleep(3600)
        elif then == "abort":
            ws.transport.abort()
        else:
            await asyncio.sleep(3600)

    return handler


def test_malformed_message_in_the_middle_is_counted_and_skipped(feed, recorded_messages):
    msgs = [recorded_messages[0], b"{not json", b'{"asks":[]}', recorded_messages[1]]
    with LoopbackServer(_streamer(msgs)) as server:
        feed.start(goquant_config(server))
        assert wait_for(lambda: feed.store.status().books == 2)
        st = feed.store.status()
        assert dict(st.parse_errors) == {"malformed_json": 1, "missing_bids": 1}
        want = parse_snapshot(recorded_messages[1], instrument=FUT)
        assert np.array_equal(feed.store.latest().ask_px, want.ask_px)
        assert st.state is FeedState.LIVE and st.reconnects == 0


def test_server_closes_abruptly_and_comes_back(feed, recorded_messages):
    with LoopbackServer(_streamer(recorded_messages[:5])) as server:
        feed.start(goquant_config(server))
        assert wait_for(lambda: feed.store.status().books >= 5)
        server.stop()  # listening socket closed, connection aborted without a close frame
        assert wait_for(lambda: feed.store.state is FeedState.RECONNECTING, 5)
        before = feed.store.latest()
        server.start()  # same port, after a pause
        assert wait_for(lambda: feed.store.status().books >= 10, 10), feed.store.status()
        st = feed.store.status()
        assert st.reconnects >= 1 and server.connections >= 2 and st.state is FeedState.LIVE
        assert before is not None  # the last good book was kept throughout
        assert st.last_error  # the drop was recorded with its reason


def test_silent_server_goes_stale_then_reconnects(feed, recorded_messages):
    with LoopbackServer(_streamer(recorded_messages[:1], then="silent")) as server:
        feed.start(goquant_config(server))
        seen = record_states(feed, lambda seen: server.connections >= 2 and FeedState.RECONNECTING in seen)
        assert seen.index(FeedState.LIVE) < seen.index(FeedState.STALE) < seen.index(FeedState.RECONNECTING)
        assert feed.store.latest() is not None  # the last good book stays available while stale
        assert "no valid book" in feed.store.status().last_error


def test_accepts_but_never_sends_marks_stale_and_retries(feed):
    async def mute(ws, server):
        await asyncio.sleep(3600)

    with LoopbackServer(mute) as server:
        feed.start(goquant_config(server))
        assert wait_for(lambda: feed.store.state is FeedState.STALE, 5)
        assert wait_for(lambda: server.connections >= 2, 10)
        # the server can see the second connection before the client has counted it as a reconnect
        assert wait_for(lambda: feed.store.status().reconnects >= 1, 5)
        assert feed.store.latest() is None


def test_unreachable_server_keeps_retrying_with_backoff(feed):
    from tests.servers import free_port

    feed.start(FeedConfig(source=Source.GOQUANT, url=f"ws://127.0.0.1:{free_port()}{PATH}"))
    assert wait_for(lambda: feed.store.state is FeedState.RECONNECTING, 5)
    assert "Error" in feed.store.status().last_error


def test_backoff_grows_with_jitter_caps_and_resets():
    import random

    b = Backoff(1.0, 2.0, 8.0, rng=random.Random(1))
    d = [b.next() for _ in range(6)]
    assert 0.5 <= d[0] <= 1.0 and 1.0 <= d[1] <= 2.0 and 2.0 <= d[2] <= 4.0
    assert all(4.0 <= x <= 8.0 for x in d[3:])
    b.reset()
    assert b.next() <= 1.0


# ---- OKX protocol against a local server that speaks it, with real captured frames ---------------
def _okx_books(inst_id="BTC-USDT"):
    out = []
    for _, raw in okx_frames():
        m = orjson.loads(raw)
        if "action" in m and m["arg"]["channel"] == "books" and m["arg"]["instId"] == inst_id:
            out.append(m)
    for i, m in enumerate(out):  # today's OKX adds sequence numbers; the 2022 capture has none
        m["data"][0]["seqId"] = 500 + 3 * i
        m["data"][0]["prevSeqId"] = -1 if i == 0 else 500 + 3 * (i - 1)
    return out


def okx_books_and_trades(inst_id: str = "BTC-USDT") -> list[dict]:
    """The capture's book pushes (with sequence numbers, as ``_okx_books``) and trade pushes of ``inst_id``, in the
    order OKX sent them."""
    books = iter(_okx_books(inst_id))
    frames = []
    for _, raw in okx_frames():
        m = orjson.loads(raw)
        arg = m.get("arg") or {}
        if arg.get("instId") != inst_id or "data" not in m:
            continue
        if arg["channel"] == "books":
            frames.append(next(books))  # the same push, with the sequence numbers today's OKX adds
        elif arg["channel"] == "trades":
            frames.append(m)
    return frames


def okx_server(frames, *, gap_at: int | None = None):
    """Acks subscriptions, streams the frames (skipping one at ``gap_at`` on the first pass), answers ping."""

    async def handler(ws, server):
        sent_gap = server.state.setdefault("gap_done", False)
        async for msg in ws:
            server.received.append(msg)
            if msg == "ping":
                await ws.send("pong")
                continue
            req = orjson.loads(msg)
            await ws.send(orjson.dumps({"event": req["op"], "arg": req["args"][0], "connId": "t"}).decode())
            if req["op"] != "subscribe":
                continue
            for i, m in enumerate(frames):
                if gap_at is not None and i == gap_at and not server.state["gap_done"]:
                    server.state["gap_done"] = True
                    break  # drop this frame: the next one has a gap; wait for the resubscribe
                await ws.send(orjson.dumps(m).decode())
                await asyncio.sleep(0.005)
        del sent_gap

    return handler


def test_okx_snapshot_and_updates_over_a_real_socket(feed):
    frames = _okx_books()
    with LoopbackServer(okx_server(frames)) as server:
        feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
        assert wait_for(lambda: feed.store.status().books == len(frames), 15), feed.store.status()
        assert orjson.loads(server.received[0])["args"] == [
            {"channel": "books", "instId": "BTC-USDT"},
            {"channel": "trades", "instId": "BTC-USDT"},  # the online calibration's tape (the test below)
        ]
        snap = feed.store.latest("okx", "BTC-USDT")
        assert snap.seq == frames[-1]["data"][0]["seqId"] and snap.source == "okx"
        assert feed.store.status().parse_error_total == 0 and feed.store.status().resyncs == 0


def test_okx_gap_triggers_resubscribe_and_recovery(feed):
    frames = _okx_books()[:30]

    async def gappy(ws, server):
        async for msg in ws:
            server.received.append(msg)
            req = orjson.loads(msg)
            await ws.send(orjson.dumps({"event": req["op"], "arg": req["args"][0]}).decode())
            if req["op"] != "subscribe":
                continue
            first = not server.state.get("gapped")
            server.state["gapped"] = True
            for i, m in enumerate(frames):
                if first and i == 10:
                    continue  # a lost update: frame 11's prevSeqId no longer matches
                await ws.send(orjson.dumps(m).decode())
                await asyncio.sleep(0.005)
                if first and i == 11:
                    break

    with LoopbackServer(gappy) as server:
        feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
        assert wait_for(
            lambda: (
                feed.store.latest("okx", "BTC-USDT") is not None
                and feed.store.latest("okx", "BTC-USDT").seq == frames[-1]["data"][0]["seqId"]
            ),
            15,
        )
        st = feed.store.status()
        assert st.sequence_gaps == 1 and st.resyncs == 1 and st.reconnects == 0
        ops = [orjson.loads(m)["op"] for m in server.received]
        assert ops == ["subscribe", "unsubscribe", "subscribe"]


def test_okx_notice_64008_reconnects(feed):
    frames = _okx_books()[:3]

    async def upgrading(ws, server):
        async for msg in ws:
            orjson.loads(msg)
            for m in frames:
                await ws.send(orjson.dumps(m).decode())
            if server.connections == 1:
                await ws.send('{"event":"notice","code":"64008","msg":"service upgrade"}')
            await asyncio.sleep(3600)

    with LoopbackServer(upgrading) as server:
        feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
        assert wait_for(lambda: server.connections >= 2 and feed.store.status().books >= 6, 10)
        assert feed.store.status().reconnects == 1


def test_okx_keepalive_sends_text_ping(feed):
    frames = _okx_books()[:1]
    with LoopbackServer(okx_server(frames)) as server:
        feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
        assert wait_for(lambda: "ping" in server.received, 5)  # FAST: keepalive after 1 s of silence


def test_replay_of_an_okx_swap_recording_converts_contracts_to_btc(feed, tmp_path):
    """Hand-computed oracle (not the parser under test): OKX SWAP sizes are contracts of 0.01 BTC."""
    from core.feed.recording import RecordingWriter, goquant_message

    path = tmp_path / "okx_swap.jsonl.gz"
    with RecordingWriter(path) as w:
        for i in range(3):
            w.write(
                goquant_message(
                    ts_ms=1_746_355_153_000 + 100 * i,
                    exchange="okx",
                    symbol="BTC-USDT-SWAP",
                    bids=[("95445.4", "1104.23"), ("95445.3", "3")],
                    asks=[("95445.5", "9.06"), ("95445.6", str(10 + i))],
                )
            )
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(path), replay_speed=0, replay_loop=False))
    assert wait_for(lambda: feed.store.status().books >= 3)
    snap = feed.store.latest("okx", "BTC-USDT-SWAP")
    assert snap.bid_sz.tolist() == pytest.approx([11.0423, 0.03])
    assert snap.ask_sz[0] == pytest.approx(0.0906) and snap.ask_px.tolist() == [95445.5, 95445.6]
    assert snap.mid == pytest.approx(95445.45) and snap.exchange_ts_ms in (
        1_746_355_153_000,
        1_746_355_153_100,
        1_746_355_153_200,
    )


def test_okx_trades_stream_beside_the_books_into_the_live_tape_the_calibration_follows(feed):
    """The real capture's BTC-USDT books and trades, in the order OKX sent them, over a real socket: the client
    subscribes to both, the trades land in the feed's live tape in base units, a malformed trades push is counted
    and skipped, and the online calibration follows the live trades (``core.pricing.calibration``)."""
    from core.learned.models import load_models
    from core.learned.online import OnlineSteps
    from core.pricing.calibration import LIVE_TAPE, OnlineCalibration

    frames = okx_books_and_trades()
    n_trades = sum(len(f["data"]) for f in frames if f["arg"]["channel"] == "trades")
    frames.insert(5, {"arg": {"channel": "trades", "instId": "BTC-USDT"}, "data": [{"px": "oops"}]})
    n_books = sum(f["arg"]["channel"] == "books" for f in frames)
    cal = OnlineCalibration(load_models().models, OnlineSteps(band_step=3.0, share_step=0.03, source="test"))
    feed.add_listener(cal)
    with LoopbackServer(okx_server(frames)) as server:
        feed.start(FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public")))
        tape, instrument = feed.tape()
        assert tape is feed.trades and instrument == ("okx", "BTC-USDT")
        cal.follow(tape, instrument)
        assert wait_for(lambda: feed.store.status().books == n_books, 15), feed.store.status()
        args = orjson.loads(server.received[0])["args"]
        assert args == [{"channel": "books", "instId": "BTC-USDT"}, {"channel": "trades", "instId": "BTC-USDT"}]
        assert wait_for(lambda: feed.trades.received == n_trades, 5), feed.trades.received
        st = feed.store.status()
        assert st.parse_error_total == 1 and st.resyncs == 0  # the malformed push: counted, nothing lost
        cal.drain()
        status = cal.status()
        assert status.live and status.tape == LIVE_TAPE and status.taker_orders > 0
        assert sum(status.band.outcomes) == status.taker_orders
    cal.close()
    # a replay carries no live trades: the calibration follows its recording's tape file, or nothing
    feed.start(FeedConfig(source=Source.REPLAY, replay_speed=0, replay_loop=False))
    assert feed.live_trades is None and not isinstance(feed.tape()[0], type(feed.trades))

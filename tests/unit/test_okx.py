"""OKX books adapter on the real 2022 capture: every checksum verifies; gaps, resets and crossings act."""

import orjson
import pytest

from core.errors import BadChecksum, CrossedBook, FeedError, SequenceGap, ServerNotice
from core.feed.okx import OkxAdapter, checksum_string, crc32_signed
from core.market.instruments import Instrument, get_instrument
from tests.conftest import okx_frames

INSTRUMENTS = {
    "BTC-USDT": get_instrument("okx", "BTC-USDT"),
    # instruments of the 2022 capture that are no longer listed: built from their 2022 specs
    "BTC-USD-220527": Instrument("okx", "BTC-USD-220527", "future", "BTC", "USD", 0.1, 1, 1, 100.0, "inverse", "USD"),
    "UNI-USD-SWAP": Instrument("okx", "UNI-USD-SWAP", "swap", "UNI", "USD", 0.001, 1, 1, 10.0, "inverse", "USD"),
}


def books_frames(inst_id):
    out = []
    for _, raw in okx_frames():
        m = orjson.loads(raw)
        if "action" in m and m["arg"]["channel"] == "books" and m["arg"]["instId"] == inst_id:
            out.append(m)
    return out


def test_checksum_vectors_from_the_spec():
    assert crc32_signed("3366.1:7:3366.8:9:3366:6:3368:8") == -1881014294
    assert crc32_signed("3366.1:7:3366.8:9:3368:8:3372:8") == 831078360
    assert (
        checksum_string([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
        == "3366.1:7:3366.8:9:3366:6:3368:8"
    )


@pytest.mark.parametrize("inst_id", list(INSTRUMENTS))
def test_every_checksum_in_the_capture_verifies(inst_id):
    a = OkxAdapter(INSTRUMENTS[inst_id])
    frames = books_frames(inst_id)
    books = [a.on_message(orjson.dumps(m), 0) for m in frames]
    assert frames[0]["action"] == "snapshot" and len(frames) > 90
    assert a.checksums_verified == len(frames)  # none skipped: all 2022 checksums are non-zero
    assert all(b is not None for b in books)
    assert books[-1].seq == len(frames)  # no seqId in 2022: a local count


def test_capture_totals_290_verified_books():
    total = 0
    for inst_id, inst in INSTRUMENTS.items():
        a = OkxAdapter(inst)
        for m in books_frames(inst_id):
            a.on_message(orjson.dumps(m), 0)
        total += a.checksums_verified
    assert total == 290


def test_spot_book_is_base_units_and_400_deep():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    first = books_frames("BTC-USDT")[0]
    snap = a.on_message(orjson.dumps(first), 0)
    assert snap.depth_levels == (400, 400)
    assert snap.best_bid == float(first["data"][0]["bids"][0][0])
    assert snap.bid_sz[0] == float(first["data"][0]["bids"][0][1])


def test_inverse_sizes_use_ctval_over_price():
    a = OkxAdapter(INSTRUMENTS["BTC-USD-220527"])
    first = books_frames("BTC-USD-220527")[0]
    snap = a.on_message(orjson.dumps(first), 0)
    px, sz = map(float, first["data"][0]["asks"][0][:2])
    assert snap.ask_sz[0] == pytest.approx(sz * 100 / px)


def _frames(n=5):
    """Real frames with the seqId/prevSeqId fields today's OKX adds (the 2022 capture predates them)."""
    out = []
    for i, m in enumerate(books_frames("BTC-USDT")[:n]):
        m = orjson.loads(orjson.dumps(m))
        m["data"][0]["seqId"] = 1000 + 7 * i
        m["data"][0]["prevSeqId"] = -1 if i == 0 else 1000 + 7 * (i - 1)
        out.append(m)
    return out


def test_sequenced_frames_apply_in_order():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    books = [a.on_message(orjson.dumps(m), 0) for m in _frames(20)]
    assert [b.seq for b in books] == [1000 + 7 * i for i in range(20)]
    assert a.checksums_verified == 20


def test_sequence_gap_raises():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    fr = _frames(3)
    a.on_message(orjson.dumps(fr[0]), 0)
    with pytest.raises(SequenceGap):
        a.on_message(orjson.dumps(fr[2]), 0)  # skipped fr[1]


def test_update_before_snapshot_is_held_until_a_snapshot():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"], snapshot_wait_s=2.0)
    fr = _frames(4)
    assert a.on_message(orjson.dumps(fr[1]), 0) is None and len(a.buffer) == 1
    assert a.bootstrap_request(now=1e9) is None  # no subscribe ack yet
    a.on_message(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}', 0)
    assert a.bootstrap_request(now=a.acked_at + 1.0) is None  # still waiting for the WS snapshot
    assert a.bootstrap_request(now=a.acked_at + 2.5) == "https://www.okx.com/api/v5/market/books?instId=BTC-USDT&sz=400"
    assert a.on_message(orjson.dumps(fr[0]), 0) is not None and a.buffer == []  # the WS snapshot wins


def _rest_body(frame: dict) -> bytes:
    d = frame["data"][0]
    return orjson.dumps(
        {"code": "0", "msg": "", "data": [{"asks": d["asks"], "bids": d["bids"], "ts": d["ts"], "seqId": d["seqId"]}]}
    )


def test_rest_bootstrap_joins_the_buffered_updates():
    fr = _frames(12)
    ws_only = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    want = [ws_only.on_message(orjson.dumps(m), 0) for m in fr][-1]
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    for m in fr[3:]:  # updates 3..11 arrive before any snapshot
        assert a.on_message(orjson.dumps(m), 0) is None
    # a REST snapshot older than the first buffered update: fetch again
    assert a.on_bootstrap(_rest_body(fr[1]), 0) is None and len(a.buffer) == 9
    # REST at update 5: drop 3..5, apply 6..11 on top
    rebuilt = OkxBook_from(fr[:6])
    body = orjson.dumps(
        {
            "data": [
                {
                    "bids": rebuilt[0],
                    "asks": rebuilt[1],
                    "ts": fr[5]["data"][0]["ts"],
                    "seqId": fr[5]["data"][0]["seqId"],
                }
            ]
        }
    )
    snap = a.on_bootstrap(body, 0)
    assert snap.seq == fr[-1]["data"][0]["seqId"] and a.rest_bootstraps == 1
    assert snap.bid_px.tolist() == want.bid_px.tolist() and snap.ask_sz.tolist() == want.ask_sz.tolist()
    nxt = orjson.loads(orjson.dumps(fr[-1]))
    nxt["data"][0].update(prevSeqId=fr[-1]["data"][0]["seqId"], seqId=fr[-1]["data"][0]["seqId"] + 7, checksum=0)
    assert a.on_message(orjson.dumps(nxt), 0).seq == nxt["data"][0]["seqId"]  # continues normally


def OkxBook_from(frames: list) -> tuple[list, list]:
    from core.feed.okx import OkxBook

    b = OkxBook()
    for m in frames:
        b.apply(m["data"][0]["bids"], m["data"][0]["asks"])
    bids, asks = b.sorted_levels()
    return [list(x) for x in bids], [list(x) for x in asks]


def test_rest_snapshot_that_does_not_join_is_a_gap():
    fr = _frames(8)
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    for m in fr[2:4] + fr[6:8]:  # 4 and 5 lost
        a.on_message(orjson.dumps(m), 0)
    body = orjson.dumps({"data": [{"bids": [], "asks": [], "ts": "1", "seqId": fr[4]["data"][0]["seqId"]}]})
    with pytest.raises(SequenceGap):
        a.on_bootstrap(body, 0)


def test_rest_url_for_local_servers_uses_the_same_host():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"], "ws://127.0.0.1:9001/ws/v5/public")
    assert a.rest_url() == "http://127.0.0.1:9001/api/v5/market/books?instId=BTC-USDT&sz=400"


def test_heartbeat_and_reset_are_accepted():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    fr = _frames(2)
    a.on_message(orjson.dumps(fr[0]), 0)
    last = fr[0]["data"][0]["seqId"]
    # heartbeat: empty update with prevSeqId == seqId == last
    hb = {
        "arg": fr[1]["arg"],
        "action": "update",
        "data": [{"asks": [], "bids": [], "ts": "1", "checksum": 0, "prevSeqId": last, "seqId": last}],
    }
    assert a.on_message(orjson.dumps(hb), 0) is not None
    # reset after maintenance: seqId lower than prevSeqId, prevSeqId still the last seqId
    rs = {
        "arg": fr[1]["arg"],
        "action": "update",
        "data": [{"asks": [], "bids": [], "ts": "2", "checksum": 0, "prevSeqId": last, "seqId": 5}],
    }
    assert a.on_message(orjson.dumps(rs), 0).seq == 5
    nxt = {
        "arg": fr[1]["arg"],
        "action": "update",
        "data": [{"asks": [], "bids": [], "ts": "3", "checksum": 0, "prevSeqId": 5, "seqId": 9}],
    }
    assert a.on_message(orjson.dumps(nxt), 0).seq == 9


def test_zero_checksum_is_not_validated_but_nonzero_mismatch_raises():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    fr = _frames(3)
    a.on_message(orjson.dumps(fr[0]), 0)
    zero = orjson.loads(orjson.dumps(fr[1]))
    zero["data"][0]["checksum"] = 0
    a.on_message(orjson.dumps(zero), 0)
    bad = orjson.loads(orjson.dumps(fr[2]))
    bad["data"][0]["checksum"] = 12345
    with pytest.raises(BadChecksum):
        a.on_message(orjson.dumps(bad), 0)


def test_crossed_book_raises():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    fr = _frames(2)
    snap = a.on_message(orjson.dumps(fr[0]), 0)
    d = fr[1]["data"][0]
    cross = {
        "arg": fr[1]["arg"],
        "action": "update",
        "data": [
            {
                "asks": [],
                "bids": [[f"{snap.best_ask + 5:.1f}", "1", "0", "1"]],
                "ts": "1",
                "checksum": 0,
                "prevSeqId": fr[0]["data"][0]["seqId"],
                "seqId": d["seqId"],
            }
        ],
    }
    with pytest.raises(CrossedBook):
        a.on_message(orjson.dumps(cross), 0)


def test_events_notice_error_pong_and_resync_messages():
    a = OkxAdapter(INSTRUMENTS["BTC-USDT"])
    assert orjson.loads(a.on_connect()[0]) == {
        "id": "1",
        "op": "subscribe",
        "args": [{"channel": "books", "instId": "BTC-USDT"}],
    }
    assert a.on_message(b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}', 0) is None
    assert a.on_message("pong", 0) is None
    with pytest.raises(ServerNotice):
        a.on_message(b'{"event":"notice","code":"64008","msg":"upgrade"}', 0)
    with pytest.raises(FeedError):
        a.on_message(b'{"event":"error","code":"60018","msg":"no such instId"}', 0)
    ops = [orjson.loads(m)["op"] for m in a.resync()]
    assert ops == ["unsubscribe", "subscribe"] and a.book is None
    assert a.keepalive() == "ping"

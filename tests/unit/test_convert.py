"""core.feed.conversion: Binance book rebuild rules on hand-written raw lines, and the bundled data/ outputs
(checked against the upstream records in core.feed.provenance)."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import re
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ParseError, SequenceGap
from core.feed.conversion import (
    BookState,
    DepthBook,
    MarketSpec,
    RebuildCounts,
    convert_market,
    iter_binance_books,
    read_binance_trades,
    write_recording,
)
from core.feed.provenance import OKX_CAPTURE, UpstreamFile
from core.feed.recording import load_recording

DATA = Path(__file__).resolve().parents[2] / "data"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
E0 = 1723161256000  # 2024-08-08T23:54:16.000Z


def write_raw(path: Path, docs: list[dict]) -> Path:
    """A raw capture as hftbacktest stores it: gzip lines of ``<local ns> <json>``."""
    with gzip.open(path, "wb") as fh:
        for i, doc in enumerate(docs):
            fh.write(b"%d " % (1723161255000000000 + i * 1000) + orjson.dumps(doc) + b"\n")
    return path


def fut_diff(U: int, u: int, pu: int, E: int, b: list | None = None, a: list | None = None) -> dict:
    return {
        "stream": "btcusdt@depth@0ms",
        "data": {
            "e": "depthUpdate",
            "E": E,
            "T": E - 1,
            "s": "BTCUSDT",
            "U": U,
            "u": u,
            "pu": pu,
            "b": b or [],
            "a": a or [],
        },
    }


def spot_diff(U: int, u: int, E: int, b: list | None = None, a: list | None = None) -> dict:
    return {
        "stream": "btcusdt@depth@100ms",
        "data": {"e": "depthUpdate", "E": E, "s": "BTCUSDT", "U": U, "u": u, "b": b or [], "a": a or []},
    }


def snapshot(last_id: int, bids: list, asks: list) -> dict:
    return {"lastUpdateId": last_id, "bids": bids, "asks": asks}


TRADE = {
    "stream": "btcusdt@trade",
    "data": {
        "e": "trade",
        "E": E0 + 5,
        "T": E0 + 4,
        "s": "BTCUSDT",
        "t": 7,
        "p": "100.10",
        "q": "0.250",
        "X": "MARKET",
        "m": True,
    },
}
TICKER = {
    "stream": "btcusdt@bookTicker",
    "data": {"e": "bookTicker", "u": 1, "s": "BTCUSDT", "b": "99.50", "B": "1", "a": "101.00", "A": "1"},
}
SNAP = snapshot(100, [["99.50", "2.000"], ["99.00", "3.000"]], [["101.00", "1.000"], ["101.50", "2.000"]])


def futures_fixture(tmp_path: Path) -> Path:
    """Two diffs before the snapshot (one stale, one that straddles it), then live diffs."""
    return write_raw(
        tmp_path / "usdm.gz",
        [
            fut_diff(90, 95, 89, E0, b=[["50.00", "9.000"]]),  # u <= 100: dropped (would add a bid at 50)
            fut_diff(96, 102, 95, E0 + 1, b=[["100.00", "1.000"]], a=[["101.00", "0.000"]]),  # buffered, applied
            TICKER,
            snapshot(100, SNAP["bids"], SNAP["asks"]) | {"E": E0 + 2, "T": E0 + 2},
            TRADE,
            # futures: U may jump; only pu must equal the previous u
            fut_diff(110, 120, 102, E0 + 3, b=[["99.50", "0"]], a=[["102.00", "4.500"]]),
            fut_diff(121, 125, 120, E0 + 3, b=[["98.00", "1.000"]]),
        ],
    )


# ----------------------------------------------------------------------------------------- rebuild rules


def test_futures_buffered_diff_is_applied_stale_one_dropped(tmp_path: Path) -> None:
    counts = RebuildCounts()
    states = list(iter_binance_books([futures_fixture(tmp_path)], "usdm", depth=None, counts=counts))
    assert (counts.diffs, counts.buffered, counts.dropped, counts.applied) == (4, 2, 1, 3)
    assert counts.snapshot_id == 100 and counts.crossed == 0
    first = states[0]
    # the buffered diff added bid 100.00 and deleted ask 101.00; the stale one's bid 50 never appears
    assert first.bids == (("100.00", "1.000"), ("99.50", "2.000"), ("99.00", "3.000"))
    assert first.asks == (("101.50", "2.000"),)
    assert first.event_ms == E0 + 1 and first.update_id == 102
    # qty "0" deletes 99.50; a new ask level is inserted in price order
    assert states[1].bids == (("100.00", "1.000"), ("99.00", "3.000"))
    assert states[1].asks == (("101.50", "2.000"), ("102.00", "4.500"))
    assert states[2].bids[-1] == ("98.00", "1.000")
    assert [s.event_ms for s in states] == [E0 + 1, E0 + 3, E0 + 3]


def test_futures_pu_rule(tmp_path: Path) -> None:
    raw = write_raw(
        tmp_path / "gap.gz",
        [SNAP, fut_diff(99, 105, 98, E0), fut_diff(106, 110, 104, E0 + 1)],  # pu 104 != previous u 105
    )
    with pytest.raises(SequenceGap, match="pu=104"):
        list(iter_binance_books([raw], "usdm"))


def test_futures_first_diff_must_straddle_snapshot(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "gap.gz", [SNAP, fut_diff(101, 105, 100, E0)])  # U=101 > lastUpdateId=100
    with pytest.raises(SequenceGap, match="first diff"):
        list(iter_binance_books([raw], "usdm"))


def test_spot_rules_and_files_follow_on(tmp_path: Path) -> None:
    a = write_raw(
        tmp_path / "day1.gz",
        [
            spot_diff(95, 100, E0, b=[["10.00000000", "1.00000000"]]),  # u <= 100: dropped
            SNAP,
            spot_diff(101, 104, E0 + 100, a=[["101.00", "0.00000000"]]),  # U <= 101 <= u
        ],
    )
    b = write_raw(tmp_path / "day2.gz", [spot_diff(105, 107, E0 + 200, b=[["99.99000000", "0.50000000"]])])
    counts = RebuildCounts()
    states = list(iter_binance_books([a, b], "spot", counts=counts))
    assert (counts.dropped, counts.applied) == (1, 2)
    assert states[0].asks == (("101.50", "2.000"),)
    assert states[1].bids[0] == ("99.99000000", "0.50000000")  # original string, not 99.99


def test_spot_u_rule(tmp_path: Path) -> None:
    raw = write_raw(
        tmp_path / "gap.gz",
        [SNAP, spot_diff(101, 104, E0), spot_diff(106, 108, E0 + 100)],  # 105 missing
    )
    with pytest.raises(SequenceGap, match="U=106"):
        list(iter_binance_books([raw], "spot"))


def test_spot_first_diff_uses_last_id_plus_one(tmp_path: Path) -> None:
    # U <= 100 <= u would pass the futures rule but spot needs U <= 101 <= u
    raw = write_raw(tmp_path / "gap.gz", [SNAP, spot_diff(102, 104, E0)])
    with pytest.raises(SequenceGap):
        list(iter_binance_books([raw], "spot"))


def test_missing_snapshot_raises(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "nosnap.gz", [spot_diff(1, 2, E0)])
    with pytest.raises(ParseError, match="no_snapshot"):
        list(iter_binance_books([raw], "spot"))


def test_crossed_book_is_counted_not_yielded(tmp_path: Path) -> None:
    raw = write_raw(
        tmp_path / "cross.gz",
        [SNAP, spot_diff(101, 101, E0, b=[["101.20", "1.00"]]), spot_diff(102, 102, E0 + 100, b=[["101.20", "0"]])],
    )
    counts = RebuildCounts()
    states = list(iter_binance_books([raw], "spot", counts=counts))
    assert counts.crossed == 1 and counts.applied == 2
    assert len(states) == 1 and states[0].bids[0] == ("99.50", "2.000")


def test_depth_book_top_and_same_price_spellings() -> None:
    book = DepthBook([["1.0", "1"], ["3.0", "1"], ["2.0", "1"]], [["5.0", "1"], ["4.0", "1"]])
    bids, asks = book.top(2)
    assert bids == (("3.0", "1"), ("2.0", "1")) and asks == (("4.0", "1"), ("5.0", "1"))
    book.apply([["3.00", "0.000"]], [])  # another spelling of 3.0 deletes the same level
    assert book.best_bid == 2.0 and book.size == (2, 2)


def test_state_arrays() -> None:
    raw_bids = (("100.00", "1.5"), ("99.00", "2"))
    s = BookState(event_ms=E0, recv_ns=0, update_id=1, bids=raw_bids, asks=(("101.00", "0.25"),))
    bp, bs, ap, az = s.arrays()
    assert bp.tolist() == [100.0, 99.0] and bs.tolist() == [1.5, 2.0] and ap.tolist() == [101.0]
    assert az.tolist() == [0.25]


# ---------------------------------------------------------------------------------------------- outputs


def test_convert_market_messages(tmp_path: Path) -> None:
    futures_fixture(tmp_path)
    spec = MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="t",
        stem="fx",
        files=(UpstreamFile(local="usdm.gz", upstream="", blob="", sha256=""),),
        default=True,
    )
    res = convert_market(spec, tmp_path, tmp_path / "out", levels=2)
    rec = load_recording(tmp_path / "out" / res.recording)
    # with 2 levels the third state (a bid added at 98, third level) equals the second: deduplicated
    assert res.messages == len(rec) == 2 and res.duplicates_dropped == 1
    docs = [orjson.loads(m) for m in rec.messages]
    assert all(ISO_MS.match(d["timestamp"]) for d in docs)
    assert docs[0]["timestamp"] == "2024-08-08T23:54:16.001Z"
    assert docs[0] == {
        "timestamp": "2024-08-08T23:54:16.001Z",
        "exchange": "binance-futures",
        "symbol": "BTCUSDT",
        "asks": [["101.50", "2.000"]],
        "bids": [["100.00", "1.000"], ["99.50", "2.000"]],
    }
    assert rec.exchange == "binance-futures" and rec.symbol == "BTCUSDT"
    trades = pq.read_table(tmp_path / "out" / res.trades)
    assert trades.to_pylist() == [
        {"ts_ms": E0 + 4, "price": 100.10, "qty": 0.25, "buyer_is_maker": True, "trade_id": 7}
    ]


def test_write_recording_is_reproducible(tmp_path: Path) -> None:
    msgs = [b'{"timestamp":"2024-08-08T23:54:16.001Z"}', b'{"timestamp":"2024-08-08T23:54:16.002Z"}']
    write_recording(tmp_path / "a.jsonl.gz", msgs)
    write_recording(tmp_path / "b.jsonl.gz", msgs)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()
    assert len(load_recording(tmp_path / "a.jsonl.gz")) == 2


def test_read_trades_schema(tmp_path: Path) -> None:
    table = read_binance_trades([futures_fixture(tmp_path)])
    assert table.schema.names == ["ts_ms", "price", "qty", "buyer_is_maker", "trade_id"]
    assert table.num_rows == 1


# --------------------------------------------------------------------------------------- bundled data/


def _manifest() -> list[dict]:
    return orjson.loads((DATA / "recordings.json").read_bytes())["recordings"]


def test_manifest_lists_both_markets_futures_default() -> None:
    recs = _manifest()
    assert {r["exchange"] for r in recs} == {"binance-futures", "binance"}
    defaults = [r for r in recs if r["default"]]
    assert len(defaults) == 1 and defaults[0]["exchange"] == "binance-futures"


@pytest.mark.parametrize("entry", _manifest(), ids=lambda r: r["exchange"])
def test_bundled_recording(entry: dict) -> None:
    rec = load_recording(DATA / entry["file"])
    assert len(rec) == entry["messages"]
    assert (rec.exchange, rec.symbol) == (entry["exchange"], entry["symbol"])
    assert (rec.ts_ms[1:] >= rec.ts_ms[:-1]).all(), "timestamps go back"
    first = orjson.loads(rec.messages[0])
    last = orjson.loads(rec.messages[-1])
    assert (first["timestamp"], last["timestamp"]) == (entry["start"], entry["end"])
    n = entry["levels"]
    for raw in rec.messages:
        doc = orjson.loads(raw)
        assert ISO_MS.match(doc["timestamp"])
        bids = [float(p) for p, _ in doc["bids"]]
        asks = [float(p) for p, _ in doc["asks"]]
        assert 0 < len(bids) <= n and 0 < len(asks) <= n
        assert bids[0] < asks[0], doc["timestamp"]
        assert all(a > b for a, b in itertools.pairwise(bids)) and all(a < b for a, b in itertools.pairwise(asks))
        assert all(float(s) > 0 for _, s in doc["bids"]) and all(float(s) > 0 for _, s in doc["asks"])


@pytest.mark.parametrize("entry", _manifest(), ids=lambda r: r["exchange"])
def test_bundled_trades(entry: dict) -> None:
    table = pq.read_table(DATA / entry["trades"])
    assert table.schema.names == ["ts_ms", "price", "qty", "buyer_is_maker", "trade_id"]
    assert [f.type for f in table.schema] == [pa.int64(), pa.float64(), pa.float64(), pa.bool_(), pa.int64()]
    assert table.num_rows > 1000
    ids = table.column("trade_id").to_pylist()
    assert ids == sorted(set(ids))
    assert min(table.column("qty").to_pylist()) > 0


def test_bundled_okx_licenses_and_provenance() -> None:
    assert hashlib.sha256((DATA / "okx" / "OKX.ws.1.0").read_bytes()).hexdigest() == OKX_CAPTURE.sha256
    assert b"MIT License" in (DATA / "LICENSE.hftbacktest").read_bytes()
    assert b"Bryant Moscon" in (DATA / "LICENSE.cryptofeed").read_bytes()
    prov = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "This product includes software developed by Bryant Moscon (http://www.bryantmoscon.com/)" in prov
    for entry in _manifest():
        for rel in (entry["file"], entry["trades"]):
            assert hashlib.sha256((DATA / rel).read_bytes()).hexdigest() in prov, rel

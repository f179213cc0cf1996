"""core.feed.conversion: Binance book rebuild rules on hand-written raw lines, COIN-M units on real lines, a
short real slice converted twice to the same bytes, and the bundled data/ outputs (checked against the upstream
records in core.feed.provenance)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import InputError, ParseError, SequenceGap
from core.feed.conversion import (
    INVERSE_TRADE_SCHEMA,
    MARKETS,
    TRADE_SCHEMA,
    BookState,
    DepthBook,
    MarketSpec,
    RebuildCounts,
    contract_instrument,
    convert_market,
    convert_paths,
    iter_binance_books,
    last_per_interval,
    raw_spec,
    read_binance_trades,
    source_path,
    write_recording,
)
from core.feed.goquant import parse_snapshot
from core.feed.provenance import OKX_CAPTURE, UpstreamFile
from core.feed.recording import load_recording
from core.market.instruments import get_instrument

DATA = Path(__file__).resolve().parents[2] / "data"
#: the first 200 lines of two hftbacktest captures, byte for byte (tests/fixtures/hftbacktest/README.md)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hftbacktest"
CM_HEAD = FIXTURES / "btcusd_perp_20240808_head200.gz"
USDM_HEAD = FIXTURES / "btcusdt_20240808_head200.gz"
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


def test_futures_diff_following_the_snapshot_exactly_is_continuous(tmp_path: Path) -> None:
    # as in the real ETHUSDT capture: the snapshot's lastUpdateId is a diff's u (dropped); the next has pu = id
    raw = write_raw(
        tmp_path / "exact.gz",
        [fut_diff(90, 100, 89, E0), SNAP, fut_diff(103, 105, 100, E0 + 1, b=[["99.60", "1.000"]])],
    )
    counts = RebuildCounts()
    (state,) = iter_binance_books([raw], "usdm", counts=counts)
    assert (counts.dropped, counts.applied) == (1, 1) and state.bids[0] == ("99.60", "1.000")
    with pytest.raises(SequenceGap, match="first diff"):  # pu one short of the id: an update is missing
        list(iter_binance_books([write_raw(tmp_path / "g.gz", [SNAP, fut_diff(103, 105, 99, E0)])], "usdm"))


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


def test_last_per_interval_keeps_the_last_book_of_each_window() -> None:
    states = [BookState(event_ms=t, recv_ns=0, update_id=i, bids=(), asks=()) for i, t in enumerate([5, 99, 100, 250])]
    left_out = [0]
    assert [s.update_id for s in last_per_interval(states, 100, left_out)] == [1, 2, 3] and left_out == [1]
    assert list(last_per_interval(states, 0, left_out)) == states


# ------------------------------------------------------------------------------ COIN-M units (real lines)

# Real lines of hftbacktest's cm/btcusd_perp_20240808.gz (trades 849714402 and 849714405, the snapshot's top)
CM_TRADES = [
    {
        "stream": "btcusd_perp@trade",
        "data": {"e": "trade", "E": 1723161257687, "T": 1723161257679, "s": "BTCUSD_PERP", "t": 849714402}
        | {"p": "61804.8", "q": "4", "X": "MARKET", "m": False},
    },
    {
        "stream": "btcusd_perp@trade",
        "data": {"e": "trade", "E": 1723161258760, "T": 1723161258748, "s": "BTCUSD_PERP", "t": 849714405}
        | {"p": "61808.8", "q": "10", "X": "MARKET", "m": False},
    },
]


def test_coinm_instruments_are_inverse_contracts_of_usd() -> None:
    btc = get_instrument("binance-coinm", "BTCUSD_PERP")
    eth = get_instrument("binance-coinm", "ETHUSD_PERP")
    for inst, ct_val, base in ((btc, 100.0, "BTC"), (eth, 10.0, "ETH")):
        assert (inst.ct_type, inst.ct_val, inst.ct_val_ccy, inst.base, inst.quote) == (
            "inverse",
            ct_val,
            "USD",
            base,
            "USD",
        )
        assert inst.sized_in_contracts and inst.kind == "swap" and inst.lot_size == 1
    assert btc.to_base(50_000.0, 10.0) == pytest.approx(0.02)  # 10 contracts x 100 USD / 50,000 USD per BTC
    assert eth.to_base(2_500.0, 10.0) == pytest.approx(0.04)  # 10 contracts x 10 USD / 2,500 USD per ETH
    assert btc.from_base(50_000.0, 0.02) == pytest.approx(10.0)
    assert contract_instrument("cm", "btcusd_perp") == btc and contract_instrument("usdm", "BTCUSDT") is None
    with pytest.raises(InputError, match="unknown COIN-M symbol SOLUSD_PERP"):
        contract_instrument("cm", "SOLUSD_PERP")


def test_coinm_trades_keep_contracts_and_give_base(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "cm.gz", CM_TRADES)
    table = read_binance_trades([raw], symbol="BTCUSD_PERP", instrument=get_instrument("binance-coinm", "BTCUSD_PERP"))
    assert table.schema == INVERSE_TRADE_SCHEMA and table.schema.names[-1] == "size_contracts"
    rows = table.to_pylist()
    assert [r["size_contracts"] for r in rows] == [4.0, 10.0]
    assert rows[0]["qty"] == pytest.approx(400 / 61804.8) and rows[0]["qty"] == pytest.approx(0.0064719892, abs=1e-10)
    assert rows[1]["qty"] == pytest.approx(1000 / 61808.8) and rows[1]["qty"] == pytest.approx(0.0161789, abs=1e-7)
    assert [r["buyer_is_maker"] for r in rows] == [False, False] and rows[0]["ts_ms"] == 1723161257679
    # without the instrument the same lines read as base units: the plain schema, q untouched
    plain = read_binance_trades([raw])
    assert plain.schema == TRADE_SCHEMA and plain.column("qty").to_pylist() == [4.0, 10.0]
    with pytest.raises(InputError, match="holds BTCUSD_PERP, not ETHUSD_PERP"):
        read_binance_trades([raw], symbol="ETHUSD_PERP")


def test_coinm_recording_keeps_contracts_and_the_app_reads_btc(tmp_path: Path) -> None:
    """A real COIN-M slice: the recording keeps Binance's contract strings; the parser turns them into BTC."""
    spec = raw_spec("cm", "BTCUSD_PERP", [CM_HEAD])
    assert (spec.exchange, spec.stem, spec.interval_ms) == ("binance-coinm", "binance-coinm_BTCUSD_PERP_20240808", 100)
    res = convert_paths(spec, [CM_HEAD], tmp_path, levels=400)
    assert res.counts.snapshot_id == 1007198635033 and res.instrument is not None and res.instrument.ct_val == 100
    rec = load_recording(tmp_path / res.recording)
    assert (rec.exchange, rec.symbol) == ("binance-coinm", "BTCUSD_PERP") and len(rec) == res.messages > 5
    doc = orjson.loads(rec.messages[0])
    px, contracts = doc["bids"][0]
    assert contracts == contracts.strip() and float(contracts) == int(contracts)  # whole contracts, as sent
    snap = parse_snapshot(rec.messages[0], instrument=get_instrument("binance-coinm", "BTCUSD_PERP"))
    assert snap.bid_sz[0] == pytest.approx(float(contracts) * 100 / float(px), rel=1e-12)
    assert snap.bid_px[0] == float(px) and 61_000 < snap.mid < 62_500
    trades = pq.read_table(tmp_path / res.trades)
    assert trades.column("size_contracts").to_pylist()[:4] == [4.0, 1.0, 5.0, 10.0]
    assert trades.column("qty").to_pylist()[0] == pytest.approx(400 / 61804.8)


def test_a_real_slice_converts_to_the_same_bytes_twice(tmp_path: Path) -> None:
    """Reproducible byte for byte (the full run in `make data` takes minutes; the rule is the same)."""
    spec = raw_spec("usdm", "BTCUSDT", [USDM_HEAD])
    a = convert_paths(spec, [USDM_HEAD], tmp_path / "a", levels=50)
    b = convert_paths(spec, [USDM_HEAD], tmp_path / "b", levels=50)
    assert b.messages == a.messages > 5
    for rel in (a.recording, a.trades):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert pq.read_table(tmp_path / "a" / a.trades).schema == TRADE_SCHEMA


def test_a_failed_conversion_leaves_no_file(tmp_path: Path) -> None:
    raw = write_raw(tmp_path / "gap.gz", [SNAP, spot_diff(101, 104, E0), spot_diff(106, 108, E0 + 100)])
    spec = MarketSpec(market="spot", exchange="binance", label="t", stem="gap", files=(), default=False)
    with pytest.raises(SequenceGap):
        convert_paths(spec, [raw], tmp_path / "out", levels=10)
    assert not list((tmp_path / "out").rglob("*.*"))


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


def test_manifest_lists_every_market_futures_default() -> None:
    recs = _manifest()
    assert {r["exchange"] for r in recs} == {"binance-futures", "binance", "binance-coinm"}
    assert [r["file"] for r in recs] == [f"recordings/{m.stem}.jsonl.gz" for m in MARKETS]
    assert {(r["exchange"], r["symbol"], r["date"]) for r in recs} == {
        ("binance-futures", "BTCUSDT", "2024-08-08"),
        ("binance", "BTCUSDT", "2024-08-08"),
        ("binance-coinm", "BTCUSD_PERP", "2024-08-08"),
        ("binance-futures", "ETHUSDT", "2024-08-08"),
        ("binance", "ETHUSDT", "2024-08-08"),
        ("binance-futures", "BTCUSDT", "2024-07-18"),
        ("binance-futures", "BTCUSDT", "2023-04-04"),
        ("binance-futures", "ETHUSDT", "2024-07-18"),
    }
    defaults = [r for r in recs if r["default"]]
    assert len(defaults) == 1 and defaults[0]["exchange"] == "binance-futures"
    assert recs[0] == defaults[0] and recs[1]["file"] == "recordings/binance_BTCUSDT_20240808.jsonl.gz"


@pytest.mark.parametrize("entry", _manifest(), ids=lambda r: Path(r["file"]).name)
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
        bids = np.array(doc["bids"], dtype=np.float64)  # (price, size) rows, parsed from the strings
        asks = np.array(doc["asks"], dtype=np.float64)
        assert 0 < len(bids) <= n and 0 < len(asks) <= n
        assert bids[0, 0] < asks[0, 0], doc["timestamp"]
        assert (np.diff(bids[:, 0]) < 0).all() and (np.diff(asks[:, 0]) > 0).all()  # strictly sorted
        assert (bids[:, 1] > 0).all() and (asks[:, 1] > 0).all()


@pytest.mark.parametrize("entry", _manifest(), ids=lambda r: Path(r["file"]).name)
def test_bundled_trades(entry: dict) -> None:
    table = pq.read_table(DATA / entry["trades"])
    inverse = entry["exchange"] == "binance-coinm"
    assert table.schema.names == ["ts_ms", "price", "qty", "buyer_is_maker", "trade_id"] + (
        ["size_contracts"] if inverse else []
    )
    assert [f.type for f in table.schema][:5] == [pa.int64(), pa.float64(), pa.float64(), pa.bool_(), pa.int64()]
    assert table.num_rows > 1000
    ids = table.column("trade_id").to_pylist()
    assert ids == sorted(set(ids))
    assert min(table.column("qty").to_pylist()) > 0
    if inverse:  # qty is BTC: contracts x 100 USD / price, on every row
        ct = get_instrument(entry["exchange"], entry["symbol"]).ct_val
        contracts = table.column("size_contracts").to_numpy()
        expect = contracts * ct / table.column("price").to_numpy()
        assert (table.column("qty").to_numpy() == expect).all() and (contracts == contracts.round()).all()


def test_bundled_okx_licenses_and_provenance() -> None:
    assert hashlib.sha256((DATA / "okx" / "OKX.ws.1.0").read_bytes()).hexdigest() == OKX_CAPTURE.sha256
    assert b"MIT License" in (DATA / "LICENSE.hftbacktest").read_bytes()
    assert b"Bryant Moscon" in (DATA / "LICENSE.cryptofeed").read_bytes()
    prov = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "This product includes software developed by Bryant Moscon (http://www.bryantmoscon.com/)" in prov
    for entry in _manifest():
        for rel in (entry["file"], entry["trades"]):
            assert hashlib.sha256((DATA / rel).read_bytes()).hexdigest() in prov, rel


def test_shipped_upstream_files_match_their_records_and_keep_their_license() -> None:
    """The raw captures the shared set lacks (2023-04-04/05 BTCUSDT, 2024-07-18/19 ETHUSDT) are kept in
    data/upstream/ byte for byte: ``--src`` rebuilds every recording from them and the shared set."""
    shipped = [f for m in MARKETS for f in m.files if f.shipped]
    assert {Path(f.local).name for f in shipped} == {
        "btcusdt_20230404.dat.gz",
        "btcusdt_20230405.dat.gz",
        "ethusdt_20240718.gz",
        "ethusdt_20240719.gz",
    }
    for f in shipped:
        path = source_path(Path("/nonexistent-src"), f)
        assert path.is_relative_to(DATA / "upstream") and f.commit
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256, f.local
    assert b"MIT License" in (DATA / "upstream" / "hftbacktest-binance" / "LICENSE.hftbacktest").read_bytes()
    prov = (DATA / "PROVENANCE.md").read_text(encoding="utf-8")
    assert all(f"`data/upstream/{f.local}`" in prov and f.sha256 in prov for f in shipped)

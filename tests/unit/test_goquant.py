"""GoQuant full-snapshot parsing: units (contracts x ctVal), timestamps, and countable errors."""

import orjson
import pytest

from core.errors import ParseError
from core.feed import goquant
from core.feed.goquant import GoQuantAdapter, parse_snapshot
from core.feed.recording import parse_timestamp_ms
from core.market.instruments import get_instrument

SWAP = get_instrument("okx", "BTC-USDT-SWAP")
SPOT = get_instrument("okx", "BTC-USDT")

# the example message from shared/specs/FEEDS_AND_FEES.md section 4
SAMPLE = {
    "timestamp": "2025-05-04T10:39:13Z",
    "exchange": "OKX",
    "symbol": "BTC-USDT-SWAP",
    "asks": [["95445.5", "9.06"], ["95445.6", "0.01"]],
    "bids": [["95445.4", "1104.23"], ["95445.3", "3"]],
}


def test_swap_sizes_are_contracts_converted_with_ctval():
    s = parse_snapshot(orjson.dumps(SAMPLE), instrument=SWAP)
    assert s.ask_sz.tolist() == pytest.approx([0.0906, 0.0001])
    assert s.bid_sz.tolist() == pytest.approx([11.0423, 0.03])
    assert s.best_bid == 95445.4 and s.best_ask == 95445.5
    assert s.exchange_ts_ms == 1746355153000


def test_spot_sizes_are_base_units():
    doc = dict(SAMPLE, symbol="BTC-USDT")
    s = parse_snapshot(orjson.dumps(doc), instrument=SPOT)
    assert s.ask_sz.tolist() == [9.06, 0.01]


def test_inverse_swap_sizes_convert_through_price():
    inv = get_instrument("okx", "BTC-USD-SWAP")  # ctVal 100 USD per contract
    doc = {"symbol": "BTC-USD-SWAP", "asks": [["100000", "10"]], "bids": [["99990", "5"]]}
    s = parse_snapshot(orjson.dumps(doc), instrument=inv)
    assert s.ask_sz[0] == pytest.approx(10 * 100 / 100000)


@pytest.mark.parametrize(
    "ts,expected",
    [
        ("2025-05-04T10:39:13Z", 1746355153000),
        ("2025-05-04T10:39:13.250Z", 1746355153250),
        ("2025-05-04T10:39:13.250123+00:00", 1746355153250),
        (1746355153250, 1746355153250),
    ],
)
def test_timestamps(ts, expected):
    assert parse_timestamp_ms(ts) == expected


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"{not json", "malformed_json"),
        (b"[1,2]", "wrong_shape"),
        (orjson.dumps({k: v for k, v in SAMPLE.items() if k != "asks"}), "missing_asks"),
        (orjson.dumps({k: v for k, v in SAMPLE.items() if k != "bids"}), "missing_bids"),
        (orjson.dumps(dict(SAMPLE, asks="oops")), "wrong_shape"),
        (orjson.dumps(dict(SAMPLE, asks=[["1"]])), "wrong_shape"),
        (orjson.dumps(dict(SAMPLE, symbol="ETH-USDT-SWAP")), "wrong_instrument"),
        (orjson.dumps(dict(SAMPLE, timestamp="yesterday")), "bad_timestamp"),
    ],
)
def test_bad_messages_raise_countable_reasons(raw, reason):
    with pytest.raises(ParseError) as e:
        GoQuantAdapter(SWAP, "ws://x").on_message(raw, 0)
    assert e.value.reason == reason


def test_adapter_counts_and_times_each_message():
    a = GoQuantAdapter(SWAP, "ws://x")
    s1 = a.on_message(orjson.dumps(SAMPLE), 1)
    s2 = a.on_message(orjson.dumps(SAMPLE), 2)
    assert (s1.seq, s2.seq) == (1, 2) and s2.recv_ns == 2
    assert a.last_parse_ns > 0
    assert (a.last_book_ns > 0) is not goquant.NATIVE  # the compiled path times parse and book as one
    assert a.native_message() == orjson.dumps(SAMPLE)

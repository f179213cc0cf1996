"""The bus entry codec and settings, without Redis (the bus itself runs in tests/loopback/test_bus.py)."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError, ParseError
from core.feed.bus import BusSettings, bus_instruments, decode_entry, encode_book, redacted
from core.feed.goquant import parse_snapshot
from core.market.instruments import get_instrument

FUT = get_instrument("binance-futures", "BTCUSDT")


def as_redis(entry: dict) -> dict[bytes, bytes]:
    """What redis-py hands a reader: every field and value as bytes."""
    return {k.encode(): v if isinstance(v, bytes) else str(v).encode() for k, v in entry.items()}


def test_a_book_survives_the_bus_encoding_bit_for_bit(recorded_messages):
    snap = parse_snapshot(recorded_messages[0], instrument=FUT, source="replay", seq=7)
    got = decode_entry(as_redis(encode_book(snap, run="r1", seq=3, pub_ns=123)))
    assert (got.run, got.seq, got.pub_ns) == ("r1", 3, 123)
    b = got.book
    assert (b.key, b.source, b.seq, b.recv_ns, b.exchange_ts_ms) == (
        snap.key,
        snap.source,
        7,
        snap.recv_ns,
        snap.exchange_ts_ms,
    )
    for name in (
        "bid_px",
        "bid_sz",
        "ask_px",
        "ask_sz",
        "bid_cum_base",
        "bid_cum_quote",
        "ask_cum_base",
        "ask_cum_quote",
    ):
        assert np.array_equal(getattr(b, name), getattr(snap, name)), name
    assert not b.bid_px.flags.writeable


def test_an_entry_over_the_level_limit_is_refused(recorded_messages):
    snap = parse_snapshot(recorded_messages[0], instrument=FUT)
    with pytest.raises(ParseError) as err:
        decode_entry(as_redis(encode_book(snap, run="r", seq=1, pub_ns=1)), max_levels=10)
    assert err.value.reason == "wrong_shape"


def test_instruments_and_settings_from_the_environment():
    assert bus_instruments({"TCS_BUS_INSTRUMENTS": "okx:btc-usdt-swap, binance:BTCUSDT,okx:BTC-USDT-SWAP"}) == (
        ("okx", "BTC-USDT-SWAP"),
        ("binance", "BTCUSDT"),
    )
    assert bus_instruments({})[0] == ("binance-futures", "BTCUSDT")  # the default recording's first
    with pytest.raises(InputError):
        bus_instruments({"TCS_BUS_INSTRUMENTS": "okx"})
    s = BusSettings.from_env({"TCS_BUS_MAXLEN": "500", "TCS_BUS_STALE_S": "2.5"})
    assert (s.maxlen, s.stale_after_s) == (500, 2.5)
    assert redacted("redis://:secret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"

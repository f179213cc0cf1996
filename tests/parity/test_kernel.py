"""The compiled GoQuant parser agrees with the Python path bit for bit, or declines (None) and lets it judge.

Real recorded books, every truncation of a message, hand-made corner cases and generated decimal strings:
whatever the input, the compiled path never returns a book the Python path would not, and never a
different one.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ParseError
from core.feed import goquant
from core.feed.goquant import native_snapshot, parse_message, snapshot_from_doc
from core.feed.recording import load_recording, parse_timestamp_ms
from core.feed.replay import bundled_recordings
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, get_instrument
from tests.unit.test_goquant import SAMPLE  # the example message from FEEDS_AND_FEES.md

FUT = get_instrument("binance-futures", "BTCUSDT")
SWAP = get_instrument("okx", "BTC-USDT-SWAP")
INVERSE = dataclasses.replace(SWAP, symbol="BTC-USD-SWAP", ct_type="inverse", ct_val=100.0)
ARRAYS = ("bid_px", "bid_sz", "ask_px", "ask_sz", "bid_cum_base", "bid_cum_quote", "ask_cum_base", "ask_cum_quote")


def test_the_kernels_are_built_and_on():
    # `make venv` builds them; a silent fall back to the slow path would make every benchmark misleading
    from core import compiled

    assert compiled.built() == dict.fromkeys(compiled.MODULES, True), (
        "a compiled module is not built: run `make venv` (python setup.py build_ext --inplace)"
    )
    assert goquant.NATIVE


def python_path(raw: bytes, inst: Instrument) -> BookSnapshot:
    return snapshot_from_doc(parse_message(raw), instrument=inst, source="t", recv_ns=7, seq=3)


def assert_same(a: BookSnapshot, b: BookSnapshot) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype == np.float64 and x.tobytes() == y.tobytes(), name
        assert not x.flags.writeable
    assert (a.exchange, a.symbol, a.source, a.exchange_ts_ms, a.recv_ns, a.seq) == (
        b.exchange,
        b.symbol,
        b.source,
        b.exchange_ts_ms,
        b.recv_ns,
        b.seq,
    )


def agree(raw: bytes, inst: Instrument = FUT) -> BookSnapshot | None:
    """The contract: a native book equals the Python book; where Python raises, native declines."""
    fast = native_snapshot(raw, instrument=inst, source="t", recv_ns=7, seq=3)
    try:
        slow = python_path(raw, inst)
    except ParseError:
        assert fast is None
        return None
    if fast is not None:
        assert_same(fast, slow)
    return fast


@pytest.mark.parametrize("rec", bundled_recordings(), ids=lambda r: r.path.name)
@pytest.mark.parametrize("levels", [400, 50, 1])
def test_real_recorded_books_are_identical(rec, levels):
    inst = get_instrument(rec.exchange, rec.symbol)
    n = 0
    for raw in itertools.islice(load_recording(rec.path).iter_messages(), 0, 3000, 7):
        if levels < 400:
            d = orjson.loads(raw)
            d["bids"], d["asks"] = d["bids"][:levels], d["asks"][:levels]
            raw = orjson.dumps(d)
        assert agree(raw, inst) is not None, "a plain recorded book must take the compiled path"
        n += 1
    assert n > 400


@pytest.mark.parametrize(
    "inst", [SWAP, INVERSE, dataclasses.replace(SWAP, ct_val=0.0)], ids=["linear", "inverse", "zero_ct_val"]
)
def test_contract_sizes_convert_exactly_like_numpy(inst):
    raw = orjson.dumps(dict(SAMPLE, symbol=inst.symbol))
    assert (agree(raw, inst) is not None) is (inst.ct_val > 0)  # ct_val 0 empties the book: Python rejects it


def test_every_truncation_and_every_single_byte_corruption_agrees():
    raw = orjson.dumps(dict(SAMPLE, symbol="BTCUSDT"))
    for cut in range(len(raw)):
        assert agree(raw[:cut]) is None
    taken = 0
    for i in range(len(raw)):
        for b in (b'"', b",", b"]", b"[", b"}", b"{", b"0", b"-", b"e", b" ", b"x", b"\\", b"\x00"):
            taken += agree(raw[:i] + b + raw[i + 1 :]) is not None
    assert taken > 0  # some corruptions (a digit for a digit) are still valid books, and must agree


@pytest.mark.parametrize(
    "raw",
    [
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"symbol":"BTC\\u0055SDT"}',  # escape
        b'{"asks":[[1.5,2]],"bids":[[1.4,3]]}',  # unquoted levels
        b'{"asks":[["1.5","2","0","4"]],"bids":[["1.4","3","0","1"]]}',  # OKX 4-field levels
        b'{"asks":[["1.5","0"],["1.6","2"]],"bids":[["1.4","3"]]}',  # zero size: Python drops it
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"extra":{"nested":[1]}}',  # nested value
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"timestamp":null}',
        b'{"asks":[[" 1.5","2"]],"bids":[["1.4","3"]]}',  # float() strips spaces; we leave it to Python
        b'{"asks":[["1_5","2"]],"bids":[["1.4","3"]]}',  # float() accepts underscores
        b'{"asks":[["inf","2"]],"bids":[["1.4","3"]]}',
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"symbol":"\xc3\xa9"}',  # non-ASCII
        b'{"asks":[["1.5","2"]],"asks":[["1.6","2"]],"bids":[["1.4","3"]]}',  # duplicate side
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"x":1e999}',  # orjson: a number that overflows is malformed
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"x":-1E+400}',
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"x":1.7976931348623159e308}',
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"x":1' + b"0" * 320 + b"}",
    ],
)
def test_what_the_kernel_declines_the_python_path_still_decides(raw):
    assert native_snapshot(raw, instrument=FUT, source="t", recv_ns=7, seq=3) is None
    agree(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b' {\n "bids" : [ [ "1.4" , "3" ] ] ,\t"asks":[["1.5","2e-3"]], "n": -0.5e+3, "ok": true, "no": false } ',
        b'{"asks":[["1.5","2"]],"bids":[["1.4","3"]],"timestamp":1746355153000}',
        b'{"asks":[["01.5","2"]],"bids":[["1.4","3.000000000000000000000001"]]}',
    ],
)
def test_whitespace_key_order_and_scalars_take_the_fast_path(raw):
    if b"timestamp" in raw:  # a numeric timestamp is the Python path's call
        agree(raw)
    else:
        assert agree(raw) is not None


decimal = st.builds(
    lambda sign, ip, fp, exp: f"{sign}{ip}{'.' + fp if fp else ''}{exp}",
    st.sampled_from(["", "", "", "-"]),
    st.from_regex(r"[0-9]{1,22}", fullmatch=True),
    st.from_regex(r"[0-9]{0,22}", fullmatch=True),
    st.sampled_from(["", "", "", "e5", "E-7", "e+22", "e-30", "e300", "e400", "e-400"]),
)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # 1e300 x 1e300 in the Python path
@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(decimal, decimal), min_size=1, max_size=6),
    st.lists(st.tuples(decimal, decimal), min_size=1, max_size=6),
)
def test_generated_decimal_books_agree(bids, asks):
    raw = orjson.dumps({"bids": [list(b) for b in bids], "asks": [list(a) for a in asks]})
    agree(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(decimal, min_size=1, max_size=40))
def test_every_decimal_string_converts_exactly_like_float(values):
    # an ascending ask ladder of the generated prices, tiny sizes: each string must become float(string)
    prices = sorted({float(v) for v in values if np.isfinite(float(v)) and float(v) > 0})
    strings = {float(v): v for v in values}
    if not prices:
        return
    asks = [[strings[p], "1"] for p in prices]
    raw = orjson.dumps({"bids": [["0.0000001", "1"]], "asks": asks})
    got = agree(raw)
    if got is not None:
        assert got.ask_px.tolist() == prices


@pytest.mark.parametrize(
    "number",
    [
        "9007199254740992",  # 2**53: the largest mantissa the one-pass conversion takes
        "9007199254740993",  # beyond: float() rounds it
        "0.9007199254740993",
        "1234567890123456789",  # 19 significant digits
        "12345678901234567890",  # 20
        "0000000000000000000001.5",  # leading zeros do not count as digits
        "1." + "0" * 22,  # 22 decimals: one exact division
        "1." + "0" * 23,  # 23: CPython's conversion
        "0." + "0" * 21 + "1",
        "0." + "0" * 22 + "1",
        "1" + "0" * 62,  # 63 characters: the longest number the parser reads
        "1" + "0" * 63,  # 64: left to the Python path
        "0.1",
        "5e-324",
        "9.999e299",
    ],
)
def test_decimals_at_the_one_pass_limits_convert_like_float(number):
    raw = orjson.dumps({"bids": [[number, "1"]], "asks": [["1e300", "1"]]})
    got = agree(raw)
    if len(number) <= 63:
        assert got is not None and got.bid_px.tolist() == [float(number)]


@pytest.mark.parametrize("symbol", ["BTCUSDT", "btcusdt", "BtcUsdt", "BTCUSDX", "BTCUSD", "BTCUSDTT", ""])
def test_the_symbol_check_is_the_python_paths(symbol):
    raw = orjson.dumps(dict(SAMPLE, symbol=symbol))
    assert (agree(raw) is not None) is (symbol.upper() == "BTCUSDT")


def test_a_compiled_snapshot_is_an_ordinary_frozen_snapshot():
    raw = orjson.dumps(dict(SAMPLE, symbol="BTCUSDT"))
    fast = native_snapshot(raw, instrument=FUT, source="t", recv_ns=7, seq=3)
    assert type(fast) is BookSnapshot
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.seq = 4  # type: ignore[misc]
    moved = dataclasses.replace(fast, seq=4)
    assert_same(dataclasses.replace(moved, seq=3), python_path(raw, FUT))
    assert "BookSnapshot(exchange='binance-futures'" in repr(fast)


@pytest.mark.parametrize(
    "ts",
    [
        "2024-08-08T23:54:21.734Z",
        "2024-08-08T23:54:21Z",
        "2024-08-08T23:54:21.7Z",
        "2024-08-08T23:54:21.73Z",
        "2024-02-29T00:00:00.000Z",
        "1970-01-01T00:00:00.001Z",
        "2000-12-31T23:59:59.999Z",
        "2100-03-01T00:00:00Z",
        "2024-08-08T23:54:21.734567Z",
        "2024-08-08T23:54:21.734+00:00",
        "2024-08-08T23:54:21.734+02:00",
        "2023-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-08-08T24:00:00Z",
        "2024-08-08T23:54:21.Z",
        "2024-08-08 23:54:21Z",
        "not a time",
    ],
)
def test_timestamps_parse_to_the_same_epoch_ms(ts):
    raw = orjson.dumps(dict(SAMPLE, symbol="BTCUSDT", timestamp=ts))
    fast = agree(raw)
    try:
        parse_timestamp_ms(ts)
    except ParseError:
        assert fast is None
    else:
        assert fast is not None

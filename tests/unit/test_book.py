"""Book snapshot construction: numeric parsing, validation reasons, immutability, cumulative depth."""

import pytest

from core.errors import ParseError
from core.market.book import BookSnapshot, levels_to_arrays


def build(bids, asks):
    bp, bs = levels_to_arrays(bids)
    ap, as_ = levels_to_arrays(asks)
    return BookSnapshot.build(
        exchange="x",
        symbol="Y",
        source="test",
        bid_px=bp,
        bid_sz=bs,
        ask_px=ap,
        ask_sz=as_,
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )


def test_levels_to_arrays_drops_extra_fields():
    px, sz = levels_to_arrays([["100.5", "2", "0", "3"], ["100.4", "1.25", "0", "1"]])
    assert px.tolist() == [100.5, 100.4] and sz.tolist() == [2.0, 1.25]


def test_snapshot_is_read_only_and_cumulative():
    s = build([["99", "1"], ["98", "2"]], [["101", "3"], ["102", "4"]])
    assert s.mid == 100.0 and s.spread == 2.0 and s.spread_bps == pytest.approx(200.0)
    assert s.ask_cum_base.tolist() == [3.0, 7.0]
    assert s.ask_cum_quote.tolist() == [303.0, 303.0 + 408.0]
    assert s.bid_cum_quote.tolist() == [99.0, 99.0 + 196.0]
    with pytest.raises(ValueError):
        s.ask_px[0] = 1.0
    with pytest.raises(AttributeError):
        s.seq = 5  # frozen


@pytest.mark.parametrize(
    "bids,asks,reason",
    [
        ([["99", "1"]], [], "empty_side"),
        ([["99", "x"]], [["101", "1"]], "non_numeric_level"),
        ([["NaN", "1"]], [["101", "1"]], "non_finite_level"),
        ([["99", "Infinity"]], [["101", "1"]], "non_finite_level"),
        ([["-99", "1"]], [["101", "1"]], "non_positive_price"),
        ([["99", "-1"]], [["101", "1"]], "negative_size"),
        ([["98", "1"], ["99", "1"]], [["101", "1"]], "unsorted_levels"),
        ([["99", "1"], ["99", "2"]], [["101", "1"]], "unsorted_levels"),
        ([["99", "1"]], [["102", "1"], ["101", "1"]], "unsorted_levels"),
        ([["101", "1"]], [["100", "1"]], "crossed_book"),
        ([["100", "1"]], [["100", "1"]], "crossed_book"),
    ],
)
def test_corrupt_books_are_rejected_with_a_reason(bids, asks, reason):
    with pytest.raises(ParseError) as e:
        build(bids, asks)
    assert e.value.reason == reason


def test_zero_size_levels_are_dropped():
    s = build([["99", "0"], ["98", "2"]], [["101", "1"]])
    assert s.bid_px.tolist() == [98.0]

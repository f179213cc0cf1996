"""Book store: reference swap, bounded histories, status counters."""

import numpy as np

from core.feed.store import BookStore, FeedState, Ring
from core.market.book import BookSnapshot


def snap(i, symbol="BTCUSDT"):
    return BookSnapshot.build(
        exchange="binance-futures",
        symbol=symbol,
        source="test",
        bid_px=np.array([100.0 + i]),
        bid_sz=np.array([1.0]),
        ask_px=np.array([101.0 + i]),
        ask_sz=np.array([1.0]),
        exchange_ts_ms=1_000 + i,
        recv_ns=(1_000 + i) * 1_000_000_000,
        seq=i,
    )


def test_ring_is_bounded_and_chronological():
    r = Ring(5, 2)
    for i in range(12):
        r.append(i, i * 10)
    v = r.values()
    assert len(r) == 5 and r.total == 12
    assert v[:, 0].tolist() == [7, 8, 9, 10, 11] and v[:, 1].tolist() == [70, 80, 90, 100, 110]


def test_histories_stay_bounded_after_many_ticks():
    st = BookStore(mid_capacity=100, timing_capacity=50)
    st.begin(source="test", url="", exchange="binance-futures", symbol="BTCUSDT")
    for i in range(10_000):
        st.publish(snap(i))
    t, m = st.mids()
    assert t.size == 100 and m[-1] == snap(9_999).mid
    assert st.tick_timings()["parse_us"].size == 50
    assert st.latest().seq == 9_999


def test_latest_is_per_instrument_and_status_counts():
    st = BookStore()
    st.begin(source="test", url="ws://x", exchange="binance-futures", symbol="BTCUSDT")
    st.publish(snap(1))
    st.publish(snap(2, symbol="OTHER"))
    assert st.latest().seq == 1 and st.latest("binance-futures", "OTHER").seq == 2
    st.count_message(100)
    st.count_parse_error("malformed_json")
    st.count_parse_error("malformed_json")
    st.count_gap()
    st.count_resync("sequence_gap")
    st.count_connect()
    st.count_connect()
    st.set_state(FeedState.LIVE)
    s = st.status()
    assert (s.messages, s.bytes, s.books) == (1, 100, 2)
    assert dict(s.parse_errors) == {"malformed_json": 2} and s.parse_error_total == 2
    assert (s.sequence_gaps, s.resyncs, s.connects, s.reconnects) == (1, 1, 2, 1)
    assert s.state is FeedState.LIVE and st.state is FeedState.LIVE


def test_mid_history_uses_exchange_time_and_restarts_when_a_replay_loops():
    st = BookStore()
    st.begin(source="replay", url="", exchange="binance-futures", symbol="BTCUSDT")
    for i in range(5):
        st.publish(snap(i))  # exchange ts 1000+i ms, receive time 1000+i s
    t, m = st.mids()
    assert t.tolist() == [1.0, 1.001, 1.002, 1.003, 1.004]  # exchange seconds, not receive seconds
    st.publish(snap(0))  # the recording starts over: exchange time goes backwards
    t, m = st.mids()
    assert t.tolist() == [1.0] and m.tolist() == [snap(0).mid]


def test_a_new_source_drops_the_old_book_and_mid_history_of_that_instrument():
    st = BookStore()
    st.begin(source="replay", url="", exchange="binance-futures", symbol="BTCUSDT")
    st.publish(snap(1))
    st.publish(snap(2, symbol="OTHER"))
    st.begin(source="goquant", url="ws://x", exchange="binance-futures", symbol="BTCUSDT")
    assert st.latest() is None and st.mids()[0].size == 0  # no 2024 replay book under a LIVE badge
    assert st.latest("binance-futures", "OTHER") is not None  # other instruments untouched

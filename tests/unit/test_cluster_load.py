"""What `make load-cluster` reads and judges, without a cluster: ``StickySession`` reading the Book time and the
status line's tick age from real ForwardMsgs (cached ones by reference too), the age of what is on screen
between renders, and the check for a session the server dropped while its socket stayed open."""

from __future__ import annotations

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.cluster_load import StickySession, _dropped_sessions, _quarters, _shown_ages


def _metric(label: str, body: str, cache_hash: str = "") -> ForwardMsg:
    m = ForwardMsg()
    m.delta.new_element.metric.label, m.delta.new_element.metric.body = label, body
    if cache_hash:
        m.hash, m.metadata.cacheable = cache_hash, True
    return m


def _markdown(body: str) -> ForwardMsg:
    m = ForwardMsg()
    m.delta.new_element.markdown.body = body
    return m


def _ref(cache_hash: str) -> ForwardMsg:
    m = ForwardMsg()
    m.ref_hash = cache_hash
    return m


def test_book_time_changes_and_tick_ages_are_read_from_the_messages() -> None:
    s = StickySession("http://127.0.0.1:1", "market")
    s._handle(_metric("Best bid (USDT)", "60,000.00"))
    s._handle(_metric("Book time (UTC)", "10:00:00.100"))
    s._handle(_metric("Book time (UTC)", "10:00:00.100"))  # the same book redrawn: not a new one
    s._handle(_metric("Book time (UTC)", "10:00:00.350", cache_hash="h1"))
    s._handle(_markdown(":gray-badge[REPLAY] **Binance BTCUSDT** · live · last tick 0.3 s ago · 95.0 msg/s"))
    s._handle(_markdown("no age in this line"))
    assert [t for t, _ in s.book_times] == ["10:00:00.100", "10:00:00.350"]
    assert [a for a, _ in s.tick_ages] == [0.3]
    s._handle(_metric("Book time (UTC)", "10:00:00.600"))
    s._handle(_ref("h1"))  # a cached message by reference: the page shows the book of h1 again
    assert [t for t, _ in s.book_times] == ["10:00:00.100", "10:00:00.350", "10:00:00.600", "10:00:00.350"]
    assert s.errors == []


def test_the_age_on_screen_grows_between_renders_and_starts_at_the_first() -> None:
    # renders at 150 ms (book from 100 ms) and 450 ms (book from 420 ms); the grid every 100 ms from 0
    ages = _shown_ages([(150.0, 100.0), (450.0, 420.0)], 0.0, 700.0)
    assert ages == [100.0, 200.0, 300.0, 80.0, 180.0]  # at 200, 300, 400 the first book; at 500, 600 the second
    assert _shown_ages([], 0.0, 500.0) == []


def test_quarters_and_the_longest_gap_count_the_window_edges() -> None:
    quarters, gap = _quarters([1.0, 2.0, 9.0], 0.0, 12.0)
    assert quarters == [2, 0, 0, 1]
    assert gap == 7.0
    assert _quarters([], 0.0, 4.0) == ([0, 0, 0, 0], 4.0)


def test_a_replica_serving_fewer_sessions_than_cookies_held_is_reported() -> None:
    samples = [
        {"t_s": 0.0, "replicas": {"app1": {"active_sessions": 10}, "app2": {"active_sessions": 10}}},
        {"t_s": 5.0, "replicas": {"app1": {"active_sessions": 9}, "app2": {"active_sessions": 10}}},
        {"t_s": 10.0, "replicas": {"app1": {"active_sessions": None}, "app2": {}}},  # metrics did not answer
    ]
    assert _dropped_sessions({"app1": 10, "app2": 10}, samples) == {"app1": [[5.0, 9, 10]], "app2": []}

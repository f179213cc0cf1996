"""The Market page under Streamlit's AppTest, on the bundled replay (real loopback WebSocket)."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from core.feed.store import FeedState
from core.views.market import summarize, top_levels

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_market_page_shows_replay_bid_and_ask():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/market.py").run()
    assert not at.exception
    deadline = time.monotonic() + 20
    while not at.metric and time.monotonic() < deadline:  # the first book arrives within a second or so
        time.sleep(0.3)
        at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    bid = float(metrics["Best bid (USDT)"].replace(",", ""))
    ask = float(metrics["Best ask (USDT)"].replace(",", ""))
    assert 61_000 < bid < ask < 62_500  # Binance USDⓈ-M BTCUSDT on 2024-08-08
    # the spread's bps beside it is the same spread, not a change: no arrow (walkthrough 18 read "↑" as "went up")
    spread = next(m for m in at.metric if m.label == "Spread")
    assert spread.delta.endswith(" bps") and spread.proto.direction == MetricProto.MetricDirection.NONE
    status = at.markdown[0].value
    assert "REPLAY" in status and "recorded 2024-08-08" in status
    table = at.dataframe[0].value
    assert (
        len(table) == 10 and table["bid price"].is_monotonic_decreasing and table["ask price"].is_monotonic_increasing
    )
    assert at.segmented_control(key="market_refresh").value == "1 s"


def test_summary_marks_stale_and_labels_replay(feed, slice_file):
    from core.feed.config import FeedConfig, Source
    from tests.conftest import wait_for

    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=1.0))
    assert wait_for(lambda: feed.store.latest() is not None)
    snap, st = feed.store.latest(), feed.store.status()
    fresh = summarize(snap, st, feed.replay, msgs_per_s=10.0, now_ns=snap.recv_ns + 100_000_000)
    assert fresh.source_label == "REPLAY" and not fresh.stale and fresh.best_bid == snap.best_bid
    old = summarize(snap, st, feed.replay, msgs_per_s=0.0, now_ns=snap.recv_ns + 10_000_000_000)
    assert old.stale and old.tick_age_s == 10.0
    assert summarize(None, st, None, msgs_per_s=0.0, now_ns=0).stale
    levels = top_levels(snap, 10)
    assert levels["bid price"].iloc[0] == snap.best_bid and levels["ask size (base)"].iloc[0] == snap.ask_sz[0]
    assert st.state in (FeedState.LIVE, FeedState.CONNECTING)


def test_bad_operator_configuration_falls_back_to_the_replay_with_a_message(monkeypatch):
    import streamlit as st

    monkeypatch.setenv("TCS_SOURCE", "goquant")
    monkeypatch.setenv("TCS_SYMBOL", "NOPE-USDT")
    st.cache_resource.clear()  # a fresh process-wide feed for this configuration
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("pages/market.py").run()
        assert not at.exception
        assert any("could not start" in e.value and "NOPE-USDT" in e.value for e in at.error)
        from pages.common import get_runtime

        rt = get_runtime()
        assert rt.config.source.value == "replay" and rt.replay is not None and "NOPE-USDT" in rt.config_error
    finally:
        from pages.common import get_runtime

        get_runtime().feed.shutdown()
        st.cache_resource.clear()


def test_the_streamlit_flag_the_deep_link_fix_relies_on_still_exists():
    """pages/common.py clears PagesManager.uses_pages_directory (a Streamlit internal): fail loudly on an
    upgrade that removes it, instead of silently losing the fix."""
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory")

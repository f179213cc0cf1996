"""Hosted-deployment policy in the UI: the custom URL box exists only when the operator enables it, and a
typed URL outside the allowlist is refused with a plain message while the feed keeps running."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import wait_for
from tests.servers import LoopbackServer

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def fresh_feed():
    """A process-wide feed built under this test's environment, shut down afterwards."""
    st.cache_resource.clear()
    yield
    from pages.common import get_runtime

    get_runtime().feed.shutdown()
    st.cache_resource.clear()


def test_no_url_box_by_default(fresh_feed):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "sim_custom_url"]


def test_custom_url_refused_outside_the_allowlist_and_accepted_inside(monkeypatch, fresh_feed, recorded_messages):
    async def stream(ws, server):
        for m in recorded_messages[:50]:
            await ws.send(m, text=True)
            await asyncio.sleep(0.05)
        await asyncio.sleep(3600)

    monkeypatch.setenv("TCS_ALLOW_CUSTOM_URL", "1")
    monkeypatch.setenv("TCS_ALLOWED_HOSTS", "127.0.0.1")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="sim_custom_url").set_value("ws://169.254.169.254/ws/l2-orderbook/binance-futures/BTCUSDT")
    at.button(key="sim_custom_connect").click().run()
    assert not at.exception
    assert any("not in this deployment's allowlist" in e.value for e in at.error)
    from pages.common import get_runtime

    assert get_runtime().config.source.value == "replay"  # unchanged
    with LoopbackServer(stream) as server:
        at.text_input(key="sim_custom_url").set_value(server.url("/ws/l2-orderbook/binance-futures/BTCUSDT"))
        at.button(key="sim_custom_connect").click().run()
        assert not at.exception
        rt = get_runtime()
        assert rt.config.source.value == "goquant" and rt.config.url.startswith("ws://127.0.0.1:")
        assert wait_for(lambda: rt.status().books > 5, 10)

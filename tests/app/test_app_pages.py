"""Latency, Models and Data pages under Streamlit's AppTest, on the bundled replay (Execution: test_app_execution.py).

AppTest never fires ``run_every``, so each test reruns the page itself while the replay ticks; the
fragment bodies are plain functions tested in tests/unit/test_latency.py, test_execution.py, test_cards.py and
test_capture.py. A number input cannot hold NaN or text (Streamlit keeps the last number), so those
cases are covered on the core checks those pages call (test_execution.py, test_catalog.py, test_capture.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.views.catalog import catalog

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_page(page: str, ready=lambda at: True, timeout: float = 20.0) -> AppTest:
    """Open ``page`` directly and rerun until ``ready(at)`` (the replay's first books take a moment)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(page).run()
    assert not at.exception
    deadline = time.monotonic() + timeout
    while not ready(at) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception
    assert ready(at)
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# ---- Latency -------------------------------------------------------------------------------------
def test_latency_page_tables_and_charts_grow_with_the_replay():
    at = open_page(
        "pages/latency.py",
        lambda at: at.dataframe and at.dataframe[0].value.set_index("measure").loc["Parse", "samples"] > 5,
    )
    assert at.segmented_control(key="latency_refresh").value == "1 s"
    t = at.dataframe[0].value.set_index("measure")
    assert list(t.index) == [
        "Parse",
        "Book update",
        "Store publish",
        "Pricing per tick",
        "Explained estimate",
        "Replay pacing lateness",
        "Page refresh",
    ]
    assert t.loc["Parse", "unit"] == "µs" and t.loc["Page refresh", "unit"] == "ms"
    assert 0 < t.loc["Parse", "p50"] <= t.loc["Parse", "p90"] <= t.loc["Parse", "p99"] <= t.loc["Parse", "max"]
    assert len(at.get("plotly_chart")) == 4
    assert any("not a network delay" in c.value for c in at.caption)
    assert any("Compiled path: GoQuant messages are parsed" in c.value for c in at.caption)
    assert "REPLAY" in at.markdown[0].value
    before = t.loc["Parse", "samples"], t.loc["Page refresh", "samples"]
    time.sleep(1.0)
    at.segmented_control(key="latency_refresh").set_value("Paused").run()
    assert not at.exception
    after = at.dataframe[0].value.set_index("measure")
    assert after.loc["Parse", "samples"] > before[0] and after.loc["Page refresh", "samples"] > before[1]


# ---- Models --------------------------------------------------------------------------------------
def test_models_page_shows_each_card_and_what_is_used():
    at = open_page("pages/models.py")
    assert [h.value for h in at.subheader] == [
        "Expected slippage",
        "Slippage quantiles (p50 / p90 / p95)",
        "Maker/taker proportion",
        "Corrected online by what executes",
    ]
    # the online calibration says what it is doing on the bundled replay (its tape is read shortly after start)
    said = [c.value for c in at.caption] + [i.value for i in at.info]
    assert any(t.startswith(("The replay's trade tape is read", "Checking the estimates of")) for t in said), said
    statuses = [s.value for s in at.success] + [w.value for w in at.warning]
    assert len(statuses) == 3 and all(s.startswith(("In use:", "Fallback:")) for s in statuses)
    from core.learned.models import MODELS_DIR, read_card

    for role in ("slippage_expected", "slippage_quantiles", "maker_taker"):
        card = read_card(MODELS_DIR / f"{role}.json")
        table = next(
            d.value
            for d in at.dataframe
            if "method" in d.value.columns and card["display_name"] in d.value["method"].iloc[0]
        )
        assert len(table) == 1 + len(card["baselines"])
        expected = f"In use: {card['reason']}" if card["use"] else "Fallback: "
        assert any(s.startswith(expected) for s in statuses), (role, statuses)
    assert len(at.get("plotly_chart")) == 3


# ---- Data ----------------------------------------------------------------------------------------
def test_data_page_records_and_offers_the_download():
    at = open_page("pages/data.py")
    cat = at.dataframe[0].value
    entries = catalog()  # the eight bundled recordings, pinned in tests/unit/test_catalog.py
    assert len(entries) == 8 and cat["file"].tolist() == [e.file for e in entries]
    assert cat["license"].tolist() == ["MIT"] * 8 and cat["messages"].tolist() == [e.messages for e in entries]
    assert cat["messages"].tolist()[:2] == [6537, 6456]
    at.number_input(key="data_seconds").set_value(1.0).run()
    at.button(key="data_record").click().run()
    assert not at.exception and at.get("progress")
    assert at.button(key="data_record").disabled  # one capture at a time per session
    deadline = time.monotonic() + 10
    while not at.download_button and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
    assert not at.exception
    d = at.download_button(key="data_download")
    assert d.proto.label == "Download recording"
    assert any("Recorded" in s.value and "books" in s.value for s in at.success)


@pytest.mark.parametrize("value", [0.0, -5.0, 601.0, 1e12])
def test_data_bad_recording_length(value):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/data.py").run()
    at.number_input(key="data_seconds").set_value(value).run()
    assert not at.exception
    assert any("Recording length must" in e for e in errors(at))
    assert at.button(key="data_record").disabled


@pytest.mark.parametrize("value", [0.0, -1.0, 0.01, 1e6])
def test_data_bad_replay_speed(value):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/data.py").run()
    at.number_input(key="data_speed").set_value(value).run()
    at.button(key="data_switch").click().run()
    assert not at.exception
    assert any("Replay speed must" in e for e in errors(at))
    assert not at.success


def test_data_switch_replay_for_everyone_then_back():
    at = open_page("pages/data.py")
    assert any("every session" in w.value for w in at.warning)
    try:
        at.selectbox(key="data_recording").set_value(1)
        at.number_input(key="data_speed").set_value(2.0)
        at.button(key="data_switch").click().run()
        assert not at.exception
        assert any("binance_BTCUSDT_20240808.jsonl.gz at x2" in s.value for s in at.success)
        at.run()
        assert "binance_BTCUSDT_20240808.jsonl.gz" in at.markdown[0].value and "x2" in at.markdown[0].value
    finally:
        at.selectbox(key="data_recording").set_value(0)
        at.number_input(key="data_speed").set_value(1.0)
        at.button(key="data_switch").click().run()
    assert not at.exception and "binance-futures_BTCUSDT_20240808.jsonl.gz" in at.markdown[0].value


def test_data_switch_refused_when_the_operator_disabled_it():
    from core.feed.config import SourcePolicy
    from pages.common import get_runtime

    at = open_page("pages/data.py")
    feed = get_runtime().feed  # the same cached runtime the page uses (one per process)
    saved = feed.policy
    feed.policy = SourcePolicy(allow_source_switch=False)
    try:
        at.run()
        assert not at.exception
        assert any("operator disabled source switching" in i.value for i in at.info)
        assert not [b for b in at.button if b.key == "data_switch"]
    finally:
        feed.policy = saved

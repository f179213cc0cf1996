"""Latency, Execution, Models and Data pages under Streamlit's AppTest, on the bundled replay.

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

from core.costs.execution import slice_bounds
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


# ---- Execution -----------------------------------------------------------------------------------
def plan_ready(at: AppTest) -> bool:
    return "Expected cost E" in metrics(at)


def base_qty(at: AppTest) -> float:
    return float(metrics(at)["Order size"].split()[0].replace(",", ""))


def test_execution_page_defaults_and_inputs_change_the_plan():
    at = open_page("pages/execution.py", plan_ready)
    at.segmented_control(key="exec_refresh").set_value("Paused").run()
    assert at.number_input(key="exec_notional").value == 1_000_000
    lo, hi = slice_bounds(600)  # with the calibrated psi and refill time of data/impact.json
    assert at.number_input(key="exec_horizon").value == 600 and at.number_input(key="exec_slices").value == lo
    assert at.segmented_control(key="exec_side").value == "buy" and at.select_slider(key="exec_lambda").value == 1e-6
    assert any(f"Valid for this horizon: {lo}–{hi} slices" in c.value for c in at.caption)
    assert any("calibrated on" in c.value and "data/impact.json" in c.value for c in at.caption)
    m = metrics(at)
    assert m["Expected cost E (bps)"].endswith(" bps")
    assert "Square-root law (cross-check)" in m and m["Square-root law (cross-check)"].endswith(" bps")
    assert any("SHAPE does not depend on the order size" in i.value for i in at.info)
    params = at.table[0].value.set_index("parameter")
    assert params.loc["epsilon (ε)", "unit"] == "USD/BTC" and params.loc["eta (η)", "unit"] == "USD·s/BTC²"
    assert params.loc["gamma (γ)", "how it was obtained"] and params.loc["sigma (σ)", "unit"] == "USD/BTC/√s"
    trades = at.dataframe[0].value
    assert len(trades) == lo and trades["remaining after (BTC)"].iloc[-1] == 0
    assert trades["trade (BTC)"].sum() == pytest.approx(base_qty(at), abs=1e-3)
    assert len(at.get("plotly_chart")) == 2
    q1, first = base_qty(at), trades["trade (BTC)"].iloc[0]

    at.number_input(key="exec_notional").set_value(2_000_000.0).run()
    assert not at.exception and base_qty(at) > 1.9 * q1
    at.select_slider(key="exec_lambda").set_value(0.0).run()
    assert metrics(at)["Half-life 1/κ"] == "∞ (TWAP)"
    twap = at.dataframe[0].value["trade (BTC)"]
    assert twap.iloc[0] == pytest.approx(twap.iloc[-1])
    at.select_slider(key="exec_lambda").set_value(1e-4).run()
    averse = at.dataframe[0].value["trade (BTC)"]
    assert averse.iloc[0] > averse.iloc[-1] and averse.iloc[0] > first
    at.number_input(key="exec_slices").set_value(hi).run()
    assert len(at.dataframe[0].value) == hi
    at.segmented_control(key="exec_side").set_value("sell").run()
    assert not at.exception and "sell" in at.get("plotly_chart")[0].proto.spec


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("exec_notional", 0.0, "zero"),
        ("exec_notional", -1000.0, "negative"),
        ("exec_notional", 5e12, "more than"),
        ("exec_horizon", 0.0, "at least 1 second"),
        ("exec_horizon", -60.0, "at least 1 second"),
        ("exec_horizon", 1e9, "more than one day"),
        ("exec_slices", 0, "at least 1"),
        ("exec_slices", -3, "at least 1"),
        ("exec_slices", 10, "use {lo} to {hi} slices"),
        ("exec_slices", 100_000, "use {lo} to {hi} slices"),
    ],
)
def test_execution_bad_inputs_get_plain_messages(key, value, text):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/execution.py").run()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    lo, hi = slice_bounds(600)
    text = text.format(lo=lo, hi=hi)
    assert any(text in e for e in errors(at)), errors(at)
    assert not at.get("plotly_chart")  # no plan is drawn from a bad input
    if key == "exec_horizon":
        assert not any("Valid for this horizon" in c.value for c in at.caption)


# ---- Models --------------------------------------------------------------------------------------
def test_models_page_shows_each_card_and_what_is_used():
    at = open_page("pages/models.py")
    assert [h.value for h in at.subheader] == [
        "Expected slippage",
        "Slippage quantiles (p50 / p90 / p95)",
        "Maker/taker proportion",
    ]
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
    entries = catalog()  # the six bundled recordings, pinned in tests/unit/test_catalog.py
    assert len(entries) == 6 and cat["file"].tolist() == [e.file for e in entries]
    assert cat["license"].tolist() == ["MIT"] * 6 and cat["messages"].tolist() == [e.messages for e in entries]
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

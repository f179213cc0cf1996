"""The Simulator page (the app's default) under Streamlit's AppTest, on the bundled replay.

AppTest never fires ``run_every``: a test sees the replay advance by sleeping and calling ``run()`` again.
The feed is the app's one cached feed (``pages.common.get_runtime().feed``); tests that change it put it back.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.feed.config import SourcePolicy

APP = str(Path(__file__).resolve().parents[2] / "app.py")
SOURCE_WIDGETS = ("Data source", "Exchange", "Instrument")  # keyed per feed generation (pages/source_picker.py)
WIDGETS = (
    "sim_side",
    "sim_order_type",
    "sim_qty_usd",
    "sim_fee_tier",
    "sim_fee_override",
    "sim_maker_bps",
    "sim_taker_bps",
    "sim_vol_override",
    "sim_vol_pct",
    "sim_latency_ms",
)
METRICS = (
    "Expected slippage",
    "Expected fees",
    "Market impact (in slippage)",
    "Net cost",
    "Maker / taker",
    "Internal latency (last tick)",
    "Internal latency p50",
    "Internal latency p99",
)
WIDGET_TYPES = {"Selectbox", "ButtonGroup", "Radio", "NumberInput", "Checkbox", "TextInput"}


def started() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    deadline = time.monotonic() + 30
    while len(at.metric) < len(METRICS) and time.monotonic() < deadline:  # the first book within a second or so
        time.sleep(0.3)
        at.run()
    assert not at.exception
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def source_box(at: AppTest, label: str):
    """The sidebar's source selectbox labelled ``label`` (its key changes with every feed switch)."""
    return next(s for s in at.sidebar.selectbox if s.label == label)


def sidebar_flat(at: AppTest) -> list[tuple[str, str | None, str]]:
    """The sidebar's elements in order: (element type, key, value as text)."""
    out: list[tuple[str, str | None, str]] = []

    def walk(node) -> None:
        for child in getattr(node, "children", {}).values():
            name = type(child).__name__
            if name in WIDGET_TYPES or not getattr(child, "children", None):
                out.append((name, getattr(child, "key", None), str(getattr(child, "value", ""))))
            else:
                walk(child)

    walk(at.sidebar)
    return out


def messages_after(at: AppTest, key: str) -> list[tuple[str, str]]:
    """(Error|Warning, text) shown between the widget ``key`` and the next widget: the field's own messages."""
    rows = sidebar_flat(at)
    i = next(n for n, (_, k, _) in enumerate(rows) if k == key)
    found = []
    for kind, _, value in rows[i + 1 :]:
        if kind in WIDGET_TYPES:
            break
        if kind in ("Error", "Warning"):
            found.append((kind, value))
    return found


def methods_table(at: AppTest):
    """The 'How each number was computed' table: number -> method."""
    return next(d.value for d in at.dataframe if list(d.value.columns) == ["number", "method"])


def widget(at: AppTest, key: str):
    """The widget with ``key``, whatever its type."""
    for kind in ("number_input", "checkbox", "selectbox", "radio", "segmented_control"):
        try:
            return getattr(at, kind)(key=key)
        except KeyError:
            continue
    raise KeyError(key)


@pytest.fixture
def at() -> AppTest:
    return started()


def test_runs_on_the_replay_with_every_widget_and_metric(at):
    in_sidebar = {k for _, k, _ in sidebar_flat(at)}
    for key in WIDGETS:
        assert key in in_sidebar and widget(at, key) is not None
    for label in SOURCE_WIDGETS:
        assert source_box(at, label).key in in_sidebar
    assert source_box(at, "Data source").value == "replay"
    assert source_box(at, "Exchange").value == "binance-futures"
    assert at.number_input(key="sim_qty_usd").value == 100.0
    assert at.segmented_control(key="sim_refresh").value == "1 s"
    m = metrics(at)
    assert set(METRICS) <= set(m)
    for label in ("Expected slippage", "Expected fees", "Market impact (in slippage)", "Net cost"):
        value, delta = m[label]
        assert value.startswith("$") and delta.endswith(" bps"), (label, value, delta)  # every number has its unit
    assert m["Maker / taker"] == ("0% / 100%", "market")
    assert m["Expected fees"][1] == "5.00 bps"  # Binance USD-M VIP0 taker
    assert m["Internal latency (last tick)"][0].endswith(("µs", "ms"))
    assert all(mt.help for mt in at.metric)  # each number has its one-sentence tooltip
    status = at.markdown[0].value
    assert "REPLAY" in status and "recorded 2024-08-08" in status
    assert any(c.value.startswith("≈ ") and "BTC at mid" in c.value for c in at.sidebar.caption)  # base units shown
    methods = methods_table(at)
    assert "Expected slippage" in set(methods["number"])


def test_replay_advances_between_runs(at):
    ticks = int(metrics(at)["Internal latency p50"][1].split()[0].replace(",", ""))
    deadline = time.monotonic() + 15
    later = ticks
    while later <= ticks and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        later = int(metrics(at)["Internal latency p50"][1].split()[0].replace(",", ""))
    assert later > ticks and not at.exception


def test_quantity_and_side_change_the_outputs(at):
    net_100 = metrics(at)["Net cost"][0]
    at.number_input(key="sim_qty_usd").set_value(1_000_000.0).run()
    assert not at.exception
    m = metrics(at)
    assert m["Net cost"][0] != net_100 and float(m["Net cost"][0].strip("$").replace(",", "")) > 100  # >= 1 bp
    fill = next(c.value for c in at.caption if c.value.startswith("Buy $1,000,000.00"))
    assert "level(s)" in fill
    at.segmented_control(key="sim_side").set_value("sell").run()
    assert not at.exception
    assert any(c.value.startswith("Sell $1,000,000.00") for c in at.caption)
    assert at.number_input(key="sim_qty_usd").value == 1_000_000.0  # inputs never reset on a rerun


# (An emptied number box and NaN cannot reach the page from a browser; tests/unit/test_scenario.py covers them.)
BAD = [
    ("sim_qty_usd", {"sim_qty_usd": 0.0}, "The order size is $0; enter an amount above zero."),
    ("sim_qty_usd", {"sim_qty_usd": -50.0}, "The order size is negative (-$50.00)"),
    ("sim_qty_usd", {"sim_qty_usd": 5e9}, "is more than the $1,000,000,000.00 this simulator prices"),
    ("sim_vol_pct", {"sim_vol_override": True, "sim_vol_pct": 0.0}, "The volatility must be above 0 % a year"),
    ("sim_vol_pct", {"sim_vol_override": True, "sim_vol_pct": -30.0}, "The volatility must be above 0 % a year"),
    ("sim_maker_bps", {"sim_fee_override": True, "sim_maker_bps": 250.0}, "fee rates are within ±100 bps"),
    (
        "sim_taker_bps",
        {"sim_fee_override": True, "sim_taker_bps": -150.0},
        "The taker rate -150 bps is -1.5 % of the notional",
    ),
    ("sim_latency_ms", {"sim_latency_ms": -5.0}, "The latency must be at least 0 ms"),
]


@pytest.mark.parametrize("key,values,message", BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_bad_input_shows_its_message_next_to_the_field(at, key, values, message):
    net_before = metrics(at)["Net cost"]
    for k, v in values.items():  # the checkbox first, so the field it enables can take a value
        w = widget(at, k)
        (w.check() if v is True else w.set_value(v)).run()
    assert not at.exception
    shown = messages_after(at, key)
    assert shown and shown[0][0] == "Error" and message in shown[0][1], shown
    # the main view says so and keeps the last valid order's numbers (no traceback, no blank page)
    assert any("An order input needs fixing" in e.value for e in at.main.error)
    assert "Net cost" in metrics(at) and metrics(at)["Net cost"][1] == net_before[1]


def test_beyond_visible_depth_is_a_warning_next_to_the_quantity(at):
    at.number_input(key="sim_qty_usd").set_value(500_000_000.0).run()
    assert not at.exception
    shown = messages_after(at, "sim_qty_usd")
    assert shown and shown[0][0] == "Warning" and shown[0][1].startswith("Beyond visible depth")
    assert any(w.value.startswith("Beyond visible depth") for w in at.main.warning)
    assert "Net cost" in metrics(at)


def test_fee_override_changes_the_fee(at):
    at.checkbox(key="sim_fee_override").check().run()
    at.number_input(key="sim_taker_bps").set_value(10.0).run()
    assert not at.exception
    assert metrics(at)["Expected fees"] == ("$0.100", "10.0 bps")
    assert any(c.value == "= 0.100 % of the notional" for c in at.sidebar.caption)


def test_volatility_override_is_used(at):
    at.checkbox(key="sim_vol_override").check().run()
    at.number_input(key="sim_vol_pct").set_value(80.0).run()
    assert not at.exception
    assert any("volatility 80.0% a year (override)" in c.value for c in at.caption)


def test_limit_order_when_the_maker_taker_model_is_loaded(at):
    radio = at.radio(key="sim_order_type")
    if radio.disabled:  # no maker/taker model: the page says why next to the field
        assert any(c.value.startswith("Limit orders are off") for c in at.sidebar.caption)
        return
    radio.set_value("limit").run()
    assert not at.exception
    at.number_input(key="sim_offset_bps").set_value(1.0).run()
    at.number_input(key="sim_horizon_s").set_value(30.0).run()
    assert not at.exception
    value, delta = metrics(at)["Maker / taker"]
    assert delta == "limit" and value.endswith("%")
    methods = methods_table(at)
    assert dict(zip(methods["number"], methods["method"], strict=False))["Maker/taker proportion"].startswith("model: ")
    assert any(c.value.startswith("Limit buy $100.00 resting at ") for c in at.caption)
    at.radio(key="sim_at_expiry").set_value("cancel").run()
    assert not at.exception
    assert any("the rest cancelled at expiry" in c.value for c in at.caption)
    assert any(c.value.startswith("The unfilled rest is cancelled") for c in at.sidebar.caption)


def test_switching_the_replay_recording_and_a_refused_source(at):
    from pages.common import get_runtime

    feed = get_runtime().feed
    original_policy = feed.policy
    try:
        source_box(at, "Exchange").set_value("binance").run()
        assert not at.exception
        assert feed.store.status().exchange == "binance"
        deadline = time.monotonic() + 20
        while "Binance spot" not in at.markdown[0].value and time.monotonic() < deadline:
            time.sleep(0.3)
            at.run()
        assert "Binance spot BTCUSDT" in at.markdown[0].value and not at.exception

        feed.policy = SourcePolicy(allowed_hosts=("example.invalid",))
        source_box(at, "Data source").set_value("okx").run()
        assert not at.exception
        errors = [e.value for e in at.sidebar.error]
        assert any("Could not switch to OKX live" in e and "allowlist" in e for e in errors), errors
        assert feed.config.source.value == "replay"  # refused before anything changed
        at.run()
        assert source_box(at, "Data source").value == "replay"  # the widget shows what really runs
    finally:
        feed.policy = original_policy
        source_box(at, "Exchange").set_value("binance-futures").run()
        assert feed.store.status().exchange == "binance-futures"


def test_stale_feed_keeps_the_last_outputs_marked_stale(at):
    from pages.common import get_runtime

    feed = get_runtime().feed
    config = feed.config
    before = metrics(at)
    feed.stop()
    try:
        at.run()
        assert not at.exception
        assert any("Market data is stale" in w.value for w in at.main.warning)
        assert set(METRICS) <= set(metrics(at)) and metrics(at)["Net cost"][1] == before["Net cost"][1]
        assert any("STALE" in c.value for c in at.caption)
    finally:
        feed.start(config)


def test_follows_a_switch_made_elsewhere(at):
    """The feed is shared: when another session (or the Data page) switches it, the sidebar shows what runs."""
    from core.feed.config import FeedConfig, Source
    from core.feed.replay import bundled_recordings
    from pages.common import get_runtime

    feed = get_runtime().feed
    config = feed.config
    spot = next(r for r in bundled_recordings() if r.exchange == "binance")
    try:
        feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(spot.path)))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            at.run()
            if "Binance spot BTCUSDT" in at.markdown[0].value and at.metric:
                break
            time.sleep(0.3)
        assert not at.exception
        assert source_box(at, "Exchange").value == "binance"
        assert not any("now streams" in w.value for w in at.main.warning)
        assert "Net cost" in metrics(at)
    finally:
        feed.start(config)


@pytest.mark.parametrize(
    "file",
    [
        "binance-coinm_BTCUSD_PERP_20240808.jsonl.gz",
        "binance-futures_ETHUSDT_20240808.jsonl.gz",
        "binance_ETHUSDT_20240808.jsonl.gz",
        "binance-futures_BTCUSDT_20240718.jsonl.gz",
    ],
)
def test_prices_on_every_added_recording(at, file):
    """The recordings added with COIN-M and ETH replay in the Simulator: its venue, symbol, fee tier and a cost."""
    from core.feed.config import FeedConfig, Source
    from core.feed.replay import bundled_recordings
    from pages.common import get_runtime

    feed = get_runtime().feed
    config = feed.config
    rec = next(r for r in bundled_recordings() if r.path.name == file)
    try:
        feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(rec.path)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            at.run()
            if source_box(at, "Instrument").value == rec.symbol and "Net cost" in metrics(at):
                break
            time.sleep(0.3)
        assert not at.exception
        assert source_box(at, "Exchange").value == rec.exchange
        assert source_box(at, "Instrument").value == rec.symbol
        assert at.selectbox(key="sim_fee_tier").value is not None
        net = float(metrics(at)["Net cost"][0].strip("$").replace(",", ""))
        assert net > 0 and not at.error
    finally:
        feed.start(config)


def ticks_chart(at: AppTest) -> dict | None:
    """The 'This order on every book' figure as plotly JSON, or None."""
    import json

    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text", "").startswith("This order on every book"):
            return spec
    return None


def values(trace: dict, axis: str) -> list:
    """A trace's x or y values (plotly sends numeric arrays as base64 typed arrays)."""
    import base64

    import numpy as np

    v = trace.get(axis, [])
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def ys(trace: dict) -> list[float]:
    return values(trace, "y")


def test_the_feed_thread_prices_the_shown_order_on_every_book(at):
    deadline = time.monotonic() + 20
    spec = ticks_chart(at)
    while (spec is None or not spec["data"] or len(ys(spec["data"][0])) < 5) and time.monotonic() < deadline:
        time.sleep(0.5)
        at.run()
        spec = ticks_chart(at)
    assert spec is not None and len(ys(spec["data"][0])) >= 5, "the tick-by-tick chart did not fill"
    net = spec["data"][0]
    assert net["name"] == "net cost" and spec["layout"]["yaxis"]["title"]["text"] == "bps of notional"
    # the metric prices the latest book on refresh; the feed thread priced that same book: same number
    shown = metrics(at)["Net cost"][1]
    assert shown in {f"{y:.2f} bps" for y in ys(net)[-20:]}, (shown, ys(net)[-5:])
    # a new order gets its own track: the chart restarts with the new size's costs
    at.number_input(key="sim_qty_usd").set_value(2_000_000.0).run()
    time.sleep(1.5)
    at.run()
    spec = ticks_chart(at)
    assert spec is not None and ys(spec["data"][0])
    new = spec["data"][0]
    # a new track, not the old one continued: it starts after the old one's start (the old track's first book
    # is long gone from the new one); a size-for-size comparison of costs would depend on the replay's moment
    # (the recording has books with $2M at the best ask)
    assert values(new, "x")[0] > values(net, "x")[0], (values(new, "x")[:2], values(net, "x")[:2])
    shown = metrics(at)["Net cost"][1]
    assert shown in {f"{y:.2f} bps" for y in ys(new)[-20:]}, (shown, ys(new)[-5:])

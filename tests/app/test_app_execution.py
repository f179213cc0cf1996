"""The Execution page under Streamlit's AppTest, on the bundled replay: the Simulator's order by default, 10 slices over
600 s with fees, urgency in words, plain messages with valid slice counts.

AppTest never fires ``run_every``, so each test reruns the page itself while the replay ticks; the plan itself is
tested in tests/unit/test_execution.py.
"""

from __future__ import annotations

import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.costs.fees import get_tier
from core.views.simulator import market_kind
from pages.common import get_runtime
from tests.app.test_app_pages import APP, errors, metrics, open_page

SCHEDULE = "This schedule, fees included"


def plan_ready(at: AppTest) -> bool:
    return SCHEDULE in metrics(at)


def costs(at: AppTest):
    return at.dataframe[0].value.set_index("way to execute")


def test_the_page_plans_the_simulators_order_in_ten_slices_with_fees():
    at = open_page("pages/execution.py", plan_ready)
    at.segmented_control(key="exec_refresh").set_value("Paused").run()
    assert at.toggle(key="exec_use_sim").value is True
    assert at.number_input(key="exec_horizon").value == 600 and at.number_input(key="exec_slices").value == 10
    assert at.select_slider(key="exec_urgency").value == "balanced"
    assert not errors(at) and not at.exception
    # the Simulator's defaults ($10,000 buy) on the feed's instrument, with its entry fee tier as taker
    side, base, notional = planned(at)  # on the venue's lot, as the Simulator sizes it (not 0.162028 BTC)
    assert side == "Buy" and 9_900.0 < notional <= 10_000.0  # one lot (0.001 BTC) is about $60
    assert abs(base * 1000 - round(base * 1000)) < 1e-9  # Binance USD-M BTCUSDT's lot is 0.001 BTC
    assert any("1 to " in c.value and "for example 1, 2, 10, 60, 600" in c.value for c in at.caption)
    t = costs(at)
    assert list(t.index) == [
        "This schedule (balanced, 10 slices)",
        "TWAP (10 slices of equal size)",
        "Now: one market order (book walk)",
    ]
    assert t["fees (USD)"].nunique() == 1 and t["fees (USD)"].iloc[0] != "$0.00"  # fees in, the same for each
    assert t["total (%)"].str.endswith(" %").all() and t["total (bps)"].str.endswith(" bps").all()
    deltas = {m.label: m.proto.delta for m in at.metric}
    for label in (SCHEDULE, "Even slices (TWAP)", "One market order now"):
        assert metrics(at)[label].startswith("$") and re.fullmatch(r"[0-9.,]+ bps · [0-9.]+ %", deltas[label])
    expander = next(e for e in at.expander if e.label == "Urgency and risk aversion λ")
    assert any("1/USD" in md.value and "κ̃T = 3" in md.value for md in expander.markdown)
    assert len(at.dataframe[1].value) == 10  # the trade list
    assert len(at.get("plotly_chart")) == 2

    at.select_slider(key="exec_urgency").set_value("very urgent").run()
    urgent = at.dataframe[1].value["trade (BTC)"]
    at.select_slider(key="exec_urgency").set_value("patient").run()
    patient = at.dataframe[1].value["trade (BTC)"]
    assert patient.iloc[0] == pytest.approx(patient.iloc[-1]) and urgent.iloc[0] > patient.iloc[0]
    at.number_input(key="exec_slices").set_value(1).run()
    assert not errors(at) and len(at.dataframe[1].value) == 1


def test_the_page_takes_the_simulators_order_or_a_typed_one():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()  # the Simulator (the default page) fills in its instrument
    at.session_state["sim_side"] = "sell"
    at.session_state["sim_qty_usd"] = "250000"
    at.switch_page("pages/execution.py").run()
    at = open_page_again(at)
    assert not at.exception
    side, _, notional = planned(at)
    assert side == "Sell" and 249_000.0 < notional <= 250_000.0
    assert any(c.value.startswith("Sell ") and "the Simulator’s order" in c.value for c in at.caption)
    exchange, symbol = at.session_state["sim_instrument"]
    market = market_kind(get_runtime().instrument(exchange, symbol))
    fees = costs(at)["fees (USD)"].tolist()
    assert fees[0] == fees[1] == fees[2]  # the Simulator's entry tier, as taker, on the same walked notional
    fee = float(fees[0].replace("$", "").replace(",", ""))
    assert abs(fee - get_tier(exchange, market).taker_rate * notional) < 0.002 * fee
    at.toggle(key="exec_use_sim").set_value(False).run()
    assert at.number_input(key="exec_notional").value == 1_000_000
    at.segmented_control(key="exec_side").set_value("buy").run()
    side, _, notional = planned(at)  # a typed order is also put on the venue's lot
    assert side == "Buy" and 999_900.0 < notional <= 1_000_000.0
    assert not any("Simulator’s order" in c.value for c in at.caption)


def planned(at: AppTest) -> tuple[str, float, float]:
    """(side, base size, USD) of the order the page plans, from its sentence: 'Buy 0.162 BTC ($9,951.10) of ...'."""
    for c in at.caption:
        m = re.match(r"^(Buy|Sell) ([\d.,]+) BTC \(\$([\d,]+\.\d\d)\) of ", c.value)
        if m:
            return m[1], float(m[2].replace(",", "")), float(m[3].replace(",", ""))
    raise AssertionError([c.value for c in at.caption])


def open_page_again(at: AppTest) -> AppTest:
    """Rerun until the plan shows (the replay's first book takes a moment)."""
    deadline = time.monotonic() + 20
    while not plan_ready(at) and time.monotonic() < deadline:
        time.sleep(0.3)
        at.run()
    assert plan_ready(at)
    return at


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("exec_horizon", 0.0, "at least 1 second"),
        ("exec_horizon", 1e9, "more than one day"),
        ("exec_slices", 0, "at least 1 (1 = one market order now)"),
        ("exec_slices", 100_000, "slices fit in 600 s"),
    ],
)
def test_bad_inputs_get_plain_messages_and_valid_slice_counts(key, value, text):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/execution.py").run()
    at.number_input(key=key).set_value(value).run()
    assert not at.exception
    assert any(text in e for e in errors(at)), errors(at)
    if key == "exec_slices":
        assert any("Try 1, 2, 10, 60, 600" in e for e in errors(at))
    assert not at.get("plotly_chart")  # no plan is drawn from a bad input


def test_a_bad_simulator_order_is_named_not_a_blank_page():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()  # the Simulator first: its order is what the Execution page plans
    at.session_state["sim_qty_usd"] = "-5"
    at.switch_page("pages/execution.py").run()
    assert not at.exception
    assert any(e.startswith("The Simulator's order: ") and "negative" in e for e in errors(at))
    at.toggle(key="exec_use_sim").set_value(False).run()
    at = open_page_again(at)
    assert not errors(at)

"""The Simulator's fee widgets under AppTest on the bundled replay: the BNB checkbox changes the fee shown."""

from __future__ import annotations

from tests.app.test_app_simulator import metrics, source_box, started


def test_bnb_checkbox_takes_ten_percent_off_the_usdm_fee():
    at = started()
    assert source_box(at, "Exchange").value == "binance-futures"
    box = at.checkbox(key="sim_fee_bnb")
    assert box.label == "Pay fees in BNB (-10%)" and "10% off" in box.help and not box.value
    assert metrics(at)["Expected fees"][1] == "5.00 bps · 0.0500 %"  # VIP0 taker, as published
    box.check().run()
    assert not at.exception
    assert metrics(at)["Expected fees"][1] == "4.50 bps · 0.0450 %"  # 5.00 bps x (1 - 10 %)
    assert any("taker 0.045 % (4.50 bps)" in c.value for c in at.sidebar.caption)
    at.checkbox(key="sim_fee_bnb").uncheck().run()
    assert metrics(at)["Expected fees"][1] == "5.00 bps · 0.0500 %"


def test_the_assumed_coinm_row_is_flagged_in_the_sidebar():
    from pages.common import get_runtime

    at = started()
    feed = get_runtime().feed
    try:
        source_box(at, "Exchange").set_value("binance-coinm").run()
        assert not at.exception
        assert at.selectbox(key="sim_fee_tier").value == "assumed/VIP0"
        warnings = [w.value for w in at.sidebar.warning]
        assert any(w.startswith("Assumption, not a published rate") for w in warnings), warnings
        assert not [c for c in at.checkbox if c.key == "sim_fee_bnb"]  # COIN-M: no BNB discount offered
    finally:
        source_box(at, "Exchange").set_value("binance-futures").run()
        assert feed.store.status().exchange == "binance-futures"

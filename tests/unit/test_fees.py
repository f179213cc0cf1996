"""Fee tables as data, tier lookup, overrides, and the expected-fee rule (including rebates)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.costs.fees import (
    FeeBook,
    FeeTier,
    custom_tier,
    expected_fee,
    fee_book,
    fee_method,
    get_tier,
    list_tiers,
    override,
    pay_in_bnb,
)
from core.errors import OrderError


def one_table(tmp_path, tiers: list[dict], **extra) -> Path:
    """A fees.json with one table ("x" spot, table "t") holding ``tiers``."""
    sched = {"exchange": "x", "market": "spot", "table": "t", "primary": True, **extra, "tiers": tiers}
    p = tmp_path / "fees.json"
    p.write_text(json.dumps({"schedules": [sched]}))
    return p


def test_okx_spot_primary_table_is_the_current_ladder():
    tiers = list_tiers("okx", "spot")
    assert [t.tier for t in tiers] == ["Lv1"] + [f"VIP{i}" for i in range(1, 9)]
    expected = {  # okx.com/fees, newer copy [S10]: maker / taker, fractions
        "Lv1": (0.0008, 0.0010),
        "VIP1": (0.00045, 0.0005),
        "VIP2": (0.0004, 0.00045),
        "VIP3": (0.0003, 0.0004),
        "VIP4": (0.0002, 0.00035),
        "VIP5": (0.0, 0.0003),
        "VIP6": (-0.00002, 0.00025),
        "VIP7": (-0.00005, 0.0002),
        "VIP8": (-0.00005, 0.00015),
    }
    for t in tiers:
        assert (t.maker_rate, t.taker_rate) == pytest.approx(expected[t.tier], abs=1e-15), t.tier
        assert t.table == "okx.com" and not t.assumption and t.bnb_discount == 0.0


def test_okx_spot_older_ladder_is_an_alternative_table():
    s = fee_book().schedules("okx", "spot")
    assert [x.table for x in s] == ["okx.com", "older"]
    older = list_tiers("okx", "spot", table="older")
    assert [t.tier for t in older] == ["Lv1", "Lv2", "Lv3", "Lv4", "Lv5"] + [f"VIP{i}" for i in range(1, 9)]
    vip1 = get_tier("okx", "spot", "VIP1", table="older")
    assert (vip1.maker_rate, vip1.taker_rate) == pytest.approx((0.0006, 0.0008))
    # the finding: the older VIP1-VIP4 taker rates are 1.5-3 bps above the current ones
    gaps = [
        get_tier("okx", "spot", f"VIP{i}", table="older").taker_bps - get_tier("okx", "spot", f"VIP{i}").taker_bps
        for i in range(1, 5)
    ]
    assert gaps == pytest.approx([3.0, 2.5, 2.0, 1.5])
    with pytest.raises(OrderError, match="fee table"):
        get_tier("okx", "spot", "VIP1", table="nope")


def test_swap_and_binance_tiers():
    assert [(t.tier, t.maker_rate, t.taker_rate) for t in list_tiers("okx", "swap")] == [
        ("Lv1", 0.0002, 0.0005),
        ("Lv2", 0.00017, 0.00045),
        ("Lv3", 0.00017, 0.0004),
    ]
    spot = list_tiers("binance", "spot")
    assert [t.tier for t in spot] == [f"VIP{i}" for i in range(10)]
    assert (spot[0].maker_rate, spot[0].taker_rate) == (0.001, 0.001)
    assert (spot[3].maker_rate, spot[3].taker_rate) == (0.00042, 0.0006)
    assert (spot[9].maker_rate, spot[9].taker_rate) == (0.00012, 0.00024)
    usdm = list_tiers("binance-futures", "swap")
    assert [t.tier for t in usdm] == [f"VIP{i}" for i in range(10)]
    assert (usdm[0].maker_rate, usdm[0].taker_rate) == (0.0002, 0.0005)
    assert (usdm[9].maker_rate, usdm[9].taker_rate) == (0.0, 0.00017)


def test_each_ladder_is_monotone_a_higher_tier_never_costs_more():
    for sched in fee_book().every_schedule():
        for lower, higher in zip(sched.tiers, sched.tiers[1:], strict=False):
            where = (sched.exchange, sched.market, sched.table, lower.tier, higher.tier)
            assert higher.maker_rate <= lower.maker_rate, where
            assert higher.taker_rate <= lower.taker_rate, where


def test_monotone_check_catches_a_dearer_higher_tier(tmp_path):
    """The ladder test above can fail: a table whose VIP2 taker is above VIP1's breaks the rule."""
    p = one_table(
        tmp_path,
        [
            {"tier": "VIP1", "maker_rate": 0.0002, "taker_rate": 0.0004},
            {"tier": "VIP2", "maker_rate": 0.0001, "taker_rate": 0.0005},
        ],
    )
    a, b = FeeBook.load(p).tiers("x", "spot")
    assert b.taker_rate > a.taker_rate


def test_every_row_has_source_and_date_or_is_an_assumption():
    n = 0
    for sched in fee_book().every_schedule():
        for t in sched.tiers:
            n += 1
            assert t.source and t.confidence, (sched.exchange, sched.market, t.tier)
            assert t.as_of or t.assumption, (sched.exchange, sched.market, t.tier)
            assert t.assumption == (t.confidence == "assumption"), (sched.exchange, sched.market, t.tier)
    assert n >= 45  # the file holds about fifty rows; a loader that drops rows fails here
    coinm = get_tier("binance-coinm", "swap")
    assert coinm.assumption and coinm.table == "assumed" and "assumed" in coinm.source
    assert not any(t.assumption for t in list_tiers("binance-futures", "swap"))


def test_bnb_discount_is_offered_only_where_the_venue_has_it():
    assert get_tier("binance", "spot").bnb_discount == 0.25
    assert get_tier("binance-futures", "swap").bnb_discount == 0.10
    for ex, mk in [("binance-coinm", "swap"), ("okx", "spot"), ("okx", "swap")]:
        assert get_tier(ex, mk).bnb_discount == 0.0
        with pytest.raises(OrderError, match="no discount for paying fees in BNB"):
            get_tier(ex, mk, bnb=True)


def test_bnb_discount_arithmetic_by_hand():
    # Binance spot VIP0: 0.100 % each side; 25 % off -> 0.075 % = 7.5 bps
    v0 = get_tier("binance", "spot", "VIP0", bnb=True)
    assert (v0.maker_bps, v0.taker_bps) == pytest.approx((7.5, 7.5), abs=1e-12)
    assert v0.bnb_applied and v0.label == "Binance spot VIP0 + BNB -25%"
    # a $10,000 market buy: 10,000 x 0.00075 = $7.50 instead of $10.00
    assert expected_fee(10_000, 0.0, v0.maker_rate, v0.taker_rate) == pytest.approx(7.5, rel=1e-12)
    # Binance spot VIP3: 0.042 / 0.060 % -> 0.0315 / 0.045 %
    v3 = get_tier("binance", "spot", "VIP3", bnb=True)
    assert (v3.maker_rate, v3.taker_rate) == pytest.approx((0.000315, 0.00045), abs=1e-15)
    # USD-M VIP0: 0.020 / 0.050 % with 10 % off -> 0.018 / 0.045 %; a $1M taker order pays $450, not $500
    f0 = get_tier("binance-futures", "swap", bnb=True)
    assert (f0.maker_bps, f0.taker_bps) == pytest.approx((1.8, 4.5), abs=1e-12)
    assert expected_fee(1_000_000, 0.0, f0.maker_rate, f0.taker_rate) == pytest.approx(450.0, rel=1e-12)
    # USD-M VIP9: a zero maker fee stays zero; the taker 0.017 % -> 0.0153 %
    f9 = get_tier("binance-futures", "swap", "VIP9", bnb=True)
    assert f9.maker_rate == 0.0 and f9.taker_rate == pytest.approx(0.000153, abs=1e-15)
    # applying it twice is still one discount
    assert pay_in_bnb(v0) is v0
    assert "BNB: -25%" in v0.source and get_tier("binance", "spot").source in v0.source


def test_bnb_discount_leaves_a_rebate_alone():
    rebate = FeeTier("binance", "spot", "MM", maker_rate=-0.0001, taker_rate=0.0004, bnb_discount=0.25)
    d = pay_in_bnb(rebate)
    assert d.maker_rate == -0.0001 and d.taker_rate == pytest.approx(0.0003, abs=1e-15)


def test_bnb_discount_refuses_a_bad_fraction(tmp_path):
    p = one_table(tmp_path, [{"tier": "A", "maker_rate": 0.001, "taker_rate": 0.001}], bnb_discount=1.5)
    with pytest.raises(OrderError, match="bnb_discount"):
        FeeBook.load(p)


def test_lookup_is_case_insensitive_and_defaults_to_entry_tier():
    assert get_tier("OKX", "SWAP", "lv1").tier == "Lv1"
    assert get_tier("okx", "spot").tier == "Lv1"
    with pytest.raises(OrderError, match="Lv1, Lv2, Lv3"):
        get_tier("okx", "swap", "VIP9")
    with pytest.raises(OrderError, match="No fee table"):
        get_tier("kraken", "spot")


def test_expected_fee_rule():
    assert expected_fee(10_000, 0.0, 0.0002, 0.0005) == pytest.approx(5.0, rel=1e-15)
    assert expected_fee(10_000, 1.0, 0.0002, 0.0005) == pytest.approx(2.0, rel=1e-15)
    assert expected_fee(10_000, 0.5, 0.0002, 0.0005) == pytest.approx(3.5, rel=1e-15)
    assert expected_fee(0.0, 0.3, 0.0002, 0.0005) == 0.0


def test_rebates_make_the_fee_negative():
    vip8 = get_tier("okx", "spot", "VIP8")
    assert expected_fee(10_000, 1.0, vip8.maker_rate, vip8.taker_rate) == pytest.approx(-0.5, rel=1e-12)
    assert expected_fee(10_000, 0.8, vip8.maker_rate, vip8.taker_rate) == pytest.approx(
        -0.1, rel=1e-9
    )  # -$0.10: the rebate on 80 % outweighs the fee on 20 %
    assert expected_fee(10_000, 0.9, vip8.maker_rate, vip8.taker_rate) < 0


@pytest.mark.parametrize(
    "args",
    [
        (-1.0, 0.0, 0.0002, 0.0005),
        (math.nan, 0.0, 0.0002, 0.0005),
        (100.0, 1.5, 0.0002, 0.0005),
        (100.0, -0.1, 0.0002, 0.0005),
        (100.0, math.nan, 0.0002, 0.0005),
        (100.0, 0.0, math.nan, 0.0005),
    ],
)
def test_expected_fee_rejects_bad_inputs(args):
    with pytest.raises(ValueError):
        expected_fee(*args)


def test_override_and_custom_tier():
    lv1 = get_tier("okx", "swap", "Lv1")
    o = override(lv1, taker_rate=0.0004)
    assert (o.maker_rate, o.taker_rate) == (0.0002, 0.0004)
    assert o.overridden and o.label == "OKX Lv1 (override)"
    assert lv1.taker_rate == 0.0005 and not lv1.overridden  # the table row is untouched
    assert override(lv1) is lv1
    neg = override(lv1, maker_rate=-0.0001)
    assert neg.maker_rate == -0.0001
    c = custom_tier(exchange="bybit", market="swap", maker_rate=0.0002, taker_rate=0.00055)
    assert c.taker_bps == pytest.approx(5.5)
    for bad in (0.05, math.nan, math.inf, "x"):
        with pytest.raises(OrderError):
            override(lv1, taker_rate=bad)


def test_fee_method_strings():
    lv1 = get_tier("okx", "swap", "Lv1")
    assert fee_method(lv1, 0.0) == "rule: OKX Lv1 taker"
    assert fee_method(lv1, 1.0) == "rule: OKX Lv1 maker"
    assert fee_method(lv1, 0.25) == "rule: OKX Lv1 25% maker / 75% taker"


def test_tables_load_from_any_json(tmp_path):
    row = {"tier": "A", "maker_rate": 0.001, "taker_rate": 0.002, "source": "s", "as_of": "2026-01-01"}
    p = one_table(tmp_path, [row])
    fb = FeeBook.load(p)
    assert fb.tier("x", "spot", "a").taker_rate == 0.002
    p = one_table(tmp_path, [{**row, "taker_rate": 0.2}])  # 20%: a typo, refused at load
    with pytest.raises(OrderError):
        FeeBook.load(p)

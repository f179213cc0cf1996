"""Fee tables as data, tier lookup, overrides, and the expected-fee rule (including rebates)."""

from __future__ import annotations

import json
import math

import pytest

from core.costs.fees import (
    FeeBook,
    custom_tier,
    expected_fee,
    fee_book,
    fee_method,
    get_tier,
    list_tiers,
    override,
)
from core.errors import OrderError


def test_okx_spot_primary_table_matches_spec():
    tiers = list_tiers("okx", "spot")
    assert [t.tier for t in tiers] == ["Lv1", "Lv2", "Lv3", "Lv4", "Lv5"] + [f"VIP{i}" for i in range(1, 9)]
    expected = {
        "Lv1": (0.0008, 0.0010),
        "Lv2": (0.00075, 0.00095),
        "Lv3": (0.0007, 0.0009),
        "Lv4": (0.00065, 0.00085),
        "Lv5": (0.0006, 0.0008),
        "VIP1": (0.0006, 0.0008),
        "VIP2": (0.0005, 0.0007),
        "VIP3": (0.0003, 0.0006),
        "VIP4": (0.0002, 0.0005),
        "VIP5": (0.0, 0.0004),
        "VIP6": (-0.00002, 0.0003),
        "VIP7": (-0.00005, 0.00025),
        "VIP8": (-0.00005, 0.0002),
    }
    for t in tiers:
        assert (t.maker_rate, t.taker_rate) == pytest.approx(expected[t.tier], abs=1e-15), t.tier
        assert t.table == "okx.com"


def test_okx_spot_mirror_ladder_is_an_alternative_table():
    s = fee_book().schedules("okx", "spot")
    assert [x.table for x in s] == ["okx.com", "mirror"]
    assert "CAVEAT" in s[1].note
    vip1 = get_tier("okx", "spot", "VIP1", table="mirror")
    assert (vip1.maker_rate, vip1.taker_rate) == pytest.approx((0.00045, 0.0005))
    vip8 = get_tier("okx", "spot", "VIP8", table="mirror")
    assert (vip8.maker_rate, vip8.taker_rate) == pytest.approx((-0.00005, 0.00015))
    with pytest.raises(OrderError, match="fee table"):
        get_tier("okx", "spot", "VIP1", table="nope")


def test_swap_and_binance_tiers():
    assert [(t.tier, t.maker_rate, t.taker_rate) for t in list_tiers("okx", "swap")] == [
        ("Lv1", 0.0002, 0.0005),
        ("Lv2", 0.00017, 0.00045),
        ("Lv3", 0.00017, 0.0004),
    ]
    b = get_tier("binance", "spot")
    assert (b.tier, b.maker_rate, b.taker_rate) == ("VIP0", 0.001, 0.001)
    f = get_tier("binance-futures", "swap")
    assert (f.tier, f.maker_rate, f.taker_rate) == ("VIP0", 0.0002, 0.0005)


def test_every_row_has_source_and_date():
    for ex, mk in [("okx", "spot"), ("okx", "swap"), ("binance", "spot"), ("binance-futures", "swap")]:
        for sched in fee_book().schedules(ex, mk):
            for t in sched.tiers:
                assert t.source and t.as_of and t.confidence, (ex, mk, t.tier)


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
        10_000 * (0.8 * -0.00005 + 0.2 * 0.0002), rel=1e-12
    )  # 0.0 exactly in exact arithmetic: rebate and fee cancel
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
    doc = {
        "schedules": [
            {
                "exchange": "x",
                "market": "spot",
                "table": "t",
                "primary": True,
                "tiers": [
                    {"tier": "A", "maker_rate": 0.001, "taker_rate": 0.002, "source": "s", "as_of": "2026-01-01"}
                ],
            }
        ]
    }
    p = tmp_path / "fees.json"
    p.write_text(json.dumps(doc))
    fb = FeeBook.load(p)
    assert fb.tier("x", "spot", "a").taker_rate == 0.002
    doc["schedules"][0]["tiers"][0]["taker_rate"] = 0.2  # 20%: a typo, refused at load
    p.write_text(json.dumps(doc))
    with pytest.raises(OrderError):
        FeeBook.load(p)

"""The fee choice the Simulator offers: the assumption note, the BNB option and what parse_inputs prices with."""

from __future__ import annotations

import pytest

from core.views import fee_choice
from core.views import inputs as vi


def parse(exchange: str, market: str, **kw) -> vi.Scenario:
    return vi.parse_inputs(vi.RawInputs(**kw), exchange=exchange, market=market, limit_available=False)


def test_an_assumed_tier_says_so():
    coinm = fee_choice.fee_choices("binance-coinm", "swap")
    first = coinm[0]
    assert first.primary and first.label == "VIP0 (assumed)"
    assert first.assumption_note.startswith("Assumption, not a published rate: assumed equal to Binance USDⓈ-M VIP0")
    assert not first.bnb_available and first.priced(True) is first.tier  # COIN-M: no BNB discount
    third = [c for c in coinm if not c.primary]
    assert third and third[0].label == "VIP0 (third-party table)" and third[0].assumption_note is None
    assert all(c.assumption_note is None for c in fee_choice.fee_choices("binance-futures", "swap"))


def test_bnb_choice_prices_the_discounted_tier():
    spot = fee_choice.fee_choices("binance", "spot")[0]
    assert spot.bnb_available and "25%" in spot.bnb_help and "360007480472" in spot.bnb_help
    assert spot.priced(False) is spot.tier
    assert fee_choice.rates_text(spot.priced(True)) == "maker 0.075 % (7.50 bps) · taker 0.075 % (7.50 bps)"
    okx = fee_choice.fee_choices("okx", "swap")[0]
    assert not okx.bnb_available and okx.bnb_help == "This venue gives no discount for paying fees in BNB."


def test_parse_inputs_applies_bnb_only_where_offered():
    s = parse("binance-futures", "swap", bnb_discount=True)
    assert s.ok and s.fee_tier.taker_rate == pytest.approx(0.00045) and s.fee_tier.maker_rate == pytest.approx(0.00018)
    assert s.fee_tier.label == "Binance USD-M VIP0 + BNB -10%"
    plain = parse("binance-futures", "swap")
    assert plain.fee_tier.taker_rate == 0.0005 and not plain.fee_tier.bnb_applied
    okx = parse("okx", "swap", bnb_discount=True)  # not offered: the published rate, no error
    assert okx.ok and okx.fee_tier.taker_rate == 0.0005 and not okx.fee_tier.bnb_applied
    typed = parse("binance", "spot", bnb_discount=True, override_fees=True, maker_bps=6.0, taker_bps=6.0)
    assert typed.fee_tier.overridden and typed.fee_tier.taker_rate == pytest.approx(0.0006)  # typed rates are final

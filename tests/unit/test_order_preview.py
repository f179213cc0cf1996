"""The exchange-style order preview: the venue's minimum, lot and contracts applied in words
(core/views/inputs.py ``size_order``), every cost card in USD, bps and %, and numbers sized for reading.

Venue rules from data/instruments.json: Binance USD-M BTCUSDT min 0.001 BTC, lot 0.001 BTC, tick 0.1;
Binance COIN-M BTCUSD_PERP contracts of 100 USD, min 1, lot 1; OKX BTC-USDT-SWAP contracts of 0.01 BTC.
"""

from __future__ import annotations

import html
from dataclasses import replace

import pytest

from core.costs.order import SizeUnit
from core.market.instruments import get_instrument
from core.views import formatting as fmt
from core.views import inputs as vi
from core.views import preview
from core.views import simulator as sc
from tests.worked import worked_book

PERP = get_instrument("binance-futures", "BTCUSDT")
COINM = get_instrument("binance-coinm", "BTCUSD_PERP")
OKX = get_instrument("okx", "BTC-USDT-SWAP")
MID = 61_800.0


def sized(inst, mid=MID, **raw) -> vi.Scenario:
    s = vi.parse_inputs(
        replace(vi.RawInputs(), **raw), exchange=inst.exchange, market="swap", limit_available=False, instrument=inst
    )
    return vi.size_order(s, inst, mid)


# ---- Binance USD-M perpetual: sized in BTC ---------------------------------------------------------


def test_a_50_usd_order_is_below_the_binance_perp_minimum_and_not_priced():
    s = sized(PERP, quantity_usd=50)
    assert not s.ok and s.order is None
    assert s.errors[vi.QUANTITY] == "Below the venue minimum of 0.001 BTC (≈ $61.80): $50.00 is 0.000809061 BTC."
    assert s.sizing.below_minimum == "Below the venue minimum of 0.001 BTC (≈ $61.80)"


def test_a_tenth_of_a_cent_is_never_shown_as_zero():
    s = sized(PERP, quantity_usd="0.001")
    assert s.errors[vi.QUANTITY].startswith("Below the venue minimum of 0.001 BTC (≈ $61.80): $0.00100 is ")
    assert "0.00 " not in s.errors[vi.QUANTITY] and "e-" not in s.errors[vi.QUANTITY]


def test_a_size_off_the_lot_is_rounded_down_and_priced_at_the_rounded_size():
    s = sized(PERP, size_unit="base", quantity_base="0.0125")
    assert s.ok and s.order.unit is SizeUnit.BASE and s.order.quantity == 0.012
    assert s.sizing.rounded == "rounded down to 0.012 BTC, the venue's lot (0.001 BTC)"
    assert s.sizing.converted == ""  # entered in the venue's own unit
    on_lot = sized(PERP, size_unit="base", quantity_base="0.012")
    assert on_lot.ok and on_lot.order.quantity == 0.012 and on_lot.sizing.rounded == ""


def test_a_usd_size_is_converted_at_the_mid_then_rounded_to_the_lot():
    s = sized(PERP, quantity_usd="1,000")
    assert s.ok and s.order.unit is SizeUnit.BASE and s.order.quantity == 0.016  # 1000 / 61800 = 0.01618
    assert s.sizing.converted == "$1,000.00 = 0.0161812 BTC at mid 61,800.0"
    assert s.sizing.notional_usd == pytest.approx(0.016 * MID)
    assert s.sizing.rules == "minimum 0.001 BTC (≈ $61.80) · lot 0.001 BTC · tick 0.1 USDT"


def test_contracts_are_offered_only_where_the_venue_sizes_in_contracts():
    assert list(vi.entry_units(PERP)) == ["usd", "base"]
    assert vi.entry_units(COINM) == {"usd": "USD", "base": "BTC", "contracts": "contracts"}
    s = sized(PERP, size_unit="contracts", quantity_contracts="3")
    assert not s.ok and s.errors[vi.QUANTITY] == "BTCUSDT is not traded in contracts; size the order in USD or BTC."


# ---- Binance COIN-M: contracts of 100 USD ----------------------------------------------------------


def test_coinm_contracts_round_down_to_whole_contracts_of_100_usd():
    s = sized(COINM, size_unit="contracts", quantity_contracts="2.5")
    assert s.ok and s.order.unit is SizeUnit.QUOTE and s.order.quantity == 200.0  # exact, whatever the price
    assert s.sizing.rounded == "rounded down to 2 contracts, the venue's lot (1 contract)"
    assert s.sizing.venue_size == 2 and s.sizing.base == pytest.approx(200 / MID)


def test_coinm_usd_and_btc_sizes_become_whole_contracts():
    usd = sized(COINM, quantity_usd=250)
    assert usd.ok and usd.order.quantity == 200.0 and usd.sizing.venue_size == 2
    btc = sized(COINM, size_unit="base", quantity_base="0.01")  # 0.01 BTC x 61,800 = 618 USD = 6.18 contracts
    assert btc.ok and btc.order.quantity == 600.0 and btc.sizing.venue_unit == "contracts"


def test_coinm_below_one_contract_gets_the_venue_minimum_in_contracts_and_usd():
    s = sized(COINM, quantity_usd=50)
    assert not s.ok
    assert (
        s.errors[vi.QUANTITY]
        == "Below the venue minimum of 1 contract of 100 USD (≈ $100.00): $50.00 is 0.5 contracts."
    )


def test_okx_linear_contracts_are_ctval_btc():
    s = sized(OKX, size_unit="contracts", quantity_contracts="1.234")
    assert s.ok and s.order.unit is SizeUnit.BASE and s.order.quantity == pytest.approx(0.0123)
    assert s.sizing.rounded == "rounded down to 1.23 contracts, the venue's lot (0.01 contracts)"


# ---- the size box --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"quantity_usd": "abc"}, "The order size is not a number; enter an amount in USD, for example 100."),
        ({"quantity_usd": ""}, "Enter an order size in USD, for example 100."),
        ({"size_unit": "base", "quantity_base": "ten"}, "The order size is not a number; enter an amount in BTC"),
        ({"size_unit": "base", "quantity_base": "0"}, "The order size is 0 BTC; enter an amount above zero."),
        ({"size_unit": "contracts", "quantity_contracts": "-2"}, "The order size is negative (-2 contracts)"),
    ],
)
def test_text_in_the_size_box_gets_a_message_never_a_silent_zero(raw, message):
    s = sized(COINM, **raw)
    assert not s.ok and s.errors[vi.QUANTITY].startswith(message)


def test_switching_the_unit_carries_the_size_over_at_the_mid():
    assert vi.convert_size("618", "usd", "base", PERP, MID) == "0.01"
    assert vi.convert_size("0.01", "base", "contracts", COINM, MID) == "6.18"
    assert vi.convert_size("3", "contracts", "usd", COINM, MID) == "300"
    assert vi.convert_size("2", "contracts", "base", OKX, MID) == "0.02"
    assert vi.convert_size("abc", "usd", "base", PERP, MID) is None


# ---- the cards -----------------------------------------------------------------------------------


def test_every_cost_card_shows_usd_bps_and_percent():
    book = worked_book(exchange_ts_ms=1_746_355_153_000, recv_ns=1_746_355_153_000_000_000)
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), quantity_usd=10_000.0), exchange="okx", market="swap", limit_available=False
    )
    view = sc.compute_view(book, vi.size_order(scenario, OKX, book.mid))
    e = view.estimate
    cards = preview.cost_cards(e)
    assert [c.label for c in cards] == ["Expected slippage", "Expected fees", "Market impact (in slippage)", "Net cost"]
    for c in cards:
        assert c.value.startswith(("$", "< $")) and " bps · " in c.delta and c.delta.endswith(" %"), c
        assert "γ" not in c.help and "X²" not in c.help and "/docs?doc=guide" in c.help
    from core.costs.impact import load_impact

    lo, hi = load_impact().permanent_share_ci
    assert cards[2].note == f"share ψ {load_impact().permanent_share:.2f}, 95% CI {lo:.2f} to {hi:.2f}"
    net = cards[3]
    assert net.delta == f"{fmt.bps(e.net_cost_bps)} · {fmt.percent(e.net_cost_bps / 100)}"
    order = {c.label: c for c in preview.order_cards(view, vi.size_order(scenario, OKX, book.mid).sizing, OKX)}
    assert order["Order size"].value == "10 contracts"  # 10,000 USD / mid 100,000 / 0.01 BTC a contract
    assert order["Worst fill price"].value == fmt.price(view.depth.fill_to, 1)
    assert order["Average fill price"].delta.endswith("bps from mid")


def test_the_cards_are_one_html_block_with_every_figure_its_units_and_definition():
    book = worked_book(exchange_ts_ms=1_746_355_153_000, recv_ns=1_746_355_153_000_000_000)
    scenario = vi.size_order(
        vi.parse_inputs(
            replace(vi.RawInputs(), quantity_usd=10_000.0), exchange="okx", market="swap", limit_available=False
        ),
        OKX,
        book.mid,
    )
    view = sc.compute_view(book, scenario)
    rows = (preview.cost_cards(view.estimate), preview.order_cards(view, scenario.sizing, OKX))
    block = preview.cards_html(rows)
    assert "\n" not in block and block.count('<div class="sim-cards">') == 2  # one Markdown HTML block, two rows
    for c in (*rows[0], *rows[1]):
        shown = f'<div class="sim-card-value">{html.escape(c.value)}</div><div class="sim-card-delta">'
        assert f'data-label="{html.escape(c.label)}"' in block and shown in block, c
        assert html.escape(c.delta) in block and (c.note is None or html.escape(c.note) in block)
    assert block.count('<a href="/docs?doc=guide" target="_self">Guide</a>') == 8  # each definition links the guide
    assert "[Guide]" not in block  # no Markdown left inside HTML (it would show as brackets)


def test_card_text_is_escaped():
    block = preview.cards_html([(preview.Card("Net cost", "<b>$1</b>", "1 bps & more", "a<note>"),)])
    assert "<b>" not in block and "&lt;b&gt;$1&lt;/b&gt;" in block and "1 bps &amp; more" in block
    assert "a&lt;note&gt;" in block


def test_breakdown_table_amounts_are_sized_for_reading():
    book = worked_book(exchange_ts_ms=1_746_355_153_000, recv_ns=1_746_355_153_000_000_000)
    scenario = vi.parse_inputs(vi.RawInputs(), exchange="okx", market="swap", limit_available=False)
    rows = preview.breakdown_rows(sc.compute_view(book, scenario))
    assert list(rows.columns) == ["component", "USD", "bps", "%", "method"]
    assert all(isinstance(v, str) and v.startswith(("$", "-$")) for v in rows["USD"])
    assert all(len(v.split(".")[-1]) <= 6 for v in rows["USD"])  # never USD to six decimals and more


@pytest.mark.parametrize(
    "x,text",
    [(0.0000809, "< $0.01"), (0.0500, "$0.0500"), (1234.5, "$1,234.50"), (0.0, "$0.00"), (-0.004, "> -$0.01")],
)
def test_headline_usd(x, text):
    assert fmt.usd_brief(x) == text


@pytest.mark.parametrize(
    "x,text", [(0.0501, "0.0501 %"), (0.0000809, "0.0000809 %"), (1.234, "1.23 %"), (12.34, "12.3 %"), (0.0, "0 %")]
)
def test_percent_never_rounds_a_cost_to_zero(x, text):
    assert fmt.percent(x) == text


@pytest.mark.parametrize("x,text", [(0.012, "0.012"), (1e-5, "0.00001"), (16.226, "16.226"), (1250.0, "1,250")])
def test_significant_never_uses_scientific_notation(x, text):
    assert fmt.significant(x) == text


def test_a_size_in_btc_above_the_cap_is_refused_at_the_field_and_a_moved_price_still_prices():
    """The cap is checked once, on what was entered (as an exchange checks on submission): 20,000 BTC at 61,800 is
    $1.236B, refused under the size box; an order entered within the cap keeps being priced while the mid moves
    (the engine allows ENGINE_MAX_NOTIONAL_USD), where a walkthrough saw a $999,999,999 order vanish on a tick."""
    from core.costs.estimate import estimate
    from core.costs.fees import custom_tier
    from core.costs.order import ENGINE_MAX_NOTIONAL_USD, MAX_NOTIONAL_USD, Order
    from core.errors import OrderError

    s = sized(PERP, size_unit="base", quantity_base="20000")
    assert not s.ok and s.order is None
    assert s.errors[vi.QUANTITY] == (
        "20,000 BTC is about $1,236,000,000.00 at mid 61,800.0, more than the $1,000,000,000.00 this simulator "
        "prices; check the number of zeros."
    )
    ok = sized(PERP, quantity_usd=999_999_999.0)
    assert ok.ok and ok.order.quantity * MID <= MAX_NOTIONAL_USD
    book = worked_book(exchange_ts_ms=1, recv_ns=1)  # mid 100,000: the price has moved up 62% since entry
    tier = custom_tier(exchange="binance-futures", market="swap", maker_rate=0.0002, taker_rate=0.0005)
    moved = estimate(book, ok.order, fee_tier=tier)
    assert moved.filled_usd > MAX_NOTIONAL_USD  # priced, not refused
    with pytest.raises(OrderError, match=r"more than the \$1,000,000,000 this simulator prices"):
        estimate(book, Order("buy", ENGINE_MAX_NOTIONAL_USD / book.mid * 1.01, unit=SizeUnit.BASE), fee_tier=tier)


def test_a_mid_between_two_ticks_keeps_its_half_tick():
    """A walkthrough: 'average 61,815.9; mid 61,815.9' beside '0.0081 bps from mid' (the mid was 61,815.85)."""
    assert fmt.mid_price(61_815.85, 1) == "61,815.85"
    assert fmt.mid_price(61_815.9, 1) == "61,815.9"
    assert fmt.mid_price(100_000.0, 1) == "100,000.0" and fmt.mid_price(float("nan"), 1) == "n/a"


def test_a_size_rounded_to_the_lot_shows_every_digit_the_lot_allows():
    """A walkthrough: '$999,999,999.00 = 16,215.2 BTC ... rounded down to 16,215.2 BTC' (the size was 16,215.221 BTC;
    six significant digits hid the rounding to the 0.001 BTC lot)."""
    assert fmt.lot_amount(16_215.221, "BTC", 0.001) == "16,215.221 BTC"
    assert fmt.lot_amount(0.162, "BTC", 0.001) == "0.162 BTC" and fmt.lot_amount(3.0, "contracts", 1.0) == "3 contracts"
    s = sized(PERP, quantity_usd=999_999_999.0)
    assert s.sizing.rounded.startswith("rounded down to 16,181.229 BTC"), s.sizing.rounded  # 16,181.2298 at 61,800

"""core.costs.execution (the plan) and core.views.execution (the order, input checks, figures) on the
METHODOLOGY.md 8 book (tests/worked.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.costs.execution import (
    DEFAULT_TICK_INTERVAL_S,
    MAX_SLICES,
    Urgency,
    plan_execution,
    slice_eta,
    slice_limit,
    sqrt_law,
    suggest_slices,
    tick_interval,
    urgency_lam,
)
from core.costs.fees import get_tier, pay_in_bnb
from core.costs.impact import ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S, SQRT_LAW_Y, load_impact
from core.costs.order import Side
from core.costs.volatility import from_annual
from core.errors import OrderError
from core.market.book import BookSnapshot
from core.views import inputs as vi
from core.views.execution import (
    URGENCY_CHOICES,
    check_inputs,
    cost_table,
    format_lambda,
    frontier_figure,
    holdings_figure,
    pct,
    share_done,
    urgency_details,
)
from core.views.fee_choice import fee_choices
from tests.worked import worked_book

EMPTY_HISTORY = (np.array([]), np.array([]))
SIGMA = 100_000 * 0.5 / math.sqrt(365 * 86400)  # default 50 %/yr at mid 100,000: 8.9036 USD/BTC/sqrt(s)
#: the hand-worked numbers below fix the old assumption (psi 0.5, refill 10 s) so a recalibration never moves them
ASSUMED = dict(refill_s=ASSUMED_REFILL_S, permanent_share=ASSUMED_PERMANENT_SHARE)
#: a sell of the first two bid levels exactly: 0.05 @ 99,999 + 0.05 @ 99,998 = $9,999.85, X = 0.1 BTC
SELL_TWO_LEVELS_USD = 9_999.85


def book() -> BookSnapshot:
    return worked_book()


def check(side="buy", notional_usd=10_000.0, **kw):
    """check_inputs with the Simulator's order = (side, notional) on the worked book's venue (OKX swap)."""
    args = dict(horizon_s=600, slices=10, urgency="balanced") | kw
    sim = vi.RawInputs(side=side, quantity_usd=notional_usd)
    return check_inputs(simulator=sim, exchange="okx", symbol="BTC-USDT-SWAP", market="swap", **args)


def inputs(**kw):
    c = check(**(ASSUMED | kw))
    assert c.ok, c.errors
    return c.inputs


# ---- slice counts ----------------------------------------------------------------------------------------------------
def test_every_slice_count_from_one_to_the_feeds_tick_rate_is_valid():
    assert slice_limit(600, 0.1) == 6000 and slice_limit(600, 1.0) == 600 and slice_limit(0.5, 1.0) == 1
    assert slice_limit(86_400, 0.1) == MAX_SLICES  # the drawing cap
    assert suggest_slices(600, 6000) == (1, 2, 10, 60, 600, 6000)
    assert suggest_slices(5, 50) == (1, 5, 50)
    # the feed's own interval once enough books have arrived; the 100 ms default before
    assert tick_interval(np.arange(5) * 0.25) == DEFAULT_TICK_INTERVAL_S
    assert tick_interval(np.arange(100) * 0.25) == pytest.approx(0.25)
    # the old band (3,311..3,873 slices for 600 s) is gone: 1, 10, 60 and 6000 slices all plan with the calibration
    for n in (1, 10, 60, 6000):
        c = check(slices=n)
        assert c.ok, (n, c.errors)
        assert n == plan_execution(book(), EMPTY_HISTORY, c.inputs).schedule.N


@pytest.mark.parametrize("n, text", [(0, "at least 1"), (6001, "At most 6,000 slices fit in 600 s"), (2.5, "whole")])
def test_impossible_slice_counts_get_valid_suggestions(n, text):
    c = check(slices=n)
    assert not c.ok and set(c.errors) == {"slices"}
    assert text in c.errors["slices"] and "Try 1, 2, 10, 60, 600, 6000." in c.errors["slices"]
    assert c.max_slices == 6000 and c.suggestions == (1, 2, 10, 60, 600, 6000)
    # a slower feed allows fewer
    slow = check(slices=700, tick_interval_s=1.0)
    assert "At most 600 slices" in slow.errors["slices"] and "every 1 s" in slow.errors["slices"]


def test_slice_eta_is_each_slices_own_walk_once_the_book_has_refilled():
    rho = 0.1
    assert slice_eta(rho, 0.155, 60.0) == pytest.approx(60.0 / 0.2)  # (eta / tau) n^2 = n^2 / (2 rho)
    assert slice_eta(rho, 10.0, 1.0) == pytest.approx(10.0 / 0.2)  # faster than the refill: the rate model


# ---- the case: 10 slices over 600 s, fees included -----------------------------------------------------------
def test_ten_slices_over_ten_minutes_plan_with_taker_fees_included():
    c = check(notional_usd=1e6)  # calibrated psi and refill of data/impact.json; the whole book walked
    assert c.ok, c.errors
    plan = plan_execution(book(), EMPTY_HISTORY, c.inputs)
    cal, imp = plan.calibration, load_impact()
    assert (cal.permanent_share, cal.refill_s) == (imp.permanent_share, imp.refill_s)
    assert plan.schedule.N == 10 and plan.schedule.tau == 60
    tier = get_tier("okx", "swap")
    assert plan.fee_usd == pytest.approx(tier.taker_rate * 1e6)  # $500: 5 bps of the notional
    chosen, twap, now = plan.costs
    for cost in (chosen, twap, now):
        assert cost.fee_usd == plan.fee_usd and cost.total_usd == pytest.approx(cost.slippage_usd + plan.fee_usd)
        assert cost.total_bps == pytest.approx(cost.total_usd / (plan.base_qty * plan.mid) * 1e4)
        assert cost.total_pct == pytest.approx(cost.total_bps / 100)
    assert chosen.slippage_usd == plan.schedule.expected_cost and twap.slippage_usd == plan.twap.expected_cost
    assert now.slippage_usd == plan.walk.cost and now.std_usd == 0
    t = cost_table(plan)
    assert list(t.columns) == [
        "way to execute",
        "book cost (USD)",
        "fees (USD)",
        "total (USD)",
        "total (bps)",
        "total (%)",
        "std of cost (USD)",
    ]
    assert t["way to execute"].tolist() == [
        "This schedule (balanced, 10 slices)",
        "TWAP (10 slices of equal size)",
        "Now: one market order (book walk)",
    ]
    assert t["fees (USD)"].tolist() == ["$500.00"] * 3 and t["total (%)"].iloc[0].endswith(" %")
    assert "Lv1 taker fee, 5.00 bps (0.050 %)" in c.order_text and "the Simulator’s order" in c.order_text


def test_one_slice_is_exactly_one_market_order_now():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(side="sell", notional_usd=SELL_TWO_LEVELS_USD, slices=1))
    assert plan.schedule.expected_cost == pytest.approx(plan.walk.cost, rel=1e-12)
    assert plan.schedule.variance == 0 and plan.immediate_cost == pytest.approx(plan.walk.cost, rel=1e-12)


def test_an_order_inside_the_best_level_takes_the_first_levels_slope():
    """$1,000 buys 0.01 BTC of the 0.03 at the best ask: no depth cost of its own to fit."""
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=1_000.0, slices=1))
    X = 1_000.0 / 100_001.0
    assert plan.walk.depth_cost == 0 and plan.walk.cost == pytest.approx(X * 1.0)
    # METHODOLOGY.md 8: the three levels' fit, rho = 0.27^2 / (2 x 1.84)
    assert plan.calibration.fit_levels == 3 and plan.calibration.rho == pytest.approx(0.0198097826, rel=1e-8)
    assert plan.schedule.expected_cost == pytest.approx(X + X**2 / (2 * 0.0198097826), rel=1e-8)


def test_a_hand_checked_two_slice_schedule():
    """Sell 0.1 BTC (two bid levels) in 2 slices over 600 s with psi 0.5, refill 10 s, urgency balanced."""
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(side="sell", notional_usd=SELL_TWO_LEVELS_USD, slices=2))
    cal, s = plan.calibration, plan.schedule
    # walk: half-spread 1 x 0.1 = 0.1, past the touch 0.05 x 1 = 0.05; rho = 0.1^2 / (2 x 0.05) = 0.1
    assert plan.base_qty == pytest.approx(0.1, rel=1e-12) and plan.walk.cost == pytest.approx(0.15)
    assert cal.epsilon == 1 and cal.rho == pytest.approx(0.1) and cal.gamma == pytest.approx(5.0)
    # tau = 300 s >= refill: eta = 300 / 0.2 = 1500, eta_tilde = 1500 - 5 x 150 = 750, a = eta_tilde / tau = 2.5
    assert plan.eta == pytest.approx(1500) and s.eta_tilde == pytest.approx(750)
    # balanced: kappa_tilde T = 3, so lam sigma^2 tau = 9 eta_tilde tau / T^2 = 5.625 (sigma cancels)
    assert plan.lam == pytest.approx(9 * 750 / (SIGMA**2 * 600**2))
    # minimise a (n1^2 + n2^2) + lam sigma^2 tau x1^2 with n1 = X - x1, n2 = x1:  x1 = a X / (2a + 5.625)
    x1 = 2.5 * 0.1 / (5 + 5.625)
    assert s.holdings.tolist() == pytest.approx([0.1, x1, 0.0], rel=1e-12)
    assert plan.trades["trade (BTC)"].tolist() == pytest.approx([0.1 - x1, x1], rel=1e-12)
    assert plan.trades["send at (s)"].tolist() == [0.0, 300.0]
    # E = eps X + gamma X^2 / 2 + a (n1^2 + n2^2);  V = sigma^2 tau x1^2
    assert s.expected_cost == pytest.approx(0.1 + 0.025 + 2.5 * ((0.1 - x1) ** 2 + x1**2), rel=1e-12)
    assert s.variance == pytest.approx(SIGMA**2 * 300 * x1**2, rel=1e-12)
    # TWAP: 0.05 each: E = 0.125 + 2.5 x 0.005 = 0.1375; one market order now: 0.15 (both + the same fee)
    assert plan.twap.expected_cost == pytest.approx(0.1375, rel=1e-12)
    fee = 0.0005 * SELL_TWO_LEVELS_USD
    assert [c.total_usd for c in plan.costs] == pytest.approx([s.expected_cost + fee, 0.1375 + fee, 0.15 + fee])


# ---- urgency ---------------------------------------------------------------------------------------------------------
def test_urgency_is_monotone_front_loaded_dearer_and_less_risky():
    plans = [
        plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=25_000, urgency=u, slices=20))
        for u in URGENCY_CHOICES
    ]
    assert [p.inputs.urgency for p in plans] == list(Urgency)
    lams = [p.lam for p in plans]
    firsts = [abs(p.schedule.trades[0]) for p in plans]
    es = [p.schedule.expected_cost for p in plans]
    vs = [p.schedule.variance for p in plans]
    assert lams[0] == 0 and all(a < b for a, b in itertools.pairwise(lams))
    assert all(a < b for a, b in itertools.pairwise(firsts))
    assert all(a < b for a, b in itertools.pairwise(es))
    assert all(a > b for a, b in itertools.pairwise(vs))
    assert plans[0].schedule.expected_cost == pytest.approx(plans[0].twap.expected_cost)  # patient = TWAP
    done = [share_done(p.schedule) for p in plans]
    assert done[0] == pytest.approx(0.5) and all(a < b for a, b in itertools.pairwise(done))
    # lambda is the urgency's kappa_tilde T squared times the lambda where kappa_tilde T = 1
    for p in plans:
        assert p.lam == pytest.approx(p.inputs.urgency.kappa_tilde_T**2 * p.lam_c, rel=1e-12)
        assert p.schedule.kappa_tilde * 600 == pytest.approx(p.inputs.urgency.kappa_tilde_T, abs=1e-9)
    assert urgency_lam(Urgency.URGENT, sigma=0.0, T=600, eta_tilde=1.0) == 0  # no volatility, no risk to avoid
    text = urgency_details(plans[2])
    assert "Risk aversion λ = " in text and "1/USD" in text and "κ̃T = 3" in text
    assert format_lambda(0.0) == "0 (TWAP)" and format_lambda(3.2e-7) == "3.2e-07 1/USD"


# ---- the order: the Simulator's by default, fees as the Simulator looks them up --------------------------------------
def test_the_simulators_order_and_fee_settings_are_planned_by_default():
    vip1 = fee_choices("binance-futures", "swap")[1]
    sim = vi.RawInputs(side="sell", quantity_usd=2_500.0, order_type="limit", fee_key=vip1.key, bnb_discount=True)
    common = dict(exchange="binance-futures", symbol="BTCUSDT", market="swap", horizon_s=600, slices=10)
    mine = check_inputs(simulator=sim, side="buy", notional_usd=1e6, urgency="urgent", **common)
    assert mine.ok and mine.inputs.side is Side.SELL and mine.inputs.notional_usd == 2_500.0
    assert mine.inputs.fee_tier == pay_in_bnb(vip1.tier)  # the Simulator's tier and BNB choice; a limit order too
    assert mine.inputs.urgency is Urgency.URGENT
    assert (
        "Sell $2,500.00 of BTCUSDT" in mine.order_text and "BNB -10% taker fee, 3.60 bps" in mine.order_text
    )  # 4 bps less 10 %
    typed = check_inputs(simulator=sim, use_simulator=False, side="buy", notional_usd=1e6, urgency="urgent", **common)
    assert typed.ok and typed.inputs.side is Side.BUY and typed.inputs.notional_usd == 1e6
    assert typed.inputs.fee_tier == mine.inputs.fee_tier and "Simulator" not in typed.order_text
    # the Simulator's overridden rates are used too, and a bad one is named
    over = vi.RawInputs(side="buy", quantity_usd=100.0, override_fees=True, maker_bps=1.0, taker_bps=2.0)
    c = check_inputs(simulator=over, urgency="patient", **common)
    assert c.inputs.fee_tier.taker_rate == pytest.approx(2e-4) and c.inputs.fee_tier.overridden
    bad = check_inputs(
        simulator=vi.RawInputs(override_fees=True, maker_bps=1.0, taker_bps=500.0), urgency="patient", **common
    )
    assert set(bad.errors) == {"fees"} and bad.errors["fees"].startswith("The Simulator's fee settings: ")


def test_a_simulator_order_sized_in_the_coin_is_valued_at_the_mid():
    from core.market.instruments import instruments

    inst = instruments().get("binance-futures", "BTCUSDT")
    common = dict(
        exchange="binance-futures", symbol="BTCUSDT", market="swap", horizon_s=600, slices=10, instrument=inst
    )
    sim = vi.RawInputs(side="buy", size_unit="base", quantity_base=0.5)
    c = check_inputs(simulator=sim, urgency="balanced", mid=60_000.0, **common)
    assert c.ok and c.inputs.notional_usd == pytest.approx(30_000.0)  # 0.5 BTC x 60,000 USD, not $0.50
    waiting = check_inputs(simulator=sim, urgency="balanced", **common)
    assert set(waiting.errors) == {"notional"} and "waiting for a book" in waiting.errors["notional"]
    # a typed order is in USD whatever unit the Simulator's order was entered in
    typed = check_inputs(
        simulator=sim, use_simulator=False, side="sell", notional_usd=1e5, urgency="balanced", **common
    )
    assert typed.ok and typed.inputs.notional_usd == 1e5


@pytest.mark.parametrize(
    "field, kw, text",
    [
        ("notional", {"notional_usd": 0}, "$0"),
        ("notional", {"notional_usd": -5}, "negative"),
        ("notional", {"notional_usd": float("nan")}, "not a number"),
        ("notional", {"notional_usd": float("inf")}, "infinite"),
        ("notional", {"notional_usd": 2e12}, "more than"),
        ("notional", {"notional_usd": None}, "Enter an order size"),
        ("side", {"side": None}, "Choose a side"),
        ("horizon", {"horizon_s": 0}, "at least 1 second"),
        ("horizon", {"horizon_s": float("nan")}, "NaN"),
        ("horizon", {"horizon_s": 1e7}, "more than one day"),
        ("slices", {"slices": None}, "must be a number"),
        ("urgency", {"urgency": "asap"}, "Choose an urgency: patient, steady, balanced, urgent, very urgent"),
    ],
)
def test_bad_inputs_get_a_plain_message_for_their_field(field, kw, text):
    c = check(**kw)
    assert not c.ok and set(c.errors) == {field}
    assert text in c.errors[field]
    if field in ("side", "notional"):
        assert c.errors[field].startswith("The Simulator's order: ")


def test_slices_faster_than_the_refill_are_noted_and_psi_one_is_refused_in_words():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(horizon_s=10, slices=20))
    assert any("less than the book's refill time" in n for n in plan.notes)
    assert plan.eta == pytest.approx(ASSUMED_REFILL_S / (2 * plan.calibration.rho))
    with pytest.raises(OrderError, match="permanent share of 1"):
        plan_execution(book(), EMPTY_HISTORY, check(refill_s=10.0, permanent_share=1.0).inputs)


# ---- the rest of the page ------------------------------------------------------------------------------------------
def test_the_sqrt_law_cross_check_and_the_parameter_table():
    c = load_impact()
    plan = plan_execution(book(), EMPTY_HISTORY, check().inputs)
    p = plan.params.set_index("parameter")
    assert "calibrated on" in p.loc["refill time", "how it was obtained"]
    assert "each meets a refilled book" in p.loc["eta for these slices (η)", "how it was obtained"]
    assert p.loc["eta for these slices (η)", "unit"] == "USD·s/BTC²" and p.loc["sigma (σ)", "unit"] == "USD/BTC/√s"
    assert plan.sqrt_law is None  # no daily volume is known for OKX BTC-USDT-SWAP: no made-up cross-check
    vol = from_annual(0.5)
    law = sqrt_law(1e7, vol, "binance-futures", "BTCUSDT")
    v = c.daily_volume_usd["binance-futures:BTCUSDT"]
    want = [y * 0.5 / math.sqrt(365) * math.sqrt(1e7 / v) * 1e4 for y in SQRT_LAW_Y]
    assert law is not None and [law.low_bps, law.high_bps] == pytest.approx(want, rel=1e-12)
    assert "assumption" in law.how
    assert pct(12.3) == "0.123 %" and pct(0.05) == "0.000500 %"


def test_sell_mirrors_buy_and_a_large_order_is_noted():
    sell = plan_execution(book(), EMPTY_HISTORY, inputs(side="sell", urgency="urgent"))
    assert sell.inputs.side is Side.SELL and sell.schedule.X > 0 and (sell.trades["trade (BTC)"] > 0).all()
    buy = plan_execution(book(), EMPTY_HISTORY, inputs(side="buy", urgency="urgent"))
    assert buy.schedule.X < 0 and buy.trades["remaining after (BTC)"].iloc[-1] == 0
    big = plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=50_000))
    assert big.notes and "larger than the visible book" in big.notes[0]


def test_figures_mark_the_schedule_twap_and_one_market_order():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs())
    fr = frontier_figure(plan)
    names = [t.name for t in fr.data]
    assert names == ["efficient frontier", "this schedule (balanced)", "even slices (TWAP)", "one market order now"]
    assert list(fr.data[3].x) == [0.0] and fr.data[3].y[0] == pytest.approx(plan.walk.cost)
    assert fr.data[1].y[0] == pytest.approx(plan.schedule.expected_cost)
    h = holdings_figure(plan)
    assert h.data[1].y[0] == pytest.approx(plan.base_qty) and h.data[1].y[-1] == 0


def test_the_plan_works_the_venues_size_on_its_lot_as_the_simulator_does():
    """A walkthrough: the Execution page planned 0.162028 BTC where the Simulator priced 0.162 (the venue's lot is
    0.001 BTC). With the instrument and a mid, the order is sized as the Simulator sizes it, and the plan walks that
    base size; under the venue's minimum it is refused with the venue's message."""
    from core.costs.execution import plan_execution
    from core.market.instruments import instruments
    from tests.worked import worked_book

    inst = instruments().get("binance-futures", "BTCUSDT")
    common = dict(
        exchange="binance-futures", symbol="BTCUSDT", market="swap", horizon_s=600, slices=10, instrument=inst
    )
    book = worked_book(exchange_ts_ms=1, recv_ns=1)  # mid 100,000
    c = check_inputs(
        simulator=vi.RawInputs(side="buy", quantity_usd=10_000.0), urgency="balanced", mid=book.mid, **common
    )
    assert c.ok and c.inputs.base_qty == pytest.approx(0.1) and "Buy 0.1 BTC ($10,000.00) of BTCUSDT" in c.order_text
    odd = check_inputs(
        simulator=vi.RawInputs(side="buy", quantity_usd=10_050.0), urgency="balanced", mid=book.mid, **common
    )
    assert odd.inputs.base_qty == pytest.approx(0.1)  # 0.1005 BTC rounded down to the 0.001 BTC lot
    plan = plan_execution(book, (np.array([0.0]), np.array([book.mid])), odd.inputs)
    assert plan.base_qty == pytest.approx(0.1, rel=1e-12)
    small = check_inputs(
        simulator=vi.RawInputs(side="buy", quantity_usd=50.0), urgency="balanced", mid=book.mid, **common
    )
    assert not small.ok and small.errors["notional"].startswith("The Simulator's order: Below the venue minimum")

"""core.costs.execution (the plan) and core.views.execution (input checks, figures) on the METHODOLOGY.md 8 book."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.costs.execution import plan_execution, slice_bounds, sqrt_law
from core.costs.impact import ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S, SQRT_LAW_Y, load_impact
from core.costs.order import Side
from core.costs.volatility import from_annual
from core.market.book import BookSnapshot
from core.views.execution import (
    DEFAULT_LAMBDA,
    LAMBDA_CHOICES,
    check_inputs,
    format_lambda,
    frontier_figure,
    holdings_figure,
)
from tests.worked import worked_book

EMPTY_HISTORY = (np.array([]), np.array([]))
SIGMA = 100_000 * 0.5 / math.sqrt(365 * 86400)  # default 50 %/yr at mid 100,000: 8.9036 USD/BTC/sqrt(s)
#: the hand-worked numbers below fix the old assumption (psi 0.5, refill 10 s) so a recalibration never moves them
ASSUMED = dict(refill_s=ASSUMED_REFILL_S, permanent_share=ASSUMED_PERMANENT_SHARE)


def book() -> BookSnapshot:
    """The worked example's book (tests/worked.py)."""
    return worked_book()


def inputs(**kw):
    args = dict(side="buy", notional_usd=10_000, horizon_s=600, slices=40, lam=0.0) | ASSUMED | kw
    check = check_inputs(**args)
    assert check.ok, check.errors
    return check.inputs


def test_slice_bounds_match_the_documented_example_and_the_calibration():
    assert slice_bounds(600, **ASSUMED) == (31, 60)  # METHODOLOGY.md 6.4: T = 600 s, refill 10 s, psi 0.5
    assert slice_bounds(60, **ASSUMED) == (4, 6) and slice_bounds(5, **ASSUMED) == (1, 1)
    plan = plan_execution(book(), EMPTY_HISTORY, inputs())
    assert plan.calibration.period_bounds(600) == slice_bounds(600, **ASSUMED)
    # the default is the calibrated pair of data/impact.json, by the same rule
    c = load_impact()
    lo, hi = slice_bounds(600)
    assert (lo, hi) == (math.floor(600 * c.permanent_share / c.refill_s) + 1, math.floor(600 / c.refill_s))
    assert check_inputs(side="buy", notional_usd=1e4, horizon_s=600, slices=lo, lam=0.0).ok


def test_the_default_plan_uses_the_calibrated_constants_and_shows_the_sqrt_law():
    c = load_impact()
    lo, _ = slice_bounds(600)
    check = check_inputs(side="buy", notional_usd=1e4, horizon_s=600, slices=lo, lam=1e-6)
    plan = plan_execution(book(), EMPTY_HISTORY, check.inputs)
    assert (plan.calibration.permanent_share, plan.calibration.refill_s) == (c.permanent_share, c.refill_s)
    p = plan.params.set_index("parameter")
    assert "calibrated on" in p.loc["refill time", "how it was obtained"]
    assert "data/impact.json" in p.loc["refill time", "how it was obtained"]
    assert plan.expected_cost_bps == pytest.approx(plan.schedule.expected_cost / (plan.base_qty * plan.mid) * 1e4)
    assert plan.sqrt_law is None  # no daily volume is known for OKX BTC-USDT-SWAP: no made-up cross-check
    # Binance USD-M BTCUSDT has one (measured from its bundled tape, stated as an assumption)
    vol = from_annual(0.5)
    law = sqrt_law(1e7, vol, "binance-futures", "BTCUSDT")
    v = c.daily_volume_usd["binance-futures:BTCUSDT"]
    want = [y * 0.5 / math.sqrt(365) * math.sqrt(1e7 / v) * 1e4 for y in SQRT_LAW_Y]
    assert law is not None and [law.low_bps, law.high_bps] == pytest.approx(want, rel=1e-12)
    assert "assumption" in law.how


@pytest.mark.parametrize(
    "field, kw, text",
    [
        ("notional", {"notional_usd": 0}, "zero"),
        ("notional", {"notional_usd": -5}, "negative"),
        ("notional", {"notional_usd": float("nan")}, "NaN"),
        ("notional", {"notional_usd": float("inf")}, "infinite"),
        ("notional", {"notional_usd": 2e9}, "more than"),
        ("notional", {"notional_usd": "lots"}, "must be a number"),
        ("horizon", {"horizon_s": 0}, "at least 1 second"),
        ("horizon", {"horizon_s": -60}, "at least 1 second"),
        ("horizon", {"horizon_s": float("nan")}, "NaN"),
        ("horizon", {"horizon_s": 1e7}, "more than one day"),
        ("slices", {"slices": 0}, "at least 1"),
        ("slices", {"slices": 2.5}, "whole number"),
        ("slices", {"slices": 30}, "use 31 to 60 slices"),
        ("slices", {"slices": 61}, "use 31 to 60 slices"),
        ("slices", {"slices": None}, "must be a number"),
        ("lam", {"lam": -1e-6}, ">= 0"),
        ("lam", {"lam": float("nan")}, "NaN"),
        ("lam", {"lam": 10.0}, "absurdly large"),
        ("side", {"side": None}, "Unknown side"),
    ],
)
def test_bad_inputs_get_a_plain_message_for_their_field(field, kw, text):
    args = dict(side="buy", notional_usd=1e6, horizon_s=600, slices=40, lam=1e-6) | ASSUMED | kw
    check = check_inputs(**args)
    assert not check.ok and set(check.errors) == {field}
    assert text in check.errors[field]


def test_lambda_choices_are_a_log_scale_from_twap():
    assert LAMBDA_CHOICES[0] == 0 and DEFAULT_LAMBDA in LAMBDA_CHOICES
    assert list(LAMBDA_CHOICES) == sorted(LAMBDA_CHOICES) and LAMBDA_CHOICES[1] == 1e-10 and LAMBDA_CHOICES[-1] == 1e-3
    assert format_lambda(0.0) == "0 (TWAP)" and format_lambda(3e-7) == "3e-07"


def test_twap_plan_on_the_worked_example():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs())
    cal = plan.calibration
    # METHODOLOGY.md section 8: epsilon = 1, rho = 0.27^2 / (2 x 1.84), eta = 10/(2 rho), gamma = 0.5/rho
    assert plan.base_qty == pytest.approx(0.0999959004, rel=1e-9)
    assert cal.epsilon == pytest.approx(1.0)
    assert cal.rho == pytest.approx(0.0198097826, rel=1e-8)
    assert cal.eta == pytest.approx(252.400549, rel=1e-8) and cal.gamma == pytest.approx(25.2400549, rel=1e-8)
    assert cal.sigma == pytest.approx(SIGMA) and plan.volatility.source.value == "default"
    # TWAP: E = 0.5 gamma X^2 + eps X + eta_tilde X^2 / T, eta_tilde = eta - gamma * 15 / 2 = 63.100137
    X = 0.0999959004
    e = 0.5 * 25.2400549 * X**2 + 1.0 * X + (252.400549 - 25.2400549 * 7.5) * X**2 / 600
    assert e == pytest.approx(0.2272375, rel=1e-6)
    assert plan.schedule.expected_cost == pytest.approx(e, rel=1e-7)
    v = SIGMA**2 * X**2 * 600 * (1 - 1 / 40) * (1 - 1 / 80) / 3
    assert plan.schedule.variance == pytest.approx(v, rel=1e-9)
    # trade list: 40 equal slices of X/40 = 0.0024999 BTC, $249.99 at mid, 2.5 % each
    t = plan.trades
    assert len(t) == 40 and list(t["slice"])[:2] == [1, 2]
    assert t["start (s)"].iloc[1] == 15 and t["end (s)"].iloc[-1] == 600
    assert t["trade (BTC)"].to_numpy() == pytest.approx(np.full(40, X / 40))
    assert t["trade (USD at mid)"].iloc[0] == pytest.approx(X / 40 * 100_000)
    assert t["share of order (%)"].to_numpy() == pytest.approx(np.full(40, 2.5))
    assert t["remaining after (BTC)"].iloc[0] == pytest.approx(X * 39 / 40) and t["remaining after (BTC)"].iloc[-1] == 0
    # immediate: eps X + eta X^2 / tau (tau = 15 s)
    assert plan.immediate_cost == pytest.approx(X + 252.400549 * X**2 / 15, rel=1e-8)


def test_risk_aversion_front_loads_and_trades_variance_for_cost():
    twap = plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=25_000, lam=0.0))
    averse = plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=25_000, lam=1e-2))
    a, b = twap.schedule, averse.schedule
    assert abs(b.trades[0]) > abs(a.trades[0])
    assert b.std < a.std and b.expected_cost > a.expected_cost
    f = averse.frontier
    assert f.lam[0] == 0 and f.expected_cost[0] == pytest.approx(a.expected_cost)


def test_sell_mirrors_buy_and_params_have_units():
    sell = plan_execution(book(), EMPTY_HISTORY, inputs(side="sell", lam=1e-6))
    assert sell.inputs.side is Side.SELL and sell.schedule.X > 0
    assert (sell.trades["trade (BTC)"] > 0).all()
    p = sell.params.set_index("parameter")
    assert p.loc["epsilon (ε)", "unit"] == "USD/BTC" and p.loc["eta (η)", "unit"] == "USD·s/BTC²"
    assert p.loc["gamma (γ)", "unit"] == "USD/BTC²" and p.loc["sigma (σ)", "unit"] == "USD/BTC/√s"
    assert "Half the quoted spread" in p.loc["epsilon (ε)", "how it was obtained"]
    assert "default" in p.loc["sigma (σ)", "how it was obtained"]


def test_order_beyond_the_visible_book_is_noted():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(notional_usd=50_000))
    assert plan.notes and "larger than the visible book" in plan.notes[0]


def test_figures_mark_chosen_twap_and_immediate():
    plan = plan_execution(book(), EMPTY_HISTORY, inputs(lam=1e-6))
    fr = frontier_figure(plan)
    names = [t.name for t in fr.data]
    assert names[0] == "efficient frontier" and "TWAP (λ = 0)" in names
    imm = next(t for t in fr.data if t.name.startswith("immediate"))
    assert list(imm.x) == [0.0] and imm.y[0] == pytest.approx(plan.immediate_cost)
    chosen = next(t for t in fr.data if t.name.startswith("chosen"))
    assert chosen.y[0] == pytest.approx(plan.schedule.expected_cost)
    h = holdings_figure(plan)
    assert h.data[1].y[0] == pytest.approx(plan.base_qty) and h.data[1].y[-1] == 0

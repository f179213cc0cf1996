"""Almgren–Chriss: the paper's example pinned, the model's identities, units, errors, calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.costs.impact import almgren_chriss, calibrate, characteristic_lam, efficient_frontier
from core.costs.walk import walk_book
from core.market.book import BookSnapshot

# Almgren & Chriss (2000), section 3.4: units are shares, dollars and days.
P = dict(X=1e6, sigma=0.95, T=5.0, N=5, epsilon=0.0625, eta=2.5e-6, gamma=2.5e-7, lam=1e-6)
RTOL = 1e-12


def closed_form(X, sigma, T, N, epsilon, eta, gamma, kappa):
    """Eq. (20) of the paper (independent of the trajectory code)."""
    tau = T / N
    et = eta - 0.5 * gamma * tau
    k = kappa
    E = (
        0.5 * gamma * X**2
        + epsilon * X
        + et
        * X**2
        * math.tanh(0.5 * k * tau)
        * (tau * math.sinh(2 * k * T) + 2 * T * math.sinh(k * tau))
        / (2 * tau**2 * math.sinh(k * T) ** 2)
    )
    V = (
        0.5
        * sigma**2
        * X**2
        * (tau * math.sinh(k * T) * math.cosh(k * (T - tau)) - T * math.sinh(k * tau))
        / (math.sinh(k * T) ** 2 * math.sinh(k * tau))
    )
    return E, V


def test_paper_example_pinned():
    s = almgren_chriss(**P)
    assert s.tau == 1.0
    assert s.eta_tilde == pytest.approx(2.375e-6, rel=RTOL)
    assert s.kappa_tilde == pytest.approx(math.sqrt(1e-6 * 0.95**2 / 2.375e-6), rel=RTOL)
    assert s.kappa_tilde == pytest.approx(0.6164414002968975, rel=RTOL)
    # kappa solves cosh(kappa tau) = 1 + kappa_tilde^2 tau^2 / 2: "about 0.6/day", kappa T "about 3"
    assert s.kappa == pytest.approx(0.6070761632470627, rel=RTOL)
    assert math.cosh(s.kappa) == pytest.approx(1 + 0.5 * s.kappa_tilde**2, rel=RTOL)
    assert s.kappa * s.T == pytest.approx(3.0353808162353135, rel=RTOL)
    assert s.half_life == pytest.approx(1 / 0.6070761632470627, rel=RTOL)
    assert s.holdings == pytest.approx(
        [1e6, 541955.55437392, 289854.21940994, 147897.48782172, 62141.80160577, 0.0], rel=1e-11, abs=1e-6
    )
    assert s.trades == pytest.approx(
        [458044.44562608, 252101.33496399, 141956.73158821, 85755.68621596, 62141.80160577], rel=1e-11
    )
    assert s.trades.sum() == pytest.approx(1e6, rel=1e-15)
    assert s.expected_cost == pytest.approx(911226.9863037934, rel=1e-12)
    assert s.variance == pytest.approx(364128572058.14105, rel=1e-12)
    assert s.utility == pytest.approx(911226.9863037934 + 1e-6 * 364128572058.14105, rel=1e-12)
    assert s.permanent_cost == 125000.0  # 0.5 x 2.5e-7 x 1e12
    assert s.permanent_cost + s.temporary_cost == pytest.approx(s.expected_cost, rel=1e-15)


def test_closed_form_equals_trajectory_sums():
    s = almgren_chriss(**P)
    E, V = closed_form(P["X"], P["sigma"], P["T"], P["N"], P["epsilon"], P["eta"], P["gamma"], s.kappa)
    assert s.expected_cost == pytest.approx(E, rel=1e-12)
    assert s.variance == pytest.approx(V, rel=1e-12)
    for lam in (1e-8, 1e-7, 3e-6, 1e-5):
        s2 = almgren_chriss(**{**P, "lam": lam, "N": 20})
        E2, V2 = closed_form(P["X"], P["sigma"], P["T"], 20, P["epsilon"], P["eta"], P["gamma"], s2.kappa)
        assert s2.expected_cost == pytest.approx(E2, rel=1e-9)
        assert s2.variance == pytest.approx(V2, rel=1e-9)


def test_eq_17_and_eq_18_match_the_trajectory():
    s = almgren_chriss(**P)
    k, T, tau, X = s.kappa, s.T, s.tau, s.X
    j = np.arange(6)
    assert s.holdings == pytest.approx(X * np.sinh(k * (T - j * tau)) / np.sinh(k * T), rel=1e-13, abs=1e-7)
    jj = np.arange(1, 6)
    n18 = 2 * np.sinh(0.5 * k * tau) / np.sinh(k * T) * np.cosh(k * (T - (jj - 0.5) * tau)) * X
    assert s.trades == pytest.approx(n18, rel=1e-12)


def test_difference_equation_holds():
    for lam in (1e-6, 1e-5, 2e-7):
        s = almgren_chriss(**{**P, "lam": lam, "N": 12})
        x, tau = s.holdings, s.tau
        lhs = (x[:-2] - 2 * x[1:-1] + x[2:]) / tau**2
        assert lhs == pytest.approx(s.kappa_tilde**2 * x[1:-1], rel=1e-9)


def test_lam_zero_is_twap_and_matches_eq_9_to_11():
    s = almgren_chriss(**{**P, "lam": 0.0})
    assert s.kappa == 0.0 and s.half_life == math.inf
    assert s.holdings.tolist() == [1e6, 8e5, 6e5, 4e5, 2e5, 0.0]
    # E = 0.5 gamma X^2 + eps X + eta_tilde X^2 / T = 125000 + 62500 + 475000
    assert s.expected_cost == pytest.approx(662_500.0, rel=RTOL)
    assert s.twap_expected_cost == pytest.approx(662_500.0, rel=RTOL)
    # V = sigma^2 X^2 T (1 - 1/N)(1 - 1/(2N)) / 3
    assert s.variance == pytest.approx(1.083e12, rel=RTOL)
    assert s.twap_variance == pytest.approx(1.083e12, rel=RTOL)
    tiny = almgren_chriss(**{**P, "lam": 1e-14})
    assert tiny.expected_cost == pytest.approx(662_500.0, rel=1e-7)
    assert tiny.variance == pytest.approx(1.083e12, rel=1e-6)
    assert tiny.holdings == pytest.approx(s.holdings, rel=1e-6, abs=1e-3)


def test_immediate_execution_eq_13():
    s = almgren_chriss(**P)
    assert s.immediate_cost == pytest.approx(62_500 + 2.5e-6 * 1e12, rel=RTOL)  # 2,562,500
    one = almgren_chriss(**{**P, "N": 1, "T": 1.0})  # one period of length tau = 1 day
    assert one.expected_cost == pytest.approx(2_562_500.0, rel=RTOL)
    assert one.variance == 0.0
    # a huge risk aversion sells almost everything in the first period
    fast = almgren_chriss(**{**P, "lam": 1e3})
    assert np.isfinite(fast.holdings).all() and fast.holdings[1] < 1e-3 * 1e6
    assert fast.expected_cost == pytest.approx(fast.immediate_cost, rel=1e-3)


def test_day_to_second_units_conversion():
    c = 86_400.0
    d = almgren_chriss(**P)
    s = almgren_chriss(**{**P, "sigma": P["sigma"] / math.sqrt(c), "eta": P["eta"] * c, "T": P["T"] * c})
    assert s.kappa == pytest.approx(d.kappa / c, rel=1e-12)
    assert s.expected_cost == pytest.approx(d.expected_cost, rel=1e-12)
    assert s.variance == pytest.approx(d.variance, rel=1e-12)
    assert s.holdings == pytest.approx(d.holdings, rel=1e-12, abs=1e-6)


def test_buy_is_the_mirror_of_sell():
    sell = almgren_chriss(**P)
    buy = almgren_chriss(**{**P, "X": -1e6})
    assert buy.holdings == pytest.approx(-sell.holdings, rel=1e-15)
    assert buy.expected_cost == pytest.approx(sell.expected_cost, rel=1e-15)
    assert buy.variance == pytest.approx(sell.variance, rel=1e-15)


def test_positional_and_keyword_calls_agree():
    a = almgren_chriss(1e6, 0.95, 5.0, 5, 0.0625, 2.5e-6, 2.5e-7, 1e-6)
    b = almgren_chriss(**P)
    assert a.expected_cost == b.expected_cost and a.kappa == b.kappa


@pytest.mark.parametrize(
    "change, match",
    [
        ({"eta": 1e-7}, "eta_tilde"),  # 1e-7 - 2.5e-7 / 2 < 0
        ({"eta": 1.25e-7}, "eta_tilde"),  # exactly zero
        ({"sigma": math.nan}, "sigma"),
        ({"X": math.inf}, "X"),
        ({"lam": -1.0}, "lam"),
        ({"N": 0}, "N"),
        ({"N": 2.5}, "N"),
        ({"N": "five"}, "N"),
        ({"N": math.inf}, "N"),
        ({"T": 0.0}, "T"),
        ({"T": -1.0}, "T"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"gamma": "x"}, "gamma"),
    ],
)
def test_invalid_parameters_raise_value_error(change, match):
    with pytest.raises(ValueError, match=match):
        almgren_chriss(**{**P, **change})


def test_efficient_frontier_trades_cost_for_risk():
    f = efficient_frontier(P["X"], P["sigma"], P["T"], 20, P["epsilon"], P["eta"], P["gamma"], points=17)
    assert f.lam[0] == 0.0 and f.lam.size == 17
    assert f.expected_cost[0] == pytest.approx(almgren_chriss(**{**P, "N": 20, "lam": 0.0}).expected_cost)
    assert (np.diff(f.expected_cost) > 0).all()  # more risk aversion: higher expected cost ...
    assert (np.diff(f.variance) < 0).all()  # ... and lower variance
    lam_c = characteristic_lam(sigma=P["sigma"], T=P["T"], N=20, eta=P["eta"], gamma=P["gamma"])
    assert lam_c == pytest.approx((2.5e-6 - 2.5e-7 * 0.25 / 2) / (0.95**2 * 25), rel=1e-12)
    g = efficient_frontier(P["X"], P["sigma"], P["T"], 5, P["epsilon"], P["eta"], P["gamma"], lams=[1e-6])
    assert g.expected_cost[0] == pytest.approx(911226.9863037934, rel=1e-12)


def uniform_book(*, n=10, size=2.0, spacing=0.5, half_spread=0.25, mid=100.0):
    i = np.arange(n)
    return BookSnapshot.build(
        exchange="test",
        symbol="TEST",
        source="test",
        bid_px=mid - half_spread - spacing * i,
        bid_sz=np.full(n, size),
        ask_px=mid + half_spread + spacing * i,
        ask_sz=np.full(n, size),
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )


def test_calibration_on_a_uniform_book():
    snap = uniform_book()  # 2 BTC per level, levels 0.5 apart, half-spread 0.25
    cal = calibrate(snap, "buy", 6.0, sigma=0.3, refill_s=20.0, permanent_share=0.4)
    assert cal.epsilon == pytest.approx(0.25, rel=1e-12)
    # the order (3 levels) is smaller than the first 5 levels (10 BTC): fit over those 5 levels, whose
    # cost beyond the touch is 2 x 0.5 x (0 + 1 + 2 + 3 + 4) = 10, so rho = 10^2 / (2 x 10) = 5
    assert cal.fit_levels == 5 and cal.fit_base == 10.0
    assert cal.rho == pytest.approx(5.0, rel=1e-12)
    assert cal.eta == pytest.approx(20.0 / (2 * 5.0), rel=1e-12)
    assert cal.gamma == pytest.approx(0.4 / 5.0, rel=1e-12)
    assert cal.sigma == 0.3
    assert cal.permanent_cost(6.0) == pytest.approx(0.5 * 0.08 * 36, rel=1e-12)
    # diagnostic least-squares line: slope size/spacing = 4, intercept 0.25 - 0.5/2 = 0
    assert cal.rho_ls == pytest.approx(4.0, rel=1e-12)
    assert cal.d0_ls == pytest.approx(0.0, abs=1e-12)
    assert set(cal.how) >= {"epsilon", "eta", "gamma", "rho", "rho_ls"} and "eta" in cal.units
    sched = cal.schedule(T=60.0, N=3, lam=0.0)
    assert sched.X == -6.0 and sched.eta == cal.eta  # a buy is X < 0


def test_calibrated_model_reproduces_the_walk_of_a_large_order():
    snap = uniform_book()
    cal = calibrate(snap, "buy", 14.0, permanent_share=0.5)  # 7 levels: the order's own walk is the range
    w = walk_book(snap, "buy", 14.0, unit="base")
    assert cal.fit_levels == 7 and cal.fit_base == 14.0
    assert cal.rho == pytest.approx(14.0**2 / (2 * 2 * 0.5 * 21), rel=1e-12)  # depth cost 2 x 0.5 x 21
    assert cal.immediate_cost(14.0) == pytest.approx(w.cost, rel=1e-12)  # eps X + X^2/(2 rho) == walk
    assert cal.permanent_cost(14.0) == pytest.approx(0.5 * w.depth_cost, rel=1e-12)  # psi x depth part
    again = calibrate(snap, "buy", 14.0, walk=w)  # reusing the walk gives the same numbers
    assert again.rho == cal.rho


def test_calibration_sells_use_bids():
    snap = uniform_book(n=30)
    cal = calibrate(snap, "sell", 40.0)
    assert cal.fit_levels == 20
    assert cal.rho == pytest.approx(40.0**2 / (2 * 2 * 0.5 * 190), rel=1e-12)


def test_calibration_with_one_level_falls_back():
    snap = BookSnapshot.build(
        exchange="t",
        symbol="T",
        source="test",
        bid_px=[99.0],
        bid_sz=[5.0],
        ask_px=[101.0],
        ask_sz=[4.0],
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )
    cal = calibrate(snap, "buy", 1.0)
    assert cal.rho == pytest.approx(4.0 / 1.0) and cal.fit_levels == 1 and "One level" in cal.how["rho"]
    beyond = calibrate(snap, "buy", 6.0)  # 2 BTC extrapolated at slope 1/4: depth cost 0.25 x 2^2 / 2
    assert beyond.rho == pytest.approx(36.0 / (2 * 0.5), rel=1e-12)


def test_period_bounds_keep_eta_tilde_positive():
    with pytest.raises(ValueError, match="volatility"):
        calibrate(uniform_book(), "buy", 6.0).schedule(T=60.0, N=6, lam=0.0)
    cal = calibrate(uniform_book(), "buy", 6.0, sigma=0.05, refill_s=10.0, permanent_share=0.5)
    assert cal.period_bounds(600.0) == (31, 60)  # tau < 10 / 0.5 = 20 s and tau >= 10 s
    assert cal.schedule(T=600.0, N=31, lam=1e-3).eta_tilde > 0
    assert cal.schedule(T=600.0, N=60, lam=1e-3).eta_tilde > 0
    with pytest.raises(ValueError, match="eta_tilde"):
        cal.schedule(T=600.0, N=29, lam=1e-3)


def test_calibration_settings_are_validated():
    snap = uniform_book()
    for kw in ({"refill_s": 0.0}, {"refill_s": math.nan}, {"permanent_share": 1.5}, {"permanent_share": -0.1}):
        with pytest.raises(ValueError):
            calibrate(snap, "buy", 1.0, **kw)

"""Realised mid volatility: grid resampling, EWMA, units, and the data/override/default switch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.costs.volatility import (
    DEFAULT_ANNUAL_VOL,
    SQRT_YEAR_S,
    VolSource,
    ewma_variance,
    from_annual,
    grid_returns,
    realised_vol,
    validate_annual_vol,
)
from core.errors import OrderError


def test_grid_takes_last_value_at_or_before_each_point_and_forward_fills():
    t = np.array([0.0, 0.4, 1.5, 3.2])
    m = np.array([100.0, 101.0, 102.0, 103.0])
    end, r = grid_returns(t, m, dt_s=1.0)
    # grid 0, 1, 2, 3 -> mids 100 (t=0), 101 (t=0.4), 102 (t=1.5), 102 (t=3.2 is after 3: forward fill)
    assert end.tolist() == [1.0, 2.0, 3.0]
    assert r == pytest.approx([math.log(101 / 100), math.log(102 / 101), 0.0], abs=1e-15)


def test_grid_sorts_and_drops_bad_rows():
    t = np.array([1.5, 0.0, 0.4, np.nan, 2.0])
    m = np.array([102.0, 100.0, 101.0, 500.0, -1.0])
    _end, r = grid_returns(t, m, dt_s=1.0)
    assert r == pytest.approx([math.log(101 / 100)], abs=1e-15)
    with pytest.raises(ValueError):
        grid_returns(np.zeros(3), np.ones(2))


def test_ewma_weights_halve_every_half_life():
    r = np.array([0.3, 0.1])
    end = np.array([1.0, 2.0])
    assert ewma_variance(r, end, half_life_s=1.0) == pytest.approx((0.5 * 0.09 + 0.01) / 1.5, rel=1e-15)
    assert ewma_variance(r, end, half_life_s=1e12) == pytest.approx((0.09 + 0.01) / 2, rel=1e-9)


def test_hand_checked_estimate_and_units():
    # mids alternate 100, 101 every second: |r| = ln(1.01) each second, 40 returns
    t = np.arange(41.0)
    m = np.where(np.arange(41) % 2 == 0, 100.0, 101.0)
    v = realised_vol(t, m, half_life_s=300.0)
    per_s = math.log(1.01)  # every squared return is the same, so the EWMA is exact
    assert v.source is VolSource.DATA and v.n_returns == 40
    assert v.sigma_per_sqrt_s == pytest.approx(per_s, rel=1e-12)
    assert v.annual == pytest.approx(per_s * math.sqrt(365 * 86400), rel=1e-12)
    assert pytest.approx(5615.6922992628, rel=1e-12) == SQRT_YEAR_S
    assert v.mid == 100.0  # last mid (index 40 is even)
    assert v.sigma_quote_per_sqrt_s == pytest.approx(100.0 * per_s, rel=1e-12)
    # dt = 2 s: all returns are zero (100 -> 100), so zero vol
    v2 = realised_vol(t, m, dt_s=2.0, min_returns=10)
    assert v2.n_returns == 20 and v2.sigma_per_sqrt_s == 0.0


def test_per_second_scaling_on_a_coarser_grid():
    # a steady 1% move every 4 s, sampled on a 4 s grid: sigma^2 per second = ln(1.01)^2 / 4
    t = np.arange(0.0, 4.0 * 50 + 1, 4.0)
    m = 100.0 * 1.01 ** np.arange(t.size)
    v = realised_vol(t, m, dt_s=4.0)
    assert v.sigma_per_sqrt_s == pytest.approx(math.log(1.01) / 2.0, rel=1e-12)


def test_recovers_a_known_volatility_from_simulated_mids():
    rng = np.random.default_rng(7)
    sigma = 2e-4  # per sqrt(second)
    t = np.arange(0.0, 20_000.0, 0.25)  # 4 quotes a second; the 1 s grid picks every 4th
    steps = rng.normal(0.0, sigma * math.sqrt(0.25), t.size)
    m = 30_000.0 * np.exp(np.cumsum(steps))
    v = realised_vol(t, m, half_life_s=1e9)
    assert v.n_returns == 19_999
    assert v.sigma_per_sqrt_s == pytest.approx(sigma, rel=0.03)


def test_default_until_enough_history_then_data():
    t = np.arange(10.0)
    m = 100.0 + np.arange(10.0)
    v = realised_vol(t, m)
    assert v.source is VolSource.DEFAULT
    assert v.annual == DEFAULT_ANNUAL_VOL
    assert v.n_returns == 9 and v.data_annual is not None
    assert "9 of the 30" in v.note
    empty = realised_vol(np.array([]), np.array([]), mid=50_000.0)
    assert empty.source is VolSource.DEFAULT and empty.n_returns == 0 and empty.mid == 50_000.0


def test_override_wins_and_is_validated():
    t = np.arange(100.0)
    m = 100.0 * np.exp(1e-4 * np.sin(t))
    v = realised_vol(t, m, override_annual=0.8)
    assert v.source is VolSource.OVERRIDE and v.annual == 0.8
    assert v.sigma_per_sqrt_s == pytest.approx(0.8 / math.sqrt(365 * 86400), rel=1e-15)
    assert v.data_annual is not None and v.data_annual != 0.8
    for bad in (0.0, -0.5, math.nan, math.inf, 50.0, "abc"):
        with pytest.raises(OrderError):
            validate_annual_vol(bad)
        with pytest.raises(OrderError):
            realised_vol(t, m, override_annual=bad)
    o = from_annual(0.5, mid=100.0)
    assert o.source is VolSource.OVERRIDE and o.sigma_quote_per_sqrt_s == pytest.approx(100 * 0.5 / SQRT_YEAR_S)


def test_grid_step_and_half_life_are_validated():
    with pytest.raises(ValueError, match="1 second"):
        realised_vol(np.arange(5.0), np.ones(5), dt_s=0.5)
    with pytest.raises(ValueError, match="half-life"):
        realised_vol(np.arange(5.0), np.ones(5), half_life_s=0.0)

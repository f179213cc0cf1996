"""Property tests: monotone average price, non-negative cost, buy/sell mirror symmetry, linear fees."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.costs.estimate import estimate
from core.costs.fees import expected_fee, get_tier
from core.costs.order import Order
from core.costs.walk import walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot
from tests.generated import books

LV1 = get_tier("okx", "swap", "Lv1")
PROFILE = settings(max_examples=150, deadline=None)


def visible(snap: BookSnapshot, side: str, unit: str) -> float:
    if side == "buy":
        return float(snap.ask_cum_quote[-1] if unit == "quote" else snap.ask_cum_base[-1])
    return float(snap.bid_cum_quote[-1] if unit == "quote" else snap.bid_cum_base[-1])


fractions = st.floats(1e-4, 1.5)  # of the visible side: up to 50% beyond it


@PROFILE
@given(books(), st.sampled_from(["buy", "sell"]), st.sampled_from(["quote", "base"]), fractions, fractions)
def test_average_price_is_monotone_in_size(snap, side, unit, f1, f2):
    lo, hi = sorted((f1, f2))
    v = visible(snap, side, unit)
    a = walk_book(snap, side, lo * v, unit=unit)
    b = walk_book(snap, side, hi * v, unit=unit)
    tol = 1e-12 * a.avg_price
    if side == "buy":
        assert b.avg_price >= a.avg_price - tol
    else:
        assert b.avg_price <= a.avg_price + tol
    assert b.cost >= a.cost * (1 - 1e-12)  # a bigger order never costs less in total


@PROFILE
@given(books(), st.sampled_from(["buy", "sell"]), st.sampled_from(["quote", "base"]), fractions)
def test_cost_versus_mid_is_never_negative(snap, side, unit, f):
    w = walk_book(snap, side, f * visible(snap, side, unit), unit=unit)
    assert w.half_spread_cost >= 0 and w.depth_cost >= 0 and w.cost >= 0
    assert w.cost == pytest.approx(abs(w.filled_quote - w.filled_base * w.mid), rel=1e-7, abs=1e-9 * w.filled_quote)
    if side == "buy":
        assert w.avg_price >= snap.best_ask * (1 - 1e-12)
    else:
        assert w.avg_price <= snap.best_bid * (1 + 1e-12)
    requested = w.filled_quote if unit == "quote" else w.filled_base
    assert requested == pytest.approx(f * visible(snap, side, unit), rel=1e-9)


@PROFILE
@given(books(mirrored=True), fractions)
def test_buy_and_sell_mirror_each_other(snap, f):
    q = f * float(snap.ask_cum_base[-1])  # same base size on a book symmetric about the mid
    buy = walk_book(snap, "buy", q, unit="base")
    sell = walk_book(snap, "sell", q, unit="base")
    m = snap.mid
    scale = 1e-9 * m * q + 1e-12
    assert buy.cost == pytest.approx(sell.cost, abs=scale)
    assert buy.avg_price - m == pytest.approx(m - sell.avg_price, abs=1e-9 * m)
    assert buy.levels_used == sell.levels_used
    assert buy.beyond_visible == sell.beyond_visible


@PROFILE
@given(
    st.floats(0, 1e9),
    st.floats(0, 1e9),
    st.floats(0, 1),
    st.floats(-1e-4, 1e-3),
    st.floats(0, 1e-3),
    st.floats(0, 100),
)
def test_fee_is_linear_in_notional(a, b, f, maker, taker, k):
    fa, fb = expected_fee(a, f, maker, taker), expected_fee(b, f, maker, taker)
    assert expected_fee(a + b, f, maker, taker) == pytest.approx(fa + fb, rel=1e-12, abs=1e-9)
    assert expected_fee(k * a, f, maker, taker) == pytest.approx(k * fa, rel=1e-12, abs=1e-9)
    assert expected_fee(a, 0.0, maker, taker) == pytest.approx(a * taker, rel=1e-15, abs=1e-12)


@PROFILE
@given(books(), st.sampled_from(["buy", "sell"]), st.sampled_from(["usd", "base"]), fractions)
def test_net_cost_is_exactly_the_sum_of_its_parts(snap, side, unit, f):
    q = f * visible(snap, side, "quote" if unit == "usd" else "base")
    assume(q * (snap.mid if unit == "base" else 1.0) < 1e9)
    try:
        e = estimate(snap, Order(side=side, quantity=q, unit=unit), fee_tier=LV1)
    except OrderError:  # size rounds to nothing or an absurd sell beyond the book: refused by design
        return
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd  # impact is part of slippage, never added again
    assert 0 <= e.impact_usd <= e.slippage_usd and e.fee_usd >= 0
    assert e.slippage_usd == e.walk_slippage_usd
    assert math.isfinite(e.latency_us) and e.maker_fraction == 0.0

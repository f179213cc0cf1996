"""The per-tick figures equal the explained estimate's on generated books, on the compiled path and off it.

The recorded-book test (``test_tick_pricer.py``) covers the books the app sees; this one lets Hypothesis pick
the shapes: one to 40 levels a side, prices from cents to 100k, sizes over six orders of magnitude, buys and
sells in USD and base units, orders inside the visible book and up to 50% beyond it, with and without the
shipped models. Where the estimate refuses an order, the figures refuse it with the same message.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from core.costs.fees import get_tier
from core.costs.models import Models
from core.costs.order import Order
from core.costs.volatility import VolSource, from_annual
from core.errors import OrderError
from core.learned.models import load_models
from core.market.book import BookSnapshot
from core.pricing.pricer import KERNEL_BUILT, CostFigures, TickPricer
from tests.generated import books
from tests.parity.figures import assert_figures_equal

LOADED = load_models()
SHIPPED = Models(slippage=LOADED.models.slippage, maker_taker=LOADED.models.maker_taker)
TIER = get_tier("okx", "swap", "Lv1")
PROFILE = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: one to 40 levels a side, prices from cents to 100k, sizes over six orders of magnitude, an instrument the
#: shipped models know
BOOKS = books(levels=(1, 40), mid=(0.05, 1e5), gap=(1e-6, 5e-3), exchange="okx", symbol="BTC-USDT-SWAP")


@st.composite
def orders(draw, snap: BookSnapshot) -> tuple[Order, bool]:
    """An order sized as a fraction of its visible side (``inside`` when the visible book fills it)."""
    side = draw(st.sampled_from(["buy", "sell"]))
    unit = draw(st.sampled_from(["quote", "base"]))
    cum = {
        ("buy", "quote"): snap.ask_cum_quote,
        ("buy", "base"): snap.ask_cum_base,
        ("sell", "quote"): snap.bid_cum_quote,
        ("sell", "base"): snap.bid_cum_base,
    }[side, unit]
    fraction = draw(st.one_of(st.floats(1e-4, 0.999), st.floats(1.001, 1.5)))
    latency = draw(st.sampled_from([0.0, 100.0, 250.0, 1000.0]))
    quantity = fraction * float(cum[-1])
    assume(quantity > 0 and (unit == "base" or quantity <= 1e9))
    return Order(side, quantity, unit=unit, latency_ms=latency), fraction < 1.0


def figures_and_estimate(
    snap: BookSnapshot, order: Order, models: Models | None, vol_annual: float | None, compiled: bool
) -> tuple[CostFigures | str, CostFigures | str, TickPricer]:
    """(per-tick figures, the explained estimate as figures), each replaced by its message when refused."""
    pricer = TickPricer(order, fee_tier=TIER, models=models)
    if not compiled:
        pricer.compiled = False  # the switch the benchmark uses: every tick takes estimate() itself
    vol = None if vol_annual is None else from_annual(vol_annual, mid=snap.mid, source=VolSource.DATA)
    try:
        fig: CostFigures | str = pricer.figures(snap, vol)
    except OrderError as exc:
        fig = str(exc)
    try:
        est: CostFigures | str = CostFigures.of(pricer.estimate(snap, vol), snap, 0.0)
    except OrderError as exc:
        est = str(exc)
    return fig, est, pricer


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "compiled_off"])
@PROFILE
@given(data=st.data(), with_models=st.booleans(), vol_annual=st.sampled_from([None, 0.2, 0.8]))
def test_figures_equal_the_estimate_on_generated_books(compiled, data, with_models, vol_annual):
    snap = data.draw(BOOKS)
    order, inside = data.draw(orders(snap))
    fig, est, pricer = figures_and_estimate(snap, order, SHIPPED if with_models else None, vol_annual, compiled)
    if isinstance(est, str) or isinstance(fig, str):
        event("refused by both")
        assert fig == est  # the same plain message on both paths
        return
    event("compiled path" if fig.compiled else "estimate path")
    assert_figures_equal(fig, est)
    # the compiled path runs exactly when it is on and the visible book fills the order
    assert fig.compiled == (compiled and KERNEL_BUILT and pricer.compiled and inside)
    if compiled and KERNEL_BUILT:
        assert pricer.compiled  # market orders with the shipped models or none always qualify


@pytest.mark.skipif(not KERNEL_BUILT, reason="core.costs._walk is not built")
@PROFILE
@given(BOOKS, st.lists(st.floats(0.0, 0.05), min_size=1, max_size=8))
def test_banded_depth_is_the_feature_builders_in_any_band_order(snap, bands):
    # the kernel scans on from the last band while the limits move outwards, and from the touch otherwise
    import numpy as np

    from core.costs._walk import band_depths
    from core.learned.features import _depths

    limits = np.asarray(bands)
    want = (
        _depths(snap.bid_px, snap.bid_cum_quote, snap.mid * (1.0 - limits), descending=True),
        _depths(snap.ask_px, snap.ask_cum_quote, snap.mid * (1.0 + limits), descending=False),
    )
    assert band_depths(snap.bid_px, snap.bid_cum_quote, snap.ask_px, snap.ask_cum_quote, snap.mid, tuple(bands)) == want

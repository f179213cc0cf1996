"""The per-tick numbers equal the full estimate's, on real books, whichever path computes them."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.models import Models, SlippagePrediction
from core.costs.order import Order
from core.costs.volatility import VolSource, from_annual
from core.errors import OrderError
from core.feed.goquant import parse_snapshot
from core.feed.recording import load_recording
from core.feed.replay import bundled_recordings
from core.learned.models import load_models
from core.learned.nets import DenseWeights, NumpyNet
from core.market.instruments import get_instrument
from core.pricing.pricer import CostFigures, TickPricer
from tests.parity.figures import assert_figures_equal


def real_books(step: int = 97, n: int = 12):
    out = []
    for rec in bundled_recordings():
        inst = get_instrument(rec.exchange, rec.symbol)
        msgs = itertools.islice(load_recording(rec.path).iter_messages(), 0, step * n, step)
        out += [(inst, parse_snapshot(m, instrument=inst, seq=i)) for i, m in enumerate(msgs)]
    return out


BOOKS = real_books()
LOADED = load_models()
SHIPPED = Models(slippage=LOADED.models.slippage, maker_taker=LOADED.models.maker_taker)


ORDERS = [
    ("buy", 10.0, "quote"),
    ("sell", 100.0, "quote"),
    ("buy", 25_000.0, "quote"),
    ("sell", 2e6, "quote"),
    ("buy", 0.002, "base"),
    ("sell", 3.0, "base"),
]


@pytest.mark.parametrize("models", [None, SHIPPED], ids=["rules", "shipped_models"])
@pytest.mark.parametrize("side,size,unit", ORDERS)
def test_compiled_figures_equal_the_full_estimate_on_real_books(models, side, size, unit):
    vols = [None, from_annual(0.35, mid=60_000.0, source=VolSource.DATA)]
    for (inst, snap), vol in itertools.product(BOOKS, vols):
        order = Order(side, size, unit=unit, latency_ms=250.0)
        est = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind), models=models)
        f = est.figures(snap, vol)
        assert f.compiled, "an order the visible book fills must take the compiled path"
        assert_figures_equal(f, CostFigures.of(est.estimate(snap, vol), snap, 0.0))
        assert (f.seq, f.exchange_ts_ms, f.recv_ns) == (snap.seq, snap.exchange_ts_ms, snap.recv_ns)


def test_one_pricer_fed_several_instruments_gives_each_its_own_band():
    """One ``TickPricer`` fed the books of every bundled instrument in turn (the p90 band may have cells per
    instrument, ``core.learned.nets.BandShift.instruments``): every figure equals ``estimate`` on that book,
    going back to an instrument seen before included."""
    order = Order("sell", 200_000.0, unit="quote", latency_ms=250.0)
    pricer = TickPricer(order, fee_tier=get_tier("binance-futures", "swap"), models=SHIPPED)
    vol = from_annual(0.35, mid=60_000.0, source=VolSource.DATA)
    for _, snap in BOOKS[::7] + BOOKS[::11]:
        f = pricer.figures(snap, vol)
        assert f.compiled and f.slippage_p90_usd is not None
        assert_figures_equal(f, CostFigures.of(pricer.estimate(snap, vol), snap, 0.0))
    assert len({(s.exchange, s.symbol) for _, s in BOOKS}) > 1


def test_the_online_band_shift_is_the_same_on_both_paths():
    """With the online calibration's band tracker moved (``core.learned.online``), the compiled figures' p90 equals
    ``estimate``'s, and it differs from the static one where the shift moved it."""
    from core.learned.online import BandTracker, size_bucket

    band = BandTracker(step=3.0)
    for bucket, misses in ((0, 3), (2, 5), (3, 0), (4, 1)):
        for _ in range(misses):
            band.observe(bucket, missed=True)
        for _ in range(12):
            band.observe(bucket, missed=False)
    assert band.shift(3) < 0 < band.shift(2)
    online = Models(slippage=replace(LOADED.models.slippage, band=band), maker_taker=None)
    vol = from_annual(0.35, mid=60_000.0, source=VolSource.DATA)
    moved = 0
    for (inst, snap), (side, size, unit) in itertools.product(BOOKS[::5], ORDERS):
        order = Order(side, size, unit=unit, latency_ms=250.0)
        pricer = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind), models=online)
        f = pricer.figures(snap, vol)
        assert f.compiled
        assert_figures_equal(f, CostFigures.of(pricer.estimate(snap, vol), snap, 0.0))
        static = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind), models=SHIPPED).figures(snap, vol)
        assert f.slippage_p90_usd is not None and static.slippage_p90_usd is not None
        assert f.slippage_p90_usd >= f.slippage_usd - 1e-9  # never below the expectation
        if band.shift(size_bucket(f.filled_usd)) > 0:
            assert f.slippage_p90_usd > static.slippage_p90_usd
            moved += 1
    assert moved > 0


def test_orders_the_compiled_path_does_not_cover_give_the_estimate_itself():
    inst, snap = BOOKS[0]
    tier = get_tier(inst.exchange, inst.kind)
    beyond = Order("buy", 5e8, latency_ms=100.0)  # far past 400 visible levels: extrapolated
    limit = Order("sell", 5_000.0, order_type="limit", offset_bps=1.0, horizon_s=10.0)
    for order in (beyond, limit):
        est = TickPricer(order, fee_tier=tier, models=SHIPPED)
        f = est.figures(snap)
        assert not f.compiled
        assert_figures_equal(f, CostFigures.of(est.estimate(snap), snap, 0.0))
    assert TickPricer(beyond, fee_tier=tier).estimate(snap).beyond_visible


class HalfWalk:
    """A model the compiled path does not know: the engine must still call it."""

    name = "test double: half the walk"

    def predict(self, x):
        return SlippagePrediction(expected_bps=0.5 * x.walk.cost_bps)


def test_an_unknown_model_takes_the_python_path_and_is_used():
    inst, snap = BOOKS[1]
    order = Order("buy", 1e6)
    est = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind), models=Models(slippage=HalfWalk()))
    f = est.figures(snap)
    assert not est.compiled and not f.compiled
    assert f.slippage_usd == pytest.approx(0.5 * f.walk_slippage_usd, rel=1e-12)


def test_errors_are_the_estimates_plain_messages():
    inst, snap = BOOKS[0]
    order = Order("buy", 1e6, unit="base")  # about $60bn of BTC
    est = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind))
    with pytest.raises(OrderError) as fast:
        est.figures(snap)
    with pytest.raises(OrderError) as full:
        estimate(snap, order, fee_tier=get_tier(inst.exchange, inst.kind))
    assert str(fast.value) == str(full.value) and "check the size" in str(fast.value)


def test_tick_row_is_the_models_feature_row():
    slip = LOADED.models.slippage
    for (inst, snap), side in itertools.product(BOOKS, ("buy", "sell")):
        order = Order(side, 50_000.0, latency_ms=500.0)
        e = estimate(snap, order, fee_tier=get_tier(inst.exchange, inst.kind))
        from core.costs._walk import band_depths
        from core.costs.models import ModelInput
        from core.pricing.pricer import _BANDS

        mi = ModelInput(
            snapshot=snap,
            order=order,
            walk=e.walk,
            volatility=from_annual(0.4, mid=snap.mid, source=VolSource.DATA),
            notional_usd=e.filled_usd,
        )
        bands = band_depths(snap.bid_px, snap.bid_cum_quote, snap.ask_px, snap.ask_cum_quote, snap.mid, _BANDS)
        row = slip.tick_row(
            snap,
            bands,
            side=1 if side == "buy" else -1,
            notional_usd=e.filled_usd,
            walk_bps=e.walk.cost_bps,
            vol_per_sqrt_s=mi.volatility.sigma_per_sqrt_s,
            latency_ms=500.0,
        )
        assert row == slip.features(mi).tolist()


def test_the_kernels_book_features_and_the_order_features_make_tick_row():
    from core.costs._walk import band_depths, walk_fill
    from core.costs.composition import bps
    from core.costs.impact import MIN_FIT_LEVELS
    from core.costs.walk import BOUNDARY_RTOL
    from core.pricing.pricer import _BANDS

    slip = LOADED.models.slippage
    for (inst, snap), side, size in itertools.product(BOOKS, ("buy", "sell"), (10.0, 50_000.0)):
        order = Order(side, size, latency_ms=500.0)
        vol = from_annual(0.4, mid=snap.mid, source=VolSource.DATA)
        pricer = TickPricer(order, fee_tier=get_tier(inst.exchange, inst.kind), models=SHIPPED)
        assert pricer.figures(snap, vol).compiled
        buy = side == "buy"
        arrays = (
            (snap.ask_px, snap.ask_sz, snap.ask_cum_base, snap.ask_cum_quote)
            if buy
            else (snap.bid_px, snap.bid_sz, snap.bid_cum_base, snap.bid_cum_quote)
        )
        _, _, notional, half, depth, _ = walk_fill(*arrays, size, True, buy, snap.mid, BOUNDARY_RTOL, MIN_FIT_LEVELS)
        bands = band_depths(snap.bid_px, snap.bid_cum_quote, snap.ask_px, snap.ask_cum_quote, snap.mid, _BANDS)
        row = slip.tick_row(
            snap,
            bands,
            side=1 if buy else -1,
            notional_usd=notional,
            walk_bps=bps(half + depth, notional),
            vol_per_sqrt_s=vol.sigma_per_sqrt_s,
            latency_ms=500.0,
        )
        assert pricer._kernel_for(snap).last_row() + pricer._order_features(snap, vol) == row  # bit for bit


def test_a_new_volatility_reaches_the_per_tick_features():
    inst, snap = BOOKS[0]
    pricer = TickPricer(
        Order("buy", 50_000.0, latency_ms=100.0), fee_tier=get_tier(inst.exchange, inst.kind), models=SHIPPED
    )
    for annual in (0.2, 0.9, 0.2):  # a new Volatility object each time, as the tracker's once-a-second refresh
        vol = from_annual(annual, mid=snap.mid, source=VolSource.DATA)
        f = pricer.figures(snap, vol)
        assert_figures_equal(f, CostFigures.of(pricer.estimate(snap, vol), snap, 0.0))
    f = pricer.figures(snap, None)  # no volatility: the default one, on both paths
    assert_figures_equal(f, CostFigures.of(pricer.estimate(snap, None), snap, 0.0))


def random_net(rng: np.random.Generator, kind: str, n_in: int, hidden: tuple[int, ...], heads: int) -> NumpyNet:
    layers, width = [], n_in
    for h in hidden:
        layers.append(DenseWeights(rng.normal(size=(width, h)), rng.normal(size=h), "relu"))
        width = h
    acts = {"quantiles": ["linear"] + ["softplus"] * (heads - 1), "probability": ["sigmoid"], "regression": ["linear"]}[
        kind
    ]
    return NumpyNet(
        kind=kind,
        mean=rng.normal(size=n_in),
        scale=rng.uniform(0.5, 2.0, size=n_in),
        hidden=tuple(layers),
        heads=tuple(DenseWeights(rng.normal(size=(width, 1)), rng.normal(size=1), a) for a in acts),
        offset_w=rng.normal(size=n_in) if kind != "probability" else None,
        scale_w=np.abs(rng.normal(size=n_in)) if kind == "quantiles" else None,
    )


@pytest.mark.parametrize("hidden", [(), (8,), (16, 4)])
@pytest.mark.parametrize("kind,heads", [("quantiles", 3), ("regression", 1), ("probability", 1)])
def test_compiled_forward_pass_equals_numpy(kind, heads, hidden):
    rng = np.random.default_rng(7)
    net = random_net(rng, kind, 9, hidden, heads)
    for a in (net.mean, net.scale, *(layer.w for layer in net.hidden + net.heads)):
        a.setflags(write=False)  # as net_from_keras hands them out
    dense = net.compiled()
    for _ in range(200):
        row = rng.normal(scale=3.0, size=9)
        want = net.forward(row)[0]
        got = dense(row.tolist())
        assert np.allclose(got, np.atleast_1d(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hidden", [(), (8,)])
def test_compiled_corrections_equal_numpy(hidden):
    """The p90's band shift and the maker model's recalibration (core.learned.nets) in the compiled twin."""
    from core.learned.nets import BandShift, Recalibration

    rng = np.random.default_rng(11)
    n_in = 9
    q = replace(
        random_net(rng, "quantiles", n_in, hidden, 3),
        band_shift=BandShift(
            edges=np.array([3.0, 4.0, 5.0, 6.0]),
            table=rng.uniform(0.0, 2.0, size=(2, 5)),
            size_col=0,
            group_col=1,
            scale_col=2,
            floor=0.1,
        ),
    )
    knots = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    p = replace(
        random_net(rng, "probability", n_in, hidden, 1),
        recalibration=Recalibration(knots=knots, coef=rng.normal(size=(2, 7, 2)), u_col=0, group_col=1),
    )
    flow_knots = np.arange(-6.0, 4.0)  # the flow-relative scale: u = -raw[3] (log10_flow_over_order)
    f = replace(
        random_net(rng, "probability", n_in, hidden, 1),
        recalibration=Recalibration(
            knots=flow_knots, coef=rng.normal(size=(2, flow_knots.size, 2)), u_col=3, group_col=1, u_sign=-1.0
        ),
    )
    sk = np.arange(-4.0, 4.0)  # the seconds-of-flow scale: size over the USD per second recovered from 3 columns
    sec = replace(
        random_net(rng, "probability", n_in, hidden, 1),
        recalibration=Recalibration(
            knots=sk, coef=rng.normal(size=(2, sk.size, 2)), u_col=0, group_col=1, flow_cols=(4, 5, 3)
        ),
    )
    for net in (q, p, f, sec):
        dense = net.compiled()
        for i in range(300):
            row = rng.normal(scale=3.0, size=n_in)
            row[0] = rng.uniform(0.0, 8.0) if i % 10 else float(rng.integers(3, 7))  # sizes on the edges too
            row[1] = float(rng.integers(0, 2))
            row[2] = rng.uniform(-0.5, 3.0)  # volatility below the floor too
            row[3] = rng.uniform(-8.0, 5.0) if i % 10 else -float(rng.integers(-6, 4))  # flow knots and beyond
            row[4] = rng.uniform(0.0, 7.0)  # log10 queue USD
            row[5] = rng.uniform(0.0, 1.8)  # log10 horizon s (a flow below the floor too, when row[3] is low)
            assert np.allclose(dense(row.tolist()), np.atleast_1d(net.forward(row)[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hidden", [(), (8,)])
def test_compiled_per_instrument_band_equals_numpy(hidden):
    """A band shift with per-instrument rows (core.learned.nets.BandShift.instruments): the compiled twin bound to an
    instrument equals ``forward`` with that instrument's key, and an instrument without a row (or none) gets the
    pooled row of its market kind in both."""
    from core.learned.nets import BandShift

    rng = np.random.default_rng(12)
    n_in = 9
    table = rng.uniform(-1.0, 2.0, size=(4, 5))  # two pooled rows, two instruments; negative: the p50 guard too
    net = replace(
        random_net(rng, "quantiles", n_in, hidden, 3),
        band_shift=BandShift(
            edges=np.array([3.0, 4.0, 5.0, 6.0]),
            table=table,
            size_col=0,
            group_col=1,
            scale_col=2,
            floor=0.1,
            instruments=("binance-futures:BTCUSDT", "binance-coinm:BTCUSD_PERP"),
        ),
    )
    rows = rng.normal(scale=3.0, size=(300, n_in))
    rows[:, 0] = rng.uniform(0.0, 8.0, size=300)
    rows[:, 1] = rng.integers(0, 2, size=300)
    rows[:, 2] = rng.uniform(-0.5, 3.0, size=300)
    pooled = net.forward(rows)
    for key in (None, "binance-futures:BTCUSDT", "binance-coinm:BTCUSD_PERP", "okx:BTC-USDT-SWAP"):
        dense = net.compiled(key)
        if dense is None:
            pytest.skip("the compiled twin is not built (setup.py build_ext --inplace)")
        want = net.forward(rows, key)
        got = np.array([dense(row.tolist()) for row in rows])
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12), key
        own = key is not None and key.startswith("binance")
        assert own != np.allclose(want, pooled, rtol=0, atol=0), key  # an own row moves the band; others do not
    per_row = net.forward(rows, ["binance-coinm:BTCUSD_PERP", None] * 150)  # one key per row
    assert np.allclose(per_row[::2], net.forward(rows[::2], "binance-coinm:BTCUSD_PERP"), rtol=1e-12, atol=1e-12)
    assert np.array_equal(per_row[1::2], pooled[1::2])


def test_shipped_nets_compile_to_the_same_outputs():
    rng = np.random.default_rng(3)
    assert LOADED.nets, "no shipped models loaded"
    for role, net in LOADED.nets.items():
        rows = rng.normal(size=(100, net.n_features)) * net.scale + net.mean
        bs = net.band_shift
        for key in (None, *(bs.instruments if bs is not None else ())):  # every instrument's band, and the pooled
            dense = net.compiled(key)
            for row in rows:
                want = np.atleast_1d(net.forward(row, key)[0])
                assert np.allclose(dense(row.tolist()), want, rtol=1e-12, atol=1e-12), (role, key)
    dense = LOADED.nets["slippage_quantiles"].compiled()
    with pytest.raises(ValueError):
        dense([1.0])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_non_finite_model_output_falls_back_like_the_estimate():
    inst, snap = BOOKS[2]
    slip = LOADED.models.slippage
    q = slip.quantiles
    broken = replace(q, mean=np.full_like(q.mean, math.nan))  # every output NaN
    models = Models(slippage=replace(slip, quantiles=broken))
    est = TickPricer(
        Order("buy", 10_000.0, latency_ms=100.0), fee_tier=get_tier(inst.exchange, inst.kind), models=models
    )
    f = est.figures(snap)
    assert f.compiled
    assert_figures_equal(f, CostFigures.of(est.estimate(snap), snap, 0.0))


def test_a_book_too_extreme_to_calibrate_is_a_plain_error_on_both_paths():
    import orjson

    inst = get_instrument("binance-futures", "BTCUSDT")
    raw = orjson.dumps(
        {
            "bids": [["60000.0", "1e-200"]] * 1 + [["59999.9", "1e-200"]],
            "asks": [[f"6000{i}.1", "1e-200"] for i in range(5)],
        }
    )
    snap = parse_snapshot(raw, instrument=inst)
    order = Order("buy", 1e-196)
    tier = get_tier(inst.exchange, inst.kind)
    with pytest.raises(OrderError, match="too extreme"):
        estimate(snap, order, fee_tier=tier)
    with pytest.raises(OrderError, match="too extreme"):
        TickPricer(order, fee_tier=tier).figures(snap)


def test_compiled_net_rejects_shapes_that_do_not_chain():
    from core.learned._nets import DenseNet

    with pytest.raises(ValueError, match="do not chain"):
        DenseNet(np.zeros(3), np.ones(3), [(np.zeros((4, 2)), np.zeros(2), [0, 0])])
    with pytest.raises(ValueError, match="one weight per input"):
        DenseNet(np.zeros(3), np.ones(3), [(np.zeros((3, 1)), np.zeros(1), [0])], scale_w=np.ones(2))
    with pytest.raises(ValueError, match="activation"):
        DenseNet(np.zeros(3), np.ones(3), [(np.zeros((3, 1)), np.zeros(1), [9])])

"""The corrections fitted after training: the p90's conformal widening and the maker model's recalibration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.learned.nets import BandShift, DenseWeights, NumpyNet, Recalibration, flow_usd_per_s, hat_weights
from core.training.conformal import (
    EDGES_LOG10_USD,
    MIN_CELL,
    MIN_INSTRUMENT_CELL,
    SHRINK_K,
    Cells,
    Normaliser,
    TakerScores,
    calibrate,
    choose_cells,
    choose_normaliser,
    combine_cells,
    conformal_quantile,
    covered,
    fit_instrument_table,
    fit_table,
    held_out_coverage,
)
from core.training.recalibration import (
    KNOTS_LOG10_FLOW_SECONDS,
    KNOTS_LOG10_ORDER_OVER_FLOW,
    KNOTS_LOG10_USD,
    CalibrationRows,
    choose_recalibration,
    fit_group,
    fit_recalibration,
    pre_activation,
)

pytestmark = pytest.mark.unit

# the quantile model's inputs: the columns the band shift reads
from core.learned.features import ROLE_INPUTS  # noqa: E402

Q_NAMES = list(ROLE_INPUTS["slippage_quantiles"])
SIZE, SPOT, VOL, WALK = (Q_NAMES.index(c) for c in ("log10_size_usd", "is_spot", "vol_bps", "walk_bps"))
BY_VOL, BY_WALK = Normaliser("vol_bps", 0.1), Normaliser("walk_bps", 0.03)
BY_VOL_TWO_SIDED = replace(BY_VOL, two_sided=True)
SCORE_FIELDS = ("recording", "ts_ms", "x", "p90_bps", "realised_bps")


def quantile_net(rng: np.random.Generator, shift: BandShift | None = None) -> NumpyNet:
    n = len(Q_NAMES)
    return NumpyNet(
        kind="quantiles",
        mean=rng.normal(size=n),
        scale=rng.uniform(0.5, 2.0, size=n),
        hidden=(),
        heads=tuple(
            DenseWeights(rng.normal(size=(n, 1)), rng.normal(size=1), a) for a in ("linear", "softplus", "softplus")
        ),
        offset_w=rng.normal(size=n),
        scale_w=np.where(np.arange(n) == VOL, rng.uniform(0.5, 2.0), 0.0),  # >= 0 like latency_move_bps: no crossing
        band_shift=shift,
    )


def rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, len(Q_NAMES)))
    x[:, SIZE] = rng.uniform(1.0, 7.0, size=n)
    x[:, SPOT] = rng.integers(0, 2, size=n)
    x[:, VOL] = rng.uniform(0.0, 3.0, size=n)
    return x


def shift(table: np.ndarray) -> BandShift:
    return BandShift(edges=EDGES_LOG10_USD, table=table, size_col=SIZE, group_col=SPOT, scale_col=VOL, floor=0.1)


def test_conformal_quantile_is_the_finite_sample_rank_and_never_negative_unless_two_sided():
    s = np.arange(1.0, 10.0)  # n = 9: the ceil(10 x 0.9) = 9th smallest
    assert conformal_quantile(s) == 9.0
    assert conformal_quantile(np.arange(1.0, 20.0)) == 18.0  # n = 19: the 18th
    assert conformal_quantile(-s) == 0.0  # clipped: the correction only widens
    assert conformal_quantile(-s, two_sided=True) == -1.0  # two-sided: the 9th smallest of -9..-1
    assert conformal_quantile(s, two_sided=True) == 9.0
    assert conformal_quantile(np.empty(0)) == 0.0 and conformal_quantile(np.empty(0), two_sided=True) == 0.0


def test_band_shift_widens_p90_and_p95_by_the_table_times_the_volatility():
    rng = np.random.default_rng(1)
    table = rng.uniform(0.0, 1.0, size=(2, EDGES_LOG10_USD.size + 1))
    plain, shifted = quantile_net(rng), None
    shifted = replace(plain, band_shift=shift(table))
    x = rows(rng, 500)
    a, b = plain.forward(x), shifted.forward(x)
    k = np.searchsorted(EDGES_LOG10_USD, x[:, SIZE], side="right")
    want = table[(x[:, SPOT] > 0.5).astype(int), k] * np.maximum(x[:, VOL], 0.1)
    assert np.array_equal(a[:, 0], b[:, 0])  # p50 untouched
    assert np.allclose(b[:, 1] - a[:, 1], want, rtol=0, atol=1e-12)
    assert np.allclose(b[:, 2] - a[:, 2], want, rtol=0, atol=1e-12)
    assert np.allclose(b[:, 2] - b[:, 1], a[:, 2] - a[:, 1], rtol=0, atol=1e-12)  # p95 - p90 kept: no crossing
    # the size bucket's lower bound is inclusive, as in the validator's buckets
    edge = x[:1].copy()
    edge[0, SIZE], edge[0, SPOT], edge[0, VOL] = 3.0, 0.0, 1.0
    assert np.isclose(shifted.forward(edge)[0, 1] - plain.forward(edge)[0, 1], table[0, 1])


def test_fit_table_covers_each_cell_and_pools_thin_buckets_with_smaller_ones():
    rng = np.random.default_rng(2)
    n = 4000
    x = rows(rng, n)
    x[:, SIZE] = np.where(rng.random(n) < 0.01, 6.5, rng.uniform(1.0, 5.0, n))  # few orders of $1M and more
    realised = rng.exponential(1.0, n) * (1 + x[:, SPOT])
    t = TakerScores(np.full(n, "r"), np.arange(n), x, np.zeros(n), realised)
    table, cells = fit_table(t, BY_VOL)
    assert (table >= 0).all()
    shifted_p90 = table[t.group, t.bucket] * np.maximum(t.vol_bps, 0.1)
    covered = realised <= shifted_p90 + 1e-12
    for g in (0, 1):
        for k in range(table.shape[1]):
            m = (t.group == g) & (t.bucket == k)
            if m.sum() >= MIN_CELL:
                assert 0.9 <= covered[m].mean() <= 0.9 + 2.0 / m.sum(), (g, k)
    big = [c for c in cells if c["bucket"] == ">=$1M"]
    assert all(c["n"] < MIN_CELL and c["pooled_from"] is not None for c in big)


def recordings_of_different_volatility(rng: np.random.Generator, misses_scale_with: str) -> TakerScores:
    """Three recordings, volatility 0.5, 1 and 2 bps per sqrt(s); the walk independent of it; the model's p90 at 0
    and the misses exponential in units of the volatility or of the walk."""
    parts = []
    for r, vol in enumerate((0.5, 1.0, 2.0)):
        n = 3000
        x = rows(rng, n)
        x[:, SPOT] = 0.0  # one market kind: a fold never leaves a kind without orders
        x[:, SIZE] = rng.uniform(2.0, 5.0, n)
        x[:, VOL] = vol * rng.uniform(0.9, 1.1, n)
        x[:, WALK] = rng.uniform(0.05, 1.0, n)
        unit = x[:, VOL] if misses_scale_with == "vol_bps" else x[:, WALK]
        realised = unit * rng.exponential(1.0, n)
        parts.append(TakerScores(np.full(n, f"rec{r}"), np.arange(n) * 100, x, np.zeros(n), realised))
    return TakerScores(*(np.concatenate([getattr(p, f) for p in parts]) for f in SCORE_FIELDS))


@pytest.mark.parametrize("unit", ["vol_bps", "walk_bps"])
def test_cross_validation_chooses_the_unit_the_misses_scale_in(unit):
    """Across recordings of different volatility, only the right unit carries the table from some recordings (and
    volatility terciles) to the others: the choice finds it, and the served band uses it."""
    t = recordings_of_different_volatility(np.random.default_rng(8), unit)
    chosen, evidence = choose_normaliser(t, (BY_VOL, BY_WALK))
    assert chosen.column == unit
    worst = {e["normaliser"]: e["worst_deviation"] for e in evidence}
    right, wrong = (BY_VOL, BY_WALK) if unit == "vol_bps" else (BY_WALK, BY_VOL)
    assert worst[right.name] < 0.05 < worst[wrong.name]
    net, card = calibrate(quantile_net(np.random.default_rng(9)), t, {}, (BY_VOL, BY_WALK))
    assert net.band_shift is not None and Q_NAMES[net.band_shift.scale_col] == unit
    assert card["normaliser"]["column"] == unit and net.band_shift.floor == card["normaliser"]["floor"]


def test_an_ineligible_unit_is_scored_but_never_chosen():
    t = recordings_of_different_volatility(np.random.default_rng(10), "walk_bps")
    walk_only_scored = Normaliser("walk_bps", 0.03, eligible=False)
    chosen, evidence = choose_normaliser(t, (BY_VOL, walk_only_scored))
    assert chosen == BY_VOL
    worst = {e["normaliser"]: e["worst_deviation"] for e in evidence}
    assert worst[walk_only_scored.name] < worst[BY_VOL.name]  # it would have won
    assert [e["eligible"] for e in evidence] == [True, False]


def too_wide_bands(rng: np.random.Generator, n_recordings: int = 3, n: int = 3000) -> tuple[NumpyNet, TakerScores]:
    """Orders priced by ``quantile_net`` whose band (p90 - p50) is wider than the realised costs need: each
    realised cost lies between the p50 and 60% of the way to the p90, so every order is covered and the 90%
    quantile of the score is negative. The p90 head ignores the volatility, so the band is proportional to it
    (the net's scale) and the score in volatility units is alike across volatility terciles."""
    net = quantile_net(rng)
    p90_head = net.heads[1]
    w = p90_head.w.copy()
    w[VOL] = 0.0
    net = replace(net, heads=(net.heads[0], replace(p90_head, w=w), net.heads[2]))
    parts = []
    for r in range(n_recordings):
        x = rows(rng, n)
        x[:, SPOT] = 0.0
        x[:, SIZE] = rng.uniform(2.0, 5.0, n)
        x[:, VOL] = rng.uniform(0.5, 2.0, n)
        q = net.forward(x)
        realised = q[:, 0] + (q[:, 1] - q[:, 0]) * rng.uniform(0.0, 0.6, n)
        parts.append(TakerScores(np.full(n, f"rec{r}"), np.arange(n) * 100, x, q[:, 1], realised, p50_bps=q[:, 0]))
    fields = (*SCORE_FIELDS, "p50_bps")
    return net, TakerScores(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))


def test_a_two_sided_table_narrows_a_too_wide_band_and_never_below_the_p50():
    """When real orders say the model's band is too wide, the two-sided table is negative (clipped: 0), the
    cross-validation prefers it (the clipped band over-covers every cell), and the served p90 comes down, but
    never below the p50 (in numpy and in the compiled twin)."""
    net, t = too_wide_bands(np.random.default_rng(21))
    assert (t.realised_bps <= t.p90_bps).all()  # the uncorrected band covers every order
    clipped, _ = fit_table(t, BY_VOL)
    two_sided, _ = fit_table(t, BY_VOL_TWO_SIDED)
    assert (clipped[0, 1:4] == 0.0).all()
    assert (two_sided[0, 1:4] < 0.0).all()  # the buckets with orders ($100-$100k): the band moves down

    chosen, evidence = choose_normaliser(t, (BY_VOL, BY_VOL_TWO_SIDED))
    assert chosen == BY_VOL_TWO_SIDED
    worst = {e["normaliser"]: e["worst_deviation"] for e in evidence}
    assert worst[BY_VOL_TWO_SIDED.name] < 0.03 < worst[BY_VOL.name]

    served, card = calibrate(net, t, {}, (BY_VOL, BY_VOL_TWO_SIDED))
    assert card["normaliser"]["two_sided"] and "two-sided" in card["method"]
    assert served.band_shift is not None and (served.band_shift.table[0, 1:4] < 0).all()
    plain, moved = net.forward(t.x), served.forward(t.x)
    shift_bps = served.band_shift(t.x)
    assert (moved[:, 1] <= plain[:, 1] + 1e-12).all() and (moved[:, 1] < plain[:, 1] - 1e-9).mean() > 0.9
    assert (moved[:, 1] >= moved[:, 0] - 1e-12).all() and (moved[:, 2] >= moved[:, 1] - 1e-12).all()
    guarded = plain[:, 1] + shift_bps < plain[:, 0]
    assert guarded.any()  # the guard binds where the shift is wider than the model's own band
    assert np.allclose(moved[guarded, 1], moved[guarded, 0], rtol=0, atol=1e-12)
    assert np.allclose(moved[~guarded, 1], plain[~guarded, 1] + shift_bps[~guarded], rtol=0, atol=1e-12)
    after = (t.realised_bps <= moved[:, 1] + 1e-6).mean()
    assert 0.9 <= after < 0.95  # in sample: 90%, a little more where the guard lifts the p90 to the p50
    dense = served.compiled()
    if dense is None:
        pytest.skip("the compiled twin is not built (setup.py build_ext --inplace)")
    got = np.array([dense(row.tolist()) for row in t.x[:500]])
    assert np.allclose(got, moved[:500], rtol=1e-12, atol=1e-12)


def test_when_no_quantile_is_negative_two_sided_ties_and_clipped_is_kept():
    """Misses that always need a wider band give the two variants the same table and cells: the rule keeps the
    clipped incumbent on the tie."""
    t = recordings_of_different_volatility(np.random.default_rng(22), "vol_bps")
    chosen, evidence = choose_normaliser(t, (BY_VOL_TWO_SIDED, BY_VOL))
    assert chosen == BY_VOL
    assert evidence[0]["cells"] == evidence[1]["cells"]
    assert np.array_equal(fit_table(t, BY_VOL)[0], fit_table(t, BY_VOL_TWO_SIDED)[0])


PERP, INVERSE, THIN = "binance-futures:BTCUSDT", "binance-coinm:BTCUSD_PERP", "binance-futures:ETHUSDT"


def two_instruments(rng: np.random.Generator, n_a: int, n_b: int, b_scale: float, n_thin: int = 0) -> TakerScores:
    """Perpetual orders of $10k-$100k (one size bucket) of two instruments, each its own recording: misses
    exponential in volatility units, ``PERP``'s of mean 1, ``INVERSE``'s of mean ``b_scale``; ``THIN``: a few
    more orders like ``INVERSE``'s. The model's p90 at 0; volatility independent of the instrument."""
    parts = []
    for key, n, scale in ((PERP, n_a, 1.0), (INVERSE, n_b, b_scale), (THIN, n_thin, b_scale)):
        if not n:
            continue
        x = rows(rng, n)
        x[:, SPOT] = 0.0
        x[:, SIZE] = rng.uniform(4.05, 4.95, n)
        x[:, VOL] = rng.uniform(0.5, 2.0, n)
        realised = x[:, VOL] * scale * rng.exponential(1.0, n)
        parts.append(
            TakerScores(np.full(n, key), np.arange(n) * 100, x, np.zeros(n), realised, instrument=np.full(n, key))
        )
    fields = (*SCORE_FIELDS, "instrument")
    return TakerScores(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields})


def test_an_instrument_with_too_few_orders_in_a_bucket_takes_the_pooled_cell():
    """A hand-made table: ``PERP`` has enough orders for a cell of its own, ``THIN`` (fewer than
    ``MIN_INSTRUMENT_CELL``) falls back to the pooled cell, and the served band (numpy and compiled) applies each."""
    rng = np.random.default_rng(31)
    n_thin = MIN_INSTRUMENT_CELL - 1
    t = two_instruments(rng, 400, 300, 10.0, n_thin=n_thin)
    k = int(np.searchsorted(EDGES_LOG10_USD, 4.5, side="right"))  # the $10k-$100k bucket
    pooled, _ = fit_table(t, BY_VOL)
    table, keys, cells = fit_instrument_table(t, BY_VOL)
    assert keys == (INVERSE, PERP)  # THIN has no cell of its own: no row
    assert np.array_equal(table[:2], pooled)
    own = t.score(BY_VOL)
    assert table[2 + keys.index(PERP), k] == conformal_quantile(own[t.instrument == PERP])
    assert table[2 + keys.index(INVERSE), k] == conformal_quantile(own[t.instrument == INVERSE])
    assert table[2 + keys.index(PERP), k] < pooled[0, k] < table[2 + keys.index(INVERSE), k]
    thin = next(c for c in cells if c["instrument"] == THIN and c["bucket"] == "$10k-100k")
    assert thin["n"] == n_thin and not thin["own"] and thin["shift_units"] == pooled[0, k]
    assert (t.rows(keys)[t.instrument == THIN] == 0).all()  # the pooled derivative row
    # every instrument with its own cell is covered 90% there (in sample); the pooled table over- and under-covers
    hit_own, hit_pooled = covered(t, table, BY_VOL, keys), covered(t, pooled, BY_VOL)
    for key in (PERP, INVERSE):
        m = t.instrument == key
        assert 0.9 <= hit_own[m].mean() <= 0.9 + 2.0 / m.sum(), key
    assert hit_pooled[t.instrument == PERP].mean() > 0.97 and hit_pooled[t.instrument == INVERSE].mean() < 0.85

    served = replace(quantile_net(rng), band_shift=shift(pooled))
    served = replace(served, band_shift=replace(served.band_shift, table=table, instruments=keys))
    for key in (PERP, INVERSE, THIN, None):
        m = t.instrument == key if key else t.instrument == THIN
        plain = replace(served, band_shift=None).forward(t.x[m])
        moved = served.forward(t.x[m], key)
        row = 2 + keys.index(key) if key in keys else 0
        want = plain[:, 1] + table[row, k] * np.maximum(t.vol_bps[m], 0.1)
        assert np.allclose(moved[:, 1], np.maximum(want, plain[:, 0]), rtol=0, atol=1e-12), key
        dense = served.compiled(key)
        if dense is None:
            pytest.skip("the compiled twin is not built (setup.py build_ext --inplace)")
        got = np.array([dense(r.tolist()) for r in t.x[m][:50]])
        assert np.allclose(got, moved[:50], rtol=1e-12, atol=1e-12), key


def test_instrument_cells_are_chosen_when_instruments_need_different_corrections(tmp_path):
    """Two instruments whose misses differ tenfold: the pooled table over-covers one and under-covers the other in
    the volatility-tercile folds, so ``CELLS_RULE`` chooses a variant with instrument rows (the pooled-floored one
    keeps the under-coverage of neither, but its over-coverage of ``PERP``), the served net carries them (and keeps
    them through its .npz), and the card says so."""
    t = two_instruments(np.random.default_rng(32), 1500, 1500, 10.0)
    chosen, ev = choose_cells(t, BY_VOL)
    assert chosen not in (Cells.POOLED, Cells.AT_LEAST_POOLED)
    assert set(ev) == {c.value for c in Cells}
    key = ("cells_worst_shortfall", "cells_worst_deviation", "cells_mean_deviation")
    assert all(tuple(ev[chosen.value][f] for f in key) <= tuple(e[f] for f in key) for e in ev.values())
    assert ev[chosen.value]["cells_mean_deviation"] < ev["pooled"]["cells_mean_deviation"]
    inst = {(c["family"], c["instrument"]): c["coverage"] for c in ev["pooled"]["instrument_cells"]}
    assert inst[("volatility", PERP)] > 0.97 and inst[("volatility", INVERSE)] < 0.85
    net, card = calibrate(quantile_net(np.random.default_rng(33)), t, {}, (BY_VOL,))
    assert card["cells"]["chosen"] == chosen.value and card["cells"]["served_instruments"] == [INVERSE, PERP]
    assert net.band_shift is not None and net.band_shift.instruments == (INVERSE, PERP)
    net.save_npz(tmp_path / "q.npz")
    again = NumpyNet.load_npz(tmp_path / "q.npz")
    assert again.band_shift is not None and again.band_shift.instruments == (INVERSE, PERP)
    assert np.array_equal(again.forward(t.x, list(t.instrument)), net.forward(t.x, list(t.instrument)))


def test_one_instrument_ties_and_the_pooled_table_is_kept():
    """With one instrument every instrument variant's table is the pooled one, so all tie and the incumbent is
    kept: nothing per instrument is served."""
    t = two_instruments(np.random.default_rng(34), 3000, 0, 1.0)
    chosen, ev = choose_cells(t, BY_VOL)
    assert chosen is Cells.POOLED
    assert all(e["cells"] == ev["pooled"]["cells"] for e in ev.values())
    net, card = calibrate(quantile_net(np.random.default_rng(35)), t, {}, (BY_VOL,))
    assert card["cells"]["chosen"] == "pooled" and card["cells"]["served_instruments"] == []
    assert net.band_shift is not None and net.band_shift.instruments == ()


def test_hat_weights_interpolate_and_clamp():
    knots = np.array([1.0, 2.0, 4.0])
    w = hat_weights(knots, np.array([0.0, 1.0, 1.5, 3.0, 4.0, 9.0]))
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w @ knots, [1.0, 1.0, 1.5, 3.0, 4.0, 4.0])


def maker_net(rng: np.random.Generator, n: int) -> NumpyNet:
    return NumpyNet(
        kind="probability",
        mean=np.zeros(n),
        scale=np.ones(n),
        hidden=(),
        heads=(DenseWeights(rng.normal(size=(n, 1)), rng.normal(size=1), "sigmoid"),),
    )


def test_recalibration_recovers_a_size_dependent_miscalibration():
    rng = np.random.default_rng(3)
    knots = np.asarray(KNOTS_LOG10_USD)
    true = np.column_stack([np.linspace(0.5, -2.0, knots.size), np.full(knots.size, 1.3)])
    z = rng.normal(0.0, 1.5, 60_000)
    u = rng.uniform(1.0, 7.0, z.size)
    w = hat_weights(knots, u)
    p = 1.0 / (1.0 + np.exp(-(w @ true[:, 0] + (w @ true[:, 1]) * z)))
    y = (rng.random(z.size) < p).astype(float)
    got = fit_group(z, u, y, knots, ridge=1e-6)
    assert np.abs(got - true).max() < 0.2


def test_recalibration_never_lets_the_level_rise_with_size():
    rng = np.random.default_rng(7)
    knots = np.asarray(KNOTS_LOG10_USD)
    z = rng.normal(0.0, 1.0, 30_000)
    u = rng.uniform(1.0, 7.0, z.size)
    bump = np.where((u > 4.0) & (u < 5.5), 1.0, 0.0)  # mid sizes fill more than the model says: not allowed to rise
    y = (rng.random(z.size) < 1.0 / (1.0 + np.exp(-(z + bump)))).astype(float)
    got = fit_group(z, u, y, knots)
    assert (np.diff(got[:, 0]) <= 1e-12).all() and (got[:, 1] > 0).all() and np.ptp(got[:, 1]) == 0.0


def test_identity_recalibration_leaves_the_model_unchanged_and_a_fit_lowers_its_loss():
    rng = np.random.default_rng(4)
    net = maker_net(rng, 3)
    x = rng.normal(size=(5000, 3))
    x[:, 0] = rng.uniform(1.0, 7.0, 5000)  # log10 size
    x[:, 1] = rng.integers(0, 2, 5000)  # is_spot
    knots = np.asarray(KNOTS_LOG10_USD)
    ident = np.stack([np.column_stack([np.zeros(knots.size), np.ones(knots.size)])] * 2)
    same = replace(net, recalibration=Recalibration(knots=knots, coef=ident, u_col=0, group_col=1))
    assert np.allclose(same.forward(x), net.forward(x), rtol=0, atol=1e-14)
    # the truth: large orders fill far less often than the model says
    z = pre_activation(net, x)
    y = (rng.random(5000) < 1.0 / (1.0 + np.exp(-(z - (x[:, 0] - 1.0))))).astype(float)
    rc = fit_recalibration(net, x, y, u_col=0, group_col=1)
    fixed = replace(net, recalibration=rc)

    def loss(p: np.ndarray) -> float:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    assert loss(fixed.forward(x)) < loss(net.forward(x))
    big = x[:, 0] > 6.0
    assert abs(fixed.forward(x)[big].mean() - y[big].mean()) < abs(net.forward(x)[big].mean() - y[big].mean())


M_NAMES = ["log10_size_usd", "log10_flow_over_order", "offset_bps", "is_spot", "log10_queue_usd", "log10_horizon_s"]


def flow_rows(rng: np.random.Generator, n: int, usd_per_s: float) -> np.ndarray:
    """Maker-like rows of one instrument: size log-uniform $10-$10M, a 10 s rest, a $20k queue, its flow."""
    x = np.zeros((n, len(M_NAMES)))
    size = 10.0 ** rng.uniform(1.0, 7.0, n)
    x[:, 0] = np.log10(size)
    x[:, 1] = np.log10((1.0 + usd_per_s * 10.0) / (size + 2e4))
    x[:, 2] = rng.choice([0.0, 1.0, 2.0], n)
    x[:, 4] = np.log10(1.0 + 2e4)
    x[:, 5] = 1.0
    return x


def three_instruments(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """6000 rows each of a busy, a middling and a thin instrument (USD per second), and their names."""
    flows = (("busy", 200_000.0), ("mid", 50_000.0), ("thin", 12_000.0))
    return np.vstack([flow_rows(rng, 6000, f) for _, f in flows]), [n for n, _ in flows for _ in range(6000)]


def test_the_seconds_of_flow_scale_recovers_the_flow_the_row_was_built_with():
    """u = log10(size / USD per second), the USD per second recovered from the row's own flow inputs
    (core.learned.nets.flow_usd_per_s), as core.learned.features.maker_vector built them."""
    rng = np.random.default_rng(2)
    for f in (200_000.0, 12_000.0, 50.0):
        x = flow_rows(rng, 200, f)
        got = flow_usd_per_s(x[:, 0], x[:, 4], x[:, 5], x[:, 1])
        np.testing.assert_allclose(got, f, rtol=1e-9)
    knots = np.asarray(KNOTS_LOG10_FLOW_SECONDS)
    rc = Recalibration(knots=knots, coef=np.zeros((2, knots.size, 2)), u_col=0, group_col=3, flow_cols=(4, 5, 1))
    x = flow_rows(rng, 50, 12_000.0)
    np.testing.assert_allclose(rc.u(x), x[:, 0] - np.log10(12_000.0), atol=1e-9)


def test_on_the_flow_scale_the_same_order_gets_less_on_a_thin_instrument():
    """The flow-relative scale: a $1M order is more of a thin tape's flow than of a busy one's, so a falling
    a(u) gives it the lower share there, on a net that itself ignores the flow (its weight on it is 0)."""
    net = NumpyNet(
        kind="probability",
        mean=np.zeros(4),
        scale=np.ones(4),
        hidden=(),
        heads=(DenseWeights(np.array([[-0.3], [0.0], [-0.4], [0.0]]), np.array([1.0]), "sigmoid"),),
    )
    knots = np.asarray(KNOTS_LOG10_ORDER_OVER_FLOW)
    coef = np.stack([np.column_stack([np.linspace(1.0, -3.0, knots.size), np.ones(knots.size)])] * 2)
    fixed = replace(net, recalibration=Recalibration(knots=knots, coef=coef, u_col=1, group_col=3, u_sign=-1.0))
    for size in (1e4, 1e5, 1e6, 5e6):
        b, t = np.zeros((1, 4)), np.zeros((1, 4))
        b[0, 0] = t[0, 0] = np.log10(size)
        b[0, 1] = np.log10((1.0 + 200_000.0 * 10.0) / (size + 2e4))
        t[0, 1] = np.log10((1.0 + 12_000.0 * 10.0) / (size + 2e4))
        assert net.forward(b)[0] == net.forward(t)[0]  # the net alone cannot tell them apart
        assert fixed.forward(t)[0] < fixed.forward(b)[0]
    # and the share still falls with size on either instrument
    sizes = np.log10(np.geomspace(10.0, 1e7, 25))
    for f in (200_000.0, 12_000.0):
        x = np.zeros((sizes.size, 4))
        x[:, 0] = sizes
        x[:, 1] = np.log10((1.0 + f * 10.0) / (10.0**sizes + 2e4))
        assert (np.diff(fixed.forward(x)) <= 1e-15).all()


def test_leave_one_recording_out_picks_the_flow_scale_when_fills_follow_the_flow():
    """Three instruments whose fills fall once the order is large against their flow, a net blind to it: the rule
    (core.training.recalibration.CHOICE_RULE) picks the flow-relative scale, and says why."""
    rng = np.random.default_rng(8)
    net = NumpyNet(
        kind="probability",
        mean=np.zeros(6),
        scale=np.ones(6),
        hidden=(),
        heads=(DenseWeights(np.array([[-0.2], [0.0], [-0.4], [0.0], [0.0], [0.0]]), np.array([0.5]), "sigmoid"),),
    )
    x, recs = three_instruments(rng)
    # the net's share until the order and queue exceed a tenth of the flow while resting, then falling (as
    # the size-aware fill: about the traded volume over the size for a large order)
    truth = 1.0 / (1.0 + np.exp(-(pre_activation(net, x) - 2.5 * np.maximum(0.0, 1.0 - x[:, 1]))))
    y = np.clip(truth + rng.normal(0.0, 0.05, truth.size), 0.0, 1.0)
    cal = CalibrationRows(x=x, y=y, recording=np.array(recs), validation=rng.random(truth.size) < 0.3)
    rc, ev = choose_recalibration(net, cal, M_NAMES)
    for key in ("log_loss", "gap"):
        assert ev["order_over_flow"][key] < ev["size"][key] < ev["none"][key]
    assert ev["chosen"] in ("order_over_flow", "seconds_of_flow") and rc is not None
    wins = [
        k for k in ("order_over_flow", "seconds_of_flow") if all(ev[k][m] < ev["size"][m] for m in ("log_loss", "gap"))
    ]
    assert ev["chosen"] == min(wins, key=lambda k: ev[k]["log_loss"])
    assert set(ev["none"]["by_recording"]) == {"busy", "mid", "thin"}


def test_leave_one_recording_out_keeps_the_size_scale_when_the_flow_does_not_matter():
    """Fills that depend on the USD size alone (the same on every instrument): the flow scale has no edge, and
    the rule keeps the current scale unless the flow one wins on both scores."""
    rng = np.random.default_rng(9)
    net = maker_net(rng, 6)
    x, recs = three_instruments(rng)
    truth = 1.0 / (1.0 + np.exp(-(pre_activation(net, x) - 0.8 * (x[:, 0] - 4.0))))
    y = (rng.random(truth.size) < truth).astype(float)
    cal = CalibrationRows(x=x, y=y, recording=np.array(recs), validation=rng.random(truth.size) < 0.3)
    rc, ev = choose_recalibration(net, cal, M_NAMES)
    assert rc is not None and ev["size"]["log_loss"] < ev["none"]["log_loss"]
    assert ev["chosen"] == "size"
    assert not any(
        all(ev[k][m] < ev["size"][m] for m in ("log_loss", "gap")) for k in ("order_over_flow", "seconds_of_flow")
    )


def test_corrections_survive_the_npz_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    q = quantile_net(rng, shift(rng.uniform(0, 1, size=(2, EDGES_LOG10_USD.size + 1))))
    knots = np.asarray(KNOTS_LOG10_USD)
    m = replace(
        maker_net(rng, 4),
        recalibration=Recalibration(knots=knots, coef=rng.normal(size=(2, knots.size, 2)), u_col=0, group_col=3),
    )
    flow_knots = np.asarray(KNOTS_LOG10_ORDER_OVER_FLOW)
    f = replace(
        m,
        recalibration=Recalibration(
            knots=flow_knots, coef=rng.normal(size=(2, flow_knots.size, 2)), u_col=1, group_col=3, u_sign=-1.0
        ),
    )
    sk = np.asarray(KNOTS_LOG10_FLOW_SECONDS)
    sec = replace(
        m,
        recalibration=Recalibration(
            knots=sk, coef=rng.normal(size=(2, sk.size, 2)), u_col=0, group_col=3, flow_cols=(2, 1, 0)
        ),
    )
    for net, x in (
        (q, rows(rng, 50)),
        (m, rng.normal(size=(50, 4))),
        (f, rng.normal(scale=3.0, size=(50, 4))),
        (sec, rng.normal(scale=2.0, size=(50, 4))),
    ):
        net.save_npz(tmp_path / "n.npz")
        back = NumpyNet.load_npz(tmp_path / "n.npz")
        assert np.array_equal(back.forward(x), net.forward(x))
    # a file written before the flow scale (no recal_sign) is read on the log10-size scale
    with np.load(tmp_path / "n.npz") as z:
        old = {k: z[k] for k in z.files if k != "recal_sign"}
    np.savez(tmp_path / "old.npz", **old)
    assert NumpyNet.load_npz(tmp_path / "old.npz").recalibration.u_sign == 1.0


def test_a_correction_on_the_wrong_kind_of_net_is_refused():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError):
        replace(maker_net(rng, 3), band_shift=shift(np.zeros((2, EDGES_LOG10_USD.size + 1))))
    knots = np.asarray(KNOTS_LOG10_USD)
    with pytest.raises(ValueError):
        replace(
            quantile_net(rng),
            recalibration=Recalibration(knots=knots, coef=np.zeros((2, 7, 2)), u_col=0, group_col=1),
        )


def test_cell_variants_combine_an_instruments_own_cells_with_the_pooled_ones_as_the_rule_says():
    """Hand-made quantiles: at least pooled is never below the pooled cell, shrunk moves the own cell toward the
    pooled one by n / (n + SHRINK_K), monotone raises a bucket to the largest own cell of the smaller buckets, and a
    bucket without own orders keeps the pooled cell in every variant."""
    own = np.array([1.0, 6.0, 2.0, 5.0, 0.0])
    pooled = np.array([2.5, 7.0, 9.0, 27.0, 44.0])
    n = np.array([2000, 2000, 1000, 200, 0])
    assert np.array_equal(combine_cells(own, pooled, n, Cells.POOLED), pooled)
    assert np.array_equal(combine_cells(own, pooled, n, Cells.OWN), [1.0, 6.0, 2.0, 5.0, 44.0])
    assert np.array_equal(combine_cells(own, pooled, n, Cells.AT_LEAST_POOLED), pooled)
    assert np.array_equal(combine_cells(own, pooled, n, Cells.MONOTONE), [1.0, 6.0, 6.0, 6.0, 44.0])
    w = n[:4] / (n[:4] + SHRINK_K)
    shrunk = combine_cells(own, pooled, n, Cells.SHRUNK)
    assert np.allclose(shrunk[:4], w * own[:4] + (1 - w) * pooled[:4], rtol=0, atol=1e-12) and shrunk[4] == 44.0
    assert (np.minimum(own, pooled)[:4] <= shrunk[:4]).all() and (shrunk[:4] <= np.maximum(own, pooled)[:4]).all()
    wide = np.array([30.0, 1.0, 1.0, 1.0, 1.0])  # an own cell wider than the pooled one is kept by at least pooled
    assert np.array_equal(combine_cells(wide, pooled, n, Cells.AT_LEAST_POOLED), [30.0, 7.0, 9.0, 27.0, 44.0])


def test_every_variants_instrument_rows_combine_the_fitted_own_and_pooled_cells():
    """Two instruments fitted as every variant: instrument rows are the ``combine_cells`` of the own quantiles and
    the pooled cells, and the pooled rows are the same in every variant."""
    t = two_instruments(np.random.default_rng(36), 1500, 1500, 10.0)
    pooled, _ = fit_table(t, BY_VOL)
    own, keys, _ = fit_instrument_table(t, BY_VOL, pooled, Cells.OWN)
    for c in Cells:
        table, k, cells = fit_instrument_table(t, BY_VOL, pooled, c)
        assert np.array_equal(table[:2], pooled)
        if c is Cells.POOLED:
            assert k == () and cells == []
            continue
        assert k == keys
        for i, key in enumerate(k):
            n = np.array([x["n"] if x["own"] else 0 for x in cells if x["instrument"] == key])
            g = int(t.group[t.instrument == key][0])
            assert np.allclose(table[2 + i], combine_cells(own[2 + i], pooled[g], n, c), rtol=0, atol=1e-12)
            assert [x["shift_units"] for x in cells if x["instrument"] == key] == table[2 + i].tolist()


def test_held_out_coverage_scores_the_served_band_per_recording_and_size_with_rule_blocks():
    """The figure the quantile model's label quotes: the share of real orders at or below the served p90."""
    from core.learned.models import display_name
    from core.validation.bootstrap import BlockBootstrap

    rng = np.random.default_rng(9)
    net = quantile_net(rng)
    parts = []
    for r in range(2):
        n = 1500
        x = rows(rng, n)
        p90 = net.forward(x)[:, 1]
        # recording 0: 80% of orders at or below the p90; recording 1: 95%
        below = rng.random(n) < (0.8, 0.95)[r]
        realised = np.where(below, p90 - rng.uniform(0.0, 1.0, n), p90 + rng.uniform(0.1, 1.0, n))
        parts.append(TakerScores(np.full(n, f"rec{r}"), np.arange(n) * 300, x, p90, realised))
    t = TakerScores(*(np.concatenate([getattr(p, f) for p in parts]) for f in SCORE_FIELDS))
    cov = held_out_coverage(t, net, BlockBootstrap(replicates=100))
    assert set(cov) == {"rec0", "rec1"}
    for rec, want in (("rec0", 0.8), ("rec1", 0.95)):
        r = cov[rec]
        hit = (t.realised_bps <= net.forward(t.x)[:, 1] + 1e-6)[t.recording == rec]
        assert r["n"] == 1500 and r["coverage"] == pytest.approx(hit.mean()) and abs(r["coverage"] - want) < 0.03
        lo, hi = r["coverage_ci"]
        assert lo <= r["coverage"] <= hi
        assert sum(b["n"] for b in r["by_size"]) == 1500
        assert r["bootstrap"]["block_rule"]["window_s"] == 0.0 and r["bootstrap"]["block_s"] >= 10
    assert held_out_coverage(t.subset(np.zeros(len(t.ts_ms), dtype=bool)), net, BlockBootstrap()) == {}
    # the label quotes the served band on real orders where the card has it, else says the grid is simulated
    real = display_name("slippage_quantiles", "linear", {"coverage": [0.5, 0.97, 0.98], "taker_p90_coverage": 0.8})
    assert real == "linear quantile regression (p90 covered 80% of the held-out day's real taker orders)"
    grid = display_name("slippage_quantiles", "linear", {"coverage": [0.5, 0.97, 0.98]})
    assert grid.endswith("(held-out p90 coverage 97% of its simulated orders)")

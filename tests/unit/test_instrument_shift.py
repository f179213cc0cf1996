"""The maker model's per-instrument logit shift on top of the pooled recalibration (core.training.recalibration)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from core.learned.models import MakerTakerModelImpl
from core.learned.nets import DenseWeights, NumpyNet, Recalibration
from core.training.recalibration import (
    KNOTS_LOG10_USD,
    SHIFT_MARGIN,
    CalibrationRows,
    choose_instrument_shifts,
    fit_recalibration,
    fit_shift,
    pre_activation,
    shift_folds,
)

pytestmark = pytest.mark.unit

NAMES = ["log10_size_usd", "offset_bps", "is_spot"]
INSTRUMENTS = {"busy.gz": "venue:BUSY", "thin.gz": "venue:THIN", "other.gz": "venue:OTHER"}


def net() -> NumpyNet:
    return NumpyNet(
        kind="probability",
        mean=np.zeros(3),
        scale=np.ones(3),
        hidden=(),
        heads=(DenseWeights(np.array([[-0.4], [-0.3], [0.0]]), np.array([1.2]), "sigmoid"),),
    )


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def test_fit_shift_recovers_a_known_shift_and_the_ridge_pulls_it_to_zero():
    rng = np.random.default_rng(1)
    logit = rng.normal(0.0, 1.5, 50_000)
    y = (rng.random(logit.size) < sigmoid(logit + 0.6)).astype(float)
    assert abs(fit_shift(logit, y, ridge=0.0) - 0.6) < 0.05
    assert 0.0 < fit_shift(logit, y, ridge=1.0) < fit_shift(logit, y, ridge=0.0)
    assert abs(fit_shift(logit, sigmoid(logit), ridge=0.0)) < 1e-9  # calibrated already: no shift


def test_shift_folds_never_fit_on_a_label_that_reaches_into_the_test_block():
    rng = np.random.default_rng(2)
    t = np.sort(rng.uniform(0.0, 300_000.0, 2000))
    span = rng.choice([1_000.0, 10_000.0, 70_000.0], t.size)
    folds = shift_folds(t, span)
    assert len(folds) == 5
    cover = np.zeros(t.size, dtype=int)
    for test, fit in folds:
        cover += test
        a, b = t[test].min(), t[test].max()
        assert not (fit & test).any()
        assert ((t[fit] + span[fit] < a) | (t[fit] > b)).all()  # no fitted label window overlaps the block
    assert (cover == 1).all()


def rows(rng: np.random.Generator, n: int, under: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One instrument's rows over 10 minutes; its true logit is the net's plus ``under`` (the net under-predicts
    it when ``under`` > 0). Returns inputs, fill fractions, decision times."""
    x = np.column_stack([rng.uniform(1.0, 7.0, n), rng.choice([0.0, 1.0, 5.0], n), np.zeros(n)])
    p = sigmoid(pre_activation(net(), x) + under)
    return x, (rng.random(n) < p).astype(float), np.sort(rng.uniform(0.0, 600_000.0, n))


def calibration(rng: np.random.Generator, unders: dict[str, float]) -> tuple[CalibrationRows, np.ndarray]:
    parts = {r: rows(rng, 6000, u) for r, u in unders.items()}
    x = np.vstack([p[0] for p in parts.values()])
    y = np.concatenate([p[1] for p in parts.values()])
    t = np.concatenate([p[2] for p in parts.values()])
    rec = np.concatenate([[r] * 6000 for r in parts])
    return CalibrationRows(x=x, y=y, recording=rec, validation=rng.random(y.size) < 0.25), t


def pooled(cal: CalibrationRows) -> Recalibration:
    v = cal.validation
    return fit_recalibration(net(), cal.x[v], cal.y[v], u_col=0, group_col=2, knots=KNOTS_LOG10_USD, ridge=0.003)


def test_an_instrument_the_pooled_correction_under_predicts_gets_a_positive_shift():
    """One busy instrument fills more than the net says, two do not: a pooled correction cannot serve all three,
    the block cross-validation (SHIFT_RULE) serves the shifts, the busy one's is positive and the others' small."""
    rng = np.random.default_rng(3)
    cal, t = calibration(rng, {"busy.gz": 0.8, "thin.gz": -0.3, "other.gz": 0.0})
    rc = pooled(cal)
    shifts, ev = choose_instrument_shifts(net(), rc, cal, NAMES, INSTRUMENTS, t, np.full(t.size, 30_000.0), 0.003)
    assert ev["chosen"]
    assert ev["mean"]["with"]["gap"] < ev["mean"]["without"]["gap"]
    assert ev["mean"]["with"]["log_loss"] < (1.0 - SHIFT_MARGIN) * ev["mean"]["without"]["log_loss"]
    assert shifts["venue:BUSY"] > 0.3 and shifts["venue:THIN"] < 0.0
    busy = ev["by_recording"]["busy.gz"]
    assert all(g < 0 for g in busy["without"]["signed_by_bucket"].values())  # under-predicted at every size
    assert abs(np.mean(list(busy["with"]["signed_by_bucket"].values()))) < abs(
        np.mean(list(busy["without"]["signed_by_bucket"].values()))
    )


def test_an_instrument_with_two_recordings_gets_one_shift_fitted_on_both():
    """Two recordings of one instrument (another day): its shift is fitted on the rows of both, not on the last
    one read, so it lies between the shifts each recording alone would get."""
    rng = np.random.default_rng(3)
    cal, t = calibration(rng, {"busy.gz": 1.2, "busy2.gz": 0.4, "thin.gz": -0.3, "other.gz": 0.0})
    inst = {**INSTRUMENTS, "busy2.gz": "venue:BUSY"}
    span = np.full(t.size, 30_000.0)
    shifts, ev = choose_instrument_shifts(net(), pooled(cal), cal, NAMES, inst, t, span, 0.003)
    assert ev["chosen"] and set(shifts) == {"venue:BUSY", "venue:THIN", "venue:OTHER"}
    alone, _ = choose_instrument_shifts(
        net(), pooled(cal), cal, NAMES, {**INSTRUMENTS, "busy2.gz": "venue:B2"}, t, span, 0.003
    )
    one, two = alone["venue:BUSY"], alone["venue:B2"]  # busy.gz alone, busy2.gz alone
    assert min(one, two) < shifts["venue:BUSY"] < max(one, two)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_no_shift_is_served_when_the_instruments_do_not_differ(seed):
    """Without the 1% margin, seeds 4 and 6 served shifts of noise (|c| < 0.1)."""
    rng = np.random.default_rng(seed)
    cal, t = calibration(rng, {"busy.gz": 0.0, "thin.gz": 0.0, "other.gz": 0.0})
    shifts, ev = choose_instrument_shifts(
        net(), pooled(cal), cal, NAMES, INSTRUMENTS, t, np.full(t.size, 30_000.0), 0.003
    )
    assert not ev["chosen"] and shifts == {}
    assert choose_instrument_shifts(net(), None, cal, NAMES, INSTRUMENTS, t, t * 0.0, 0.003)[0] == {}


def shifted_net() -> NumpyNet:
    knots = np.asarray(KNOTS_LOG10_USD)
    coef = np.stack([np.column_stack([np.linspace(0.5, -2.0, knots.size), np.full(knots.size, 1.1)])] * 2)
    rc = Recalibration(knots=knots, coef=coef, u_col=0, group_col=2, shifts=(("venue:BUSY", 0.7),))
    return replace(net(), recalibration=rc)


def test_for_instrument_adds_its_shift_to_the_logit_and_keeps_the_share_falling_with_size():
    n = shifted_net()
    x = np.column_stack([np.linspace(1.0, 7.0, 40), np.zeros(40), np.zeros(40)])
    pooled_p = n.forward(x)
    busy = n.for_instrument("venue:BUSY").forward(x)
    np.testing.assert_allclose(busy, sigmoid(np.log(pooled_p / (1 - pooled_p)) + 0.7), rtol=1e-12)
    assert (np.diff(busy) <= 1e-15).all()
    assert np.array_equal(n.for_instrument("venue:UNKNOWN").forward(x), pooled_p)  # the fallback: pooled
    assert n.for_instrument("venue:BUSY").recalibration.shifts == ()


def test_shifts_survive_the_npz_round_trip(tmp_path):
    n = shifted_net()
    n.save_npz(tmp_path / "m.npz")
    back = NumpyNet.load_npz(tmp_path / "m.npz")
    assert back.recalibration.shifts == n.recalibration.shifts
    x = np.random.default_rng(5).uniform(0.0, 7.0, size=(30, 3))
    assert np.array_equal(back.for_instrument("venue:BUSY").forward(x), n.for_instrument("venue:BUSY").forward(x))


def test_the_served_maker_model_uses_the_books_instrument():
    n = shifted_net()
    m = MakerTakerModelImpl(name="m", net=n, impute={})
    busy, other = SimpleNamespace(exchange="venue", symbol="BUSY"), SimpleNamespace(exchange="venue", symbol="X")
    x = np.array([[5.0, 0.0, 0.0]])
    assert m.net_for(busy).forward(x)[0] > m.net_for(other).forward(x)[0] == n.forward(x)[0]
    assert m.net_for(busy) is m.net_for(busy)  # built once per instrument

"""The maker net's inputs clipped to the training range (core.training.extrapolation): the compiled twin
(core.learned._nets) clips exactly as numpy, the weights file keeps the range, and the recalibration reads raw."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.learned.nets import DenseWeights, NumpyNet, Recalibration

pytestmark = pytest.mark.parity


def _net(rng: np.random.Generator, n_in: int = 6) -> NumpyNet:
    sk = np.arange(1.0, 8.0)
    coef = np.stack([np.column_stack([np.sort(rng.normal(size=sk.size))[::-1], np.full(sk.size, 0.9)])] * 2)
    lo = rng.uniform(-1.0, 0.0, size=n_in)
    return NumpyNet(
        kind="probability",
        mean=rng.normal(size=n_in),
        scale=rng.uniform(0.5, 2.0, size=n_in),
        hidden=(),
        heads=(DenseWeights(rng.normal(size=(n_in, 1)), rng.normal(size=1), "sigmoid"),),
        recalibration=Recalibration(knots=sk, coef=coef, u_col=0, group_col=1),
        clip_lo=lo,
        clip_hi=lo + rng.uniform(0.5, 2.0, size=n_in),
    )


def test_compiled_clipped_net_equals_numpy_inside_and_outside_the_range():
    rng = np.random.default_rng(5)
    net = _net(rng)
    dense = net.compiled()
    assert dense is not None, "the compiled twin is not built"
    outside = 0
    for _ in range(300):
        row = rng.normal(scale=3.0, size=net.n_features)
        row[0], row[1] = rng.uniform(0.0, 9.0), float(rng.integers(0, 2))
        outside += bool(np.any((row < net.clip_lo) | (row > net.clip_hi)))
        assert np.allclose(dense(row.tolist()), np.atleast_1d(net.forward(row)[0]), rtol=1e-12, atol=1e-12)
    assert outside > 100  # the range is exercised


def test_clipping_changes_the_share_only_outside_the_range_and_survives_the_weights_file(tmp_path):
    rng = np.random.default_rng(9)
    net = _net(rng)
    raw = replace(net, clip_lo=None, clip_hi=None)
    inside = (net.clip_lo + net.clip_hi) / 2
    assert net.forward(inside)[0] == raw.forward(inside)[0]
    far = inside.copy()
    far[2] = net.clip_hi[2] + 50.0
    edge = inside.copy()
    edge[2] = net.clip_hi[2]
    assert net.forward(far)[0] == net.forward(edge)[0]  # saturates at the edge
    assert net.forward(far)[0] != raw.forward(far)[0]
    path = tmp_path / "m.npz"
    net.save_npz(path)
    back = NumpyNet.load_npz(path)
    assert np.array_equal(back.clip_lo, net.clip_lo) and np.array_equal(back.clip_hi, net.clip_hi)
    assert back.forward(far)[0] == net.forward(far)[0]


def test_an_input_range_needs_both_bounds():
    net = _net(np.random.default_rng(1))
    with pytest.raises(ValueError):
        replace(net, clip_hi=None)

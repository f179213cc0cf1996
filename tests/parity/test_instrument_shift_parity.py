"""The maker recalibration's per-instrument shift in the compiled twin (core.learned._nets) equals numpy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.learned.nets import DenseWeights, NumpyNet, Recalibration

pytestmark = pytest.mark.parity


def test_compiled_net_for_an_instrument_equals_numpy():
    rng = np.random.default_rng(12)
    n_in = 6
    sk = np.arange(-4.0, 4.0)
    coef = np.stack([np.column_stack([np.sort(rng.normal(size=sk.size))[::-1], np.full(sk.size, 0.9)])] * 2)
    base = NumpyNet(
        kind="probability",
        mean=rng.normal(size=n_in),
        scale=rng.uniform(0.5, 2.0, size=n_in),
        hidden=(DenseWeights(rng.normal(size=(n_in, 4)), rng.normal(size=4), "relu"),),
        heads=(DenseWeights(rng.normal(size=(4, 1)), rng.normal(size=1), "sigmoid"),),
    )
    net = replace(
        base,
        recalibration=Recalibration(
            knots=sk, coef=coef, u_col=0, group_col=1, flow_cols=(4, 5, 3), shifts=(("a:X", 0.4), ("b:Y", -0.9))
        ),
    )
    for key in ("a:X", "b:Y", "c:none"):
        one = net.for_instrument(key)
        dense = one.compiled()
        assert dense is not None, "the compiled twin is not built"
        for _ in range(200):
            row = rng.normal(scale=2.0, size=n_in)
            row[0], row[1] = rng.uniform(1.0, 7.0), float(rng.integers(0, 2))
            row[4], row[5] = rng.uniform(0.0, 7.0), rng.uniform(0.0, 1.8)
            assert np.allclose(dense(row.tolist()), np.atleast_1d(one.forward(row)[0]), rtol=1e-12, atol=1e-12)

"""The app serves the models from .npz weights: they must be exactly the .keras weights, and loading
them must not import TensorFlow (startup time, and no TF anywhere near the per-tick path)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.learned.models import KINDS, MODELS_DIR
from core.learned.nets import NumpyNet
from core.training.keras_models import load_keras, net_from_keras

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("role", list(KINDS))
def test_npz_weights_are_exactly_the_keras_weights(role):
    from_keras = net_from_keras(load_keras(MODELS_DIR / f"{role}.keras"), KINDS[role])
    from_npz = NumpyNet.load_npz(MODELS_DIR / f"{role}.npz")
    assert from_npz.kind == from_keras.kind
    assert np.array_equal(from_npz.mean, from_keras.mean) and np.array_equal(from_npz.scale, from_keras.scale)
    assert len(from_npz.hidden) == len(from_keras.hidden) and len(from_npz.heads) == len(from_keras.heads)
    for a, b in zip(from_npz.hidden + from_npz.heads, from_keras.hidden + from_keras.heads, strict=False):
        assert np.array_equal(a.w, b.w) and np.array_equal(a.b, b.b) and a.activation == b.activation
    for name in ("offset_w", "scale_w"):
        x, y = getattr(from_npz, name), getattr(from_keras, name)
        assert (x is None and y is None) or np.array_equal(x, y)
    keras_model = load_keras(MODELS_DIR / f"{role}.keras")
    rows = np.random.default_rng(7).normal(size=(256, from_npz.n_features))
    want = np.asarray(keras_model(rows.astype(np.float32)))
    # the .npz adds the correction fitted after training (core.training.conformal / recalibration) and the input
    # range the maker net clips to (core.training.extrapolation; the Keras model was fitted on clipped rows); without them
    # the numbers are the Keras model's
    plain = replace(from_npz, band_shift=None, recalibration=None, clip_lo=None, clip_hi=None)
    assert np.abs(plain.forward(rows).reshape(want.shape) - want).max() < 1e-5


def test_serving_the_models_imports_no_tensorflow():
    code = (
        "import sys; from core.learned.models import load_models; lm = load_models(); "
        "print(sorted(lm.fallbacks)); print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"


def test_npz_is_read_as_data_without_pickle(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, kind=np.array({"a": 1}, dtype=object), mean=np.zeros(2), scale=np.ones(2))
    with pytest.raises(ValueError):
        NumpyNet.load_npz(bad)

"""Keras 3 models for the three roles: build, seed, train, load, and copy the weights out for serving.

Every model starts with a Normalization layer (statistics of the training part), so a saved ``.keras`` file is
self-contained, and computes in float64 so the numpy forward pass (``core.learned.nets.NumpyNet``) matches it
to ~1e-12. ``net_from_keras`` turns a trained model into that ``NumpyNet``, which training saves as the
``.npz`` the app serves. This is the only module that imports Keras (lazily, inside the functions).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.learned.models import QUANTILES
from core.learned.nets import ACTIVATIONS, DenseWeights, NumpyNet

DTYPE = "float64"  # Keras layers compute in float64 so the numpy path matches to ~1e-12, not ~1e-6
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Normalization divides by max(sqrt(var), epsilon)


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def seed_everything(seed: int) -> None:
    """Python, numpy and backend seeds, plus deterministic TensorFlow kernels when TF is the backend."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def pinball_loss(quantiles: Sequence[float] = QUANTILES) -> Callable[[Any, Any], Any]:
    """Mean over rows and quantiles of max(q e, (q - 1) e), e = y - prediction (Koenker's check loss)."""
    keras = _keras()
    ops = keras.ops

    def loss(y_true: Any, y_pred: Any) -> Any:
        q = ops.convert_to_tensor(np.asarray(quantiles, dtype=np.float64).reshape(1, -1), dtype=y_pred.dtype)
        e = ops.cast(ops.reshape(y_true, (-1, 1)), y_pred.dtype) - y_pred
        return ops.mean(ops.maximum(q * e, (q - 1.0) * e), axis=-1)

    loss.__name__ = "pinball"
    return loss


def build_model(
    kind: str,
    x_train: np.ndarray,
    *,
    hidden: Sequence[int] = (),
    offset_index: int | None = None,
    scale_index: int | None = None,
    l2: float = 0.0,
    seed: int | None = None,
) -> Any:
    """Normalization (adapted on ``x_train``) -> ReLU layers of sizes ``hidden`` -> the kind's head.

    Initial weights draw their seeds from a private ``random.Random(seed)``, in the order Keras would draw
    them from the global one after ``set_random_seed(seed)``: the same weights, but no other thread (a
    websockets keepalive ping draws ``random.getrandbits``) can shift them between two fits.

    With ``scale_index`` every learned output is multiplied by that raw input column, and with
    ``offset_index`` that raw column is added to the (first) output: two fixed, non-trainable Dense
    layers select them, so the file needs no custom code to load.
    """
    keras = _keras()
    layers = keras.layers
    n = x_train.shape[1]
    inp = keras.Input(shape=(n,), name="features", dtype=DTYPE)
    norm = layers.Normalization(name="norm", dtype=DTYPE)
    norm.adapt(np.asarray(x_train, dtype=np.float64))
    h = norm(inp)
    rng = random.Random(seed)

    def glorot() -> Any:
        return keras.initializers.GlorotUniform(seed=rng.randint(1, int(1e9)))

    for i, units in enumerate(hidden):
        h = layers.Dense(units, activation="relu", name=f"hidden_{i}", dtype=DTYPE, kernel_initializer=glorot())(h)
    reg = keras.regularizers.L2(l2) if l2 > 0 else None

    # A linear head starts at zero, so an offset model starts as its baseline.
    def head(name: str, activation: str | None = None) -> Any:
        init = "zeros" if not hidden else glorot()
        return layers.Dense(
            1, activation=activation, name=name, kernel_initializer=init, kernel_regularizer=reg, dtype=DTYPE
        )(h)

    def pick(name: str, index: int) -> Any:
        onehot = np.zeros((n, 1))
        onehot[index, 0] = 1.0
        return layers.Dense(
            1,
            use_bias=False,
            trainable=False,
            name=name,
            dtype=DTYPE,
            kernel_initializer=keras.initializers.Constant(onehot),
        )(inp)

    scale = pick("scale", scale_index) if scale_index is not None else None

    def scaled(t: Any, name: str) -> Any:
        return layers.Multiply(name=name, dtype=DTYPE)([scale, t]) if scale is not None else t

    if kind == "quantiles":
        terms = [
            scaled(head("q50"), "q50_scaled"),
            scaled(head("d90", "softplus"), "d90_scaled"),
            scaled(head("d95", "softplus"), "d95_scaled"),
        ]
    elif kind in ("regression", "probability"):
        terms = [scaled(head("out", "sigmoid" if kind == "probability" else None), "out_scaled")]
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    if offset_index is not None:
        terms[0] = layers.Add(name="plus_offset", dtype=DTYPE)([pick("offset", offset_index), terms[0]])
    if kind != "quantiles":
        return keras.Model(inp, terms[0], name=kind)
    p90 = layers.Add(name="p90", dtype=DTYPE)([terms[0], terms[1]])
    p95 = layers.Add(name="p95", dtype=DTYPE)([p90, terms[2]])
    out = layers.Concatenate(name="quantiles", dtype=DTYPE)([terms[0], p90, p95])
    return keras.Model(inp, out, name=kind)


@dataclass(frozen=True, slots=True)
class FitConfig:
    """Optimiser settings; the cards record them. ``replace(cfg, epochs=...)`` gives the chosen length."""

    hidden: tuple[int, ...] = ()
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 0.01
    l2: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "hidden": list(self.hidden),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "l2": self.l2,
            "optimizer": "Adam",
        }


def loss_for(kind: str) -> Any:
    if kind == "quantiles":
        return pinball_loss()
    return "mse" if kind == "regression" else "binary_crossentropy"


def train_model(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    cfg: FitConfig,
    *,
    seed: int,
    offset_index: int | None = None,
    scale_index: int | None = None,
) -> Any:
    """Build and fit one model from a fixed seed: the same inputs give the same weights."""
    keras = _keras()
    seed_everything(seed)
    model = build_model(
        kind, x, hidden=cfg.hidden, offset_index=offset_index, scale_index=scale_index, l2=cfg.l2, seed=seed
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate), loss=loss_for(kind))
    model.fit(
        np.asarray(x, np.float64),
        np.asarray(y, np.float64).reshape(-1, 1),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        shuffle=True,
        verbose=0,
    )
    return model


def train_checkpoints(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    cfg: FitConfig,
    *,
    seed: int,
    epochs: Sequence[int],
    offset_index: int | None = None,
    scale_index: int | None = None,
) -> Iterator[tuple[int, NumpyNet]]:
    """One seeded fit, paused after each of ``epochs`` (ascending) to hand out the weights so far: the
    number of epochs is chosen on validation data without refitting from scratch for every choice."""
    keras = _keras()
    seed_everything(seed)
    model = build_model(
        kind, x, hidden=cfg.hidden, offset_index=offset_index, scale_index=scale_index, l2=cfg.l2, seed=seed
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate), loss=loss_for(kind))
    done = 0
    for e in sorted(epochs):
        model.fit(
            np.asarray(x, np.float64),
            np.asarray(y, np.float64).reshape(-1, 1),
            initial_epoch=done,
            epochs=e,
            batch_size=cfg.batch_size,
            shuffle=True,
            verbose=0,
        )
        done = e
        yield e, net_from_keras(model, kind)


def load_keras(path: str | Path) -> Any:
    """Read a saved model (no compile: the pinball loss is only needed for training)."""
    return _keras().saving.load_model(str(path), compile=False)


def net_from_keras(model: Any, kind: str) -> NumpyNet:
    """Copy the weights out of a model built by ``build_model`` (layer names are the contract)."""
    norm = model.get_layer("norm")
    mean = np.asarray(norm.mean, dtype=np.float64).reshape(-1)
    var = np.asarray(norm.variance, dtype=np.float64).reshape(-1)
    hidden = []
    i = 0
    while True:
        try:
            layer = model.get_layer(f"hidden_{i}")
        except ValueError:
            break
        hidden.append(_dense(layer))
        i += 1
    names = ("q50", "d90", "d95") if kind == "quantiles" else ("out",)
    heads = tuple(_dense(model.get_layer(n)) for n in names)
    fixed: dict[str, np.ndarray | None] = {}
    for name in ("offset", "scale"):
        try:
            fixed[name] = np.asarray(model.get_layer(name).get_weights()[0], np.float64)[:, 0]
        except ValueError:
            fixed[name] = None
    return NumpyNet(
        kind=kind,
        mean=mean,
        scale=np.maximum(np.sqrt(var), KERAS_EPSILON),
        hidden=tuple(hidden),
        heads=heads,
        offset_w=fixed["offset"],
        scale_w=fixed["scale"],
    )


def _dense(layer: Any) -> DenseWeights:
    w, b = layer.get_weights()
    act = layer.get_config()["activation"]
    act = act if isinstance(act, str) else str(act.get("config", {}).get("name", act))
    if act not in ACTIVATIONS:
        raise ValueError(f"layer {layer.name} uses activation {act!r}, which the numpy path does not know")
    return DenseWeights(w=np.asarray(w, np.float64), b=np.asarray(b, np.float64), activation=act)

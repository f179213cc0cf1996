"""The numpy forward pass of a trained net, and the same pass compiled for the per-tick path.

Keras costs ~10-100 ms a call, far over a tick's budget, so training (``core.training``) writes each model's
normalisation statistics and Dense weights as plain arrays (``models/*.npz``) and serving reads them into a
``NumpyNet``: a few float64 numpy matrix products (about 5 µs; about 25 µs with building the features from
the book). ``NumpyNet.compiled`` hands the same weights to ``core.learned._nets.DenseNet`` for the per-tick
path. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.compiled import load


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def _identity(z: np.ndarray) -> np.ndarray:
    return z


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _identity,
    "relu": _relu,
    "softplus": _softplus,
    "sigmoid": _sigmoid,
}


@dataclass(frozen=True, slots=True)
class DenseWeights:
    """One Dense layer: ``activation(x @ w + b)``."""

    w: np.ndarray
    b: np.ndarray
    activation: str

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.activation](x @ self.w + self.b)


@dataclass(frozen=True, slots=True)
class NumpyNet:
    """A model built by ``core.training.keras_models`` rewritten as numpy: normalise, hidden ReLU layers,
    then the head.

    ``kind`` says how the heads combine: ``regression`` and ``probability`` have one head; ``quantiles``
    has p50 plus softplus increments that are summed cumulatively (p50, p50 + d90, p50 + d90 + d95).
    """

    kind: str
    mean: np.ndarray
    scale: np.ndarray  # max(sqrt(variance), epsilon), as the Normalization layer divides by
    hidden: tuple[DenseWeights, ...]
    heads: tuple[DenseWeights, ...]
    offset_w: np.ndarray | None = None  # raw inputs @ offset_w is added to every output
    scale_w: np.ndarray | None = None  # raw inputs @ scale_w multiplies every learned term

    @property
    def n_features(self) -> int:
        return int(self.mean.size)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Rows of features -> (n,) for one head, (n, q) for quantiles. A 1-D row gives a 1-row answer."""
        raw = np.atleast_2d(np.asarray(x, dtype=np.float64))
        h = (raw - self.mean) / self.scale
        for layer in self.hidden:
            h = layer(h)
        out = np.concatenate([head(h) for head in self.heads], axis=1)
        if self.scale_w is not None:
            out = out * (raw @ self.scale_w)[:, None]
        if self.offset_w is not None:
            out[:, 0] += raw @ self.offset_w
        if self.kind == "quantiles":
            return np.cumsum(out, axis=1)
        return out[:, 0]

    def compiled(self) -> Any | None:
        """The same forward pass for one row as compiled code (``core.learned._nets.DenseNet``), or None
        when it is not built or switched off. Tests hold it equal to ``forward`` to 1e-12."""
        nets = load("core.learned._nets")
        if nets is None:
            return None
        ACT_CODES, DenseNet = nets.ACT_CODES, nets.DenseNet
        layers = [(h.w, h.b, [ACT_CODES[h.activation]] * h.w.shape[1]) for h in self.hidden]
        acts = [ACT_CODES[head.activation] for head in self.heads for _ in range(head.w.shape[1])]
        layers.append(
            (np.hstack([head.w for head in self.heads]), np.concatenate([head.b for head in self.heads]), acts)
        )
        return DenseNet(
            self.mean,
            self.scale,
            layers,
            scale_w=self.scale_w,
            offset_w=self.offset_w,
            cumulative=self.kind == "quantiles",
        )

    def save_npz(self, path: str | Path) -> None:
        """The same weights as plain arrays, so the app serves models without importing TensorFlow."""
        arrays: dict[str, Any] = {"kind": np.array(self.kind), "mean": self.mean, "scale": self.scale}
        for group, layers in (("hidden", self.hidden), ("head", self.heads)):
            for i, layer in enumerate(layers):
                arrays[f"{group}_{i}_w"], arrays[f"{group}_{i}_b"] = layer.w, layer.b
                arrays[f"{group}_{i}_act"] = np.array(layer.activation)
        for name in ("offset_w", "scale_w"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load_npz(cls, path: str | Path) -> NumpyNet:
        """Read ``save_npz`` output as data (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}

        def layers(group: str) -> tuple[DenseWeights, ...]:
            out, i = [], 0
            while f"{group}_{i}_w" in d:
                act = str(d[f"{group}_{i}_act"])
                if act not in ACTIVATIONS:
                    raise ValueError(f"unknown activation {act!r} in {path}")
                out.append(
                    DenseWeights(
                        w=d[f"{group}_{i}_w"].astype(np.float64),
                        b=d[f"{group}_{i}_b"].astype(np.float64),
                        activation=act,
                    )
                )
                i += 1
            return tuple(out)

        return cls(
            kind=str(d["kind"]),
            mean=d["mean"],
            scale=d["scale"],
            hidden=layers("hidden"),
            heads=layers("head"),
            offset_w=d.get("offset_w"),
            scale_w=d.get("scale_w"),
        )

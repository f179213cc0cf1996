"""Learned cost models: Keras 3 to train and save them, numpy to evaluate them on every tick.

Three roles, one ``.keras`` file and one JSON model card each in ``models/``:

- ``slippage_expected``: expected total immediate cost (bps) of a market order at a latency: linear
  regression (one Dense unit, mean squared error), or a small MLP where that won on held-out data.
- ``slippage_quantiles``: p50, p90 and p95 of the same cost (pinball loss). Non-crossing by
  construction: the model outputs p50 and two softplus (hence >= 0) increments, p90 = p50 + d90 and
  p95 = p90 + d95.
- ``maker_taker``: share of a passive limit order filled as maker within its horizon: logistic regression
  (one Dense sigmoid unit, cross-entropy on the fill fraction).

Every model starts with a Normalization layer, so a saved file is self-contained. Keras costs ~10-100 ms a
call, far over a tick's budget, so ``load_models`` reads each file once, copies the normalisation
statistics and Dense weights into a ``NumpyNet`` and drops the Keras object: the per-tick path is a few
float64 numpy matrix products (about 5 µs; about 25 µs with building the features from the book) and
never touches TensorFlow. Keras is imported only by the functions that build, train or load a model.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.compiled import load
from core.costs.models import ModelInput, Models, SlippagePrediction
from core.costs.order import Side
from core.errors import InstrumentError
from core.market.instruments import Instrument, get_instrument
from core.paths import MODELS_DIR
from core.training.dataset import (
    DEPTH_BANDS_BPS,
    HORIZONS_S,
    IMBALANCE_BAND_BPS,
    LATENCIES_MS,
    MAKER_FEATURES,
    MAKER_NAMES,
    MAX_RATIO,
    OFFSETS_BPS,
    SLIPPAGE_FEATURES,
    SLIPPAGE_NAMES,
    Feature,
    FlowFeatures,
    book_features,
    infer_tick,
    limit_price,
    maker_vector,
    slippage_vector,
)

log = logging.getLogger(__name__)

QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95)
DTYPE = "float64"  # Keras layers compute in float64 so the numpy path matches to ~1e-12, not ~1e-6
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): Normalization divides by max(sqrt(var), epsilon)
ROLES = ("slippage_expected", "slippage_quantiles", "maker_taker")
KINDS = {"slippage_expected": "regression", "slippage_quantiles": "quantiles", "maker_taker": "probability"}

#: slippage model inputs (a subset of the dataset's columns). The models predict the cost as the
#: decision-time book walk plus sqrt(L) x (a learned function): at zero latency they return the walk
#: exactly, and the drift and the spread of outcomes grow like a random walk's, with sqrt(L).
SLIPPAGE_INPUTS: tuple[str, ...] = (
    "log10_size_usd",
    "spread_bps",
    "walk_bps",
    "log10_depth5_usd",
    "log10_depth25_usd",
    "size_over_depth5",
    "size_over_depth25",
    "side_x_imbalance25",
    "side_x_imbalance_top",
    "vol_bps",
    "log10_trades_per_s",
    "log10_btc_per_s",
    "sqrt_latency_s",
    "is_spot",
)
SLIPPAGE_OFFSET = "walk_bps"  # added to the output unchanged
SLIPPAGE_SCALE = "sqrt_latency_s"  # multiplies the learned part
#: maker/taker inputs: quantities that keep their meaning when the market's activity level changes
#: (distance in units of the typical move, queue and size, which way the book leans)
MAKER_INPUTS: tuple[str, ...] = (
    "log10_size_usd",
    "offset_bps",
    "log10_horizon_s",
    "log10_queue_usd",
    "side_x_imbalance25",
    "side_x_imbalance_top",
    "vol_bps",
    "move_bps",
    "offset_over_move",
    "is_spot",
)
ROLE_INPUTS = {"slippage_expected": SLIPPAGE_INPUTS, "slippage_quantiles": SLIPPAGE_INPUTS, "maker_taker": MAKER_INPUTS}
_SLIP_IDX = np.array([SLIPPAGE_NAMES.index(n) for n in SLIPPAGE_INPUTS])
_MAKER_IDX = np.array([MAKER_NAMES.index(n) for n in MAKER_INPUTS])


def input_features(role: str) -> tuple[Feature, ...]:
    """The model's inputs with units, for its card."""
    table = {f.name: f for f in (MAKER_FEATURES if role == "maker_taker" else SLIPPAGE_FEATURES)}
    return tuple(table[n] for n in ROLE_INPUTS[role])


def structure(role: str) -> dict[str, int | None]:
    """Column indices (within the role's inputs) of the pass-through offset and the output scale."""
    if role == "maker_taker":
        return {"offset_index": None, "scale_index": None}
    return {
        "offset_index": SLIPPAGE_INPUTS.index(SLIPPAGE_OFFSET),
        "scale_index": SLIPPAGE_INPUTS.index(SLIPPAGE_SCALE),
    }


# --------------------------------------------------------------------------------------------------
# numpy forward pass


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
    """A Keras model of this module rewritten as numpy: normalise, hidden ReLU layers, then the head.

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
        arrays: dict[str, np.ndarray] = {"kind": np.array(self.kind), "mean": self.mean, "scale": self.scale}
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

    @classmethod
    def from_keras(cls, model: Any, kind: str) -> NumpyNet:
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
        fixed = {}
        for name in ("offset", "scale"):
            try:
                fixed[name] = np.asarray(model.get_layer(name).get_weights()[0], np.float64)[:, 0]
            except ValueError:
                fixed[name] = None
        return cls(
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


# --------------------------------------------------------------------------------------------------
# Keras side: build, train, load (imported lazily)


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
) -> Any:
    """Normalization (adapted on ``x_train``) -> ReLU layers of sizes ``hidden`` -> the kind's head.

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
    for i, units in enumerate(hidden):
        h = layers.Dense(units, activation="relu", name=f"hidden_{i}", dtype=DTYPE)(h)
    reg = keras.regularizers.L2(l2) if l2 > 0 else None
    # A linear head starts at zero, so an offset model starts as its baseline.
    init = "zeros" if not hidden else "glorot_uniform"

    def head(name: str, activation: str | None = None) -> Any:
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
    """Optimiser settings; the cards record them."""

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
    model = build_model(kind, x, hidden=cfg.hidden, offset_index=offset_index, scale_index=scale_index, l2=cfg.l2)
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


def load_keras(path: str | Path) -> Any:
    """Read a saved model (no compile: the pinball loss is only needed for training)."""
    return _keras().saving.load_model(str(path), compile=False)


# --------------------------------------------------------------------------------------------------
# Serving: the cost-engine protocols backed by the numpy path


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _side_sign(side: Side | str) -> int:
    return 1 if Side.parse(side) is Side.BUY else -1


def _flow(x: ModelInput, impute: dict[str, float], trades: FlowFeatures | None) -> FlowFeatures:
    """Volatility from the engine's estimate; trade intensity from the caller or the training median."""
    vol_bps = float(x.volatility.sigma_per_sqrt_s) * 1e4
    if trades is not None:
        return FlowFeatures(vol_bps=vol_bps, trades_per_s=trades.trades_per_s, btc_per_s=trades.btc_per_s)
    return FlowFeatures(vol_bps=vol_bps, trades_per_s=impute["trades_per_s"], btc_per_s=impute["btc_per_s"])


@functools.lru_cache(maxsize=64)
def _instrument(exchange: str, symbol: str) -> Instrument | None:
    """Instrument metadata once per (exchange, symbol): the per-tick path must not repeat the lookup."""
    try:
        return get_instrument(exchange, symbol)
    except InstrumentError:
        return None


def _is_spot(exchange: str, symbol: str) -> bool:
    inst = _instrument(exchange, symbol)
    return inst is not None and inst.kind == "spot"  # unknown: treat as a derivative, like most venues here


def _tick(snapshot: Any) -> float:
    inst = _instrument(snapshot.exchange, snapshot.symbol)
    return inst.tick_size if inst is not None else infer_tick(snapshot)


def _impute_for(card: dict[str, Any], spot: bool) -> dict[str, float]:
    imp = card.get("serving", {}).get("impute", {})
    return {k: float(v) for k, v in imp.get("spot" if spot else "derivative", imp.get("all", {})).items()}


@dataclass(frozen=True)
class SlippageModelImpl:
    """``core.costs.estimate.SlippageModel``: expected cost and p90 in bps of the executed notional.

    ``expected`` is None when the expected-value model declined (its card says ``use: false``): the book
    walk at decision time is then the expected value. ``quantiles`` is None when the quantile model
    declined: no p90 band. The latency comes from ``x.latency_ms`` or ``x.order.latency_ms`` when the
    engine supplies one, else ``latency_ms`` here; it is clipped to the trained range.
    """

    name: str
    expected: NumpyNet | None
    quantiles: NumpyNet | None
    impute: dict[str, dict[str, float]]  # "spot"/"derivative" -> trade-feature medians of the training data
    latency_ms: float = 0.0
    cards: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def with_latency(self, latency_ms: float) -> SlippageModelImpl:
        return replace(self, latency_ms=float(latency_ms))

    def features(
        self, x: ModelInput, *, latency_ms: float | None = None, trades: FlowFeatures | None = None
    ) -> np.ndarray:
        """The model-input row (``SLIPPAGE_INPUTS``) the training code would have built for this order."""
        lat = latency_ms
        if lat is None:
            lat = getattr(x, "latency_ms", None)
        if lat is None:
            lat = getattr(x.order, "latency_ms", None)
        lat = _clip(float(self.latency_ms if lat is None else lat), 0.0, max(LATENCIES_MS))
        snap = x.snapshot
        spot = _is_spot(snap.exchange, snap.symbol)
        row = slippage_vector(
            book_features(snap),
            _flow(x, self.impute["spot" if spot else "derivative"], trades),
            side=_side_sign(x.order.side),
            size_usd=max(float(x.notional_usd), 1e-9),
            walk_bps=float(x.walk.cost_bps),
            latency_ms=lat,
            is_spot=spot,
        )
        return row[_SLIP_IDX]

    def tick_row(
        self,
        snap: Any,
        bands: tuple[tuple[float, ...], tuple[float, ...]],
        *,
        side: int,
        notional_usd: float,
        walk_bps: float,
        vol_per_sqrt_s: float,
        latency_ms: float,
    ) -> list[float]:
        """``features`` from numbers the per-tick path already has (banded depth from the kernel), as a
        plain list: the same values, without building the full training row. Tests hold the two equal."""
        spot = _is_spot(snap.exchange, snap.symbol)
        imp = self.impute["spot" if spot else "derivative"]
        bid_d, ask_d = bands
        depth = ask_d if side > 0 else bid_d
        i = DEPTH_BANDS_BPS.index(IMBALANCE_BAND_BPS)
        tot = bid_d[i] + ask_d[i]
        imb25 = (bid_d[i] - ask_d[i]) / tot if tot > 0 else 0.0
        b0, a0 = float(snap.bid_sz[0]), float(snap.ask_sz[0])
        imb_top = (b0 - a0) / (b0 + a0) if b0 + a0 > 0 else 0.0
        size = max(float(notional_usd), 1e-9)
        lat = _clip(float(latency_ms), 0.0, max(LATENCIES_MS))
        return [
            math.log10(size),
            snap.spread_bps,
            walk_bps,
            math.log10(1.0 + depth[0]),
            math.log10(1.0 + depth[1]),
            min(size / depth[0], MAX_RATIO) if depth[0] > 0 else MAX_RATIO,
            min(size / depth[1], MAX_RATIO) if depth[1] > 0 else MAX_RATIO,
            side * imb25,
            side * imb_top,
            float(vol_per_sqrt_s) * 1e4,
            math.log10(1.0 + imp["trades_per_s"]),
            math.log10(1.0 + imp["btc_per_s"]),
            math.sqrt(lat / 1000.0),
            1.0 if spot else 0.0,
        ]

    def predict_row(self, row: np.ndarray, walk_bps: float) -> tuple[float, float | None]:
        """(expected bps, p90 bps or None) for one feature row."""
        exp = float(self.expected.forward(row)[0]) if self.expected is not None else walk_bps
        p90 = None
        if self.quantiles is not None:
            p90 = max(float(self.quantiles.forward(row)[0, 1]), exp)  # a band never below the expectation
        return exp, p90

    def predict_quantiles(self, x: ModelInput, **kw: Any) -> np.ndarray | None:
        """(p50, p90, p95) in bps, or None without a quantile model."""
        if self.quantiles is None:
            return None
        return self.quantiles.forward(self.features(x, **kw))[0]

    def predict(self, x: ModelInput) -> SlippagePrediction:
        exp, p90 = self.predict_row(self.features(x), float(x.walk.cost_bps))
        return SlippagePrediction(expected_bps=exp, p90_bps=p90)


@dataclass(frozen=True)
class MakerTakerModelImpl:
    """``core.costs.estimate.MakerTakerModel``: expected share of a limit order filled as maker within its horizon.

    Reads ``order.side``, ``order.offset_bps`` and ``order.horizon_s`` (horizon clipped to the trained
    1-60 s, offset to 0-5 bps; the card says so) and the notional.
    """

    name: str
    net: NumpyNet
    impute: dict[str, dict[str, float]]
    cards: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def features_for(
        self,
        snapshot: Any,
        *,
        side: Side | str,
        size_usd: float,
        offset_bps: float,
        horizon_s: float,
        vol_bps: float,
        trades: FlowFeatures | None = None,
    ) -> np.ndarray:
        """Lower-level entry: a book and order parameters -> the model-input row (``MAKER_INPUTS``)."""
        spot = _is_spot(snapshot.exchange, snapshot.symbol)
        imp = self.impute["spot" if spot else "derivative"]
        flow = FlowFeatures(
            vol_bps=vol_bps,
            trades_per_s=trades.trades_per_s if trades else imp["trades_per_s"],
            btc_per_s=trades.btc_per_s if trades else imp["btc_per_s"],
        )
        s = _side_sign(side)
        off = _clip(float(offset_bps), min(OFFSETS_BPS), max(OFFSETS_BPS))
        hor = _clip(float(horizon_s), min(HORIZONS_S), max(HORIZONS_S))
        lp = limit_price(snapshot, s, off, _tick(snapshot))
        row = maker_vector(
            book_features(snapshot),
            flow,
            side=s,
            size_usd=max(float(size_usd), 1e-9),
            offset_bps=off,
            horizon_s=hor,
            queue_usd=lp.queue_base * lp.price,
            is_spot=spot,
        )
        return row[_MAKER_IDX]

    def features(self, x: ModelInput, *, trades: FlowFeatures | None = None) -> np.ndarray:
        o = x.order
        return self.features_for(
            x.snapshot,
            side=o.side,
            size_usd=x.notional_usd,
            offset_bps=o.offset_bps,
            horizon_s=o.horizon_s,
            vol_bps=float(x.volatility.sigma_per_sqrt_s) * 1e4,
            trades=trades,
        )

    def maker_fraction(self, x: ModelInput) -> float:
        return _clip(float(self.net.forward(self.features(x))[0]), 0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# Loading with fallback


@dataclass(frozen=True)
class LoadedModels:
    """What ``load_models`` found: the engine's slots plus why any slot keeps the rule-based method."""

    models: Models
    fallbacks: dict[str, str]  # role -> plain-language reason the baseline is used instead
    cards: dict[str, dict[str, Any]]
    nets: dict[str, NumpyNet]

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(self.fallbacks.values())


EXPECTED_FEATURES = ROLE_INPUTS
BASELINE_WORDS = {
    "slippage_expected": "the book walk at decision time is used for expected slippage",
    "slippage_quantiles": "no p90 band is shown",
    "maker_taker": "limit orders cannot be priced",
}


def read_card(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _load_role(models_dir: Path, role: str) -> tuple[NumpyNet | None, dict[str, Any], str]:
    """(net or None, card, reason when None)."""
    card_path = models_dir / f"{role}.json"
    if not card_path.exists():
        return None, {}, f"No trained {role} model in {models_dir} (run `python -m core.train`)"
    try:
        card = read_card(card_path)
    except (OSError, ValueError) as exc:
        return None, {}, f"The {role} model card could not be read ({type(exc).__name__})"
    if not card.get("use", False):
        return None, card, f"The {role} model is not used: {card.get('reason', 'its card says use = false')}"
    if tuple(f["name"] for f in card.get("features", [])) != EXPECTED_FEATURES[role]:
        return None, card, f"The {role} model was trained on other features than this code builds; retrain it"
    keras_path = models_dir / card.get("file", f"{role}.keras")
    npz_path = keras_path.with_suffix(".npz")
    try:
        # the .npz holds the same weights (written beside the .keras by core.training.train, checked equal by the
        # tests), so serving needs no TensorFlow import; the .keras is the fallback
        net = (
            NumpyNet.load_npz(npz_path)
            if npz_path.exists()
            else NumpyNet.from_keras(load_keras(keras_path), KINDS[role])
        )
    except Exception as exc:  # a missing or corrupt file must not stop the app: fall back, say why
        log.warning("could not load %s", keras_path, exc_info=True)
        return None, card, f"The {role} model file could not be loaded ({type(exc).__name__})"
    if net.n_features != len(EXPECTED_FEATURES[role]):
        return None, card, f"The {role} model expects {net.n_features} features, not {len(EXPECTED_FEATURES[role])}"
    return net, card, ""


def load_models(models_dir: str | Path = MODELS_DIR, *, latency_ms: float = 0.0) -> LoadedModels:
    """Read the cards and weights once (call it from a ``st.cache_resource`` factory).

    A role whose card says ``use: false``, or whose files are missing or stale, leaves its slot empty and
    ``fallbacks[role]`` says why in one sentence, so the engine keeps its baseline for that number.
    """
    d = Path(models_dir)
    nets: dict[str, NumpyNet] = {}
    cards: dict[str, dict[str, Any]] = {}
    fallbacks: dict[str, str] = {}
    for role in ROLES:
        net, card, why = _load_role(d, role)
        if card:
            cards[role] = card
        if net is None:
            fallbacks[role] = f"{why}; {BASELINE_WORDS[role]}."
        else:
            nets[role] = net

    slippage = None
    if "slippage_expected" in nets or "slippage_quantiles" in nets:
        src = cards.get("slippage_expected") if "slippage_expected" in nets else cards["slippage_quantiles"]
        parts = []
        if "slippage_expected" in nets:
            parts.append(cards["slippage_expected"].get("display_name", "slippage model"))
        else:
            parts.append("book walk at decision time")
        if "slippage_quantiles" in nets:
            parts.append("p90 from " + cards["slippage_quantiles"].get("display_name", "quantile model"))
        slippage = SlippageModelImpl(
            name="; ".join(parts),
            expected=nets.get("slippage_expected"),
            quantiles=nets.get("slippage_quantiles"),
            impute={"spot": _impute_for(src, True), "derivative": _impute_for(src, False)},
            latency_ms=latency_ms,
            cards={k: v for k, v in cards.items() if k.startswith("slippage")},
        )
    maker = None
    if "maker_taker" in nets:
        c = cards["maker_taker"]
        maker = MakerTakerModelImpl(
            name=c.get("display_name", "maker/taker model"),
            net=nets["maker_taker"],
            impute={"spot": _impute_for(c, True), "derivative": _impute_for(c, False)},
            cards={"maker_taker": c},
        )
    return LoadedModels(
        models=Models(slippage=slippage, maker_taker=maker), fallbacks=fallbacks, cards=cards, nets=nets
    )


def display_name(role: str, arch: str, metrics: dict[str, Any]) -> str:
    """The short label the engine shows in ``methods``, with the held-out number that justifies it."""
    what = (
        "MLP"
        if arch == "mlp"
        else {
            "slippage_expected": "linear regression",
            "slippage_quantiles": "linear quantile regression",
            "maker_taker": "logistic regression",
        }[role]
    )
    if role == "slippage_expected":
        return f"{what} (held-out MAE {metrics['mae_bps']:.3g} bps)"
    if role == "slippage_quantiles":
        return f"{what} (held-out p90 coverage {metrics['coverage'][1]:.0%})"
    return f"{what} (held-out log-loss {metrics['log_loss']:.3g})"

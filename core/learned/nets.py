"""The numpy forward pass of a trained net, and the same pass compiled for the per-tick path.

Keras costs ~10-100 ms a call, far over a tick's budget, so training (``core.training``) writes each model's
normalisation statistics and Dense weights as plain arrays (``models/*.npz``) and serving reads them into a
``NumpyNet``: a few float64 numpy matrix products (about 5 µs; about 25 µs with building the features from
the book). ``NumpyNet.compiled`` hands the same weights to ``core.learned._nets.DenseNet`` for the per-tick
path. Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.compiled import load


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def _identity(z: np.ndarray) -> np.ndarray:
    return z


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _identity,
    "relu": _relu,
    "softplus": _softplus,
    "sigmoid": sigmoid,
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
class BandShift:
    """A quantile net's p90 widened after training (split-conformal, per size bucket and market kind or instrument).

    ``shift = table[row, bucket] x max(raw[scale_col], floor)`` bps is added to the p90 increment, so p90
    and p95 move together. A clipped table is >= 0 (the band only widens); a two-sided one may be negative (it
    narrows), and ``NumpyNet.forward`` keeps the increment at or above 0, so the p90 never falls below the p50 and
    the p95 never below the p90. ``bucket`` counts the ``edges``
    at or below ``raw[size_col]`` (lower bound inclusive). ``row`` is the order's instrument's row
    (``2 + instruments.index(key)``, ``key`` its ``core.learned.models.band_instrument``) when the table has one,
    else the pooled row of its market kind: 1 where ``raw[group_col] > 0.5`` (spot), 0 otherwise. The instrument is
    not a model input, so the caller names it (``NumpyNet.forward``'s ``instrument``).
    ``core.training.conformal`` fits the table on real taker orders of the training days.
    """

    edges: np.ndarray  # ascending, on the size column (log10 USD)
    table: np.ndarray  # (2 + len(instruments), len(edges) + 1), units of the scale column (sqrt(s) for vol_bps)
    size_col: int
    group_col: int
    scale_col: int
    floor: float
    instruments: tuple[str, ...] = ()  # the instrument keys of the rows after the two pooled ones

    def __post_init__(self) -> None:
        if self.table.shape != (2 + len(self.instruments), self.edges.size + 1):
            raise ValueError("a band shift's table needs two pooled rows, one per instrument, one column per bucket")

    def row_of(self, instrument: str | None) -> int:
        """The table row of ``instrument`` (a ``core.learned.models.band_instrument`` key), or -1: the pooled row of
        its market kind."""
        return 2 + self.instruments.index(instrument) if instrument in self.instruments else -1

    def rows(self, raw: np.ndarray, instrument: str | Sequence[str | None] | None = None) -> np.ndarray:
        """The table row of each row of ``raw``: its instrument's (one key for all rows, or one per row), else the
        pooled row of its market kind."""
        g = (raw[:, self.group_col] > 0.5).astype(np.intp)
        if instrument is None or not self.instruments:
            return g
        if isinstance(instrument, str):
            r = self.row_of(instrument)
            return g if r < 0 else np.full_like(g, r)
        own = np.fromiter((self.row_of(k) for k in instrument), dtype=np.intp, count=len(g))
        return np.where(own >= 0, own, g)

    def __call__(self, raw: np.ndarray, instrument: str | Sequence[str | None] | None = None) -> np.ndarray:
        k = np.searchsorted(self.edges, raw[:, self.size_col], side="right")
        scale = np.fmax(raw[:, self.scale_col], self.floor)  # fmax: as the compiled twin
        return self.table[self.rows(raw, instrument), k] * scale


@dataclass(frozen=True, slots=True)
class Recalibration:
    """A probability net recalibrated by order size and market kind after training: ``sigmoid(a + b z)``, ``z``
    the head's pre-activation, with ``(a, b)`` interpolated linearly in ``u = u_sign x raw[u_col]`` between
    ``knots`` (held constant outside them) from ``coef[group]``, ``group`` 1 where ``raw[group_col] > 0.5``.

    ``u`` is the order's size on one of three scales, all rising with size: log10 USD (``u_sign`` 1 on
    ``log10_size_usd``); log10 of the order and the queue ahead over the USD the instrument trades while it rests
    (``u_sign`` -1 on ``log10_flow_over_order``); or, with ``flow_cols`` (the columns ``log10_queue_usd``,
    ``log10_horizon_s``, ``log10_flow_over_order``), log10 of the seconds of the instrument's trade flow the
    order represents, ``raw[u_col] - log10(F)`` with the USD per second ``F`` recovered from those columns
    (``flow_usd_per_s``). The last two let one correction transfer between a busy and a thin instrument.
    Smooth in size, so the maker share cannot jump at a bucket edge. ``core.training.recalibration`` fits ``coef`` and chooses the scale on the training days' date."""

    knots: np.ndarray  # (K,) ascending, in units of u
    coef: np.ndarray  # (2, K, 2): group, knot, (a, b)
    u_col: int
    group_col: int
    u_sign: float = 1.0
    flow_cols: tuple[int, ...] = ()  # (log10_queue_usd, log10_horizon_s, log10_flow_over_order), or none
    #: per instrument (``core.learned.imputation.instrument_key``), a logit shift added to ``a`` at every knot;
    #: ``__call__`` ignores them (the pooled correction): ``for_instrument`` folds one into ``coef``
    shifts: tuple[tuple[str, float], ...] = ()

    def for_instrument(self, key: str) -> Recalibration:
        """This recalibration for one instrument: its logit shift folded into ``a`` (the level at every knot, so
        the share still never rises with size), or the pooled one for an instrument without a shift."""
        c = dict(self.shifts).get(key, 0.0)
        coef = self.coef.copy()
        coef[:, :, 0] += c
        return replace(self, coef=coef, shifts=())

    def u(self, raw: np.ndarray) -> np.ndarray:
        """The size scale the knots are on, per row."""
        if self.flow_cols:
            q, h, f = self.flow_cols
            return raw[:, self.u_col] - np.log10(flow_usd_per_s(raw[:, self.u_col], raw[:, q], raw[:, h], raw[:, f]))
        return self.u_sign * raw[:, self.u_col]

    def weights(self, u: np.ndarray) -> np.ndarray:
        """(n, K) hat-function weights of ``u`` on the knots (rows sum to 1)."""
        return hat_weights(self.knots, u)

    def __call__(self, z: np.ndarray, raw: np.ndarray) -> np.ndarray:
        w = self.weights(self.u(raw))
        g = (raw[:, self.group_col] > 0.5).astype(np.intp)
        c = self.coef[g]  # (n, K, 2)
        a = np.einsum("nk,nk->n", w, c[:, :, 0])
        b = np.einsum("nk,nk->n", w, c[:, :, 1])
        return sigmoid(a + b * z)


MIN_FLOW_USD_PER_S = 1.0  # the floor of the recovered flow, so a tape with no trades still has a finite scale


def flow_usd_per_s(
    log10_size: np.ndarray, log10_queue: np.ndarray, log10_horizon: np.ndarray, log10_flow_over_order: np.ndarray
) -> np.ndarray:
    """The USD per second the row's flow inputs were built from (``core.learned.features.maker_vector``:
    ``flow_over_order = (1 + F x horizon) / (size + queue)``, ``queue = 10^log10_queue - 1``), floored."""
    order = 10.0**log10_size + 10.0**log10_queue - 1.0
    f = (10.0**log10_flow_over_order * order - 1.0) / 10.0**log10_horizon
    return np.fmax(f, MIN_FLOW_USD_PER_S)


def hat_weights(knots: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights of ``u`` on ``knots``, clamped to the end knots."""
    k = knots.size
    x = np.clip(np.asarray(u, dtype=np.float64), knots[0], knots[-1])
    j = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, k - 2)
    t = (x - knots[j]) / (knots[j + 1] - knots[j])
    w = np.zeros((x.size, k))
    rows = np.arange(x.size)
    w[rows, j] = 1.0 - t
    w[rows, j + 1] += t
    return w


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
    band_shift: BandShift | None = None  # quantiles: the p90 widening fitted after training
    recalibration: Recalibration | None = None  # probability: the recalibration by size fitted after training
    #: each input clipped to [clip_lo, clip_hi] (its training range) before the normalisation; the recalibration,
    #: scale and offset read the raw inputs (``core.training.extrapolation``)
    clip_lo: np.ndarray | None = None
    clip_hi: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.clip_lo is None) != (self.clip_hi is None) or (
            self.clip_lo is not None and not (self.clip_lo.shape == self.clip_hi.shape == self.mean.shape)  # type: ignore[union-attr]
        ):
            raise ValueError("an input range needs a low and a high bound per input")
        if self.recalibration is not None and not (
            self.kind == "probability"
            and len(self.heads) == 1
            and self.heads[0].activation == "sigmoid"
            and self.offset_w is None
            and self.scale_w is None
        ):
            raise ValueError("a recalibration needs a probability net with one sigmoid head")
        if self.band_shift is not None and self.kind != "quantiles":
            raise ValueError("a band shift needs a quantile net")

    def for_instrument(self, key: str) -> NumpyNet:
        """The net as served for one instrument (``Recalibration.for_instrument``); itself without shifts."""
        rc = self.recalibration
        return self if rc is None or not rc.shifts else replace(self, recalibration=rc.for_instrument(key))

    @property
    def n_features(self) -> int:
        return int(self.mean.size)

    def normalised(self, raw: np.ndarray) -> np.ndarray:
        """The first layer's input: each raw input clipped to the training range (when the net has one), normalised."""
        if self.clip_lo is not None and self.clip_hi is not None:
            raw = np.minimum(np.maximum(raw, self.clip_lo), self.clip_hi)  # as the compiled twin
        return (raw - self.mean) / self.scale

    def forward(self, x: np.ndarray, instrument: str | Sequence[str | None] | None = None) -> np.ndarray:
        """Rows of features -> (n,) for one head, (n, q) for quantiles. A 1-D row gives a 1-row answer.
        ``instrument``: the rows' ``core.learned.models.band_instrument`` key (one for all, or one per row), which
        picks a band shift's per-instrument cells; None (or a key without cells): the pooled cells."""
        raw = np.atleast_2d(np.asarray(x, dtype=np.float64))
        h = self.normalised(raw)
        for layer in self.hidden:
            h = layer(h)
        if self.recalibration is not None:
            head = self.heads[0]
            return self.recalibration(h @ head.w[:, 0] + head.b[0], raw)
        out = np.concatenate([head(h) for head in self.heads], axis=1)
        if self.scale_w is not None:
            out = out * (raw @ self.scale_w)[:, None]
        if self.offset_w is not None:
            out[:, 0] += raw @ self.offset_w
        if self.band_shift is not None:
            out[:, 1] = np.maximum(out[:, 1] + self.band_shift(raw, instrument), 0.0)  # a two-sided shift: p90 >= p50
        if self.kind == "quantiles":
            return np.cumsum(out, axis=1)
        return out[:, 0]

    def compiled(self, instrument: str | None = None) -> Any | None:
        """The same forward pass for one row as compiled code (``core.learned._nets.DenseNet``), or None
        when it is not built or switched off; the band shift's row is fixed to ``instrument``'s (as ``forward``
        with that key). Tests hold it equal to ``forward`` to 1e-12. A recalibration's per-instrument logit shifts
        are not in it: compile ``for_instrument(key)`` for one instrument."""
        nets = load("core.learned._nets")
        if nets is None:
            return None
        ACT_CODES, DenseNet = nets.ACT_CODES, nets.DenseNet
        layers = [(h.w, h.b, [ACT_CODES[h.activation]] * h.w.shape[1]) for h in self.hidden]
        acts = [ACT_CODES[head.activation] for head in self.heads for _ in range(head.w.shape[1])]
        layers.append(
            (np.hstack([head.w for head in self.heads]), np.concatenate([head.b for head in self.heads]), acts)
        )
        bs, rc = self.band_shift, self.recalibration
        return DenseNet(
            self.mean,
            self.scale,
            layers,
            scale_w=self.scale_w,
            offset_w=self.offset_w,
            cumulative=self.kind == "quantiles",
            shift=None
            if bs is None
            else (bs.edges, bs.table, bs.size_col, bs.group_col, bs.scale_col, bs.floor, bs.row_of(instrument)),
            recal=None if rc is None else (rc.knots, rc.coef, rc.u_col, rc.group_col, rc.u_sign, rc.flow_cols),
            clip=None if self.clip_lo is None else (self.clip_lo, self.clip_hi),
        )

    def save_npz(self, path: str | Path) -> None:
        """The same weights as plain arrays, so the app serves models without importing TensorFlow."""
        arrays: dict[str, Any] = {"kind": np.array(self.kind), "mean": self.mean, "scale": self.scale}
        for group, layers in (("hidden", self.hidden), ("head", self.heads)):
            for i, layer in enumerate(layers):
                arrays[f"{group}_{i}_w"], arrays[f"{group}_{i}_b"] = layer.w, layer.b
                arrays[f"{group}_{i}_act"] = np.array(layer.activation)
        for name in ("offset_w", "scale_w", "clip_lo", "clip_hi"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        if self.band_shift is not None:
            bs = self.band_shift
            arrays |= {"shift_edges": bs.edges, "shift_table": bs.table, "shift_floor": np.array(bs.floor)}
            arrays["shift_cols"] = np.array([bs.size_col, bs.group_col, bs.scale_col], dtype=np.int64)
            if bs.instruments:
                arrays["shift_instruments"] = np.array(bs.instruments, dtype=np.str_)
        if self.recalibration is not None:
            rc = self.recalibration
            arrays |= {"recal_knots": rc.knots, "recal_coef": rc.coef}
            arrays["recal_cols"] = np.array([rc.u_col, rc.group_col], dtype=np.int64)
            arrays["recal_sign"] = np.array(rc.u_sign)
            arrays["recal_flow_cols"] = np.array(rc.flow_cols, dtype=np.int64)
            if rc.shifts:
                arrays["recal_shift_keys"] = np.array([k for k, _ in rc.shifts], dtype=np.str_)
                arrays["recal_shift_values"] = np.array([v for _, v in rc.shifts], dtype=np.float64)
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

        shift = None
        if "shift_table" in d:
            size_col, group_col, scale_col = (int(c) for c in d["shift_cols"])
            shift = BandShift(
                edges=d["shift_edges"].astype(np.float64),
                table=d["shift_table"].astype(np.float64),
                size_col=size_col,
                group_col=group_col,
                scale_col=scale_col,
                floor=float(d["shift_floor"]),
                instruments=tuple(str(k) for k in d.get("shift_instruments", ())),
            )
        recal = None
        if "recal_coef" in d:
            u_col, group_col = (int(c) for c in d["recal_cols"])
            recal = Recalibration(
                knots=d["recal_knots"].astype(np.float64),
                coef=d["recal_coef"].astype(np.float64),
                u_col=u_col,
                group_col=group_col,
                u_sign=float(d["recal_sign"]) if "recal_sign" in d else 1.0,  # files before the flow scales
                flow_cols=tuple(int(c) for c in d.get("recal_flow_cols", ())),
                shifts=tuple(
                    (str(k), float(v))
                    for k, v in zip(d.get("recal_shift_keys", ()), d.get("recal_shift_values", ()), strict=True)
                ),
            )
        return cls(
            kind=str(d["kind"]),
            mean=d["mean"],
            scale=d["scale"],
            hidden=layers("hidden"),
            heads=layers("head"),
            offset_w=d.get("offset_w"),
            scale_w=d.get("scale_w"),
            band_shift=shift,
            recalibration=recal,
            clip_lo=d.get("clip_lo"),
            clip_hi=d.get("clip_hi"),
        )

"""The maker/taker model recalibrated by order size and market kind, on the validation blocks of the training dates.

A logistic model linear in its inputs cannot follow how the size-aware fill fraction falls with size: near
P(any fill) for a small order, about the traded volume over the size for a large one. Per market kind (spot,
derivative) the fitted logit ``z`` is mapped to ``a(u) + b z``, ``a`` linear in a size scale ``u`` between knots a
decade apart and never rising with size, ``b > 0`` (``core.learned.nets.Recalibration``), so the maker share still
falls with size; fitted by cross-entropy on the fill fraction of the validation-block rows with the trade flow as
serving imputes it (a live feed has no trades): per instrument, its median USD flow on the training dates' tapes
converted at the mid (``core.learned.imputation``). A small ridge pulls ``(a, b)`` to ``(0, 1)``, the model
unchanged, where a knot has few rows.

Three size scales (``SCALES``): log10 USD; log10 of the order and the queue ahead over the USD the instrument
trades while the order rests; log10 of the seconds of the instrument's flow the order represents (size over USD
per second). On the first, one correction per market kind pools a busy instrument (BTCUSDT
perpetual, ~200k USD/s) with thin ones (COIN-M, ~13k USD/s), whose large orders fill far less: the busy one is
under-predicted, the thin ones over-predicted. On the second, a $1M order is "a few seconds of flow" on one and
"a minute" on the other, so the same correction can serve both. ``choose_recalibration`` picks the scale and
the ridge by leave-one-recording-out over the training dates' recordings (``CHOICE_RULE``).

The rows are those of every recording of the training days' date (``core.training.train.CALIBRATION``): the two
BTCUSDT recordings the model was trained on and the other assets and venues of that evening (ETHUSDT perpetual
and spot, the COIN-M inverse perpetual), which the model never saw. The held-out day (another date) is used by
neither the fit nor the choice of the scale and the ridge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np

from core.learned.nets import NumpyNet, Recalibration, hat_weights

#: knots in log10 USD: the sampled maker sizes, $10 to $10M, a decade apart
KNOTS_LOG10_USD: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
#: knots in log10 (order + queue USD) / (1 + USD traded while resting), a decade apart: from a $10 order with no
#: queue resting a minute on BTCUSDT (~1e-6) to a $10M order on a thin tape for a second (~1e3)
KNOTS_LOG10_ORDER_OVER_FLOW: tuple[float, ...] = (-6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
RIDGE = 1e-3  # per row, towards (a, b) = (0, 1)
#: ridges compared by leave-one-recording-out; the card records the choice
RIDGE_CHOICES: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
NEWTON_STEPS = 50
#: knots in log10 seconds of the instrument's flow (size / USD per second), a decade apart: from $10 on BTCUSDT
#: (~1e-4 s) to $10M on a thin tape (~1e3 s)
KNOTS_LOG10_FLOW_SECONDS: tuple[float, ...] = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: size buckets (log10 USD edges) of the per-bucket calibration gap, as the model card's maker tables
GAP_EDGES_LOG10_USD: tuple[float, ...] = (3.0, 4.0, 5.0, 6.0)


@dataclass(frozen=True, slots=True)
class Scale:
    """A size scale of the recalibration: ``u = sign x column``, rising with the order's size."""

    name: str
    column: str
    sign: float
    knots: tuple[float, ...]
    what: str
    seconds: bool = False  # u = column - log10(the row's USD flow per second): core.learned.nets.flow_usd_per_s


SCALES: tuple[Scale, ...] = (
    Scale("size", "log10_size_usd", 1.0, KNOTS_LOG10_USD, "u = log10 size USD"),
    Scale(
        "order_over_flow",
        "log10_flow_over_order",
        -1.0,
        KNOTS_LOG10_ORDER_OVER_FLOW,
        "u = log10((size + queue ahead, USD) / (1 + USD the instrument trades while the order rests)), "
        "the instrument's imputed flow",
    ),
    Scale(
        "seconds_of_flow",
        "log10_size_usd",
        1.0,
        KNOTS_LOG10_FLOW_SECONDS,
        "u = log10(size USD / the instrument's imputed USD traded per second): the seconds of its trade flow the "
        "order represents",
        seconds=True,
    ),
)
#: the columns the seconds-of-flow scale recovers the USD per second from
FLOW_COLUMNS = ("log10_queue_usd", "log10_horizon_s", "log10_flow_over_order")
CURRENT = "size"  # the scale served before the flow-relative one was proposed: kept unless the rule says otherwise
CHOICE_RULE = (
    "leave one recording out: for each of the training dates' recordings, the recalibration is fitted on the "
    "validation-block rows of the others and scored on every row of the one left out (log-loss, and the "
    "per-bucket calibration gap: the mean over the size buckets $10-$1k, $1k-$10k, $10k-$100k, $100k-$1M and "
    "$1M-$10M of |mean predicted - mean realised share|); each score is the mean over the recordings. Per "
    "scale, the ridge with the lowest mean log-loss. A flow-relative scale replaces the log10-size scale only "
    "if it has both the lower mean log-loss and the lower mean calibration gap (of those that do, the lowest "
    "log-loss); the chosen one is served only if its mean log-loss is below the model's without any "
    "recalibration. It is then refitted on the validation-block rows of every recording of that date. Written "
    "down before the held-out day's figures of this version were looked at."
)


def pre_activation(net: NumpyNet, x: np.ndarray) -> np.ndarray:
    """The single head's logit before the sigmoid (the net without any recalibration)."""
    h = net.normalised(np.atleast_2d(np.asarray(x, dtype=np.float64)))
    for layer in net.hidden:
        h = layer(h)
    head = net.heads[0]
    return h @ head.w[:, 0] + head.b[0]


def non_increasing(a: np.ndarray) -> np.ndarray:
    """The closest non-increasing sequence to ``a`` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in a:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, n2 = blocks.pop()
            m1, n1 = blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, n in blocks])


def fit_group(z: np.ndarray, u: np.ndarray, y: np.ndarray, knots: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """(K, 2) coefficients (a, b) per knot: ``a`` non-increasing in size and one slope ``b > 0`` for every knot,
    so a larger order never gets a larger maker share than the model's falling logit gives (the size-aware fill
    of a larger order cannot be larger). Projected Newton steps on the soft-label cross-entropy plus the ridge."""
    k = knots.size
    w = hat_weights(knots, u)
    design = np.hstack([w, z[:, None]])
    prior = np.concatenate([np.zeros(k), [1.0]])
    theta = prior.copy()
    n = max(len(y), 1)
    for _ in range(NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (design @ theta)))
        grad = design.T @ (p - y) / n + ridge * (theta - prior)
        hess = (design * (p * (1.0 - p))[:, None]).T @ design / n + ridge * np.eye(k + 1)
        new = theta - np.linalg.solve(hess, grad)
        new[:k] = non_increasing(new[:k])
        new[k] = max(new[k], 1e-3)
        done = np.abs(new - theta).max() < 1e-10
        theta = new
        if done:
            break
    return np.column_stack([theta[:k], np.full(k, theta[k])])


def fit_recalibration(
    net: NumpyNet,
    x: np.ndarray,
    y: np.ndarray,
    *,
    u_col: int,
    group_col: int,
    u_sign: float = 1.0,
    knots: tuple[float, ...] = KNOTS_LOG10_USD,
    ridge: float = RIDGE,
    flow_cols: tuple[int, ...] = (),
) -> Recalibration:
    """The recalibration of ``net`` on rows ``x`` (its inputs, as served) with fill fractions ``y``, on the size
    scale of ``core.learned.nets.Recalibration`` with ``u_col``, ``u_sign`` and ``flow_cols``."""
    k = np.asarray(knots, dtype=np.float64)
    z = pre_activation(net, x)
    shape = Recalibration(
        knots=k, coef=np.zeros((2, k.size, 2)), u_col=u_col, group_col=group_col, u_sign=u_sign, flow_cols=flow_cols
    )
    u, g = shape.u(x), x[:, group_col] > 0.5
    coef = np.empty((2, k.size, 2))
    for group in (0, 1):
        rows = g == bool(group)
        coef[group] = (
            fit_group(z[rows], u[rows], y[rows], k, ridge)
            if rows.any()
            else np.column_stack([np.zeros(k.size), np.ones(k.size)])
        )
    return replace(shape, coef=coef)


def cross_entropy(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def calibration_gap(y: np.ndarray, p: np.ndarray, log10_size: np.ndarray) -> float:
    """Mean over the size buckets (``GAP_EDGES_LOG10_USD``) with rows of |mean predicted - mean realised|."""
    k = np.searchsorted(np.asarray(GAP_EDGES_LOG10_USD), log10_size, side="right")
    return float(np.mean([abs(p[k == b].mean() - y[k == b].mean()) for b in np.unique(k)]))


@dataclass(frozen=True)
class CalibrationRows:
    """The served inputs of every row of the training dates' recordings, their fill fractions, the recording
    each comes from and whether it lies in a validation block (the rows a recalibration is fitted on)."""

    x: np.ndarray
    y: np.ndarray
    recording: np.ndarray
    validation: np.ndarray


def choose_recalibration(
    net: NumpyNet, rows: CalibrationRows, names: tuple[str, ...] | list[str]
) -> tuple[Recalibration | None, dict[str, Any]]:
    """``CHOICE_RULE``: the scale and ridge by leave-one-recording-out, refitted on every validation-block row.
    Returns the recalibration (None: the model is served as it is) and the cross-validation evidence."""
    size_col, group_col = names.index("log10_size_usd"), names.index("is_spot")
    recs = sorted(set(rows.recording.tolist()))
    z = pre_activation(net, rows.x)
    raw = 0.5 * (1.0 + np.tanh(0.5 * z))

    def fold_scores(pred: Callable[[np.ndarray], np.ndarray]) -> dict[str, dict[str, float]]:
        out = {}
        for r in recs:
            out_r = rows.recording == r
            p = pred(out_r)
            out[r] = {
                "log_loss": cross_entropy(rows.y[out_r], p),
                "gap": calibration_gap(rows.y[out_r], p, rows.x[out_r, size_col]),
            }
        return out

    def summary(folds: dict[str, dict[str, float]]) -> dict[str, Any]:
        return {
            "log_loss": float(np.mean([f["log_loss"] for f in folds.values()])),
            "gap": float(np.mean([f["gap"] for f in folds.values()])),
            "by_recording": folds,
        }

    evidence: dict[str, Any] = {"none": summary(fold_scores(lambda m: raw[m]))}
    best: dict[str, float] = {}
    for sc in SCALES:
        col = names.index(sc.column)
        fcols = tuple(names.index(c) for c in FLOW_COLUMNS) if sc.seconds else ()

        def pred(
            left_out: np.ndarray, ridge: float, sc: Scale = sc, col: int = col, fcols: tuple[int, ...] = fcols
        ) -> np.ndarray:
            fit = rows.validation & ~left_out
            rc = fit_recalibration(
                net,
                rows.x[fit],
                rows.y[fit],
                u_col=col,
                group_col=group_col,
                u_sign=sc.sign,
                knots=sc.knots,
                ridge=ridge,
                flow_cols=fcols,
            )
            return rc(z[left_out], rows.x[left_out])

        by_ridge = {f"{r:g}": summary(fold_scores(partial(pred, ridge=r))) for r in RIDGE_CHOICES}
        ridge = min(by_ridge, key=lambda k: by_ridge[k]["log_loss"])
        best[sc.name] = float(ridge)
        evidence[sc.name] = {"what": sc.what, "ridge": ridge, "by_ridge": by_ridge, **by_ridge[ridge]}
    wins = [
        s.name
        for s in SCALES
        if s.name != CURRENT and all(evidence[s.name][k] < evidence[CURRENT][k] for k in ("log_loss", "gap"))
    ]
    name = min(wins, key=lambda n: evidence[n]["log_loss"]) if wins else CURRENT
    use = evidence[name]["log_loss"] < evidence["none"]["log_loss"]
    evidence["chosen"] = name if use else "none"
    evidence["rule"] = CHOICE_RULE
    if not use:
        return None, evidence
    sc = next(s for s in SCALES if s.name == name)
    v = rows.validation
    rc = fit_recalibration(
        net,
        rows.x[v],
        rows.y[v],
        u_col=names.index(sc.column),
        group_col=group_col,
        u_sign=sc.sign,
        knots=sc.knots,
        ridge=best[name],
        flow_cols=tuple(names.index(c) for c in FLOW_COLUMNS) if sc.seconds else (),
    )
    return rc, evidence


# --------------------------------------------------------------------------------------------------
# Per-instrument logit shift on top of the pooled recalibration

#: ridge of an instrument's logit shift towards 0 (per row), fixed before any run: the served scale's ridge
SHIFT_RIDGE = 0.003
SHIFT_MARGIN = 0.01  # the relative log-loss gain the shifts must bring
SHIFT_BLOCK_S = 60.0  # the time blocks of the cross-validation, as the validation blocks
SHIFT_RULE = (
    "per-instrument logit shift, decided by time-block cross-validation on the training days: each "
    "recording's rows are cut into 60 s blocks; for each block, the shift c of that recording's instrument "
    "(maker share sigmoid(a(u) + b z + c), ridge 0.003 towards 0) is fitted on the recording's rows whose label "
    "window does not reach into the block, on top of the recalibration fitted on the other recordings' "
    "validation blocks (as in leave-one-recording-out), and scored on the block. Per recording, the log-loss and "
    "the calibration gap of its cross-validated predictions; each score is the mean over the recordings, against "
    "the same recalibration without a shift. The shifts are served only if both means are lower, the log-loss "
    "by at least 1% (as the MLP must beat the linear model; without it, instruments that do not differ got "
    "shifts of noise on hand-made data); each "
    "instrument's shift is then refitted on every row of its recording on top of the served recalibration, and "
    "an instrument without a recording of that date gets none (the pooled recalibration). Written down before "
    "these cross-validated figures and this version's held-out figures were looked at."
)


def fit_shift(logit: np.ndarray, y: np.ndarray, ridge: float = SHIFT_RIDGE) -> float:
    """The logit shift ``c`` minimising the soft-label cross-entropy of ``sigmoid(logit + c)`` plus
    ``ridge / 2 x c^2`` (Newton; the loss is convex in ``c``)."""
    c = 0.0
    for _ in range(NEWTON_STEPS):
        p = 0.5 * (1.0 + np.tanh(0.5 * (logit + c)))
        step = (float(np.mean(p - y)) + ridge * c) / (float(np.mean(p * (1.0 - p))) + ridge)
        c -= step
        if abs(step) < 1e-12:
            break
    return float(c)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def shift_folds(
    t_ms: np.ndarray, span_ms: np.ndarray, block_s: float = SHIFT_BLOCK_S
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(test, fit) masks per 60 s block of one recording's rows: a block's rows, and the rows whose label window
    ``[t, t + span]`` does not reach into it (the purge of ``core.training.dataset.block_split``)."""
    block_ms = block_s * 1000.0
    lo = float(t_ms.min())
    k = np.floor((t_ms - lo) / block_ms).astype(np.int64)
    end = t_ms + span_ms
    out = []
    for b in np.unique(k):
        a, e = lo + b * block_ms, lo + (b + 1) * block_ms
        test = k == b
        fit = ~test & ~((end >= a) & (t_ms < e))
        if fit.any():
            out.append((test, fit))
    return out


def choose_instrument_shifts(
    net: NumpyNet,
    rc: Recalibration | None,
    rows: CalibrationRows,
    names: tuple[str, ...] | list[str],
    instruments: dict[str, str],
    t_ms: np.ndarray,
    span_ms: np.ndarray,
    ridge: float,
) -> tuple[dict[str, float], dict[str, Any]]:
    """``SHIFT_RULE`` for the served recalibration ``rc`` (its scale and knots with its ``ridge``, refitted
    without the recording left out). ``instruments``: recording -> instrument key. Returns the shifts to serve (empty: none)
    and the cross-validation evidence."""
    if rc is None:
        return {}, {"rule": SHIFT_RULE, "chosen": False, "why": "no recalibration is served"}
    size_col = names.index("log10_size_usd")
    z = pre_activation(net, rows.x)
    recs = sorted(set(rows.recording.tolist()))
    by_rec: dict[str, dict[str, Any]] = {}
    for r in recs:
        out = rows.recording == r
        fit = rows.validation & ~out
        loro = fit_recalibration(
            net,
            rows.x[fit],
            rows.y[fit],
            u_col=rc.u_col,
            group_col=rc.group_col,
            u_sign=rc.u_sign,
            knots=tuple(rc.knots.tolist()),
            ridge=ridge,
            flow_cols=rc.flow_cols,
        )
        p0 = loro(z[out], rows.x[out])
        y, lz = rows.y[out], _logit(p0)
        p1 = np.empty_like(p0)
        folds = shift_folds(t_ms[out], span_ms[out])
        shifts = []
        for test, fitm in folds:
            c = fit_shift(lz[fitm], y[fitm])
            shifts.append(c)
            p1[test] = 0.5 * (1.0 + np.tanh(0.5 * (lz[test] + c)))
        covered = np.zeros(out.sum(), dtype=bool)
        for test, _ in folds:
            covered |= test
        ls = rows.x[out, size_col]
        by_rec[r] = {
            "instrument": instruments.get(r, r),
            "blocks": len(folds),
            "rows": int(covered.sum()),
            "fold_shifts": [round(s, 4) for s in shifts],
            "without": {
                "log_loss": cross_entropy(y[covered], p0[covered]),
                "gap": calibration_gap(y[covered], p0[covered], ls[covered]),
                "signed_by_bucket": signed_gaps(y[covered], p0[covered], ls[covered]),
            },
            "with": {
                "log_loss": cross_entropy(y[covered], p1[covered]),
                "gap": calibration_gap(y[covered], p1[covered], ls[covered]),
                "signed_by_bucket": signed_gaps(y[covered], p1[covered], ls[covered]),
            },
        }
    mean = {
        arm: {k: float(np.mean([v[arm][k] for v in by_rec.values()])) for k in ("log_loss", "gap")}
        for arm in ("without", "with")
    }
    use = (
        mean["with"]["gap"] < mean["without"]["gap"]
        and mean["with"]["log_loss"] < (1.0 - SHIFT_MARGIN) * mean["without"]["log_loss"]
    )
    evidence: dict[str, Any] = {"rule": SHIFT_RULE, "chosen": use, "mean": mean, "by_recording": by_rec}
    if not use:
        return {}, evidence
    lz_all = _logit(rc(z, rows.x))
    served = {}
    # an instrument's recordings fitted together: one recorded on several dates would get one shift pooled over
    # them, though the cross-validation above scored each recording on its own blocks (dormant while none is chosen)
    for key in sorted({instruments.get(r, r) for r in recs}):
        m = np.isin(rows.recording, [r for r in recs if instruments.get(r, r) == key])
        served[key] = fit_shift(lz_all[m], rows.y[m])
    evidence["shifts"] = served
    return served, evidence


def signed_gaps(y: np.ndarray, p: np.ndarray, log10_size: np.ndarray) -> dict[str, float]:
    """Mean predicted - mean realised share per size bucket (``GAP_EDGES_LOG10_USD``), keyed by bucket name."""
    k = np.searchsorted(np.asarray(GAP_EDGES_LOG10_USD), log10_size, side="right")
    return {GAP_BUCKETS[b]: float(p[k == b].mean() - y[k == b].mean()) for b in np.unique(k)}


GAP_BUCKETS = ("$10-$1k", "$1k-$10k", "$10k-$100k", "$100k-$1M", "$1M-$10M")

"""The maker/taker model recalibrated by order size and market kind, on the validation blocks of the training date.

A logistic model linear in its inputs cannot follow how the size-aware fill fraction falls with size: near
P(any fill) for a small order, about the traded volume over the size for a large one. Per market kind (spot,
derivative) the fitted logit ``z`` is mapped to ``a(u) + b z``, ``a`` linear in ``u = log10 size`` between knots a
decade apart and never rising with size, ``b > 0`` (``core.learned.nets.Recalibration``), so the maker share still
falls with size; fitted by cross-entropy on the fill fraction
of the validation-block rows with the trade flow as serving imputes it (a live feed has no trades): per
instrument, its median USD flow on the training date's tape converted at the mid (``core.learned.imputation``). A
small ridge pulls ``(a, b)`` to ``(0, 1)``, the model unchanged, where a knot has few rows.

The rows are those of every recording of the training days' date (``core.training.train.CALIBRATION``): the two
BTCUSDT recordings the model was trained on and the other assets and venues of that evening (ETHUSDT perpetual
and spot, the COIN-M inverse perpetual), which the model never saw. A recalibration fitted on the training
assets alone left a $5M order on ETHUSDT spot and COIN-M at several times its size-aware fill; the held-out day
(another date) is used by neither the fit nor the choice of the ridge.
"""

from __future__ import annotations

import numpy as np

from core.learned.nets import NumpyNet, Recalibration, hat_weights

#: knots in log10 USD: the sampled maker sizes, $10 to $10M, a decade apart
KNOTS_LOG10_USD: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0)
RIDGE = 1e-3  # per row, towards (a, b) = (0, 1)
#: ridges compared on the fitting-block rows (which the recalibration does not see); the card records the choice
RIDGE_CHOICES: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
NEWTON_STEPS = 50


def pre_activation(net: NumpyNet, x: np.ndarray) -> np.ndarray:
    """The single head's logit before the sigmoid (the net without any recalibration)."""
    h = (np.atleast_2d(np.asarray(x, dtype=np.float64)) - net.mean) / net.scale
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
    net: NumpyNet, x: np.ndarray, y: np.ndarray, *, size_col: int, group_col: int, ridge: float = RIDGE
) -> Recalibration:
    """The recalibration of ``net`` on rows ``x`` (its inputs, as served) with fill fractions ``y``."""
    knots = np.asarray(KNOTS_LOG10_USD, dtype=np.float64)
    z = pre_activation(net, x)
    u, g = x[:, size_col], x[:, group_col] > 0.5
    coef = np.empty((2, knots.size, 2))
    for group in (0, 1):
        rows = g == bool(group)
        coef[group] = (
            fit_group(z[rows], u[rows], y[rows], knots, ridge)
            if rows.any()
            else np.column_stack([np.zeros(knots.size), np.ones(knots.size)])
        )
    return Recalibration(knots=knots, coef=coef, size_col=size_col, group_col=group_col)


def cross_entropy(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def choose_recalibration(
    net: NumpyNet,
    val: tuple[np.ndarray, np.ndarray],
    check: tuple[np.ndarray, np.ndarray],
    *,
    size_col: int,
    group_col: int,
) -> tuple[Recalibration | None, dict[str, float]]:
    """Fit on ``val`` rows for each ridge of ``RIDGE_CHOICES``; keep the one with the lowest cross-entropy on
    ``check`` rows (the fitting blocks), or none when none beats the model as it is. Returns it and the check
    log-loss per ridge (and without any)."""
    scores: dict[str, float] = {"none": cross_entropy(check[1], net.forward(check[0]))}
    best: tuple[float, Recalibration | None] = (scores["none"], None)
    for ridge in RIDGE_CHOICES:
        rc = fit_recalibration(net, val[0], val[1], size_col=size_col, group_col=group_col, ridge=ridge)
        loss = cross_entropy(check[1], rc(pre_activation(net, check[0]), check[0]))
        scores[f"{ridge:g}"] = loss
        if loss < best[0]:
            best = (loss, rc)
    return best[1], scores

"""Whether the maker model measures the mid's move while an order rests at the 30 s scale.

The maker model's ``move_bps`` is the 1 s / 5 s volatility x sqrt(horizon): right for a random walk. A market whose
moves continue (trending) travels further in 30-60 s than that, one whose moves revert less far, and a resting order
fills when the price comes to it. Diagnosis, said plainly (session 12): the held-out day's realised fills by offset
were looked at; at 5 bps behind the touch its BTCUSDT orders filled 8-11% of the time against 0-0.5% on the
2023-04-04 training evening at a similar ``vol_bps``, and a quick diagnostic (the whole recording's mean squared
60 s return over 60 x its mean squared 1 s return, on a 1 s grid) read about 2.8 there against 0.5-1.4 on the
training recordings. The app's own estimator (``vol30_bps`` over ``vol_bps``, EWMA, at each decision time) gives
smaller, noisier figures; the maker card's ``variance_ratio`` has them. That look suggested the candidates below;
the choice between them and the incumbent is made on the training days alone (``HORIZON_VOL_RULE``), and the
held-out day, which suggested them, is weaker evidence for whichever is chosen (docs/MODELS.md says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.learned.features import HORIZON_VOL_SWAPS, MAKER_HORIZON_VOL, with_swap
from core.training.day_spread import day_folds, fold_figures
from core.training.extrapolation import fit_logistic
from core.training.recalibration import cross_entropy

GAP_MARGIN = 0.01  # the worst per-bucket |gap| over the date folds must fall by at least 1 point
FOLD_TOLERANCE = 0.01  # and no single fold's worst gap may rise by more than 1 point
LOSS_TOLERANCE = 0.005  # no fold's (nor the validation blocks') log-loss may rise by more than 0.5% (relative)

HORIZON_VOL_RULE = (
    "whether the maker model measures the mid's move while an order rests at the 30 s scale, decided on the "
    "training days alone and written down before any figure of the candidates was looked at: leave one training "
    "date out, as DAY_SPREAD_RULE's folds (a logistic regression, maximum likelihood, Newton, on the soft fill "
    "labels, inputs clipped when CLIP_RULE chose clipping, no recalibration, fitted on the other dates' training "
    "rows and scoring the left-out date's rows of the instruments it was fitted on, the flow imputed as served), "
    "and the training split's validation blocks (scored by a fit on the fitting blocks). Candidates: "
    "'move_at_horizon', move_bps and offset_over_move replaced by move30_bps = vol30_bps x sqrt(horizon_s) and "
    "offset_over_move30 (vol30_bps: the volatility of 30 s mid returns, core.costs.volatility step 7); "
    "'variance_ratio', one input added, log_variance_ratio = ln(vol30_bps^2 / vol_bps^2) clipped to +-3. A "
    "candidate passes only if (1) its worst judged (>= 100 scored rows) size bucket's |mean predicted - mean "
    "realised| over the date folds is at least 1 point below the incumbent's, and no fold's worst judged gap is "
    "more than 1 point above the incumbent's in that fold; (2) neither date fold's log-loss nor the validation "
    "blocks' is more than 0.5% above the incumbent's. Of the candidates that pass, the one with the smallest worst "
    "gap is served (fitted, chosen and recalibrated as usual); if none passes the model is served as before. The "
    "held-out day chooses nothing (it suggested the candidates: module doc of core.training.horizon_vol). The "
    "interaction candidates of INTERACTION_RULE keep the short-scale move_bps (none of them is served)."
)


def _arm(
    train: pd.DataFrame,
    fit: pd.DataFrame,
    val: pd.DataFrame,
    names: Sequence[str],
    instruments: dict[str, str],
    clip: bool,
) -> dict[str, Any] | None:
    """One arm's date folds (log-loss, size-bucket gaps, worst gap) and validation blocks' log-loss."""
    folds_ = day_folds(train, names, instruments, clip=clip)
    if folds_ is None:
        return None
    folds = fold_figures(train, folds_)
    model = fit_logistic(fit[list(names)].to_numpy(np.float64), fit["fill_fraction"].to_numpy(np.float64), clip=clip)
    val_loss = cross_entropy(val["fill_fraction"].to_numpy(np.float64), model(val[list(names)].to_numpy(np.float64)))
    return {
        "inputs": list(names),
        "folds": folds,
        "worst_gap": max(f["worst_gap"] for f in folds.values()),
        "validation_blocks_log_loss": val_loss,
    }


def _tests(inc: dict[str, Any], cand: dict[str, Any]) -> dict[str, bool]:
    gap = cand["worst_gap"] <= inc["worst_gap"] - GAP_MARGIN and all(
        cand["folds"][d]["worst_gap"] <= inc["folds"][d]["worst_gap"] + FOLD_TOLERANCE for d in inc["folds"]
    )
    loss = (
        all(cand["folds"][d]["log_loss"] <= (1.0 + LOSS_TOLERANCE) * inc["folds"][d]["log_loss"] for d in inc["folds"])
        and cand["validation_blocks_log_loss"] <= (1.0 + LOSS_TOLERANCE) * inc["validation_blocks_log_loss"]
    )
    return {"day_gap_smaller": bool(gap), "log_loss_within_tolerance": bool(loss)}


def horizon_vol_evidence(
    fit: pd.DataFrame, val: pd.DataFrame, names: Sequence[str], instruments: dict[str, str], *, clip: bool
) -> dict[str, Any] | None:
    """``HORIZON_VOL_RULE`` on the training rows (fitting blocks ``fit``, validation blocks ``val``; inputs
    ``names``; ``instruments``: recording -> instrument key): every arm's figures, the tests each candidate passed
    and ``chosen`` (a ``HORIZON_VOL_SWAPS`` key, or None). None with fewer than two training dates."""
    train = pd.concat([fit, val], ignore_index=True)
    inc = _arm(train, fit, val, names, instruments, clip)
    if inc is None:
        return None
    arms: dict[str, Any] = {"incumbent": inc}
    for c in HORIZON_VOL_SWAPS:
        arm = _arm(train, fit, val, with_swap(names, c), instruments, clip)
        if arm is not None:
            arms[c] = arm
    tests = {c: _tests(inc, arms[c]) for c in HORIZON_VOL_SWAPS if c in arms}
    passing = [c for c, t in tests.items() if all(t.values())]
    return {
        "rule": HORIZON_VOL_RULE,
        "candidates": {f.name: f.description for f in MAKER_HORIZON_VOL},
        "clipped": clip,
        "chosen": min(passing, key=lambda c: arms[c]["worst_gap"]) if passing else None,
        "tests": tests,
        "arms": arms,
    }


RATIO_QUANTILES = (0.01, 0.99)  # the training range of the variance ratio the app compares the market with


def ratio_range(train: pd.DataFrame) -> tuple[float, float]:
    """The training maker rows' [p1, p99] of the variance ratio (exp of ``log_variance_ratio``)."""
    lo, hi = np.quantile(np.exp(train["log_variance_ratio"].to_numpy(np.float64)), RATIO_QUANTILES)
    return float(lo), float(hi)


def variance_ratio_summary(train: pd.DataFrame, held: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The 30 s over the 1-5 s variance (exp of ``log_variance_ratio``) of the maker rows: the training rows'
    [p1, p99] (served: ``core.learned.models`` says when the market is outside it) and, per recording, the median
    and the share of rows above and below that range. Describes the data; chooses nothing."""
    lo, hi = ratio_range(train)

    def one(v: np.ndarray, use: str) -> dict[str, Any]:
        return {
            "use": use,
            "median": float(np.median(v)),
            "above": float(np.mean(v > hi)),
            "below": float(np.mean(v < lo)),
            "n": int(v.size),
        }

    by = {
        str(r): one(np.exp(d["log_variance_ratio"].to_numpy(np.float64)), "training")
        for r, d in train.groupby("recording")
    }
    by |= {n: one(np.exp(d["log_variance_ratio"].to_numpy(np.float64)), "held out") for n, d in held.items() if len(d)}
    return {
        "what": "variance ratio, (vol30_bps / vol_bps)^2 at each maker row's decision time: how far the mid moves over "
        "30 s against what its 1-5 s volatility implies for a random walk (1); above 1 moves continue (trending)",
        "train_p1_p99": [lo, hi],
        "by_recording": by,
    }

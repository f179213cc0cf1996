"""What a model card says plainly about the held-out day: where its inputs leave the training range, and where
the maker share it serves misses the realised fill.

A model fitted on one evening can be asked about a quieter or busier day. ``covariate_shift`` compares each
input of a held-out recording's rows with the training rows' 1st-99th percentile range, from the features alone
(no labels), so it says where the model extrapolates before any score is looked at. ``label_by_recording`` gives
the size-aware fill of the same-day recordings per size bucket (mean fill and the share with any fill), the
label's difference between instruments. ``maker_caveat`` turns the held-out day's by-size table into the one
sentence the app and the card show beside the maker share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: an input is reported when at least this share of a held-out recording's rows lies outside the training range
OUTSIDE_SHARE = 0.05
#: a size bucket is named in the caveat when the served share misses the realised one by this many points
MISS_POINTS = 2.0


def covariate_shift(train: pd.DataFrame, held: dict[str, pd.DataFrame], names: Sequence[str]) -> dict[str, Any]:
    """Per held-out recording, each input's median and its share of rows outside the training rows' [p1, p99]
    (inputs as served), with the training median and range."""
    out: dict[str, Any] = {}
    for rec, df in held.items():
        cols = {}
        for f in names:
            a, b = train[f].to_numpy(np.float64), df[f].to_numpy(np.float64)
            lo, hi = np.quantile(a, [0.01, 0.99])
            cols[f] = {
                "train_median": float(np.median(a)),
                "train_p1_p99": [float(lo), float(hi)],
                "median": float(np.median(b)),
                "p10_p90": [float(np.quantile(b, 0.1)), float(np.quantile(b, 0.9))],
                "outside": float(np.mean((b < lo) | (b > hi))),
            }
        out[rec] = cols
    return out


def label_by_recording(rows: pd.DataFrame, edges_usd: Sequence[float], names: Sequence[str]) -> dict[str, Any]:
    """Per recording and size bucket (``names``, between ``edges_usd``): rows, mean fill fraction, share with any
    fill."""
    out: dict[str, Any] = {}
    for rec, part in rows.groupby("recording", sort=True):
        k = np.clip(np.searchsorted(edges_usd, part["size_usd"].to_numpy(), side="right") - 1, 0, len(names) - 1)
        y = part["fill_fraction"].to_numpy(np.float64)
        out[str(rec)] = {
            names[b]: {"n": int((k == b).sum()), "fill": float(y[k == b].mean()), "any": float((y[k == b] > 0).mean())}
            for b in np.unique(k)
        }
    return out


def outside_ci(r: dict[str, Any]) -> bool:
    """Whether a by-size row's predicted share lies outside its realised 95% interval (False without one)."""
    ci = r.get("realised_ci")
    if not ci:
        return False
    return not (ci[0] <= r["predicted"] <= ci[1])


def maker_caveat(
    day: str,
    by_size: Sequence[dict[str, Any]],
    shift: dict[str, Any] | None = None,
    *,
    ratio: tuple[dict[str, Any] | None, Sequence[float]] | None = None,
) -> str:
    """One sentence: the size buckets where the served share misses the realised one on the held-out day ``day`` by
    at least ``MISS_POINTS`` points or lies outside its 95% interval, by how many points, the input that left
    the training range most (if any), and ``ratio`` (the day's variance-ratio summary and the training range,
    ``core.training.horizon_vol.variance_ratio_summary``) when at least ``OUTSIDE_SHARE`` of its rows lie outside
    that range."""

    misses = [r for r in by_size if outside_ci(r) or 100 * abs(r["realised"] - r["predicted"]) >= MISS_POINTS]
    if not misses:
        head = f"On the held-out day ({day}) the maker share is within {MISS_POINTS:g} points and the realised 95% "
        head += "interval in every size bucket"
    else:
        parts = [
            f"{'under' if r['predicted'] < r['realised'] else 'over'}-predicted by "
            f"{100 * abs(r['realised'] - r['predicted']):.1f} points at {r['bucket']} (predicted {r['predicted']:.3f}, "
            f"realised {r['realised']:.3f} [{r['realised_ci'][0]:.3f}, {r['realised_ci'][1]:.3f}]"
            + (", outside its 95% interval)" if outside_ci(r) else ")")
            for r in misses
        ]
        head = f"On the held-out day ({day}) the maker share was " + "; ".join(parts)
    if shift:
        worst = max(shift, key=lambda f: shift[f]["outside"])
        s = shift[worst]
        if s["outside"] >= OUTSIDE_SHARE:
            head += (
                f"; that day {s['outside']:.0%} of orders had {worst} outside the training range (median "
                f"{s['median']:.3g} vs {s['train_median']:.3g}), where the model extrapolates"
            )
    r, (lo, hi) = ratio if ratio is not None else (None, (0.0, 0.0))
    if r is not None:
        sides = [
            f"{r[k]:.0%} of orders {k} the training days' {lo:.2f}-{hi:.2f}"
            for k in ("above", "below")
            if r[k] >= OUTSIDE_SHARE
        ]
        if sides:
            head += (
                f"; its variance ratio (30 s over 1-5 s variance; above 1 moves continue, below 1 they revert) had "
                f"{' and '.join(sides)} (median {r['median']:.2f})"
            )
    return head + "."

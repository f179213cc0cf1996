"""CLIP_RULE's and INTERACTION_RULE's pieces on hand-made rows (core.training.extrapolation): the volatility folds and
their purge, the logistic fit, the rule choosing clipping only where the truth stops changing outside the fitting
range, and the rule serving a size x volatility interaction only where the truth has one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.training.extrapolation import (
    INTERACTIONS,
    InputRange,
    clip_evidence,
    fit_logistic,
    interaction_evidence,
    vol_folds,
    with_interactions,
)

pytestmark = pytest.mark.unit


def _rows(rng: np.random.Generator, logit_of_vol, n_per_block: int = 400, blocks: int = 9) -> pd.DataFrame:
    """Two recordings of ``blocks`` 60 s blocks each; volatility rises block by block; fill ~ Bernoulli."""
    parts = []
    for r, base in (("a", 0.0), ("b", 0.05)):
        for k in range(blocks):
            t = 1_000_000.0 + k * 60_000.0 + rng.uniform(0.0, 60_000.0, n_per_block)
            vol = base + 0.5 + k / (blocks - 1) + rng.normal(0.0, 0.01, n_per_block)
            ls = rng.uniform(1.0, 7.0, n_per_block)
            p = 1.0 / (1.0 + np.exp(-(logit_of_vol(vol) - 0.3 * (ls - 4.0))))
            parts.append(
                pd.DataFrame(
                    {
                        "recording": r,
                        "t_ms": t,
                        "span_ms": np.full(n_per_block, 10_000.0),
                        "vol_bps": vol,
                        "log10_size_usd": ls,
                        "fill_fraction": (rng.uniform(size=n_per_block) < p).astype(np.float64),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def test_folds_score_the_quiet_and_busy_thirds_and_purge_what_reaches_into_them():
    rows = _rows(np.random.default_rng(0), lambda v: 0.0 * v)
    folds = vol_folds(rows)
    for name, (scored, fitting) in folds.items():
        v = rows["vol_bps"].to_numpy()
        assert not (scored & fitting).any()
        if name == "low":
            assert v[scored].max() < v[fitting].min() + 0.05
        else:
            assert v[scored].min() > v[fitting].max() - 0.05
        # a fitting row's label window [t, t + span] never reaches a scored row's 60 s block
        t = rows["t_ms"].to_numpy() - rows.groupby("recording")["t_ms"].transform("min").to_numpy()
        end = t + rows["span_ms"].to_numpy()
        k_scored = set(zip(rows["recording"][scored], (t[scored] // 60_000).astype(int), strict=True))
        for rec, e in zip(rows["recording"][fitting], end[fitting], strict=True):
            assert (rec, int(e // 60_000)) not in k_scored
        # the windows look forward: rows just before the busy blocks are purged, none before the first (quiet) ones
        assert (~scored & ~fitting).any() == (name == "high")
    assert folds["low"][0].sum() == folds["high"][0].sum()  # a third of the blocks each


def test_fit_logistic_recovers_a_known_model():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20000, 2))
    p = 1.0 / (1.0 + np.exp(-(0.5 + 1.5 * x[:, 0] - 1.0 * x[:, 1])))
    m = fit_logistic(x, p, clip=False)  # soft labels: the exact probabilities
    assert np.allclose(m.w / m.scale, [1.5, -1.0], atol=1e-3) and abs(m.b - (0.5 + m.mean @ (m.w / m.scale))) < 1e-4
    assert np.abs(m(x) - p).max() < 1e-4


def test_input_range_clips_to_the_1st_and_99th_percentiles():
    x = np.arange(1001.0)[:, None]
    r = InputRange.of(x)
    assert r.lo[0] == 10.0 and r.hi[0] == 990.0
    assert r.clip(np.array([[-5.0], [500.0], [5000.0]]))[:, 0].tolist() == [10.0, 500.0, 990.0]


def test_clipping_helps_the_fold_where_the_truth_plateaus_and_the_rule_declines_a_linear_truth():
    names = ["log10_size_usd", "vol_bps"]
    # the fill stops rising above the high fold's fitting range: clipping is right there, extrapolating is not
    top = clip_evidence(_rows(np.random.default_rng(1), lambda v: 3.0 * np.minimum(v, 1.19) - 3.0), names)
    high = top["folds"]["high"]
    assert high["candidate"]["worst_gap"] < high["incumbent"]["worst_gap"] - 0.05
    # the fill keeps rising with volatility: extrapolating is right, clipping loses calibration, the rule declines
    linear = clip_evidence(_rows(np.random.default_rng(2), lambda v: 3.0 * v - 3.0), names)
    assert not linear["chosen"]
    assert linear["worst_gap"]["candidate"] > linear["worst_gap"]["incumbent"]


def _interaction_rows(rng: np.random.Generator, small_vol_slope: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows with every input the interaction candidates read, split into fitting and validation blocks (every 4th
    block validates): volatility lowers the small orders' fill by ``small_vol_slope`` per decade below $10k."""
    rows = _rows(rng, lambda v: 0.0 * v)
    n = len(rows)
    vol, ls = rows["vol_bps"].to_numpy(), rows["log10_size_usd"].to_numpy()
    h = rng.choice([1.0, 5.0, 10.0, 30.0, 60.0], n)
    logit = 0.5 - 0.3 * (ls - 4.0) + small_vol_slope * (vol - 1.0) * (4.0 - ls)
    rows = rows.assign(
        move_bps=vol * np.sqrt(h),
        log10_flow_over_order=rng.normal(0.5, 1.5, n),
        fill_fraction=(rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64),
    )
    k = ((rows["t_ms"] - 1_000_000.0) // 60_000).astype(int)
    return rows[k % 4 != 2], rows[k % 4 == 2]


def test_interaction_rule_serves_the_interaction_the_truth_has_and_declines_without_one():
    names = ["log10_size_usd", "vol_bps", "move_bps"]
    fit, val = _interaction_rows(np.random.default_rng(4), 3.0)
    ev = interaction_evidence(fit, val, names, clip=False)
    assert ev["chosen"] == "vol_x_log10_size" and all(ev["tests"]["vol_x_log10_size"].values())
    gap = {
        a: next(g["abs_gap"] for g in ev["arms"][a]["low"]["by_size"] if g["bucket"] == "$10-$1k") for a in ev["arms"]
    }
    assert gap["vol_x_log10_size"] < gap["incumbent"] - 0.03
    # no interaction in the truth: nothing to fix in the small bucket, the rule serves none
    fit, val = _interaction_rows(np.random.default_rng(5), 0.0)
    none = interaction_evidence(fit, val, names, clip=False)
    assert none["chosen"] is None and not any(t["small_bucket_fixed"] for t in none["tests"].values())
    assert set(none["arms"]) == {"incumbent", *INTERACTIONS} and set(none["arms"]["incumbent"]) == {
        "low",
        "high",
        "validation_blocks",
    }


def test_interaction_columns_follow_maker_vector():
    """with_interactions (training, and the imputed rows) computes the columns as serving's maker_vector does."""
    from core.learned.features import MAKER_NAMES, BookFeatures, FlowFeatures, maker_vector

    bf = BookFeatures(60000.0, 0.02, (1e5, 1e6, 1e7), (2e5, 2e6, 2e7), 0.1, -0.2)
    for size, vol, queue in ((50.0, 0.4, 0.0), (3e6, 1.3, 2e5), (1e4, 0.9, 5e4)):
        row = maker_vector(
            bf,
            FlowFeatures(vol, 30.0, 2.0),
            side=1,
            size_usd=size,
            offset_bps=1.0,
            horizon_s=10.0,
            queue_usd=queue,
            is_spot=False,
        )
        df = pd.DataFrame([row], columns=list(MAKER_NAMES))
        got = with_interactions(df.drop(columns=list(INTERACTIONS)))
        np.testing.assert_allclose(got[list(INTERACTIONS)].to_numpy(), df[list(INTERACTIONS)].to_numpy(), rtol=1e-12)
        r = df.iloc[0]
        assert r["vol_x_log10_size"] == pytest.approx(vol * np.log10(size))
        # volatility acts only where the flow while resting exceeds the order and its queue
        assert r["vol_x_flow_excess"] == pytest.approx(vol * max(r["log10_flow_over_order"], 0.0))
        assert (r["vol_x_flow_excess"] == 0.0) == (r["log10_flow_over_order"] <= 0.0)

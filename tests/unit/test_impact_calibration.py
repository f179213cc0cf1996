"""Market impact calibrated from real taker orders (core.validation.impact) and its stored constants.

A short real slice of the bundled 2024-08-08 BTCUSDT USD-M recording is measured and fitted with the same
functions that wrote ``data/impact.json``; the tests recompute each figure from the per-order rows by hand, so
they check the method, not hard-coded outputs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.costs.impact import (
    ASSUMED_PERMANENT_SHARE,
    ASSUMED_REFILL_S,
    load_impact,
    read_impact,
    settings_error,
    sqrt_law_bps,
)
from core.paths import DATA_DIR, IMPACT_FILE
from core.validation.bootstrap import BlockBootstrap
from core.validation.impact import (
    HORIZONS_S,
    PERMANENT_HORIZON_S,
    calibrate_impact,
    fit,
    fit_refill,
    impact_section,
    refill_model,
    sample_of,
)

STEM = "binance-futures_BTCUSDT_20240808"
REC, TRADES = DATA_DIR / "recordings" / f"{STEM}.jsonl.gz", DATA_DIR / "trades" / f"{STEM}.parquet"
SPEC = BlockBootstrap(replicates=200)
LINES = 2500  # about two minutes of books


@pytest.fixture(scope="module")
def slice_():
    return sample_of(REC, TRADES, max_lines=LINES)


def test_the_sample_holds_walked_orders_with_their_markouts(slice_):
    books, _, s = slice_
    assert len(s) >= 50  # enough walked orders in two minutes
    assert (s.depth_usd > 0).all() and (s.qty > 0).all()
    assert s.markout_usd.shape == s.refilled_base.shape == (len(s), len(HORIZONS_S))
    assert (s.refilled_base >= 0).all() and (s.refilled_base <= s.consumed_base[:, None] + 1e-12).all()
    assert (s.ts_ms + int(max(HORIZONS_S) * 1000) <= books.ts_ms[-1]).all()  # every horizon inside the books


def test_fit_is_the_documented_ratio_and_least_squares(slice_):
    _, _, s = slice_
    f = fit(s, SPEC)
    k = HORIZONS_S.index(PERMANENT_HORIZON_S)
    # psi = sum of 1/2 mid move x X at the long horizon over the sum of depth costs
    assert f["permanent_share"] == pytest.approx(s.markout_usd[:, k].sum() / s.depth_usd.sum(), abs=1e-6)
    curve = s.refilled_base.sum(axis=0) / s.consumed_base.sum()
    assert f["refill_by_horizon"] == pytest.approx(curve.tolist(), abs=1e-6)
    # the refill fit minimises the squared error: no (tau, level) nearby does better
    tau, level = f["refill_s"], f["refilled_share"]
    best = ((curve - refill_model(HORIZONS_S, tau, level)) ** 2).sum()
    for t2 in (tau * 0.8, tau * 1.25):
        lv = (curve @ (1 - np.exp(-np.array(HORIZONS_S) / t2))) / ((1 - np.exp(-np.array(HORIZONS_S) / t2)) ** 2).sum()
        assert ((curve - refill_model(HORIZONS_S, t2, lv)) ** 2).sum() >= best - 1e-9
    lo, hi = f["permanent_share_ci"]
    assert lo < f["permanent_share"] < hi and f["refill_s_ci"][0] <= tau <= f["refill_s_ci"][1]


def test_fit_refill_recovers_a_known_curve():
    curve = refill_model(HORIZONS_S, 0.4, 0.6)
    tau, level = fit_refill(HORIZONS_S, curve)
    assert tau == pytest.approx(0.4, rel=0.01) and level == pytest.approx(0.6, rel=0.01)


def test_calibration_on_a_slice_writes_what_the_stored_file_holds(slice_):
    doc = calibrate_impact([(REC, TRADES)], [], spec=SPEC, max_lines=LINES)
    stored = json.loads(IMPACT_FILE.read_text(encoding="utf-8"))
    assert set(stored) <= set(doc)  # the same method writes the same keys
    assert doc["method"] == stored["method"] and doc["code"] == stored["code"]
    assert doc["permanent_share"] == fit(slice_[2], SPEC)["permanent_share"]
    assert doc["baseline"] == {"permanent_share": 0.5, "refill_s": 10.0, "what": "the old fixed assumption"}


def test_impact_intervals_use_blocks_of_at_least_the_longest_markout_horizon(slice_):
    s = slice_[2]
    fam = s.block(SPEC)
    assert fam.to_dict(s.n_seconds)["block_rule"]["window_s"] == max(s.horizons_s) == 30.0
    assert fam.block_s >= 30 and s.resampler(SPEC).spec == fam  # the fit's replicates use that block
    assert s.resampler(SPEC).weights.shape == (SPEC.replicates, s.n_seconds)


def test_stored_constants_carry_their_provenance_and_out_of_sample_score():
    stored = json.loads(IMPACT_FILE.read_text(encoding="utf-8"))
    assert stored["fitted_on"] == [STEM]
    assert all((DATA_DIR.parent / p).exists() for pair in stored["data"] for p in pair)
    assert stored["created"] and "bootstrap" in stored["method"] and stored["bootstrap"]["replicates"] >= 200
    assert stored["bootstrap"]["block_rule"]["window_s"] == 30.0  # BLOCK_RULE: the longest markout horizon
    assert stored["bootstrap"]["block_s"] >= min(30, stored["bootstrap"]["seconds"])
    for key in ("permanent_share", "refill_s"):
        lo, hi = stored[f"{key}_ci"]
        assert lo <= stored[key] <= hi
    oos = stored["out_of_sample"]
    assert oos and oos[0]["recording"].endswith("binance-futures_BTCUSDT_20240718.jsonl.gz")
    for score in ("permanent_cost_mae_bps", "refill_curve_sse"):
        s = oos[0][score]
        assert s["difference"] == pytest.approx(s["calibrated"] - s["assumed"], abs=2e-6)
        assert len(s["difference_ci"]) == 2
    c = load_impact()
    assert c.calibrated and (c.permanent_share, c.refill_s) == (stored["permanent_share"], stored["refill_s"])
    assert settings_error(c.refill_s, c.permanent_share) is None
    assert "binance-futures:BTCUSDT" in c.daily_volume_usd
    assert "calibrated on" in c.describe() and STEM in c.describe()


def test_a_missing_or_bad_file_falls_back_to_the_assumption_and_says_so(tmp_path):
    missing = read_impact(tmp_path / "impact.json")
    assert (missing.permanent_share, missing.refill_s) == (ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S)
    assert not missing.calibrated and "no calibration file" in missing.describe()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"permanent_share": 3.0, "refill_s": 1.0}), encoding="utf-8")
    b = read_impact(bad)
    assert not b.calibrated and "Permanent share must be between 0 and 1" in b.source
    bad.write_text("{not json", encoding="utf-8")
    assert "unreadable" in read_impact(bad).source


def test_sqrt_law_formula():
    assert sqrt_law_bps(1e6, 0.02, 1e10, 1.0) == pytest.approx(0.02 * math.sqrt(1e-4) * 1e4)
    assert math.isnan(sqrt_law_bps(1e6, 0.02, 0.0, 1.0))


def test_the_markdown_section_reports_intervals_and_the_cross_check(slice_):
    from core.market.tape import group_orders
    from core.validation.delay import measure_delay
    from core.validation.impact import impact_figures

    books, tape, _ = slice_
    orders = group_orders(tape)
    fig = impact_figures(books, tape, orders, lag_ms=measure_delay(books, orders).lag_ms, spec=SPEC)
    assert fig["in_sample"] and fig["stored"]["fitted_on"] == [STEM]
    assert fig["sqrt_law"]["rows"][0]["sqrt_law_bps"][0] > 0
    text = "\n".join(impact_section(fig))
    assert "in sample" in text and "Square-root law" in text and "[" in text

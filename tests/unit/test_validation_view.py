"""The Validation page's view: read from the validator's JSON, tolerant of missing keys, plain messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.errors import InputError
from core.validation.market_orders import ScoredOrders
from core.validation.report import SCATTER_LARGEST, scatter_sample
from core.views import validation as vv


def rec(**extra) -> dict:
    base = {
        "recording": "data/recordings/x.jsonl.gz",
        "exchange": "binance-futures",
        "symbol": "BTCUSDT",
        "span_utc": ["2024-08-08T23:54:16.509Z", "2024-08-09T00:00:01.105Z"],
        "books": 10,
        "tape_trades": 30,
        "taker_orders": 20,
        "book_delay": {"lag_ms": 1},
        "market_orders": {
            "all": {"n": 20, "bias_bps": -0.25, "bias_bps_ci": [-0.4, -0.1], "mae_bps": 0.3, "mae_bps_ci": [0.2, 0.5]},
        },
        "p90_coverage": {
            "shown": True,
            "method": "quantile model at 0 ms latency",
            "n": 20,
            "overall": 0.8,
            "overall_ci": [0.7, 0.9],
            "by_size": [{"bucket": "<$1k", "n": 15, "coverage": 0.8, "coverage_ci": [0.7, 0.9]}],
        },
    }
    base.update(extra)
    return base


def test_label_and_intervals():
    assert vv.recording_label(rec()).endswith("BTCUSDT · 2024-08-08 23:54–00:00 UTC")
    assert vv.with_interval(-0.25, [-0.4, -0.1]) == "-0.250 bps [-0.400, -0.100]"
    assert vv.with_interval(0.8, [0.7, 0.9], pct=True) == "80.0 % [70.0, 90.0]"
    assert vv.with_interval(None, None) == "—" and vv.with_interval(0.5, None, pct=True) == "50.0 %"


def test_each_recording_says_how_the_models_used_it_and_the_page_opens_on_the_held_out_day():
    """A walkthrough read the first recording (COIN-M, the same evening as training) as the test of the maker
    model; the labels now say which recording is out of sample, and the page opens on the held-out day."""
    roles = vv.recording_roles()  # from the shipped maker card
    assert roles["binance-futures_BTCUSDT_20240718.jsonl.gz"] == "held_out_day"
    assert roles["binance-futures_BTCUSDT_20240808.jsonl.gz"] == "train"
    assert roles["binance-coinm_BTCUSD_PERP_20240808.jsonl.gz"] == "held_out_market_same_day"
    doc = {
        "recordings": [
            rec(recording="data/recordings/binance-coinm_BTCUSD_PERP_20240808.jsonl.gz"),
            rec(recording="data/recordings/binance-futures_BTCUSDT_20240718.jsonl.gz"),
        ]
    }
    labels = vv.recording_labels(doc)
    assert labels[0].endswith(
        "· training evening, another asset or venue: in sample for the p90 band and maker correction"
    )
    assert labels[1].endswith("· held-out day: used for nothing, out of sample")
    assert vv.first_held_out(doc) == 1 and vv.first_held_out({"recordings": [rec()]}, {}) == 0
    assert vv.recording_labels({"recordings": [rec()]}, {}) == [vv.recording_label(rec())]  # no card: no role


def test_a_file_without_sample_or_limit_orders_still_renders():
    v = vv.validation_view({"recordings": [rec()]}, 0)
    assert v.errors.set_index("orders").loc["all", "bias"] == "-0.250 bps [-0.400, -0.100]"
    assert v.coverage_overall.startswith("80.0 % [70.0, 90.0] of 20 orders (nominal 90%")
    assert list(v.coverage["size"]) == ["<$1k"] and v.coverage["coverage"][0] == 0.8
    assert v.scatter.empty and "run `make validate`" in v.scatter_note and vv.scatter_figure(v) is None
    assert v.fill.empty and v.markouts.empty and vv.fill_figure(v) is None and vv.markout_figure(v) is None
    assert vv.coverage_figure(v) is not None


def test_the_summary_counts_the_unpriced_orders_and_a_thin_bucket_says_why_it_has_no_interval():
    r = rec()
    r["market_orders"]["all"]["n"] = 17
    r["market_orders"]["skipped"] = {"no_book_yet": 1, "after_last_book": 2, "unpriceable": 0}
    r["p90_coverage"]["by_size"].append({"bucket": ">=$1M", "n": 5, "coverage": 0.6, "coverage_ci": None})
    r["bootstrap"] = {"min_n_for_interval": 20}
    v = vv.validation_view({"recordings": [r]}, 0)
    assert v.summary.startswith("20 public taker orders (30 trades), 17 priced on 10 books")
    assert v.summary.endswith("; not priced: 1 no book yet, 2 after last book.")
    shown = v.coverage_table.set_index("size (USD)")["p90 coverage [95% interval]"]
    assert shown["<$1k"] == "80.0 % [70.0, 90.0]"
    assert shown[">=$1M"] == "60.0 % (no interval: under 20 orders)"
    assert "not priced" not in vv.validation_view({"recordings": [rec()]}, 0).summary


def test_sample_limit_orders_and_no_band():
    sample = {
        "how": "all",
        "n_orders": 3,
        "n": 3,
        "estimate_bps": [0.1, 0.2, 0.3],
        "realised_bps": [0.0, 0.5, 0.2],
        "size_usd": [100.0, 2000.0, 50_000.0],
        "clean": [True, False, True],
    }
    limit = {
        "maker_model": "logistic",
        "fill_calibration": [
            {
                "bucket": "$10k",
                "n": 9,
                "predicted": 0.6,
                "predicted_ci": [0.5, 0.7],
                "realised": 0.5,
                "realised_ci": [0.4, 0.6],
            }
        ],
        "markouts": {"filled": [{"after_s": 1.0, "n": 9, "mean_bps": 0.6, "mean_bps_ci": [0.4, 0.8]}], "unfilled": []},
    }
    r = rec(limit_orders=limit)
    r["market_orders"]["sample"] = sample
    r["p90_coverage"] = {"shown": False, "method": None, "note": "no quantile model"}
    v = vv.validation_view({"recordings": [r], "not_validated": ["fees"]}, 0)
    assert len(v.scatter) == 3 and v.scatter_note.startswith("3 of 3 orders shown")
    fig = vv.scatter_figure(v)
    assert [t.name for t in fig.data] == ["clean orders", "other orders", "estimate = realised"]
    assert v.coverage_overall == "—" and v.coverage_notes == ["no quantile model"] and v.coverage.empty
    assert v.fill["predicted"][0] == 0.6 and v.limit_note == "Maker model: logistic."
    assert list(v.markouts["orders"]) == ["filled"] and vv.markout_figure(v) is not None
    assert v.not_validated == ["fees"]
    split = {"warned": limit["fill_calibration"], "silent": limit["fill_calibration"]}
    warned = vv.validation_view(
        {"recordings": [rec(limit_orders={**limit, "warned_share": 0.66, "fill_calibration_by_warning": split})]}, 0
    )
    assert warned.limit_note == (
        "Maker model: logistic. The app warned that the market lay outside the maker model's training conditions "
        "for 66% of these orders (docs/VALIDATION.md splits the calibration by it)."
    )
    few = vv.validation_view({"recordings": [rec(limit_orders={**limit, "warned_share": 0.02})]}, 0)
    assert few.limit_note.endswith("for 2% of these orders (too few to calibrate apart).")
    never = vv.validation_view({"recordings": [rec(limit_orders={**limit, "warned_share": 0.0})]}, 0)
    assert never.limit_note == "Maker model: logistic."


def test_bad_files_and_indexes_give_plain_messages(tmp_path):
    with pytest.raises(InputError, match="run `make validate`"):
        vv.load_report(tmp_path / "validation.json")
    p = tmp_path / "validation.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match=r"Could not read validation\.json"):
        vv.load_report(p)
    p.write_text(json.dumps({"recordings": []}))
    with pytest.raises(InputError, match="holds no recording"):
        vv.load_report(p)
    with pytest.raises(InputError, match="no recording 3"):
        vv.validation_view({"recordings": [rec()]}, 2)


def test_the_shipped_file_gives_a_view_per_recording():
    doc = vv.load_report()
    for i in range(len(doc["recordings"])):
        v = vv.validation_view(doc, i)
        assert not v.errors.empty and len(v.coverage) >= 3 and not math.isnan(v.coverage["coverage"].iloc[0])


def scored(n: int) -> ScoredOrders:
    rng = np.random.default_rng(3)
    notional = rng.lognormal(8.0, 2.0, n)
    est = rng.normal(0.1, 0.05, n)
    return ScoredOrders(
        ts_ms=np.arange(n, dtype=np.int64) * 100,
        side=np.ones(n, dtype=np.int64),
        notional=notional,
        estimate_bps=est,
        p90_bps=est + 0.2,
        realised_bps=rng.normal(0.3, 0.2, n),
        clean=rng.random(n) < 0.7,
        skipped={},
        p90_method="test",
    )


def test_scatter_sample_is_bounded_and_keeps_the_largest_orders():
    s = scored(2_000)
    out = scatter_sample(s, limit=300)
    assert out["n_orders"] == 2_000 and out["n"] == len(out["estimate_bps"]) <= 300
    assert len(out["realised_bps"]) == len(out["size_usd"]) == len(out["clean"]) == out["n"]
    largest = np.sort(s.notional)[-SCATTER_LARGEST:]
    assert set(np.round(largest, 2)) <= set(out["size_usd"])
    small = scatter_sample(scored(40), limit=300)
    assert small["n"] == 40 and small["estimate_bps"][0] == round(float(scored(40).estimate_bps[0]), 4)


def test_the_shipped_file_shows_the_online_calibration_beside_the_static_models():
    doc = vv.load_report()
    labels = [r["recording"] for r in doc["recordings"]]
    i = next(k for k, name in enumerate(labels) if name.endswith("binance-futures_BTCUSDT_20240718.jsonl.gz"))
    v = vv.validation_view(doc, i)
    table = v.coverage_table
    assert vv.ONLINE_COLUMN in table.columns and table[vv.ONLINE_COLUMN].str.contains("%").all()
    assert any("online calibration" in n for n in v.coverage_notes)
    assert v.fill["online"].notna().all()
    cov, fill = vv.coverage_figure(v), vv.fill_figure(v)
    assert cov is not None and [t.name for t in cov.data] == ["static models", "with the online calibration"]
    assert fill is not None and len(fill.data) == 3
    # a file without the online figures keeps the static table alone
    plain = vv.validation_view({"recordings": [rec()]}, 0)
    assert vv.ONLINE_COLUMN not in plain.coverage_table.columns


def test_the_floor_coverage_is_what_a_band_at_the_expectation_covers_and_the_view_shows_it():
    """Orders that pay exactly the book walk tie with a band at the expected cost: that share bounds from below the
    coverage of any band the app shows, so a bucket of them is over-covered by construction."""
    from core.validation.bootstrap import BlockBootstrap, Resampler
    from core.validation.report import coverage_figures

    n = 400
    est = np.full(n, 0.5)
    realised = np.where(np.arange(n) % 20 == 0, 2.0, 0.5)  # 95% pay exactly the estimate, 5% pay more
    s = ScoredOrders(
        ts_ms=np.arange(n, dtype=np.int64) * 250,
        side=np.ones(n, dtype=np.int64),
        notional=np.full(n, 500.0),
        estimate_bps=est,
        p90_bps=est.copy(),  # the band at the expectation, the lowest the app shows
        realised_bps=realised,
        clean=np.ones(n, dtype=bool),
        skipped={},
        p90_method="test",
    )
    rs = Resampler.of(BlockBootstrap(block_s=10, replicates=50), s.ts_ms // 1000, int(s.ts_ms[-1] // 1000) + 1)
    every = np.ones(n, dtype=bool)
    fig = coverage_figures(s, rs, every)
    assert fig["floor_coverage"] == pytest.approx(0.95) and fig["overall"] == pytest.approx(0.95)
    wider = coverage_figures(s, rs, every, est + 1.0)  # any wider band covers at least as many
    assert wider["floor_coverage"] == pytest.approx(0.95) and wider["overall"] >= fig["floor_coverage"]
    assert fig["by_size"][0]["floor_coverage"] == pytest.approx(0.95)  # <$1k
    # the view shows it beside the coverage, and a file written before it says it does not know
    r = rec()
    r["p90_coverage"]["by_size"][0]["floor_coverage"] = 0.95
    table = vv.validation_view({"recordings": [r]}, 0).coverage_table.set_index("size (USD)")
    assert table.loc["<$1k", vv.FLOOR_COLUMN] == "95%"
    old = vv.validation_view({"recordings": [rec()]}, 0).coverage_table.set_index("size (USD)")
    assert old.loc["<$1k", vv.FLOOR_COLUMN] == "—"


def test_a_recording_that_calibrated_the_band_is_not_called_held_out():
    """Walkthrough 18: the COIN-M recording's page said "Held-out part only" while its picker says it is in sample
    for the band's correction."""
    doc = vv.load_report()
    roles = vv.recording_roles()
    for i, r in enumerate(doc["recordings"]):
        held = r.get("p90_coverage", {}).get("held_out", {})
        if "overall" not in held:
            continue
        notes = " ".join(vv.validation_view(doc, i).coverage_notes)
        if vv._role(r, roles) == "held_out_market_same_day":
            assert "Out of sample for the model's network only" in notes and "Held-out part only" not in notes
        else:
            assert "Held-out part only" in notes
    assert "held_out_market_same_day" in roles.values() and "held_out_day" in roles.values()

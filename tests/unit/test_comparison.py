"""core.training.comparison and the validator's section for it: the previous training set beside the served one."""

from __future__ import annotations

import json
from pathlib import Path

from core.paths import DOCS_DIR, MODELS_DIR
from core.training.comparison import summarise
from core.validation.report import markdown


def test_summary_keeps_what_the_cards_hold_out_and_only_their_validator_figures():
    doc = summarise(MODELS_DIR, "served", "python -m core.train", DOCS_DIR / "validation.json", "docs")
    card = json.loads((MODELS_DIR / "maker_taker.json").read_text(encoding="utf-8"))
    held = {Path(d["recording"]).name for d in card["data"] if d["use"].startswith("held_out")}
    assert set(doc["maker_by_size"]) == held and set(doc["p90_coverage"]) <= held
    assert doc["training"] == [d["recording"] for d in card["data"] if d["use"] == "train"]
    assert set(doc["validation"]) == held  # every held-out recording has trades, so the validator scored it
    for rec, v in doc["validation"].items():
        assert 0.0 <= v["p90_coverage"]["overall"] <= 1.0 and len(v["fill_calibration"]) == 4, rec
    assert not set(doc["validation"]) & {Path(t).name for t in doc["training"]}


def test_the_validator_report_shows_the_previous_set_under_its_recordings_only():
    doc = json.loads((DOCS_DIR / "validation.json").read_text(encoding="utf-8"))
    prev = json.loads((MODELS_DIR / "comparison" / "previous_training_set.json").read_text(encoding="utf-8"))
    text = markdown(doc, prev)
    sections = [s for s in text.split("\n## ")[1:] if "`data/recordings/" in s.splitlines()[0]]
    assert len(sections) == len(doc["recordings"])
    for s in sections:
        rec = s.split("`")[1]
        has = "### The previous training set on the same orders" in s
        assert has == (Path(rec).name in prev["validation"]), rec
        if has:
            cov = prev["validation"][Path(rec).name]["p90_coverage"]
            assert f"| all sizes | {cov['n']:,} | {100 * cov['overall']:.1f}%" in s
    assert "previous training set" not in markdown(doc)


def test_models_md_is_the_cards_rendered_with_the_comparison_only_for_the_default_training_set():
    from core.feed.conversion import MARKETS, QUIET_DAY_INTERVAL_MS
    from core.paths import DATA_DIR
    from core.training.report import render_docs
    from core.training.train import TRAINING_RECORDINGS, previous_training_set

    cards = {
        r: json.loads((MODELS_DIR / f"{r}.json").read_text(encoding="utf-8"))
        for r in ("slippage_expected", "slippage_quantiles", "maker_taker")
    }
    prev = previous_training_set()
    assert prev is not None
    from core.paths import ONLINE_FILE

    online = json.loads(ONLINE_FILE.read_text(encoding="utf-8"))
    assert (DOCS_DIR / "MODELS.md").read_text(encoding="utf-8") == render_docs(cards, prev, online)
    assert "## Online calibration" in render_docs(cards, prev, online)
    assert "## Online calibration" not in render_docs(cards, prev)
    assert "## Training days: a quiet evening added" in render_docs(cards, prev)
    assert "## Training days" not in render_docs(cards, None)
    # another run's sources get no comparison: its story would be false for them
    assert previous_training_set([DATA_DIR / "recordings" / TRAINING_RECORDINGS[0]]) is None
    assert previous_training_set([DATA_DIR / "recordings" / n for n in TRAINING_RECORDINGS]) == prev
    quiet = next(m for m in MARKETS if m.stem == "binance-futures_BTCUSDT_20230404")
    assert quiet.interval_ms == QUIET_DAY_INTERVAL_MS == 50  # every book would exceed the 200 MB limit


def test_a_recordings_draw_does_not_depend_on_the_other_inputs():
    from core.training.train import recording_seed

    a = Path("data/recordings/binance-futures_BTCUSDT_20240718.jsonl.gz")
    assert recording_seed(0, a) == recording_seed(0, Path("/elsewhere") / a.name)  # the name, not the place
    seeds = {
        recording_seed(0, Path(p))
        for p in json.loads((MODELS_DIR / "maker_taker.json").read_text())["data"]
        for p in [p["recording"]]
    }
    assert len(seeds) == len(json.loads((MODELS_DIR / "maker_taker.json").read_text())["data"])  # no two alike
    assert all(0 <= s < 500 for s in seeds)  # maker rows use s + 500: never another recording's slippage seed
    assert recording_seed(1, a) - recording_seed(0, a) == 1000


def test_the_comparison_says_where_the_served_maker_model_does_not_beat_its_baseline():
    from core.training.comparison import BASELINE
    from core.training.report import render_docs
    from core.training.train import HELD_OUT_DAY, previous_training_set

    cards = {
        r: json.loads((MODELS_DIR / f"{r}.json").read_text(encoding="utf-8"))
        for r in ("slippage_expected", "slippage_quantiles", "maker_taker")
    }
    text = render_docs(cards, previous_training_set())
    for rec in HELD_OUT_DAY:
        e = cards["maker_taker"]["held_out"][rec]
        model, base = e["model"]["log_loss"], e["baselines"][BASELINE]["log_loss"]
        assert f"| `{rec}` | {model:.4f} vs {base:.4f} |" in text
        said = f"on `{rec}` the served model does not beat its baseline's log-loss ({model:.4f} vs {base:.4f})"
        assert (said in text) == (model >= base), rec


def test_the_previous_sets_interval_note_follows_how_its_intervals_were_made():
    from core.validation.report import _previous_section

    fills = [{"bucket": "$10k", "predicted": 0.3, "predicted_ci": [0.2, 0.4], "realised": 0.4, "realised_ci": None}]
    cov = {"n": 10, "overall": 0.9, "overall_ci": None, "by_size": []}

    def prev(bootstrap: dict) -> dict:
        return {
            "label": "p",
            "validation": {"r.jsonl.gz": {"p90_coverage": cov, "fill_calibration": fills, **bootstrap}},
        }

    fixed = "\n".join(_previous_section(prev({"bootstrap": {"block_s": 20}}), "data/recordings/r.jsonl.gz"))
    assert "one fixed 20 s block for every figure, before `BLOCK_RULE`" in fixed
    ruled = {"bootstrap": {"block_s": 60, "block_rule": {"window_s": 60.0}}}
    assert "fixed" not in "\n".join(_previous_section(prev(ruled), "data/recordings/r.jsonl.gz"))


def test_the_training_bootstrap_follows_the_block_rule_and_says_which_held_out_buckets_lie_outside():
    import numpy as np
    import pandas as pd

    from core.training.report import _outside_now
    from core.training.train import resampler

    rng = np.random.default_rng(4)
    df = pd.DataFrame({"recording": np.repeat(["a", "b"], 300), "t_ms": np.tile(np.arange(300) * 2000, 2)})
    rs = resampler(df, [rng.normal(size=600)], window_s=60.0)
    assert rs.spec.block_s >= 60 and rs.spec.to_dict(rs.n_seconds)["block_rule"]["window_s"] == 60.0
    assert rs.n_seconds == 2 * 599  # the recordings end to end
    by = [
        {"bucket": "$10-$1k", "predicted": 0.2, "realised": 0.3, "realised_ci": [0.25, 0.35]},
        {"bucket": "$1k-$10k", "predicted": 0.3, "realised": 0.3, "realised_ci": [0.25, 0.35]},
    ]
    cards = {
        "maker_taker": {
            "held_out_day": ["d.jsonl.gz"],
            "data": [{"recording": "data/recordings/d.jsonl.gz", "use": "held_out_day"}],
            "held_out": {"d.jsonl.gz": {"by_size": by}},
        }
    }
    assert _outside_now(cards) == "1 of 2 does"

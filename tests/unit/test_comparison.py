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

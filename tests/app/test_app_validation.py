"""The Validation page under Streamlit's AppTest, from the shipped docs/validation.json."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.views.validation import FLOOR_COLUMN, ONLINE_COLUMN, VALIDATION_JSON, recording_labels

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def table(at: AppTest, columns: list[str]):
    """The dataframe shown with exactly these columns."""
    return next(d.value for d in at.dataframe if list(d.value.columns) == columns)


def test_validation_page_renders_every_recording_with_coverage_by_size():
    doc = json.loads(VALIDATION_JSON.read_text(encoding="utf-8"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/validation.py").run()
    assert not at.exception
    assert list(at.selectbox(key="val_recording").options) == recording_labels(doc)  # one picker
    for i, rec in enumerate(doc["recordings"]):
        at.selectbox(key="val_recording").set_value(i).run()
        assert not at.exception, rec["recording"]
        assert not at.error
        cols = ["size (USD)", "orders", FLOOR_COLUMN, "p90 coverage [95% interval]"]
        online = rec["p90_coverage"].get("online")
        cov = table(at, cols + ([ONLINE_COLUMN] if online else []))
        if online:  # the app's online calibration beside the static band, bucket by bucket
            for shown, r in zip(cov[ONLINE_COLUMN], online["by_size"], strict=True):
                assert shown == "—" if r["coverage"] is None else shown.startswith(f"{r['coverage'] * 100:.1f} %"), (
                    shown
                )
        expected = [r["bucket"] for r in rec["p90_coverage"].get("by_size", [])]
        assert list(cov["size (USD)"]) == expected and len(expected) >= 3, rec["recording"]
        assert list(cov["orders"]) == [r["n"] for r in rec["p90_coverage"]["by_size"]]
        # what a band at the expected cost covers, beside the coverage (the least any band the app shows covers)
        assert list(cov[FLOOR_COLUMN]) == [
            "—" if r.get("floor_coverage") is None else f"{r['floor_coverage']:.0%}"
            for r in rec["p90_coverage"]["by_size"]
        ]
        for shown, r in zip(cov["p90 coverage [95% interval]"], rec["p90_coverage"]["by_size"], strict=True):
            if r["coverage"] is None:
                assert shown == "—"
            elif r["coverage_ci"]:
                assert shown.startswith(f"{r['coverage'] * 100:.1f} % [")  # the interval, never an empty cell
            else:
                assert shown.endswith("(no interval: under 20 orders)"), shown
        errs = table(at, ["orders", "n", "bias", "MAE", "mean estimate (bps)", "mean realised (bps)"]).set_index(
            "orders"
        )
        all_ = rec["market_orders"]["all"]
        assert errs.loc["all", "n"] == all_["n"]
        assert errs.loc["all", "bias"].startswith(f"{all_['bias_bps']:+.3f} bps [")  # the interval is shown
        markdown = " ".join(m.value for m in at.markdown)
        assert "Bias: the average of (estimate − realised cost)" in markdown and "Coverage: the share" in markdown
        assert any("Overall:" in m.value and "nominal 90%" in m.value for m in at.markdown)
        titles = " ".join(c.proto.spec for c in at.get("plotly_chart"))
        for title in ("p90 coverage by order size", "predicted vs realised fill", "Markouts after a resting order"):
            assert title in titles, (rec["recording"], title)
        if "sample" in rec["market_orders"]:  # the shipped file has it since the scatter was added
            assert "Predicted vs realised cost per order" in titles
            assert any(c.value.startswith("400 of ") for c in at.caption), rec["recording"]

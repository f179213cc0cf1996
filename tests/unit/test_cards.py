"""core.views.models: model cards turned into what the Models page shows, on hand-made and on the shipped cards."""

from __future__ import annotations

import math
from types import SimpleNamespace

from core.views.models import card_figure, card_view, card_views, metrics_table

QUANTILE_CARD = {
    "role": "slippage_quantiles",
    "kind": "quantiles",
    "use": True,
    "reason": "beats every baseline",
    "display_name": "linear quantile regression",
    "target": {"description": "cost", "unit": "bps", "quantiles": [0.5, 0.9]},
    "samples": {"train": 100, "test": 40, "note": "x"},
    "metrics": {"test": {"mean_pinball_bps": 0.11, "pinball_bps": [0.15, 0.07], "coverage": [0.6, 0.91]}},
    "baselines": {
        "walk": {"what": "book walk", "mean_pinball_bps": 0.15, "pinball_bps": [0.15, 0.15], "coverage": [0.8, 0.8]}
    },
    "data": [
        {
            "recording": "r.jsonl.gz",
            "market": "spot",
            "books": 10,
            "trades_rows": 5,
            "recording_range": ["2024-08-08T23:54:15Z", "2024-08-09T00:05:05Z"],
        }
    ],
    "split": {"method": "by time", "ranges_utc": {"r.jsonl.gz": {"train": ["a", "b"], "test": ["b", "c"]}}},
    "features": [{"name": "log10_size_usd", "unit": "log10 USD", "description": "order notional"}],
}
MAKER_CARD = {
    "role": "maker_taker",
    "kind": "probability",
    "use": True,
    "reason": "beats the base rate",
    "metrics": {
        "test": {"log_loss": 0.53, "brier": 0.18, "auc_full_fill": 0.81},
        "calibration_deciles": [
            {"decile": 1, "n": 5, "mean_predicted": 0.1, "mean_observed": 0.2},
            {"decile": 2, "n": 5, "mean_predicted": 0.5, "mean_observed": 0.4},
        ],
    },
    "baselines": {"base_rate": {"what": "training mean", "log_loss": 0.73, "brier": 0.27}},
}


def test_quantile_metrics_expand_per_quantile_model_first():
    t = metrics_table(QUANTILE_CARD)
    assert list(t.columns) == [
        "method",
        "mean pinball loss (bps)",
        "pinball p50 (bps)",
        "pinball p90 (bps)",
        "coverage p50",
        "coverage p90",
    ]
    assert t["method"].tolist() == ["this model: linear quantile regression", "baseline: book walk"]
    assert t.iloc[0]["coverage p90"] == 0.91 and t.iloc[1]["mean pinball loss (bps)"] == 0.15


def test_quantile_card_view_and_coverage_chart():
    v = card_view("slippage_quantiles", QUANTILE_CARD, in_use=True)
    assert v.in_use and v.status == "In use: beats every baseline." and v.target == "cost (bps)"
    assert v.samples == {"train": 100, "test": 40}
    assert v.data.iloc[0]["to (UTC)"] == "2024-08-09T00:05:05Z" and v.split.iloc[0]["test to"] == "c"
    assert v.features["unit"].tolist() == ["log10 USD"]
    assert v.chart == "coverage" and len(v.chart_data) == 4
    model = v.chart_data[v.chart_data["method"] == "this model"]
    assert model["observed"].tolist() == [0.6, 0.91] and model["nominal"].tolist() == [0.5, 0.9]
    fig = card_figure(v)
    assert [t.name for t in fig.data] == ["this model", "book walk", "nominal (target)"]


def test_maker_card_missing_baseline_metric_is_nan_and_calibration_chart():
    v = card_view(
        "maker_taker", MAKER_CARD, in_use=False, fallback_reason="The maker_taker model file could not be loaded."
    )
    assert not v.in_use and v.status == "Fallback: The maker_taker model file could not be loaded."
    assert math.isnan(v.metrics.iloc[1]["AUC"]) and v.metrics.iloc[0]["log-loss"] == 0.53
    assert v.chart == "calibration" and v.chart_data["mean observed"].tolist() == [0.2, 0.4]
    fig = card_figure(v)
    assert list(fig.data[1].x) == [0.1, 0.5]


def test_role_without_card_says_fallback():
    loaded = SimpleNamespace(cards={}, nets={}, fallbacks={"maker_taker": "No trained maker_taker model."})
    views = {v.role: v for v in card_views(loaded)}
    assert set(views) == {"slippage_expected", "slippage_quantiles", "maker_taker"}
    assert views["maker_taker"].status == "Fallback: No trained maker_taker model."
    assert views["slippage_expected"].metrics.empty and card_figure(views["slippage_expected"]) is None
    assert "book walk" in views["slippage_expected"].status


def test_shipped_cards_match_what_the_loader_decided():
    from core.learned.models import MODELS_DIR, read_card

    cards = {r: read_card(MODELS_DIR / f"{r}.json") for r in ("slippage_expected", "slippage_quantiles", "maker_taker")}
    used = {r for r, c in cards.items() if c.get("use")}
    loaded = SimpleNamespace(
        cards=cards, nets={r: object() for r in used}, fallbacks={r: f"{r} not used" for r in cards if r not in used}
    )
    for v in card_views(loaded):
        assert v.in_use == (v.role in used)
        assert v.metrics.iloc[0]["method"].startswith("this model") and len(v.metrics) >= 2
        assert not v.data.empty and not v.features.empty and v.chart
        assert card_figure(v) is not None

"""What the Models page shows about each learned model, read from its model card (``models/*.json``).

``card_views(loaded)`` takes what ``core.learned.models.load_models`` returned (its ``cards``, ``nets`` and
``fallbacks``) and turns each role into a ``CardView``: whether the app uses the model or the rule-based
fallback and why, the data (files, time ranges, samples), the features, the held-out metrics next to the
baselines, and the calibration (maker/taker), coverage (quantiles) or per-latency error (expected slippage)
for a chart. Cards are plain JSON written by ``core/training/train.py``; a missing key leaves that part empty, it
never raises.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core.learned.fill import GRID_SIZES_USD
from core.learned.models import ROLES
from core.learned.online import (
    LEVEL,
    RECENT_OUTCOMES,
    REFERENCE_SHARE,
    UNIT_FLOOR_BPS,
    BandUnit,
    TrackerState,
    band_unit_bps,
    moved_share,
    shown_label,
    signed,
    size_label,
)
from core.market.venues import label as venue_label
from core.pricing.calibration import LIVE_LAG_MS, CalibrationState, CalibrationStatus

TITLES = {
    "slippage_expected": "Expected slippage",
    "slippage_quantiles": "Slippage quantiles (p50 / p90 / p95)",
    "maker_taker": "Maker/taker proportion",
}
FALLBACKS = {
    "slippage_expected": "book walk at decision time",
    "slippage_quantiles": "no p90 band",
    "maker_taker": "limit orders cannot be priced; market orders are 100% taker",
}
#: (card metric key, column label) per model kind; list-valued metrics expand to one column per quantile
METRICS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "regression": (("mae_bps", "MAE (bps)"), ("rmse_bps", "RMSE (bps)")),
    "quantiles": (
        ("mean_pinball_bps", "mean pinball loss (bps)"),
        ("pinball_bps", "pinball {q} (bps)"),
        ("coverage", "coverage {q}"),
    ),
    "probability": (("log_loss", "log-loss"), ("brier", "Brier score"), ("auc_full_fill", "AUC")),
}
METRIC_HELP = {
    "regression": "Held-out (test) error in bps of executed notional; lower is better.",
    "quantiles": "Held-out pinball loss (lower is better) and coverage: the share of outcomes at or below each "
    "quantile, which should be close to 0.5 / 0.9 / 0.95.",
    "probability": "Held-out log-loss and Brier score (lower is better) and AUC of a full fill (higher is better).",
}


@dataclass(frozen=True, slots=True)
class CardView:
    """One model's card, ready to render."""

    role: str
    title: str
    in_use: bool
    status: str  # one sentence: "In use: ..." or "Fallback (...): ..."
    name: str  # display name, e.g. "logistic regression (held-out log-loss 0.53)"
    kind: str  # regression | quantiles | probability | "" when there is no card
    target: str  # what is predicted, with its unit
    structure: str
    selection: str
    trained_at: str
    samples: Mapping[str, int]
    data: pd.DataFrame  # recording, market, books, trades rows, from, to
    split: pd.DataFrame  # recording, train from/to, test from/to
    split_method: str
    features: pd.DataFrame  # name, unit, description
    metrics: pd.DataFrame  # method (model first, then baselines) x metric columns
    metrics_help: str
    chart: str  # "calibration" | "coverage" | "latency" | ""
    chart_data: pd.DataFrame  # the chart's numbers
    serving_note: str


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def metric_row(name: str, values: Mapping[str, Any], kind: str, quantiles: list[float]) -> dict[str, Any]:
    """One row of the metrics table: ``name`` plus each metric of ``kind`` found in ``values``."""
    row: dict[str, Any] = {"method": name}
    for key, label in METRICS.get(kind, ()):
        v = values.get(key)
        if isinstance(v, list):
            for q, x in zip(quantiles, v, strict=False):
                row[label.format(q=f"p{round(q * 100)}")] = float(x)
        elif "{q}" in label:
            for q in quantiles:
                row[label.format(q=f"p{round(q * 100)}")] = math.nan
        else:
            row[label] = float(v) if isinstance(v, (int, float)) else math.nan
    return row


def metrics_table(card: Mapping[str, Any]) -> pd.DataFrame:
    """The model's held-out (test) metrics, then each baseline's, as rows."""
    kind = str(card.get("kind", ""))
    quantiles = list(card.get("target", {}).get("quantiles", []))
    rows = [
        metric_row(
            f"this model: {card.get('display_name', card.get('role', 'model'))}",
            card.get("metrics", {}).get("test", {}),
            kind,
            quantiles,
        )
    ]
    for key, b in card.get("baselines", {}).items():
        rows.append(metric_row(f"baseline: {b.get('what', key)}", b, kind, quantiles))
    return pd.DataFrame(rows)


def _chart(card: Mapping[str, Any]) -> tuple[str, pd.DataFrame]:
    kind = card.get("kind")
    m = card.get("metrics", {})
    if kind == "probability" and m.get("calibration_deciles"):
        rows = [
            {
                "decile": d.get("decile"),
                "n": d.get("n"),
                "mean predicted": d.get("mean_predicted"),
                "mean observed": d.get("mean_observed"),
            }
            for d in m["calibration_deciles"]
        ]
        return "calibration", _frame(rows, ["decile", "n", "mean predicted", "mean observed"])
    if kind == "quantiles":
        qs = list(card.get("target", {}).get("quantiles", []))
        rows = []
        for name, values in [("this model", m.get("test", {}))] + [
            (b.get("what", k), b) for k, b in card.get("baselines", {}).items()
        ]:
            for q, c in zip(qs, values.get("coverage", []), strict=False):
                rows.append({"method": name, "quantile": f"p{round(q * 100)}", "nominal": q, "observed": c})
        return "coverage", _frame(rows, ["method", "quantile", "nominal", "observed"])
    if kind == "regression" and m.get("by_latency_ms"):
        rows = [
            {
                "latency (ms)": float(k),
                "n": v.get("n"),
                "model MAE (bps)": v.get("model_mae_bps"),
                "book walk MAE (bps)": v.get("walk_mae_bps"),
            }
            for k, v in m["by_latency_ms"].items()
        ]
        return "latency", _frame(rows, ["latency (ms)", "n", "model MAE (bps)", "book walk MAE (bps)"])
    return "", pd.DataFrame()


def card_view(role: str, card: Mapping[str, Any] | None, *, in_use: bool, fallback_reason: str = "") -> CardView:
    card = card or {}
    title = TITLES.get(role, role)
    if in_use:
        status = f"In use: {card.get('reason', 'the card says use = true')}." + (
            f" {card['caveat']}" if card.get("caveat") else ""
        )
    else:
        why = (
            fallback_reason
            or f"{card.get('reason', 'the model is not loaded')}; {FALLBACKS.get(role, 'rule-based method')}."
        )
        status = f"Fallback: {why}"
    target = card.get("target", {})
    data_rows = [
        {
            "recording": d.get("recording", ""),
            "market": d.get("market", ""),
            "books": d.get("books"),
            "trades rows": d.get("trades_rows"),
            "from (UTC)": (d.get("recording_range") or ["", ""])[0],
            "to (UTC)": (d.get("recording_range") or ["", ""])[-1],
        }
        for d in card.get("data", [])
    ]
    split = card.get("split", {})
    split_rows = [
        {
            "recording": rec,
            "train from": r.get("train", ["", ""])[0],
            "train to": r.get("train", ["", ""])[-1],
            "test from": r.get("test", ["", ""])[0],
            "test to": r.get("test", ["", ""])[-1],
        }
        for rec, r in split.get("ranges_utc", {}).items()
    ]
    chart, chart_data = _chart(card)
    return CardView(
        role=role,
        title=title,
        in_use=in_use,
        status=status,
        name=str(card.get("display_name", "no trained model")),
        kind=str(card.get("kind", "")),
        target=f"{target.get('description', '')} ({target.get('unit', '')})" if target else "",
        structure=str(card.get("structure", "")),
        selection=str(card.get("selection", "")),
        trained_at=str(card.get("trained_at", "")),
        samples={k: int(v) for k, v in card.get("samples", {}).items() if isinstance(v, (int, float))},
        data=_frame(data_rows, ["recording", "market", "books", "trades rows", "from (UTC)", "to (UTC)"]),
        split=_frame(split_rows, ["recording", "train from", "train to", "test from", "test to"]),
        split_method=str(split.get("method", "")),
        features=_frame(
            [{k: f.get(k, "") for k in ("name", "unit", "description")} for f in card.get("features", [])],
            ["name", "unit", "description"],
        ),
        metrics=metrics_table(card) if card else pd.DataFrame(),
        metrics_help=METRIC_HELP.get(str(card.get("kind", "")), ""),
        chart=chart,
        chart_data=chart_data,
        serving_note=str(card.get("serving", {}).get("note", "")),
    )


def card_views(loaded: Any) -> list[CardView]:
    """One view per role from ``load_models()``'s result (anything with ``cards``, ``nets``, ``fallbacks``)."""
    cards = getattr(loaded, "cards", {}) or {}
    nets = getattr(loaded, "nets", {}) or {}
    fallbacks = getattr(loaded, "fallbacks", {}) or {}
    return [
        card_view(
            role,
            cards.get(role),
            in_use=role in nets and role not in fallbacks,
            fallback_reason=fallbacks.get(role, ""),
        )
        for role in ROLES
    ]


def card_figure(view: CardView) -> go.Figure | None:
    """Calibration (predicted vs observed), coverage (observed vs nominal) or error by latency."""
    d = view.chart_data
    if view.chart == "calibration":
        fig = go.Figure()
        fig.add_scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line=dict(dash="dash", color="#888")
        )
        fig.add_scatter(
            x=d["mean predicted"],
            y=d["mean observed"],
            mode="lines+markers",
            name="deciles (test)",
            customdata=d["n"],
            hovertemplate="predicted %{x:.2f}, observed %{y:.2f} (n=%{customdata})<extra></extra>",
        )
        fig.update_layout(
            title="Calibration: observed vs predicted fill fraction, by decile",
            xaxis_title="mean predicted",
            yaxis_title="mean observed",
        )
    elif view.chart == "coverage":
        fig = go.Figure()
        for method, g in d.groupby("method", sort=False):
            fig.add_bar(x=g["quantile"], y=g["observed"], name=str(method))
        nominal = d.drop_duplicates("quantile")
        fig.add_scatter(
            x=nominal["quantile"],
            y=nominal["nominal"],
            mode="markers",
            name="nominal (target)",
            marker=dict(symbol="line-ew-open", size=40, color="#d62728", line=dict(width=3)),
        )
        fig.update_layout(
            title="Coverage on test: share of outcomes at or below each quantile",
            barmode="group",
            yaxis_title="share of outcomes",
            yaxis_range=[0, 1.05],
        )
    elif view.chart == "latency":
        fig = go.Figure()
        fig.add_scatter(x=d["latency (ms)"], y=d["model MAE (bps)"], mode="lines+markers", name="model")
        fig.add_scatter(
            x=d["latency (ms)"], y=d["book walk MAE (bps)"], mode="lines+markers", name="book walk (baseline)"
        )
        fig.update_layout(title="Held-out MAE by latency", xaxis_title="latency (ms)", yaxis_title="MAE (bps)")
    else:
        return None
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


# ---- the online calibration (core.pricing.calibration) ----------------------------------------------------------

#: the column the section is about comes first: at 800 px a table shows its first columns without a scroll
BAND_COLUMNS = ["order size", "band moved by", "paid more than band", "last 100", "orders"]
MAKER_COLUMNS = ["test orders", "a 25% share shows", "shift", "filled / app showed", "last 100", "rests ended"]
#: below this many outcomes a bucket's shares are not shown as percentages (one order is 5 points or more)
MIN_SHOWN = 20


def unit_words(band: TrackerState) -> str:
    """How the band's shift is kept (``BandUnit``), with what one order does to it: the units note opens with it."""
    if band.unit is BandUnit.SPREAD:
        return (
            "'Band moved by' is the shift in bps on the instrument's current book: the shift is kept in units of "
            f"max(spread, {UNIT_FLOOR_BPS:g} bps), so on a book whose spread widens it moves the band more. "
        )
    up = band.step * LEVEL
    return (
        "'Band moved by' is the shift in bps, the same on any book: it is counted in units worth "
        f"{UNIT_FLOOR_BPS:g} bps whatever the spread (an order above its band adds {band.step:g} x {LEVEL:g} = "
        f"{up:g} units, {up * UNIT_FLOOR_BPS:.3g} bps; one below takes off a ninth as much; the static band still "
        "widens with the spread). "
    )


ONLINE_UNITS = (
    "A size can show fewer than 10% "
    "of orders above its band and still a raised band: an order whose band was already at its expected cost (the "
    "lowest a band goes) does not lower it when it pays less. The maker shift is in logits, so its effect in points "
    "depends on the share it moves ('a 25% share shows' gives it at a typical share). The app's test limit orders "
    "are $10k, $100k, $1M and $5M (0, 1 and 5 bps behind the touch, resting 10, 30 and 60 s); an order of another "
    "size takes a correction interpolated between those of the tested sizes around it (by log size; beyond $10k and "
    "$5M, theirs), an assumption its method note states. 'App showed' is the share the app showed those test "
    "orders, its correction included. 'Last 100' is each size's 100 most recent outcomes (shown once there are 100), "
    "so a reader can see whether a correction is still needed."
)


@dataclass(frozen=True)
class OnlineView:
    """What the online calibration has done so far, ready to render."""

    headline: str
    learning: bool
    band_table: pd.DataFrame  # BAND_COLUMNS, one row per size bucket of the band (empty when it does not learn)
    maker_table: pd.DataFrame  # MAKER_COLUMNS, one row per size bucket a test limit order falls in
    units: str = ONLINE_UNITS


def _share(num: float, n: int, untested: str = "—") -> str:
    if n == 0:
        return untested
    return f"{num / n:.0%}" if n >= MIN_SHOWN else f"— ({n} so far)"


def online_view(
    status: CalibrationStatus | None, spread_bps: float | None = None, *, now_s: float | None = None
) -> OnlineView:
    """The Models page's account of the online calibration from its status (None: it does not run here);
    ``spread_bps``: the instrument's current book's, to say the band's shift in bps (None: in units)."""
    empty = (pd.DataFrame(columns=BAND_COLUMNS), pd.DataFrame(columns=MAKER_COLUMNS))
    if status is None:
        return OnlineView(
            "The online calibration does not run in this app process (no chosen steps in models/online.json, or the "
            "learned models are not loaded): the models are used as trained.",
            False,
            *empty,
        )
    bad = status.skipped.get("bad_bus_documents", 0)
    skipped_docs = f" {bad:,} of its status documents could not be read and were skipped." if bad else ""
    if status.from_bus and status.state is not CalibrationState.LEARNING:
        return OnlineView(
            "This app shows the books of its ingest service, which runs no online calibration for this instrument "
            "yet (its source has no trade tape, its tape is still to be read, or its status has not reached this "
            "app): the models are used as trained." + skipped_docs,
            False,
            *empty,
        )
    if status.state is CalibrationState.OFF:
        return OnlineView(
            "This source has no trade tape, so nothing checks the estimates against real orders as it plays: the "
            "models are used as trained. (It runs on the replay of a bundled recording with its trades, and on a live "
            "OKX feed, which streams its public trades beside its books.)",
            False,
            *empty,
        )
    if status.state is CalibrationState.WAITING:
        return OnlineView(
            "The replay's trade tape is read a few seconds after the source starts; until then the models are used "
            "as trained.",
            False,
            *empty,
        )
    band, share = status.band, status.share
    assert band is not None and share is not None

    def recent(st: TrackerState, k: int, *, shown: bool = False) -> str:
        """The last ``RECENT_OUTCOMES`` of a size ("—" until there are that many: the totals beside cover them)."""
        rn, ra, rb = st.recent(k)
        if rn < RECENT_OUTCOMES:
            return "—"
        return f"{ra / rn:.0%} / {rb / rn:.0%}" if shown else f"{ra / rn:.0%}"

    def moved(shift: float) -> str:
        if spread_bps is None and band.unit is BandUnit.SPREAD:
            return f"{signed(shift, '.2f')} units"
        return f"{signed(shift * band_unit_bps(spread_bps or 0.0, band.unit), '.2f')} bps"

    band_rows = [
        {
            "order size": shown_label(label),
            "band moved by": moved(band.shifts[k]),
            "paid more than band": _share(band.misses[k], band.outcomes[k]),
            "last 100": recent(band, k),
            "orders": f"{band.outcomes[k]:,}",
        }
        for k, label in enumerate(band.buckets.labels)
    ]
    maker_rows = []
    for v in sorted(GRID_SIZES_USD):
        k = share.buckets.of(v)
        n = share.outcomes[k]
        maker_rows.append(
            {
                "test orders": f"{size_label(v)} ({shown_label(share.buckets.labels[k])})",
                "a 25% share shows": f"{float(moved_share(REFERENCE_SHARE, share.shifts[k])):.0%}",
                "shift": f"{signed(share.shifts[k], '.2f')} logit",
                "filled / app showed": (
                    f"{_share(share.misses[k], n)} / {_share(share.shown[k], n)}" if n >= MIN_SHOWN else _share(0.0, n)
                ),
                "last 100": recent(share, k, shown=True),
                "rests ended": f"{n:,}",
            }
        )
    dropped = status.skipped.get("books_dropped", 0)
    ago = max(0.0, (time.time() if now_s is None else now_s) - status.since_s)
    since = (
        f"since {time.strftime('%H:%M:%S UTC', time.gmtime(status.since_s))} by this computer's clock "
        f"({_ago(ago)}" + ("" if status.live else "; the replayed books carry the recording's own times") + ")"
    )
    inst = instrument_name(status.instrument)
    who = (
        f"The ingest service (run {status.ingest_run}) checks the estimates of {inst} against its trade tape "
        f"({status.tape}) as its replay plays, and this app applies the corrections it publishes with its status "
        f"(read every heartbeat), {since} "
        if status.from_bus
        else f"Checking the estimates of {inst} against its trade tape ({status.tape}) as the replay plays, {since} "
    )
    if status.live:
        who = (
            f"{'The ingest service (run ' + status.ingest_run + ') checks' if status.from_bus else 'Checking'} the "
            f"estimates of {inst} against the public trades its live feed streams, as they arrive (each moment scored "
            f"{LIVE_LAG_MS / 1000:g} s behind the newest book, once its trades are all in), {since} "
        )
    restart = (
        "(the corrections start over with each new source, and if the feed's clock steps back): "
        if status.live
        else "(the corrections start over with each new source and each time the replay begins its recording again): "
    )
    late, gap = status.skipped.get("late_trades", 0), status.skipped.get("resting_in_gap", 0)
    live_counts = (f" {late:,} trades arrived after their moment was scored (counted, not scored)." if late else "") + (
        f" {gap:,} test orders were resting through a reconnect and were not scored." if gap else ""
    )
    return OnlineView(
        who
        + restart
        + f"{status.taker_orders:,} real taker orders and {status.resting_orders:,} of the app's test limit orders "
        f"scored so far ({status.pending:,} still resting). After each real order whose cost was above the p90 band "
        "shown for its size, that size's band is raised a little, and lowered a little after each order below it, "
        "aiming at 10% above; after each test limit order's rest, that size's maker share moves toward what filled. "
        "The Simulator's p90 and maker share for this instrument carry these corrections, and say so. Steps chosen "
        "on the training days (models/online.json, docs/MODELS.md)."
        + (f" {dropped:,} books were skipped while the calibration was busy." if dropped else "")
        + live_counts
        + skipped_docs,
        True,
        pd.DataFrame(band_rows, columns=BAND_COLUMNS),
        pd.DataFrame(maker_rows, columns=MAKER_COLUMNS),
        unit_words(band) + ONLINE_UNITS,
    )


def _ago(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s ago"
    return f"{s / 60:.0f} min ago"


def instrument_name(instrument: tuple[str, str] | None) -> str:
    """ "Binance USD-M BTCUSDT", as the rest of the app names it."""
    if not instrument:
        return "this instrument"
    return f"{venue_label(instrument[0])} {instrument[1]}"

"""What the Validation page shows: the app's estimates scored against what really executed.

Everything comes from ``docs/validation.json``, the file ``python -m core.validate`` (``make validate``) writes
together with ``docs/VALIDATION.md``, so the page and the report show the same figures. Nothing is recomputed
here. A key the file lacks (an older run, a recording without a maker model) leaves that part empty with a
note; it never raises. Intervals are the block-bootstrap ones the validator wrote.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from core.errors import InputError
from core.paths import MODELS_DIR, ROOT
from core.views.market import EXCHANGE_LABELS

VALIDATION_JSON = ROOT / "docs" / "validation.json"
NOMINAL_COVERAGE = 0.90  # the p90 band should cover 90 % of orders

#: the plain-words meaning of each figure, shown beside it on the page
MEANINGS = {
    "bias": "Bias: the average of (estimate − realised cost). Negative means the app under-states the cost of a "
    "market order on average; 0 is unbiased.",
    "mae": "MAE (mean absolute error): the typical size of the miss, in either direction, in bps of the order's "
    "notional.",
    "coverage": "Coverage: the share of orders whose realised cost came out at or below the p90 the app shows. "
    "A p90 band should cover about 90 %; below that, the band is too narrow. 'A band at the expected cost covers' "
    "is the least any band the app shows can cover (it never shows a p90 below the expected cost): where it is above "
    "90 % (many small orders paying exactly what the book walk says), so is the coverage, whatever the band.",
    "fill": "Fill calibration: for resting limit orders, the maker share the app predicts against the share that "
    "really filled (a size-aware fill from the trade tape, after the queue ahead).",
    "markouts": "Markouts: how far the mid moved against a resting order after it filled (adverse selection) or "
    "after it expired unfilled, in bps; positive = against you.",
    "interval": "[a, b] is a 95 % interval from a block bootstrap over seconds of the recording.",
}


def load_report(path: Path = VALIDATION_JSON) -> dict[str, Any]:
    """The validator's JSON, or a plain ``InputError`` saying how to make it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No validation figures yet ({path.name} is missing): run `make validate`.") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"Could not read {path.name} ({exc}); run `make validate` again.") from None
    if not isinstance(doc, dict) or not doc.get("recordings"):
        raise InputError(f"{path.name} holds no recording: run `make validate`.")
    return doc


#: what each use of a recording in the models' training means for its figures here (the maker card's ``data``)
ROLE_TEXT = {
    "held_out_day": "held-out day: used for nothing, out of sample",
    "held_out_market_same_day": "training evening, another asset or venue: in sample for the p90 band and maker correction",
    "train": "training day: in sample",
}


@functools.cache
def recording_roles(card: Path = MODELS_DIR / "maker_taker.json") -> dict[str, str]:
    """Recording file name -> its use in training (``train``, ``held_out_market_same_day``, ``held_out_day``), from
    the shipped maker card; empty when there is none (the labels then name no role)."""
    try:
        data = json.loads(card.read_text()).get("data") or []
    except (OSError, ValueError):
        return {}
    return {Path(str(d.get("recording", ""))).name: str(d.get("use", "")) for d in data if isinstance(d, dict)}


def recording_label(rec: dict[str, Any], role: str | None = None) -> str:
    """``Binance USD-M BTCUSDT · 2024-07-18 23:57–00:05 UTC · held-out day: used for nothing, out of sample``: a
    trader picking a recording should know whether its figures are out of sample."""
    venue = EXCHANGE_LABELS.get(rec.get("exchange", ""), rec.get("exchange", "?"))
    span = rec.get("span_utc") or []
    when = f" · {span[0][:10]} {span[0][11:16]}–{span[1][11:16]} UTC" if len(span) == 2 else ""
    return f"{venue} {rec.get('symbol', '?')}{when}" + (f" · {ROLE_TEXT[role]}" if role in ROLE_TEXT else "")


def _role(rec: dict[str, Any], roles: dict[str, str]) -> str | None:
    return roles.get(Path(str(rec.get("recording", ""))).name)


def recording_labels(doc: dict[str, Any], roles: dict[str, str] | None = None) -> list[str]:
    roles = recording_roles() if roles is None else roles
    return [recording_label(r, _role(r, roles)) for r in doc.get("recordings", [])]


def first_held_out(doc: dict[str, Any], roles: dict[str, str] | None = None) -> int:
    """The recording the page opens on: the first of the held-out day (the out-of-sample test), else the first."""
    roles = recording_roles() if roles is None else roles
    recs = doc.get("recordings", [])
    return next((i for i, r in enumerate(recs) if _role(r, roles) == "held_out_day"), 0)


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else math.nan


def _ci(ci: Any) -> tuple[float, float]:
    return (_num(ci[0]), _num(ci[1])) if isinstance(ci, list) and len(ci) == 2 else (math.nan, math.nan)


def with_interval(x: Any, ci: Any, *, pct: bool = False) -> str:
    """``-0.241 bps [-0.30, -0.18]`` or ``75.8 % [70.1, 80.2]``; ``—`` where the figure is missing."""
    v = _num(x)
    if math.isnan(v):
        return "—"
    lo, hi = _ci(ci)
    if pct:
        body = f"{v * 100:.1f} %"
        return body + (f" [{lo * 100:.1f}, {hi * 100:.1f}]" if not math.isnan(lo) else "")
    return f"{v:+.3f} bps" + (f" [{lo:+.3f}, {hi:+.3f}]" if not math.isnan(lo) else "")


@dataclass(frozen=True)
class ValidationView:
    """One recording's figures, ready to render."""

    label: str
    summary: str  # what was scored: orders, books, time span, book-to-trade lag
    errors: pd.DataFrame  # all / clean orders: n, bias, MAE (with intervals)
    errors_by_size: pd.DataFrame  # per size bucket, all orders
    coverage_overall: str
    coverage_notes: list[str]
    coverage: pd.DataFrame  # bucket, n, coverage, lo, hi
    scatter: pd.DataFrame  # estimate_bps, realised_bps, size_usd, clean (empty when the JSON has no sample)
    scatter_note: str
    fill: pd.DataFrame  # bucket, n, predicted, realised (+ intervals)
    markouts: pd.DataFrame  # kind, after_s, n, mean_bps, lo, hi
    limit_note: str
    bootstrap: str
    not_validated: list[str] = field(default_factory=list)
    min_interval_n: int | None = None  # the validator gives no interval below this many orders (its JSON says)

    @property
    def fill_table(self) -> pd.DataFrame:
        """The fill calibration with plain column names (the online column only where the file has it)."""
        f = (
            self.fill
            if "online" in self.fill and self.fill["online"].notna().any()
            else self.fill.drop(columns=["online"], errors="ignore")
        )
        return f.rename(columns=FILL_NAMES)

    @property
    def coverage_table(self) -> pd.DataFrame:
        """The coverage by size as a reader sees it: one column with the figure and its interval, and a plain word
        where a bucket has too few orders for one (instead of empty numeric cells)."""
        rows = []
        has_online = bool(self.coverage["online"].notna().any())
        for r in self.coverage.to_dict("records"):
            lo, hi, cov = _num(r["lo"]), _num(r["hi"]), _num(r["coverage"])
            ci = [lo, hi] if not math.isnan(lo) else None
            shown = with_interval(cov, ci, pct=True)
            if ci is None and not math.isnan(cov):
                few = f"under {self.min_interval_n} orders" if self.min_interval_n else "too few orders"
                shown += f" (no interval: {few})"
            floor = _num(r["floor"])
            row = {
                "size (USD)": r["size"],
                "orders": r["n"],
                FLOOR_COLUMN: "—" if math.isnan(floor) else f"{floor:.0%}",
                "p90 coverage [95% interval]": shown,
            }
            if has_online:
                on, olo, ohi = _num(r["online"]), _num(r["online_lo"]), _num(r["online_hi"])
                row[ONLINE_COLUMN] = with_interval(on, [olo, ohi] if not math.isnan(olo) else None, pct=True)
            rows.append(row)
        cols = ["size (USD)", "orders", FLOOR_COLUMN, "p90 coverage [95% interval]"]
        cols += [ONLINE_COLUMN] if has_online else []
        return pd.DataFrame(rows, columns=cols)


ONLINE_COLUMN = "with the online calibration [95% interval]"
#: what the lowest band the app shows (the expected cost) covers: no band it shows covers less
FLOOR_COLUMN = "a band at the expected cost covers"


FILL_NAMES = {
    "size": "size (USD)",
    "n": "orders",
    "predicted": "predicted (app)",
    "predicted_lo": "predicted, 95% low",
    "predicted_hi": "predicted, 95% high",
    "realised": "realised (tape)",
    "realised_lo": "realised, 95% low",
    "realised_hi": "realised, 95% high",
    "online": "predicted with the online calibration",
}


def _error_row(name: str, fig: dict[str, Any]) -> dict[str, Any]:
    return {
        "orders": name,
        "n": fig.get("n", 0),
        "bias": with_interval(fig.get("bias_bps"), fig.get("bias_bps_ci")),
        "MAE": with_interval(fig.get("mae_bps"), fig.get("mae_bps_ci")).lstrip("+"),
        "mean estimate (bps)": _num(fig.get("mean_estimate_bps")),
        "mean realised (bps)": _num(fig.get("mean_realised_bps")),
    }


def _scatter(sample: dict[str, Any] | None) -> tuple[pd.DataFrame, str]:
    cols = ["estimate_bps", "realised_bps", "size_usd", "clean"]
    if not sample or not all(isinstance(sample.get(c), list) for c in cols[:3]):
        return pd.DataFrame(columns=cols), (
            "This validation.json has no per-order sample (it predates it): run `make validate` to draw the scatter."
        )
    n = min(len(sample[c]) for c in cols[:3])
    frame = pd.DataFrame({c: sample[c][:n] for c in cols[:3]})
    frame["clean"] = (sample.get("clean") or [False] * n)[:n]
    note = f"{n:,} of {sample.get('n_orders', n):,} orders shown ({sample.get('how', 'a sample')})."
    return frame, note


def validation_view(doc: dict[str, Any], index: int) -> ValidationView:
    """The view of recording ``index`` (0-based, in the file's order)."""
    recs = doc.get("recordings") or []
    if not 0 <= index < len(recs):
        raise InputError(f"There is no recording {index + 1}; the file holds {len(recs)}.")
    rec = recs[index]
    mo = rec.get("market_orders", {})
    delay = rec.get("book_delay", {})
    skipped = {k: v for k, v in (mo.get("skipped") or {}).items() if isinstance(v, int) and v > 0}
    not_priced = (
        "; not priced: " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in skipped.items()) if skipped else ""
    )
    summary = (
        f"{rec.get('taker_orders', 0):,} public taker orders ({rec.get('tape_trades', 0):,} trades), "
        f"{mo.get('all', {}).get('n', 0):,} priced on {rec.get('books', 0):,} books, each from the last book before "
        f"it (book-to-trade lag {delay.get('lag_ms', '?')} ms){not_priced}."
    )
    errors = pd.DataFrame([_error_row(k, mo[k]) for k in ("all", "clean") if k in mo])
    by_size = pd.DataFrame([_error_row(r.get("bucket", "?"), r) for r in mo.get("all", {}).get("by_size", [])])
    if not by_size.empty:
        by_size = by_size.rename(columns={"orders": "size"})

    cov = rec.get("p90_coverage", {})
    notes = [str(cov["note"])] if cov.get("note") else []
    overall = "—"
    if cov.get("shown"):
        overall = (
            f"{with_interval(cov.get('overall'), cov.get('overall_ci'), pct=True)} of {cov.get('n', 0):,} orders "
            f"(nominal {NOMINAL_COVERAGE:.0%}; {cov.get('method', '')})"
        )
        held = cov.get("held_out", {})
        if "overall" in held:
            figure = f"{with_interval(held.get('overall'), held.get('overall_ci'), pct=True)} of {held.get('n', 0):,}"
            if _role(rec, recording_roles()) == "held_out_market_same_day":  # walkthrough 18: not out of sample
                notes.append(
                    f"The quantile model's test window (from {held.get('from_utc', '?')}): {figure}. Out of sample for "
                    "the model's network only: the band's correction was calibrated on this recording."
                )
            else:
                notes.append(f"Held-out part only (from {held.get('from_utc', '?')}): {figure}.")
        elif held.get("note"):
            notes.append(f"Held out: {held['note']}.")
        share = _num(cov.get("p90_is_expectation_share"))
        if not math.isnan(share):
            notes.append(f"For {share:.0%} of orders the p90 shown equals the expected cost (no band above it).")
    online = cov.get("online") or {}
    on_rows = online.get("by_size") or [{} for _ in cov.get("by_size", [])]
    coverage = pd.DataFrame(
        [
            {
                "size": r.get("bucket", "?"),
                "n": r.get("n", 0),
                "coverage": _num(r.get("coverage")),
                "lo": _ci(r.get("coverage_ci"))[0],
                "hi": _ci(r.get("coverage_ci"))[1],
                "online": _num(o.get("coverage")),
                "online_lo": _ci(o.get("coverage_ci"))[0],
                "online_hi": _ci(o.get("coverage_ci"))[1],
                "floor": _num(r.get("floor_coverage")),
            }
            for r, o in zip(cov.get("by_size", []), on_rows, strict=False)
        ],
        columns=["size", "n", "coverage", "lo", "hi", "online", "online_lo", "online_hi", "floor"],
    )
    if online:
        notes.append(
            f"With the online calibration the app runs on a replay with trades: "
            f"{with_interval(online.get('overall'), online.get('overall_ci'), pct=True)} of the same orders, each band "
            "moved by the earlier orders' misses and covers on this tape (its band is wider on average: "
            f"{_num(online.get('mean_band_above_estimate_bps')):+.3f} bps above the estimate against "
            f"{_num(cov.get('mean_band_above_estimate_bps')):+.3f})."
        )

    scatter, scatter_note = _scatter(mo.get("sample"))

    lo_ = rec.get("limit_orders", {})
    fill = pd.DataFrame(
        [
            {
                "size": r.get("bucket", "?"),
                "n": r.get("n", 0),
                "predicted": _num(r.get("predicted")),
                "predicted_lo": _ci(r.get("predicted_ci"))[0],
                "predicted_hi": _ci(r.get("predicted_ci"))[1],
                "realised": _num(r.get("realised")),
                "realised_lo": _ci(r.get("realised_ci"))[0],
                "realised_hi": _ci(r.get("realised_ci"))[1],
            }
            for r in lo_.get("fill_calibration", [])
        ],
        columns=["size", "n", "predicted", "predicted_lo", "predicted_hi", "realised", "realised_lo", "realised_hi"],
    )
    fill_online = (lo_.get("fill_calibration_online") or {}).get("by_size") or []
    fill["online"] = [_num(r.get("predicted")) for r in fill_online] if len(fill_online) == len(fill) else math.nan
    marks = []
    for kind in ("filled", "unfilled"):
        for r in lo_.get("markouts", {}).get(kind, []):
            lo, hi = _ci(r.get("mean_bps_ci"))
            marks.append(
                {
                    "orders": kind,
                    "after_s": _num(r.get("after_s")),
                    "n": r.get("n", 0),
                    "mean_bps": _num(r.get("mean_bps")),
                    "lo": lo,
                    "hi": hi,
                }
            )
    markouts = pd.DataFrame(marks, columns=["orders", "after_s", "n", "mean_bps", "lo", "hi"])
    limit_note = str(lo_.get("note") or (f"Maker model: {lo_['maker_model']}." if lo_.get("maker_model") else ""))
    warned = _num(lo_.get("warned_share"))
    if warned > 0 and not lo_.get("note"):  # NaN (not measured) and 0 say nothing
        split = len(lo_.get("fill_calibration_by_warning") or {}) == 2
        limit_note += (
            f" The app warned that the market lay outside the maker model's training conditions for {warned:.0%} of "
            "these orders"
            + (" (docs/VALIDATION.md splits the calibration by it)." if split else " (too few to calibrate apart).")
        )

    b = rec.get("bootstrap", {})
    blocks = [
        f"{what} {fam['block_s']} s"
        for what, fam in (
            ("taker orders", b),
            ("resting orders' fills", lo_.get("bootstrap")),
            ("their markouts", lo_.get("bootstrap_markouts")),
            ("impact", rec.get("impact", {}).get("bootstrap")),
        )
        if isinstance(fam, dict) and "block_s" in fam
    ]
    rule = (
        "at least the time each outcome is measured over, by the validator's block rule (docs/VALIDATION.md); with "
        "so few blocks per recording, read the intervals as a lower bound on the uncertainty"
        if b.get("block_rule")
        else "one fixed block for every figure"
    )
    bootstrap = (
        f"Intervals: {b.get('method', 'block bootstrap')}; blocks: {', '.join(blocks) or '?'} ({rule}); "
        f"{b.get('replicates', '?')} replicates, {float(b.get('level', 0.95)):.0%} level, over "
        f"{b.get('seconds', '?')} s."
    )
    return ValidationView(
        label=recording_label(rec),
        summary=summary,
        errors=errors,
        errors_by_size=by_size,
        coverage_overall=overall,
        coverage_notes=notes,
        coverage=coverage,
        scatter=scatter,
        scatter_note=scatter_note,
        fill=fill,
        markouts=markouts,
        limit_note=limit_note,
        bootstrap=bootstrap,
        not_validated=[str(x) for x in doc.get("not_validated", [])],
        min_interval_n=b.get("min_n_for_interval") if isinstance(b.get("min_n_for_interval"), int) else None,
    )


# ---- charts (plain functions of the view; the page only draws them) ---------------------------------------


def _error_bars(y: pd.Series, lo: pd.Series, hi: pd.Series) -> dict[str, Any]:
    """Plotly asymmetric error bars from an interval [lo, hi] around ``y`` (none where it is missing)."""
    return {"type": "data", "symmetric": False, "array": (hi - y).fillna(0), "arrayminus": (y - lo).fillna(0)}


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title=title, xaxis_title=x, yaxis_title=y, height=360, margin=dict(l=10, r=10, t=40, b=10), legend_x=0.01
    )
    return fig


def _legend_below(fig: go.Figure) -> go.Figure:
    """The legend under the plot, so it never covers the tallest bars."""
    fig.update_layout(legend=dict(orientation="h", x=0.0, y=-0.22), height=400, margin=dict(l=10, r=10, t=40, b=60))
    return fig


def scatter_figure(view: ValidationView) -> go.Figure | None:
    """Predicted against realised cost per order (bps), the line y = x where they agree."""
    d = view.scatter
    if d.empty:
        return None
    fig = go.Figure()
    for clean, name, color in ((True, "clean orders", "#1f6feb"), (False, "other orders", "#e8590c")):
        part = d[d["clean"] == clean]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["estimate_bps"],
                y=part["realised_bps"],
                mode="markers",
                name=name,
                marker={"color": color, "size": 6, "opacity": 0.6},
                customdata=part["size_usd"],
                hovertemplate="estimate %{x:.3f} bps<br>realised %{y:.3f} bps<br>$%{customdata:,.0f}<extra></extra>",
            )
        )
    lo = float(min(d["estimate_bps"].min(), d["realised_bps"].min(), 0.0))
    hi = float(max(d["estimate_bps"].max(), d["realised_bps"].max(), 0.0))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="estimate = realised", line={"dash": "dot"}))
    return _layout(fig, "Predicted vs realised cost per order", "app estimate (bps)", "realised (bps)")


def coverage_figure(view: ValidationView) -> go.Figure | None:
    """p90 coverage per size bucket with its interval, against the nominal 90 %."""
    c = view.coverage.dropna(subset=["coverage"])
    if c.empty:
        return None
    fig = go.Figure(
        go.Bar(
            x=c["size"],
            y=c["coverage"],
            error_y=_error_bars(c["coverage"], c["lo"], c["hi"]),
            text=[f"{v:.0%}<br>n={n:,}" for v, n in zip(c["coverage"], c["n"], strict=False)],
            marker_color="#1f6feb",
            name="static models",
        )
    )
    if c["online"].notna().any():
        fig.add_trace(
            go.Bar(
                x=c["size"],
                y=c["online"],
                error_y=_error_bars(c["online"], c["online_lo"], c["online_hi"]),
                text=[f"{v:.0%}" for v in c["online"]],
                marker_color="#e8590c",
                name="with the online calibration",
            )
        )
        fig.update_layout(barmode="group")
    fig.add_hline(
        y=NOMINAL_COVERAGE, line_dash="dash", annotation_text="nominal 90 %", annotation_position="bottom left"
    )
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return _legend_below(_layout(fig, "p90 coverage by order size", "executed notional", "share covered"))


def fill_figure(view: ValidationView) -> go.Figure | None:
    """Predicted maker share against the realised size-aware fill, per order size, with intervals."""
    f = view.fill
    if f.empty:
        return None
    fig = go.Figure()
    for col, name, color in (("predicted", "predicted (app)", "#1f6feb"), ("realised", "realised (tape)", "#2f9e44")):
        fig.add_trace(
            go.Bar(
                x=f["size"],
                y=f[col],
                name=name,
                marker_color=color,
                error_y=_error_bars(f[col], f[f"{col}_lo"], f[f"{col}_hi"]),
            )
        )
    if "online" in f and f["online"].notna().any():
        fig.add_trace(go.Bar(x=f["size"], y=f["online"], name="predicted, online calibration", marker_color="#e8590c"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return _legend_below(
        _layout(fig, "Limit orders: predicted vs realised fill", "order size", "share of the order filled")
    )


def markout_figure(view: ValidationView) -> go.Figure | None:
    """Mean markout of filled and unfilled resting orders at each horizon, with intervals."""
    m = view.markouts
    if m.empty:
        return None
    fig = go.Figure()
    for kind, color in (("filled", "#e8590c"), ("unfilled", "#868e96")):
        part = m[m["orders"] == kind]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["after_s"],
                y=part["mean_bps"],
                mode="lines+markers",
                name=kind,
                line={"color": color},
                error_y=_error_bars(part["mean_bps"], part["lo"], part["hi"]),
            )
        )
    fig.add_hline(y=0.0, line_color="#c4c9d4")
    fig.update_xaxes(type="log")
    return _layout(fig, "Markouts after a resting order", "seconds after fill / expiry", "mid move against you (bps)")

"""What the Latency page shows, as plain values computed from the store's timing rings.

Inputs are the arrays ``BookStore.tick_timings()`` and ``BookStore.message_rate()`` hand out (copies, so
nothing here holds a lock). ``latency_view`` turns them into one ``LatencyView``: a percentile table with
units, histogram bins for each measure, and messages per second over time. The page only renders it.

Feed delay is the exchange timestamp to local receipt. For a replay the exchange timestamp is the
recording's (years ago), so the raw delay is meaningless; ``replay_lateness_ms`` shows instead how late
each message arrived against the recording's own clock (the replay's pacing), relative to the most
punctual message of the same pass through the recording. That is pacing, not a network delay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core import compiled
from core.errors import InputError

#: percentiles shown in the table, as (column label, percentile)
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0))
#: histogram bins per chart; values above the 99th percentile are counted, not drawn, so one outlier
#: cannot squash every other bar into the first bin
DEFAULT_BINS = 40


@dataclass(frozen=True, slots=True)
class Measure:
    """One timing series with its display name, unit and one-sentence description."""

    key: str
    name: str
    unit: str  # "µs" or "ms"
    help: str
    values: np.ndarray  # finite samples only, oldest first


@dataclass(frozen=True, slots=True)
class Histogram:
    """Equal-width bins from the smallest sample to the 99th percentile; the rest is counted in ``above``."""

    edges: np.ndarray  # bins + 1 edges
    counts: np.ndarray  # samples per bin
    above: int  # samples beyond the last edge (not drawn)
    max: float  # largest sample (NaN when empty)

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)


@dataclass(frozen=True, slots=True)
class LatencyView:
    """Everything the Latency page draws, from one read of the store."""

    measures: tuple[Measure, ...]
    table: pd.DataFrame  # one row per measure: unit, samples, p50, p90, p99, max
    rate_time: np.ndarray  # datetime64[s] UTC of each completed second
    rate: np.ndarray  # messages received in that second
    replay: bool
    delay_note: str  # what the feed delay means for this source

    def measure(self, key: str) -> Measure:
        return next(m for m in self.measures if m.key == key)


def path_note() -> str:
    """Which per-tick path this process runs, in one sentence (the compiled modules are optional)."""
    built = compiled.built()
    if all(built.values()):
        return (
            "Compiled path: GoQuant messages are parsed, validated and summed in one C pass "
            "(core/feed/_goquant.pyx), and orders are priced per tick in compiled code (core/costs/_walk.pyx, "
            "core/learned/_nets.pyx)."
        )
    if not compiled.ENABLED:
        return "Pure-Python path (TCS_NATIVE=0 switched the compiled modules off): same numbers, more CPU per tick."
    missing = ", ".join(name for name, ok in built.items() if not ok)
    return (
        f"Partly pure-Python path: {missing} not built here (same numbers, more CPU per tick; `make venv` builds them)."
    )


def _finite(values: np.ndarray | None) -> np.ndarray:
    a = np.asarray(values if values is not None else [], dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def percentiles(values: np.ndarray) -> dict[str, float]:
    """p50, p90, p99 (linear interpolation, numpy's default) and max of the finite values; NaN if none."""
    v = _finite(values)
    if v.size == 0:
        return {**{label: math.nan for label, _ in PERCENTILES}, "max": math.nan}
    qs = np.percentile(v, [q for _, q in PERCENTILES])
    return {**{label: float(x) for (label, _), x in zip(PERCENTILES, qs, strict=False)}, "max": float(v.max())}


def histogram(values: np.ndarray, bins: int = DEFAULT_BINS) -> Histogram:
    """Bins over [min, p99] (or [min, max] when that is empty); samples above p99 go to ``above``."""
    if bins < 1:
        raise InputError(f"bins must be >= 1, got {bins!r}.")
    v = _finite(values)
    if v.size == 0:
        return Histogram(edges=np.zeros(1), counts=np.zeros(0, dtype=np.int64), above=0, max=math.nan)
    lo, hi, top = float(v.min()), float(np.percentile(v, 99.0)), float(v.max())
    if hi <= lo:
        hi = top
    if hi <= lo:  # every sample equal: one bin around the value
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, lo + pad
    edges = np.linspace(lo, hi, bins + 1)
    inside = v <= hi
    counts, _ = np.histogram(v[inside], bins=edges)
    return Histogram(edges=edges, counts=counts, above=int((~inside).sum()), max=top)


def replay_lateness_ms(recv_s: np.ndarray, delay_ms: np.ndarray, speed: float) -> np.ndarray:
    """How late each replayed message arrived against the recording's clock, ms (>= 0 within a pass).

    The server sends message i at ``t0 + (ts_i - ts_0) / speed``; receipt ``r_i`` = that + lateness. With
    ``ts_i = r_i - delay_i`` the lateness up to a constant is ``r_i - ts_i / speed``. A pass through the
    recording starts where ``ts`` goes backwards (the replay looped or reconnected); each pass is measured
    from its own most punctual message. NaN for unpaced replays (``speed <= 0``) and missing timestamps.
    """
    r_ms = np.asarray(recv_s, dtype=np.float64) * 1000.0
    d = np.asarray(delay_ms, dtype=np.float64)
    out = np.full(d.shape, np.nan)
    if not (math.isfinite(speed) and speed > 0) or d.size == 0:
        return out
    ts = r_ms - d
    late = r_ms - ts / speed
    ok = np.isfinite(late)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out
    # a new pass wherever the recording's clock steps back
    starts = np.flatnonzero(np.diff(ts[idx]) < 0) + 1
    for seg in np.split(idx, starts):
        out[seg] = late[seg] - late[seg].min()
    return out


def latency_view(
    timings: Mapping[str, np.ndarray],
    rate: tuple[np.ndarray, np.ndarray],
    *,
    replay_speed: float | None = None,
) -> LatencyView:
    """Build the page's view; ``replay_speed`` is the replay's speed, or None for a live source."""
    replay = replay_speed is not None
    delay = timings.get("feed_delay_ms", np.empty(0))
    if replay_speed is not None:
        delay = replay_lateness_ms(timings.get("recv_s", np.empty(0)), delay, float(replay_speed))
        delay_name = "Replay pacing lateness"
        delay_help = (
            "Replay: how late each message arrived against the recording's own clock, relative to the most "
            "punctual message of the pass. This is the replay's pacing, not a network delay."
        )
        note = (
            "This source is a replay: the exchange timestamps are from the recording, so 'feed delay' here "
            "is the replay's pacing lateness (loopback, same machine), not a network delay."
        )
    else:
        delay_name = "Feed delay"
        delay_help = (
            "Exchange event timestamp to local receipt: network delay plus the exchange's own publishing "
            "delay, and any clock offset between the exchange and this machine."
        )
        note = "Feed delay = local receipt time minus the exchange's event timestamp (includes any clock offset)."
    measures = (
        Measure(
            "parse_us",
            "Parse",
            "µs",
            "Decoding one message into price/size arrays (perf_counter). The "
            "compiled GoQuant parser also validates and builds the book in the same pass, so its whole "
            "time is here and Book update shows 0.",
            _finite(timings.get("parse_us")),
        ),
        Measure(
            "book_us",
            "Book update",
            "µs",
            "Validating the levels and building the immutable book "
            "snapshot with cumulative depth (Python path: OKX updates, or GoQuant messages the compiled "
            "parser leaves to Python).",
            _finite(timings.get("book_us")),
        ),
        Measure(
            "publish_us",
            "Store publish",
            "µs",
            "Swapping the new book into the shared store under its lock and recording the tick.",
            _finite(timings.get("publish_us")),
        ),
        Measure(
            "tick_cost_us",
            "Pricing per tick",
            "µs",
            "Pricing every order the open Simulator pages show "
            "(identical inputs shared) on one new book, on the feed thread (core.pricing.tracker).",
            _finite(timings.get("tick_cost_us")),
        ),
        Measure(
            "cost_us",
            "Explained estimate",
            "µs",
            "One full estimate with its explanations (methods, "
            "notes, calibration) as timed inside core.costs.estimate.estimate on each Simulator refresh.",
            _finite(timings.get("cost_us")),
        ),
        Measure("feed_delay_ms", delay_name, "ms", delay_help, _finite(delay)),
        Measure(
            "refresh_ms",
            "Page refresh",
            "ms",
            "Server-side time of one live-view rerun of a page (reading the store and building the elements).",
            _finite(timings.get("refresh_ms")),
        ),
    )
    rows = []
    for m in measures:
        rows.append({"measure": m.name, "unit": m.unit, "samples": int(m.values.size), **percentiles(m.values)})
    table = pd.DataFrame(rows, columns=["measure", "unit", "samples", "p50", "p90", "p99", "max"])
    secs, counts = (np.asarray(a, dtype=np.float64) for a in rate)
    keep = np.isfinite(secs) & np.isfinite(counts)
    rate_time = secs[keep].astype("int64").astype("datetime64[s]")
    return LatencyView(
        measures=measures,
        table=table,
        rate_time=rate_time,
        rate=counts[keep],
        replay=replay,
        delay_note=note,
    )


# ---- figures (plotly only; the page passes them to st.plotly_chart) -------------------------------
def _empty_note(fig: go.Figure, text: str) -> go.Figure:
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def histogram_figure(
    measures: tuple[Measure, ...] | list[Measure], *, title: str, bins: int = DEFAULT_BINS
) -> go.Figure:
    """Overlaid histograms of measures sharing one unit (bins from their pooled range)."""
    unit = measures[0].unit
    pooled = np.concatenate([m.values for m in measures]) if measures else np.empty(0)
    shared = histogram(pooled, bins)
    fig = go.Figure()
    notes = []
    for m in measures:
        if m.values.size == 0:
            notes.append(f"{m.name}: no samples yet")
            continue
        counts, _ = np.histogram(m.values[m.values <= shared.edges[-1]], bins=shared.edges)
        above = int((m.values > shared.edges[-1]).sum())
        if above:
            notes.append(f"{m.name}: {above} above {shared.edges[-1]:,.1f} {unit} (max {m.values.max():,.1f})")
        fig.add_bar(
            x=shared.centers,
            y=counts,
            width=shared.widths,
            name=m.name,
            opacity=0.6,
            hovertemplate=f"%{{x:,.1f}} {unit}: %{{y}} ticks<extra>{m.name}</extra>",
        )
    fig.update_layout(
        title=title,
        barmode="overlay",
        height=320,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title=unit,
        yaxis_title="ticks",
        legend=dict(orientation="h", y=-0.25),
    )
    if notes:
        fig.add_annotation(
            text="; ".join(notes),
            showarrow=False,
            xref="paper",
            yref="paper",
            x=1,
            y=1.08,
            xanchor="right",
            font=dict(size=10),
        )
    if shared.counts.size == 0:
        _empty_note(fig, "No samples yet")
    return fig


def rate_figure(view: LatencyView) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=view.rate_time,
            y=view.rate,
            mode="lines",
            name="messages/s",
            line_shape="hv",
            hovertemplate="%{x|%H:%M:%S} UTC: %{y} msg/s<extra></extra>",
        )
    )
    fig.update_layout(
        title="Messages per second (completed seconds)",
        height=280,
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis_title="time (UTC)",
        yaxis_title="msg/s",
    )
    if view.rate.size == 0:
        _empty_note(fig, "No completed seconds yet")
    return fig

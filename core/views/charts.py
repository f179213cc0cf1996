"""The Simulator's and the Market page's charts, as plain functions of their data (no streamlit: tested and reused).

A replay starts over at the end of its recording; the time-series charts then break their line (a gap, never a
straight line across it) and draw a vertical "replay restarted" marker, so a loop is never taken for a move.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.costs.order import SizeUnit
from core.views import simulator as sc
from core.views.formatting import bps, usd, usd_short


def breakdown_figure(view: sc.SimulatorView) -> go.Figure:
    """Waterfall: the temporary part and the market impact make up slippage (a subtotal), then fees (and a limit
    order's expected adverse selection and opportunity cost) make the net cost. Impact is never added twice."""
    t, e = view.breakdown, view.estimate
    assert t is not None and e is not None  # drawn only for a priced view
    how = dict(zip(t["component"], t["method"], strict=False))
    n = e.filled_usd
    rows = [
        ("Temporary<br>(reverts)", e.slippage_usd - e.impact_usd, "relative", "slippage minus market impact"),
        ("Market impact<br>(permanent)", e.impact_usd, "relative", how.get("  of which market impact (permanent)", "")),
        ("Slippage<br>(vs arrival mid)", e.slippage_usd, "total", how.get("Expected slippage (vs arrival mid)", "")),
        ("Fees", e.fee_usd, "relative", how.get("Fees", "")),
    ]
    if e.limit_price is not None:
        rows += [
            ("Adverse<br>selection", e.adverse_selection_usd, "relative", how.get("Adverse selection (limit)", "")),
            ("Opportunity<br>cost", e.opportunity_usd, "relative", how.get("Opportunity cost (limit)", "")),
        ]
    rows.append(("Net cost", e.net_cost_usd, "total", how.get("Net cost", "")))
    names, amounts, measures, methods = zip(*rows, strict=True)
    in_bps = [a / n * 1e4 if n > 0 else 0.0 for a in amounts]
    fig = go.Figure(
        go.Waterfall(
            x=list(names),
            y=in_bps,
            measure=list(measures),
            text=[f"{usd(u)}<br>{bps(b)}" for u, b in zip(amounts, in_bps, strict=True)],
            textposition="outside",
            hovertext=list(methods),
            connector={"line": {"color": "#c4c9d4"}},
            increasing={"marker": {"color": "#e8590c"}},
            decreasing={"marker": {"color": "#2f9e44"}},
            totals={"marker": {"color": "#1f6feb"}},
        )
    )
    fig.update_layout(
        title="Cost breakdown",
        yaxis_title="bps of notional",
        height=340,
        showlegend=False,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    fig.update_yaxes(rangemode="tozero")
    return fig


def depth_figure(view: sc.SimulatorView, base: str, quote: str) -> go.Figure:
    d = view.depth
    assert d is not None  # drawn only for a priced view
    fig = go.Figure()
    for frame, name, color in ((d.bids, "Bids", "#2f9e44"), (d.asks, "Asks", "#e03131")):
        fig.add_trace(
            go.Scatter(
                x=frame["price"],
                y=frame["cum_usd"],
                name=name,
                mode="lines",
                line={"shape": "hv", "color": color},
                fill="tozeroy",
                customdata=frame["cum_base"],
                hovertemplate=f"%{{x:,.2f}} {quote}<br>%{{y:$,.0f}} cumulative<br>%{{customdata:.4f}} {base}"
                f"<extra>{name}</extra>",
            )
        )
    lo, hi = sorted((d.fill_from, d.fill_to))
    fig.add_vrect(x0=lo, x1=hi, fillcolor="#ffd43b", opacity=0.4, line_width=1, line_color="#f59f00", layer="below")
    fig.add_vline(x=d.avg_price, line_dash="dash", line_color="#1b1f24")
    fig.add_vline(x=d.mid, line_dash="dot", line_color="#868e96")
    # legend entries for the shapes (shapes have none of their own)
    fill = f"fill range {lo:,.2f}–{hi:,.2f}" + (" (beyond visible depth)" if d.beyond_visible else "")
    for name, line in (
        (fill, {"color": "#ffd43b", "width": 10}),
        (f"average price {d.avg_price:,.2f}", {"color": "#1b1f24", "dash": "dash"}),
        (f"mid {d.mid:,.2f}", {"color": "#868e96", "dash": "dot"}),
    ):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=line, hoverinfo="skip"))
    fig.update_layout(
        title="Order book depth and this order's fill",
        height=340,
        hovermode="closest",
        xaxis_title=f"Price ({quote} per {base})",
        yaxis_title="Cumulative depth (USD)",
        legend=dict(orientation="h", y=-0.25),
        margin=dict(l=10, r=10, t=40, b=10),
    )
    fig.update_xaxes(range=list(d.x_range), tickformat=",.2~f")
    return fig


def curve_figure(view: sc.SimulatorView) -> go.Figure:
    c, e = view.curve, view.estimate
    assert c is not None and e is not None  # drawn only for a priced view
    inside = c[~c["beyond_visible"]]
    fig = go.Figure()
    hover = "%{x:$,.0f}: %{y:.2f} bps<extra></extra>"
    fig.add_trace(
        go.Scatter(
            x=c["size_usd"],
            y=c["net_bps"],
            mode="lines",
            name="beyond visible depth (extrapolated)",
            line={"color": "#adb5bd", "dash": "dash"},
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=inside["size_usd"],
            y=inside["net_bps"],
            mode="lines+markers",
            name="net cost",
            line={"color": "#1f6feb"},
            marker={"size": 4},
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[e.size if e.size_unit is SizeUnit.QUOTE else e.filled_usd],  # the axis is USD
            y=[e.net_cost_bps],
            mode="markers",
            name="this order",
            marker={"size": 12, "color": "#e8590c", "symbol": "diamond"},
            hovertemplate="this order %{x:$,.2f}: %{y:.2f} bps<extra></extra>",
        )
    )
    fig.update_layout(
        title="Net cost versus order size on the current book",
        height=320,
        xaxis_title="Order size (USD, log scale)",
        yaxis_title="Net cost (bps of notional)",
        legend=dict(orientation="h", y=-0.3),
        margin=dict(l=10, r=10, t=40, b=10),
    )
    ticks = [10.0**k for k in range(1, 8)]
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[usd_short(t) for t in ticks])
    return fig


# ---- replay restarts ----------------------------------------------------------------------------------

RESTART_LABEL = "replay restarted"


def steps_back(times: pd.Series | np.ndarray) -> np.ndarray:
    """True at each row whose (exchange) time is earlier than the row before: a replay started over there."""
    t = np.asarray(pd.Series(times).astype("int64") if isinstance(times, pd.Series) else times, dtype=np.float64)
    out = np.zeros(t.size, dtype=bool)
    if t.size > 1:
        out[1:] = t[1:] < t[:-1]
    return out


def with_gaps(frame: pd.DataFrame, x: str, breaks: np.ndarray) -> pd.DataFrame:
    """``frame`` with a row of missing values (at the next row's ``x``) before each break: the line stops there."""
    if not breaks.any():
        return frame
    gap = frame[breaks].copy()
    for c in gap.columns:
        if c != x:  # NaN keeps a numeric column numeric (sent as a typed array); plotly draws no line through it
            gap[c] = np.nan if pd.api.types.is_numeric_dtype(gap[c]) else None
    ordered = pd.concat([gap.assign(_k=0), frame.assign(_k=1)]).rename_axis("_i").reset_index()
    return ordered.sort_values(["_i", "_k"], kind="stable").drop(columns=["_i", "_k"]).reset_index(drop=True)


def mark_restarts(fig: go.Figure, times: Sequence) -> None:
    """A dotted vertical line and a label at each restart time (on the figure's x axis)."""
    for t in times:
        fig.add_shape(
            type="line", x0=t, x1=t, yref="paper", y0=0, y1=1, line={"color": "#7048e8", "dash": "dot", "width": 1}
        )
        fig.add_annotation(
            x=t, yref="paper", y=1, text=RESTART_LABEL, showarrow=False, yanchor="bottom", font={"color": "#7048e8"}
        )
    if len(times):  # one legend entry for all of them
        line = {"color": "#7048e8", "dash": "dot"}
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=RESTART_LABEL, line=line, hoverinfo="skip"))


def mid_figure(
    times_s: np.ndarray, mids: np.ndarray, restarts_s: Sequence[float], quote: str, *, max_points: int = 3000
) -> go.Figure:
    """The mid price on receive time (the last ``max_points`` books), broken and marked where the replay started
    over (``restarts_s``: receive times of the first book after each restart, ``core.runtime.Runtime.restarts``)."""
    times_s, mids = np.asarray(times_s)[-max_points:], np.asarray(mids)[-max_points:]
    t = pd.to_datetime(np.asarray(times_s, dtype=np.float64), unit="s", utc=True)
    frame = pd.DataFrame({"time": t, "mid": np.asarray(mids, dtype=np.float64)})
    marks = pd.to_datetime(np.asarray([r for r in restarts_s if len(t) and r >= times_s[0]]), unit="s", utc=True)
    breaks = frame["time"].isin(marks).to_numpy() & (np.arange(len(frame)) > 0)
    frame = with_gaps(frame, "time", breaks)
    fig = go.Figure()
    fig.add_scatter(
        x=frame["time"],
        y=frame["mid"],
        name="mid",
        mode="lines",
        line={"color": "#1f6feb", "width": 1.5},
        hovertemplate=f"%{{y:,.2f}} {quote}<extra></extra>",
    )
    mark_restarts(fig, list(marks))
    fig.update_layout(
        title="Mid price",
        yaxis_title=f"mid ({quote})",
        xaxis_title="time received (UTC, this machine's clock)",
        height=280,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.3),
    )
    fig.update_yaxes(tickformat=",.2f")
    return fig


# ---- the live view ------------------------------------------------------------------------------------


def ticks_figure(view: sc.SimulatorView, window: int = 300) -> go.Figure:
    """Net cost of this order on each of the last ``window`` books, with its slippage and impact parts.

    On receive time, which only moves forward; where the exchange time steps back (the replay started over)
    the lines break and a marker says so."""
    t = view.ticks.tail(window) if view.ticks is not None else None
    fig = go.Figure()
    if t is not None and len(t):
        breaks = steps_back(t["time_utc"])
        restarted = list(t["received_utc"][breaks])
        t = with_gaps(t.reset_index(drop=True), "received_utc", breaks)
        fig.add_scatter(
            x=t["received_utc"],
            y=t["net_cost_bps"],
            name="net cost",
            mode="lines",
            line={"color": "#1f6feb", "width": 2},
            customdata=t[["net_cost_usd", "mid"]],
            hovertemplate="%{y:.3f} bps ($%{customdata[0]:,.4f})<br>mid %{customdata[1]:,.2f}<extra></extra>",
        )
        fig.add_scatter(
            x=t["received_utc"],
            y=t["slippage_bps"],
            name="slippage",
            mode="lines",
            line={"color": "#e8590c", "width": 1},
        )
        fig.add_scatter(
            x=t["received_utc"], y=t["impact_bps"], name="impact", mode="lines", line={"color": "#868e96", "width": 1}
        )
        mark_restarts(fig, restarted)
    else:
        fig.add_annotation(
            text="Collecting ticks: this order is priced on each new book from now on.",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
        )
    fig.update_layout(
        title=f"This order on every book (last {min(len(view.ticks), window) if view.ticks is not None else 0} ticks)",
        yaxis_title="bps of notional",
        xaxis_title="time received (UTC, this machine's clock)",
        height=300,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", y=-0.3),
    )
    return fig

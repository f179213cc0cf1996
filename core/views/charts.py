"""The Simulator's and the Market page's charts, as plain functions of their data (no streamlit: tested and reused).

A replay starts over at the end of its recording; the time-series charts then break their line (a gap, never a
straight line across it) and draw a vertical "replay restarted" marker, so a loop is never taken for a move; a live
feed whose exchange time steps back gets the same break, marked "exchange time stepped back".

Each chart is a plain plotly spec (``*_spec``: a dict of traces and layout) and a ``go.Figure`` of it
(``*_figure``: validated by plotly, for tests and callers that want the object). A page sends the spec as a
``Prebuilt`` figure: plotly's per-property validation of a built figure costs tens of milliseconds a chart,
more than everything else a Simulator refresh does, and ``go.Figure(spec)`` in the tests checks the same spec.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.utils import convert_to_base64  # type: ignore[import-untyped]

from core.costs.order import SizeUnit
from core.views import simulator as sc
from core.views.formatting import bps, usd, usd_short

if TYPE_CHECKING:  # imported where a chart is built: the Simulator's first view builds none (issue 15, startup)
    import pandas as pd

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
#: an input's run keeps the charts on screen when the page refreshes at least this often (the next refresh
#: redraws them); slower, or paused, the input's run redraws them itself
HOLD_MAX_REFRESH_S = 2.0
#: ... and when the charts were sent within a refresh and this many seconds (the page is on screen; a visit
#: after longer draws the new order's charts at once)
HOLD_SLACK_S = 5.0
_TEMPLATES: dict[str, dict] = {}


class Prebuilt(go.Figure):
    """A finished figure dict that ``st.plotly_chart`` takes as a figure: it sends ``to_dict()`` as it is, so
    the chart goes out without plotly validating it again or deep-copying it on every refresh. Make the dict
    with ``finish`` (template and typed arrays as ``go.Figure(spec).to_dict()`` has them)."""

    def __init__(self, spec: dict) -> None:  # go.Figure.__init__ (the validation) is skipped on purpose
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


def _template() -> dict:
    """The default template's dict, as ``go.Figure`` adds it (Streamlit sets its own default when imported)."""
    name = str(pio.templates.default)
    if name not in _TEMPLATES:
        _TEMPLATES[name] = go.Figure().to_dict()["layout"].get("template", {})
    return _TEMPLATES[name]


def finish(spec: dict) -> dict:
    """``spec`` as ``go.Figure(spec).to_dict()`` gives it: numeric arrays as base64 typed arrays and the default
    template added (in place: pass a spec just built; the template dict is shared and never changed)."""
    convert_to_base64(spec)
    spec["layout"].setdefault("template", _template())
    return spec


def prebuilt(spec: dict) -> Prebuilt:
    return Prebuilt(finish(spec))


def _layout(title: str, height: int, **more: Any) -> dict:
    return {"title": {"text": title}, "height": height, "margin": dict(MARGIN), **more}


def _axis_title(text: str, **more: Any) -> dict:
    return {"title": {"text": text}, **more}


def _legend_line(name: str, line: dict) -> dict:
    """A legend entry for a shape (shapes have none of their own)."""
    return {
        "type": "scatter",
        "x": [None],
        "y": [None],
        "mode": "lines",
        "name": name,
        "line": line,
        "hoverinfo": "skip",
    }


def breakdown_spec(view: sc.SimulatorView) -> dict:
    """Waterfall: the temporary part and the market impact make up a market order's slippage (a subtotal), a limit
    order's its maker part and crossed rest; then fees (and a limit order's expected adverse selection and
    opportunity cost) make the net cost. Impact is never added twice."""
    t, e = view.breakdown, view.estimate
    assert t is not None and e is not None  # drawn only for a priced view
    how = {component: method for component, _, _, method in t}
    n = e.filled_usd
    if e.limit_price is None:
        rows = [
            ("Temporary<br>(reverts)", e.slippage_usd - e.impact_usd, "relative", "slippage minus market impact"),
            (
                "Market impact<br>(permanent)",
                e.impact_usd,
                "relative",
                how.get("  of which market impact (permanent)", ""),
            ),
        ]
    else:  # a limit order's slippage: the maker part (a gain) and the crossed rest (its impact inside it)
        rows = [
            (
                "Maker part<br>(limit price)",
                e.maker_part_usd,
                "relative",
                how.get("  of which maker part (at the limit price)", ""),
            )
        ]
        if e.crossed_usd > 0:
            rows.append(
                (
                    "Crossed rest<br>(book walk)",
                    e.walk_slippage_usd,
                    "relative",
                    f"{how.get('  of which crossed rest (book walk)', '')}; market impact {usd(e.impact_usd)} inside it",
                )
            )
    rows += [
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
    trace = {
        "type": "waterfall",
        "x": list(names),
        "y": in_bps,
        "measure": list(measures),
        "text": [f"{usd(u)}<br>{bps(b)}" for u, b in zip(amounts, in_bps, strict=True)],
        "textposition": "outside",
        "hovertext": list(methods),
        "connector": {"line": {"color": "#c4c9d4"}},
        "increasing": {"marker": {"color": "#e8590c"}},
        "decreasing": {"marker": {"color": "#2f9e44"}},
        "totals": {"marker": {"color": "#1f6feb"}},
    }
    layout = _layout("Cost breakdown", 340, showlegend=False, yaxis=_axis_title("bps of notional", rangemode="tozero"))
    return {"data": [trace], "layout": layout}


def breakdown_figure(view: sc.SimulatorView) -> go.Figure:
    return go.Figure(breakdown_spec(view))


def depth_spec(view: sc.SimulatorView, base: str, quote: str) -> dict:
    """Cumulative depth per side with the order's fill range, its average price and the mid marked."""
    d = view.depth
    assert d is not None  # drawn only for a priced view
    data: list[dict] = []
    for frame, name, color in ((d.bids, "Bids", "#2f9e44"), (d.asks, "Asks", "#e03131")):
        data.append(
            {
                "type": "scatter",
                "x": np.asarray(frame["price"]),
                "y": np.asarray(frame["cum_usd"]),
                "name": name,
                "mode": "lines",
                "line": {"shape": "hv", "color": color},
                "fill": "tozeroy",
                "customdata": np.asarray(frame["cum_base"]),
                "hovertemplate": f"%{{x:,.2f}} {quote}<br>%{{y:$,.0f}} cumulative<br>%{{customdata:.4f}} {base}"
                f"<extra>{name}</extra>",
            }
        )
    lo, hi = sorted((float(d.fill_from), float(d.fill_to)))
    span = {"xref": "x", "y0": 0, "y1": 1, "yref": "y domain"}  # what add_vrect / add_vline draw
    shapes = [
        {"type": "rect", "x0": lo, "x1": hi, **span, "fillcolor": "#ffd43b", "opacity": 0.4, "layer": "below"},
        {"type": "line", "x0": float(d.avg_price), "x1": float(d.avg_price), **span},
        {"type": "line", "x0": float(d.mid), "x1": float(d.mid), **span},
    ]
    shapes[0]["line"] = {"width": 1, "color": "#f59f00"}
    shapes[1]["line"] = {"dash": "dash", "color": "#1b1f24"}
    shapes[2]["line"] = {"dash": "dot", "color": "#868e96"}
    fill = f"fill range {lo:,.2f}–{hi:,.2f}" + (" (beyond visible depth)" if d.beyond_visible else "")
    for name, line in (
        (fill, {"color": "#ffd43b", "width": 10}),
        (f"average price {d.avg_price:,.2f}", {"color": "#1b1f24", "dash": "dash"}),
        (f"mid {d.mid:,.2f}", {"color": "#868e96", "dash": "dot"}),
    ):
        data.append(_legend_line(name, line))
    layout = _layout(
        "Order book depth and this order's fill",
        340,
        hovermode="closest",
        xaxis=_axis_title(f"Price ({quote} per {base})", range=[float(x) for x in d.x_range], tickformat=",.2~f"),
        yaxis=_axis_title("Cumulative depth (USD)"),
        legend={"orientation": "h", "y": -0.25},
        shapes=shapes,
    )
    return {"data": data, "layout": layout}


def depth_figure(view: sc.SimulatorView, base: str, quote: str) -> go.Figure:
    return go.Figure(depth_spec(view, base, quote))


def curve_spec(view: sc.SimulatorView) -> dict:
    """Net cost against order size on this book (log sizes), the extrapolated part dashed, this order marked."""
    c, e = view.curve, view.estimate
    assert c is not None and e is not None  # drawn only for a priced view
    inside = ~c["beyond_visible"].to_numpy(dtype=bool)
    # to 1e-4 bps: a flat curve (a mostly cancelled limit order costs the same bps at any size) must draw flat, not
    # as floating-point noise on an axis reading -1.1600530743189246
    size, net = c["size_usd"].to_numpy(), np.round(c["net_bps"].to_numpy(), 4)
    hover = "%{x:$,.0f}: %{y:.2f} bps<extra></extra>"
    data = [
        {
            "type": "scatter",
            "x": size,
            "y": net,
            "mode": "lines",
            "name": "beyond visible depth (extrapolated)",
            "line": {"color": "#adb5bd", "dash": "dash"},
            "hovertemplate": hover,
        },
        {
            "type": "scatter",
            "x": size[inside],
            "y": net[inside],
            "mode": "lines+markers",
            "name": "net cost",
            "line": {"color": "#1f6feb"},
            "marker": {"size": 4},
            "hovertemplate": hover,
        },
        {
            "type": "scatter",
            "x": [e.size if e.size_unit is SizeUnit.QUOTE else e.filled_usd],  # the axis is USD
            "y": [round(e.net_cost_bps, 4)],
            "mode": "markers",
            "name": "this order",
            "marker": {"size": 12, "color": "#e8590c", "symbol": "diamond"},
            "hovertemplate": "this order %{x:$,.2f}: %{y:.2f} bps<extra></extra>",
        },
    ]
    ticks = [10.0**k for k in range(1, 8)]
    layout = _layout(
        "Net cost versus order size on the current book",
        320,
        xaxis=_axis_title(
            "Order size (USD, log scale)", type="log", tickvals=ticks, ticktext=[usd_short(t) for t in ticks]
        ),
        yaxis=_axis_title("Net cost (bps of notional)"),
        legend={"orientation": "h", "y": -0.3},
    )
    return {"data": data, "layout": layout}


def curve_figure(view: sc.SimulatorView) -> go.Figure:
    return go.Figure(curve_spec(view))


# ---- replay restarts ----------------------------------------------------------------------------------

RESTART_LABEL = "replay restarted"
#: the same break on a live feed: its exchange time stepped back (a venue's clock correction, another server)
CLOCK_STEP_LABEL = "exchange time stepped back"
RESTART_COLOR = "#7048e8"


def restart_label(replay: bool) -> str:
    return RESTART_LABEL if replay else CLOCK_STEP_LABEL


def steps_back(times: pd.Series | np.ndarray) -> np.ndarray:
    """True at each row whose (exchange) time is earlier than the row before: a replay started over there."""
    import pandas as pd

    t = np.asarray(pd.Series(times).astype("int64") if isinstance(times, pd.Series) else times, dtype=np.float64)
    out = np.zeros(t.size, dtype=bool)
    if t.size > 1:
        out[1:] = t[1:] < t[:-1]
    return out


def with_gaps(frame: pd.DataFrame, x: str, breaks: np.ndarray) -> pd.DataFrame:
    """``frame`` with a row of missing values (at the next row's ``x``) before each break: the line stops there."""
    if not breaks.any():
        return frame
    import pandas as pd

    gap = frame[breaks].copy()
    for c in gap.columns:
        if c != x:  # NaN keeps a numeric column numeric (sent as a typed array); plotly draws no line through it
            gap[c] = np.nan if pd.api.types.is_numeric_dtype(gap[c]) else None
    ordered = pd.concat([gap.assign(_k=0), frame.assign(_k=1)]).rename_axis("_i").reset_index()
    return ordered.sort_values(["_i", "_k"], kind="stable").drop(columns=["_i", "_k"]).reset_index(drop=True)


def restart_marks(times: Sequence, label: str = RESTART_LABEL) -> tuple[list[dict], list[dict], list[dict]]:
    """A dotted vertical line and a label at each restart time (on the figure's x axis), and one legend entry
    for all of them: (shapes, annotations, traces) to add to a spec."""
    shapes = [
        {
            "type": "line",
            "x0": t,
            "x1": t,
            "yref": "paper",
            "y0": 0,
            "y1": 1,
            "line": {"color": RESTART_COLOR, "dash": "dot", "width": 1},
        }
        for t in times
    ]
    notes = [
        {
            "x": t,
            "yref": "paper",
            "y": 1,
            "text": label,
            "showarrow": False,
            "yanchor": "bottom",
            "font": {"color": RESTART_COLOR},
        }
        for t in times
    ]
    legend = [_legend_line(label, {"color": RESTART_COLOR, "dash": "dot"})] if len(times) else []
    return shapes, notes, legend


def _add_restarts(spec: dict, times: Sequence, replay: bool = True) -> dict:
    shapes, notes, legend = restart_marks(times, restart_label(replay))
    if shapes:
        spec["layout"]["shapes"] = shapes
        spec["layout"]["annotations"] = notes
    spec["data"] += legend
    return spec


def _utc(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC instants as plotly's validation stores them (naive datetime64, sent as ISO strings)."""
    import pandas as pd

    t = pd.DatetimeIndex(times)
    return (t.tz_convert(None) if t.tz is not None else t).to_numpy()


def mid_spec(
    times_s: np.ndarray,
    mids: np.ndarray,
    restarts_s: Sequence[float],
    quote: str,
    *,
    max_points: int = 3000,
    replay: bool = True,
) -> dict:
    """The mid price on receive time (the last ``max_points`` books), broken and marked where the replay started
    over (``restarts_s``: receive times of the first book after each restart, ``core.runtime.Runtime.restarts``),
    or, on a live feed (``replay`` False), where its exchange time stepped back."""
    import pandas as pd

    times_s, mids = np.asarray(times_s)[-max_points:], np.asarray(mids)[-max_points:]
    t = pd.to_datetime(np.asarray(times_s, dtype=np.float64), unit="s", utc=True)
    frame = pd.DataFrame({"time": t, "mid": np.asarray(mids, dtype=np.float64)})
    marks = pd.to_datetime(np.asarray([r for r in restarts_s if len(t) and r >= times_s[0]]), unit="s", utc=True)
    breaks = frame["time"].isin(marks).to_numpy() & (np.arange(len(frame)) > 0)
    frame = with_gaps(frame, "time", breaks)
    trace = {
        "type": "scatter",
        "x": _utc(frame["time"]),
        "y": frame["mid"].to_numpy(),
        "name": "mid",
        "mode": "lines",
        "line": {"color": "#1f6feb", "width": 1.5},
        "hovertemplate": f"%{{y:,.2f}} {quote}<extra></extra>",
    }
    layout = _layout(
        "Mid price",
        280,
        yaxis=_axis_title(f"mid ({quote})", tickformat=",.2f"),
        xaxis=_axis_title("time received (UTC, this machine's clock)"),
        legend={"orientation": "h", "y": -0.3},
    )
    return _add_restarts({"data": [trace], "layout": layout}, list(marks), replay)


def mid_figure(*args: Any, **kwargs: Any) -> go.Figure:
    """``mid_spec``'s chart as a plotly figure (validated: for tests)."""
    return go.Figure(mid_spec(*args, **kwargs))


# ---- the live view ------------------------------------------------------------------------------------


def ticks_spec(view: sc.SimulatorView, window: int = 300) -> dict:
    """Net cost of this order on each of the last ``window`` books, with its slippage and impact parts.

    On receive time, which only moves forward; where the exchange time steps back (the replay started over)
    the lines break and a marker says so."""
    t = view.ticks.tail(window) if view.ticks is not None else None
    layout = _layout(
        f"This order on every book (last {min(len(view.ticks), window) if view.ticks is not None else 0} ticks)",
        300,
        yaxis=_axis_title("bps of notional"),
        xaxis=_axis_title("time received (UTC, this machine's clock; hover a point for the book's own time)"),
        legend={"orientation": "h", "y": -0.3},
    )
    if t is None or not len(t):
        layout["annotations"] = [
            {
                "text": "Collecting ticks: this order is priced on each new book from now on.",
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
            }
        ]
        return {"data": [], "layout": layout}
    breaks = steps_back(t["time_utc"])
    restarted = list(t["received_utc"][breaks])
    t = with_gaps(t.reset_index(drop=True), "received_utc", breaks)
    x = _utc(t["received_utc"])
    lines = [("net cost", "net_cost_bps", "#1f6feb", 2), ("slippage", "slippage_bps", "#e8590c", 1)]
    lines.append(("impact", "impact_bps", "#868e96", 1))
    data = [
        {
            "type": "scatter",
            "x": x,
            "y": t[column].to_numpy(),
            "name": name,
            "mode": "lines",
            "line": {"color": color, "width": width},
        }
        for name, column, color, width in lines
    ]
    import pandas as pd  # see the imports

    # the book's own (exchange) time in the hover: a replay's books are from the recording's day, not from now
    stamped = pd.to_datetime(t["time_utc"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3].fillna("")
    data[0]["customdata"] = np.column_stack([t["net_cost_usd"].to_numpy(), t["mid"].to_numpy(), stamped.to_numpy()])
    data[0]["hovertemplate"] = (
        "%{y:.3f} bps ($%{customdata[0]:,.4f})<br>mid %{customdata[1]:,.2f}<br>book time %{customdata[2]} UTC "
        "(exchange)<extra></extra>"
    )
    return _add_restarts({"data": data, "layout": layout}, restarted, view.replay)


def ticks_figure(view: sc.SimulatorView, window: int = 300) -> go.Figure:
    return go.Figure(ticks_spec(view, window))


# ---- one set of charts for every session showing the same order (shared by core.views.shared) ----------------


def simulator_figures(view: sc.SimulatorView, base: str, quote: str) -> dict[str, Prebuilt]:
    """The Simulator's four charts of a priced view (with its curve), ready to send."""
    return {
        "breakdown": prebuilt(breakdown_spec(view)),
        "depth": prebuilt(depth_spec(view, base, quote)),
        "ticks": prebuilt(ticks_spec(view)),
        "curve": prebuilt(curve_spec(view)),
    }


@dataclass(frozen=True)
class ShownCharts:
    """The charts a session sent last: for which order (``key``), when, and whether they were held (an earlier
    order's charts kept through an input's run, see ``hold_charts``)."""

    key: Hashable
    charts: Any
    sent_s: float  # monotonic time of the run that sent them last
    held: bool = False


def hold_charts(
    shown: ShownCharts | None, key: Hashable, *, now_s: float, timed: bool, refresh_s: float | None
) -> bool:
    """Whether an input's run (a full run, ``timed`` False) sends the charts on screen again, unchanged, and leaves
    the new order's charts to the next timed refresh.

    Why: a changed plotly chart is drawn afresh in the browser (Streamlit gives it a new identity, Plotly's
    newPlot), about 60 ms a chart on the benchmark machine. The new charts reached the browser within the same
    few milliseconds as the cards, so the frame that shows the new cards waited for four redraws (0.4-0.55 s
    from the click instead of 0.2 s, benchmarks/ANALYSIS.md). Unchanged figures keep their identity and cost the
    browser nothing. Held at most once in a row (a second input before the refresh redraws), only while the page
    refreshes at ``HOLD_MAX_REFRESH_S`` or faster and sent charts within a refresh and ``HOLD_SLACK_S``."""
    if timed or shown is None or shown.held or shown.key == key or refresh_s is None:
        return False
    return refresh_s <= HOLD_MAX_REFRESH_S and now_s - shown.sent_s <= refresh_s + HOLD_SLACK_S

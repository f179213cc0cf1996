"""Replay restarts: the store records where the feed's clock went back; the charts break their line there."""

import math

import numpy as np
import pandas as pd

from core.feed.store import BookStore
from core.views.charts import RESTART_LABEL, mid_figure, steps_back, with_gaps
from core.views.market import restart_note
from tests.unit.test_store import snap


def test_the_store_records_each_restart_and_keeps_the_chart_history_across_it():
    st = BookStore()
    st.begin(source="replay", url="", exchange="binance-futures", symbol="BTCUSDT")
    for i in (0, 1, 2, 0, 1):  # the recording starts over after the third book
        st.publish(snap(i))
    assert st.restarts() == (1000.0,)  # the receive time of the first book after the restart
    t, _ = st.mids()
    assert t.tolist() == [1.0, 1.001]  # the volatility history restarts
    recv, mids = st.mid_chart()
    assert recv.tolist() == [1000.0, 1001.0, 1002.0, 1000.0, 1001.0] and mids.size == 5
    st.begin(source="replay", url="", exchange="binance-futures", symbol="BTCUSDT")
    assert st.restarts() == () and st.mid_chart()[0].size == 0  # a new source starts clean


def test_a_gap_row_goes_before_each_step_back_and_nowhere_else():
    frame = pd.DataFrame({"x": [1, 2, 3, 4, 5], "y": [1.0, 2.0, 3.0, 4.0, 5.0], "ts": [10, 11, 3, 4, 1]})
    breaks = steps_back(frame["ts"].to_numpy())
    assert breaks.tolist() == [False, False, True, False, True]
    out = with_gaps(frame, "x", breaks)
    assert out["x"].tolist() == [1, 2, 3, 3, 4, 5, 5]
    assert out["y"].isna().tolist() == [False, False, True, False, False, True, False]
    assert out["y"].dtype == float and out["x"].tolist() == [1, 2, 3, 3, 4, 5, 5]
    assert with_gaps(frame, "x", np.zeros(5, dtype=bool)) is frame


def test_the_mid_chart_marks_a_restart_and_the_note_says_it_in_words():
    recv = np.array([100.0, 101.0, 102.0, 103.0])
    fig = mid_figure(recv, np.array([1.0, 2.0, 3.0, 4.0]), [102.0], "USDT")
    y = list(fig.data[0].y)
    assert sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in y) == 1 and len(y) == 5
    assert [a.text for a in fig.layout.annotations] == [RESTART_LABEL]
    assert restart_note((), 0.0, replay=True) is None
    assert restart_note((100.0,), 1000.0, replay=True) is None  # long ago: the marker is enough
    note = restart_note((100.0,), 110.0, replay=True, volatility_restarting=True, default_vol=0.5)
    assert "The replay restarted 10 s ago" in note and "default 50% a year" in note
    live = restart_note((100.0,), 110.0, replay=False)  # a live feed's clock stepping back: the corrections restart
    assert "exchange time stepped back 10 s ago" in live and "online corrections" in live


def test_a_live_feeds_step_back_is_not_called_a_replay_restart():
    """Walkthrough 17b: a live feed's exchange time stepping back was drawn as "replay restarted"."""
    from core.views.charts import CLOCK_STEP_LABEL

    recv = np.array([100.0, 101.0, 102.0, 103.0])
    fig = mid_figure(recv, np.array([1.0, 2.0, 3.0, 4.0]), [102.0], "USDT", replay=False)
    assert [a.text for a in fig.layout.annotations] == [CLOCK_STEP_LABEL]
    assert [t.name for t in fig.data if t.name != "mid"] == [CLOCK_STEP_LABEL]  # and its legend entry
    assert CLOCK_STEP_LABEL != RESTART_LABEL


def test_the_runtime_tells_a_replay_by_its_books_source_as_a_bus_replica_must():
    """Review 18: a bus replica runs no replay itself (``rt.replay`` is None) while its ingest's replayed books carry
    "replay" across the bus; the Market page's label and note follow the books, as the tick chart does."""
    from dataclasses import replace

    from core.feed.client import Feed
    from core.runtime import Runtime

    rt = Runtime(Feed())
    assert rt.replay is None and not rt.is_replay("binance-futures", "BTCUSDT")  # no book, no replay here
    rt.feed.store.publish(replace(snap(0), source="replay"))
    assert rt.is_replay("binance-futures", "BTCUSDT")
    rt.feed.store.publish(replace(snap(1, symbol="ETHUSDT"), source="okx"))
    assert not rt.is_replay("binance-futures", "ETHUSDT")

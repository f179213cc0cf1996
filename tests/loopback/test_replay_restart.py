"""A replay that loops is marked where it starts over: a tiny recording, looping fast, through the real feed."""

from __future__ import annotations

import math
import time
from dataclasses import replace

from core.feed.config import FeedConfig, Source
from core.feed.recording import RecordingWriter
from core.market.instruments import get_instrument
from core.runtime import Runtime
from core.views import compare as cmp
from core.views import inputs as vi
from core.views import simulator as sc
from core.views.charts import RESTART_LABEL, mid_figure, ticks_figure
from tests.conftest import wait_for

FUT = get_instrument("binance-futures", "BTCUSDT")


def gaps(values) -> int:
    """Missing values between drawn ones: where a line stops."""
    return sum(1 for v in values if v is None or (isinstance(v, float) and math.isnan(v)))


def test_a_replay_loop_is_signalled_and_the_charts_break_their_line(feed, tmp_path, recorded_messages):
    path = tmp_path / "tiny.jsonl.gz"
    with RecordingWriter(path) as w:
        for m in recorded_messages[:30]:  # about 3 s recorded
            w.write(m)
    rt = Runtime(feed)
    scenario = vi.parse_inputs(
        replace(vi.RawInputs(), quantity_usd=50_000.0), exchange=FUT.exchange, market="swap", limit_available=False
    )
    track = rt.track(
        sc.track_key(scenario, FUT.exchange, FUT.symbol, None),
        lambda: sc.pricer_for(scenario, None),
        exchange=FUT.exchange,
        symbol=FUT.symbol,
    )
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(path), replay_speed=10.0))  # loops every ~0.3 s
    assert wait_for(lambda: len(rt.restarts(FUT.exchange, FUT.symbol)) >= 2, 30), rt.status()
    server = feed._server
    assert server is not None and server.loops >= 2  # the server started over, and the store saw it

    # the volatility history restarts at the loop: only exchange times after the last restart, never going back
    t, _ = rt.mids(FUT.exchange, FUT.symbol)
    assert t.size and (t[1:] >= t[:-1]).all()
    recv, mids = rt.mid_chart(FUT.exchange, FUT.symbol)
    assert recv.size > t.size  # the chart keeps the books before the restart
    restarts = rt.restarts(FUT.exchange, FUT.symbol)
    mid = mid_figure(recv, mids, restarts, "USDT")
    assert gaps(mid.data[0].y) >= 2 and any(a.text == RESTART_LABEL for a in mid.layout.annotations)

    time.sleep(0.2)
    snap = rt.latest(FUT.exchange, FUT.symbol)
    view = sc.compute_view(snap, scenario, ticks=rt.figures(track), mid_history=rt.mids(FUT.exchange, FUT.symbol))
    fig = ticks_figure(view)
    net = fig.data[0]
    assert net.name == "net cost" and gaps(net.y) >= 2  # no line across the loop
    assert sum(a.text == RESTART_LABEL for a in fig.layout.annotations) == gaps(net.y)
    assert view.ticks["received_utc"].is_monotonic_increasing and not view.ticks["time_utc"].is_monotonic_increasing

    # the page says so in words, with the volatility restarting (a 3 s recording never reaches 30 returns)
    _, note = cmp.live_lines(view, restarts, now_s=time.time(), replay=rt.replay is not None)
    assert note is not None and "The replay restarted" in note
    assert "Volatility restarting after the replay looped" in note

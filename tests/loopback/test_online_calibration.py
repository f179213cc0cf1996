"""The runtime runs the online calibration on the replay of a bundled recording with trades, over a real loopback
WebSocket, and starts it over (or stops it) when the source changes."""

from __future__ import annotations

import time

from core.feed.config import FeedConfig, Source, tape_of
from core.feed.replay import bundled_recordings
from core.pricing.calibration import CalibrationState
from core.runtime import Runtime

DEADLINE_S = 60.0


def wait_for(fn, deadline_s: float = DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        out = fn()
        if out:
            return out
        time.sleep(0.2)
    return fn()


def test_the_replay_tape_moves_the_served_models(feed, slice_file, monkeypatch):
    monkeypatch.setattr("core.runtime.CALIBRATION_LOAD_DELAY_S", 0.0)  # the app waits 10 s; no need here
    held = next(r for r in bundled_recordings() if r.path.name == "binance-futures_BTCUSDT_20240718.jsonl.gz")
    rt = Runtime(feed)
    try:
        rt.start(FeedConfig(source=Source.REPLAY, replay_file=str(held.path), replay_speed=20.0, replay_loop=False))
        assert tape_of(rt.config) == (held.trades, ("binance-futures", "BTCUSDT"))
        loaded = rt.models()
        assert loaded.models.slippage.band is not None and loaded.models.maker_taker.share is not None
        st = wait_for(lambda: (s := rt.calibration()) and s.taker_orders >= 50 and s.resting_orders >= 50 and s)
        assert st and st.state is CalibrationState.LEARNING and st.tape == held.trades.name
        assert any(v != 0.0 for v in loaded.models.slippage.band.state().shifts)
        # a recording without a tape (a visitor's slice): the trackers start over at 0 and stay there
        rt.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=0, replay_loop=False))
        st = rt.calibration()
        assert st is not None and st.state is CalibrationState.OFF and st.taker_orders == 0
        assert all(v == 0.0 for v in loaded.models.slippage.band.state().shifts)
    finally:
        rt.close()

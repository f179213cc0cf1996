"""A replay on a shared clock, served from a lazily opened recording (no index, as the app's default replay
now is) and from one read through: over a real WebSocket, each first sends the book of the clock's instant at
once, then the recording's next messages in order, never one past the window, and starts over at its end."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect

from core.feed.recording import load_recording
from core.feed.replay import ReplayClock, ReplayServer, default_recording, open_replay

WINDOW_MS = 4_000  # a short window of the default recording, so a loop happens within the test
SPEED = 4.0  # a 1 s period
OFFSET_MS = 1_500  # the clock's instant when the client connects, into the window


async def _receive(rec, clock: ReplayClock, count: int) -> tuple[list[bytes], float, float, int]:
    async with ReplayServer(rec, clock=clock) as server:
        before = clock.recorded_ms()
        async with connect(server.url, max_size=None, compression=None) as ws:
            got = [await asyncio.wait_for(ws.recv(decode=False), 10)]
            after = clock.recorded_ms()
            for _ in range(count - 1):
                got.append(await asyncio.wait_for(ws.recv(decode=False), 10))
        return got, before, after, server.loops


@pytest.mark.parametrize("how", ["lazy", "read_through"])
def test_a_clocked_replay_starts_at_the_instant_and_loops_within_its_window(how):
    path = default_recording().path
    eager = load_recording(path)
    rec = open_replay(path) if how == "lazy" else eager
    ts, messages = eager.ts_ms.tolist(), eager.messages
    start = eager.start_ms + 2_000
    end = start + WINDOW_MS
    clock = ReplayClock(start, end, epoch_s=time.monotonic() - OFFSET_MS / 1000.0 / SPEED, speed=SPEED)
    in_window = [i for i, t in enumerate(ts) if t <= end]
    count = len([i for i in in_window if ts[i] >= start]) + 5  # into the second pass, not through it
    got, before, after, loops = asyncio.run(_receive(rec, clock, count))

    first = messages.index(got[0])
    assert ts[first] <= after and ts[first + 1] > before  # the newest book at or before the instant it joined at
    last = in_window[-1]
    assert got[: last - first + 1] == list(messages[first : last + 1])  # then every later one, in order, to the end
    rest = got[last - first + 1 :]
    restart = messages.index(rest[0])  # the next pass starts with the book at the window's start (just after it)
    assert ts[restart] <= start + 250 and ts[restart + 1] > start
    assert rest[1:] == list(messages[restart + 1 : restart + len(rest)])
    assert loops >= 1
    assert not rec.indexed or how == "read_through"  # serving it never built the index

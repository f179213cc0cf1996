"""The protocol load generator of `make load` (``benchmarks/sessions.py``) against a real app process.

One real ``streamlit run app.py`` (under the benchmark's timed launcher, the bundled replay as its source) on
a free loopback port; ``ProtocolSession`` opens pages over ``/_stcore/stream`` as a browser tab does. Checked:
the server sends the fragment's ``auto_rerun`` and the session's timer then gets fragment runs (each one seen
both by the client, as ``script_finished``, and by the server's timer), with no exception on the page; a
session that closes stops sending. Every wait is bounded; nothing asserts a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from benchmarks.sessions import ProtocolSession, TimedApp
from tests.conftest import wait_for

DEADLINE_S = 90.0  # a shared 2-core machine: a first page run can take many seconds


@pytest.fixture(scope="module")
def app() -> Iterator[TimedApp]:
    running = TimedApp({"TCS_SOURCE": "replay"}).start(timeout_s=120)
    try:
        yield running
    finally:
        running.stop()


async def _session_until(app: TimedApp, page: str, fragment_runs: int) -> ProtocolSession:
    s = await ProtocolSession(app.url, page).open(timeout_s=DEADLINE_S)
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE_S
        while len(s.fragment_runs) < fragment_runs and loop.time() < end and not s.errors:
            await asyncio.sleep(0.2)
    finally:
        await s.close()
    return s


def _server_fragment_runs(app: TimedApp) -> int:
    return sum(1 for r in app.timings_doc()["runs"] if r[3])


def test_market_session_gets_auto_reruns_like_a_browser(app: TimedApp) -> None:
    before = _server_fragment_runs(app)
    s = asyncio.run(_session_until(app, "market", 4))
    assert s.errors == []
    assert s.page_script_hash  # the server named the Market page in new_session
    assert len(s.full_runs) == 1  # opening the page: one full run, then fragment runs only
    assert len(s.fragment_runs) >= 4, (s.reruns_sent, s.messages)
    assert s.reruns_sent >= 4  # the first rerun opened the page; the timer sent the others
    assert s.auto_reruns == {}  # closed: no timer left behind
    # the server's timer saw them too (the timings file is rewritten once a second)
    assert wait_for(lambda: _server_fragment_runs(app) - before >= len(s.fragment_runs) - 1, timeout=10)


def test_simulator_session_runs_its_fragments(app: TimedApp) -> None:
    s = asyncio.run(_session_until(app, "", 3))  # the default page, as a browser opening the root URL
    assert s.errors == []
    assert len(s.fragment_runs) >= 3


def test_closed_session_sends_nothing_more(app: TimedApp) -> None:
    async def run() -> tuple[int, int]:
        s = await ProtocolSession(app.url, "market").open(timeout_s=DEADLINE_S)
        await asyncio.sleep(2.5)
        await s.close()
        sent = s.reruns_sent
        await asyncio.sleep(2.5)
        return sent, s.reruns_sent

    sent, later = asyncio.run(run())
    assert sent >= 2 and later == sent

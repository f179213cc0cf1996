"""`make load-cluster`'s protocol sessions (``benchmarks.cluster_load.StickySession``) through a real cluster.

A real redis-server, a real ingest, two real Streamlit replicas and a real haproxy on free loopback ports
(``core.cluster.Cluster``, as the benchmark starts it). Four protocol sessions on the Market page open through
haproxy as a browser does (the page's HTML, then the websocket with haproxy's cookie) and stay until each has
had a few live-view redraws. Checked: every session got a cookie, and every answer it had (HTML, websocket
upgrade, a later request with the cookie) came from that replica; haproxy spread the sessions over both
replicas; each replica's own count of active sessions equals the sessions whose cookie names it; the sessions
saw books (the Book time metric) and no errors. Every wait is bounded; nothing asserts a time.
"""

from __future__ import annotations

import asyncio
import shutil
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest

from benchmarks.cluster_load import StickySession, _page_get, open_protocol_sessions
from core.cluster import Cluster
from tests.loopback.test_cluster import installed

DEADLINE_S = 120.0  # a shared 2-core machine: a first page run through the proxy can take many seconds
SESSIONS = 4
REDRAWS = 3


pytestmark = pytest.mark.skipif(
    not (installed("haproxy") and installed("redis-server")),
    reason="haproxy or redis-server is not installed (`make test` installs both from Debian)",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("cluster-sessions")
    running = Cluster(replicas=2, port=0, feeds=["replay:binance:BTCUSDT"], speed=10, logs=logs)
    try:
        yield running.start()
    finally:
        running.stop()
        shutil.rmtree(logs, ignore_errors=True)


def _active_sessions(port: int) -> int | None:
    url = f"http://127.0.0.1:{port}/_stcore/metrics?families=active_sessions"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return next((int(x.split()[-1]) for x in text.splitlines() if x.startswith("active_sessions ")), None)


async def _run(url: str, cluster: Cluster) -> tuple[list[StickySession], dict[str, int | None], list]:
    sessions = await open_protocol_sessions(url, SESSIONS, ["market"], concurrency=2, deadline_s=DEADLINE_S)
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + DEADLINE_S
        while loop.time() < end and any(len(s.fragment_runs) < REDRAWS and not s.errors for s in sessions):
            await asyncio.sleep(0.2)
        active = {r.name: await asyncio.to_thread(_active_sessions, r.port) for r in cluster.replicas}
        later = [await asyncio.to_thread(_page_get, f"{url.rstrip('/')}/market", s.cookie) for s in sessions]
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
    return sessions, active, later


def test_protocol_sessions_through_haproxy_stay_on_their_cookies_replica(cluster: Cluster) -> None:
    sessions, active, later = asyncio.run(_run(cluster.url, cluster))
    assert [s.errors for s in sessions] == [[]] * SESSIONS
    cookies = [s.cookie for s in sessions]
    assert set(cookies) == {"app1", "app2"}, cookies  # round robin for requests without the cookie
    for s, (served_later, new_cookie) in zip(sessions, later, strict=True):
        assert s.served_by == [s.cookie, s.cookie], s.served_by  # the HTML answer and the websocket upgrade
        assert served_later == s.cookie and new_cookie is None  # a request with the cookie: same replica
        assert len(s.fragment_runs) >= REDRAWS, (s.index, s.reruns_sent, s.messages)
        assert s.book_times, s.index  # the Book time metric reached the session
    # the replicas' own count agrees with the cookies: no session was opened twice or landed elsewhere
    assert active == dict(Counter(cookies)), (active, cookies)


def test_the_session_records_what_the_page_shows(cluster: Cluster) -> None:
    """The Book time read from the protocol is a time of day from the recording, as the browser shows it."""

    async def one() -> StickySession:
        s = await StickySession(cluster.url, "market").open(timeout_s=DEADLINE_S)
        try:
            end = asyncio.get_running_loop().time() + DEADLINE_S
            while len(s.book_times) < 2 and asyncio.get_running_loop().time() < end:
                await asyncio.sleep(0.2)
        finally:
            await s.close()
        return s

    s = asyncio.run(one())
    assert len(s.book_times) >= 2
    texts = [t for t, _ in s.book_times]
    assert all(len(t) == 12 and t[2] == ":" and t[5] == ":" and t[8] == "." for t in texts), texts
    assert len(set(texts)) == len(texts)  # only changes are recorded, as the browser's observer does
    assert s.tick_ages and all(age >= 0 for age, _ in s.tick_ages)

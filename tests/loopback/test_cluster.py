"""`make cluster` with the real parts: ``python -m core.cluster`` as a subprocess starting a real redis-server,
a real ingest, two real Streamlit replicas and a real haproxy; every request goes through the proxy.

The replica that answered is named by haproxy's ``X-Served-By`` header (the same name as the stickiness
cookie's value). Every wait is bounded; no test asserts a time beyond its generous deadline. The tests share
one cluster and run in file order; the last one stops it with SIGTERM.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.sync.client import connect

from core.cluster import ClusterError, program
from tests.conftest import ROOT, wait_for

COOKIE = "TCS_REPLICA"
START_DEADLINE_S = 120.0


def installed(name: str) -> bool:
    try:
        program(name)
    except ClusterError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not (installed("haproxy") and installed("redis-server")),
    reason="haproxy or redis-server is not installed (`make test` installs both from Debian)",
)


@dataclass(frozen=True)
class Answer:
    status: int
    served_by: str
    cookie: str | None  # the stickiness cookie's value when the answer sets it


@dataclass
class RunningCluster:
    proc: subprocess.Popen[str]
    url: str
    pids: dict[str, int]
    lines: list[str]
    logs: Path


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for c in map(int, children):
            out.add(c)
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    logs = tmp_path_factory.mktemp("cluster")
    args = [sys.executable, "-m", "core.cluster", "--replicas", "2", "--port", "0"]
    args += ["--feed", "replay:binance:BTCUSDT", "--speed", "10", "--logs", str(logs)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    url = ""
    try:
        while not url:
            try:
                line = lines.get(timeout=START_DEADLINE_S)
            except queue.Empty:
                pytest.fail(f"the cluster did not come up in {START_DEADLINE_S:.0f} s: {seen}")
            seen.append(line.rstrip())
            if m := re.search(r"cluster up: open (\S+)", line):
                url = m.group(1).rstrip("/")
            assert proc.poll() is None or not lines.empty(), f"the launcher exited: {seen}"
        pids = {m.group(1): int(m.group(2)) for s in seen if (m := re.match(r"started (\S+) pid (\d+)", s))}
        yield RunningCluster(proc=proc, url=url, pids=pids, lines=seen, logs=logs)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def get(url: str, cookie: str | None = None) -> Answer:
    req = urllib.request.Request(url, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        set_cookies = resp.headers.get_all("Set-Cookie") or []
        mine = [m.group(1) for c in set_cookies if (m := re.match(rf"{COOKIE}=([^;]+)", c))]
        return Answer(status=resp.status, served_by=resp.headers["X-Served-By"], cookie=mine[0] if mine else None)


def test_every_part_runs_and_health_answers_through_the_proxy(cluster: RunningCluster):
    assert set(cluster.pids) == {"redis-server", "ingest", "app1", "app2", "haproxy"}, cluster.lines
    assert set(cluster.pids.values()) <= descendants(cluster.proc.pid)
    assert get(cluster.url + "/_stcore/health").status == 200


def test_a_first_request_gets_the_cookie_and_later_ones_stay_on_its_replica(cluster: RunningCluster):
    first = get(cluster.url + "/")
    assert first.status == 200
    assert first.cookie in {"app1", "app2"}
    assert first.served_by == first.cookie
    answers = [get(cluster.url + "/", first.cookie) for _ in range(10)]
    assert {a.served_by for a in answers} == {first.cookie}
    assert all(a.cookie is None for a in answers)  # a request carrying the cookie is not given a new one


def test_requests_without_the_cookie_are_spread_over_both_replicas(cluster: RunningCluster):
    answers = [get(cluster.url + "/_stcore/health") for _ in range(6)]
    assert {a.served_by for a in answers} == {"app1", "app2"}
    assert all(a.cookie == a.served_by for a in answers)


def test_redis_listens_on_loopback_only_and_refuses_clients_without_the_generated_password(cluster: RunningCluster):
    import psutil
    import redis

    url = next(m.group(1) for s in cluster.lines if (m := re.match(r"redis (redis://\S+);", s)))
    environ = Path(f"/proc/{cluster.pids['ingest']}/environ").read_bytes().split(b"\0")
    password = next(v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"TCS_BUS_PASSWORD="))
    assert len(password) >= 24
    listening = {c.laddr.ip for c in psutil.Process(cluster.pids["redis-server"]).net_connections("tcp")}
    assert listening == {"127.0.0.1"}
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url, socket_timeout=5).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(url, password="guess", socket_timeout=5).ping()
    client = redis.Redis.from_url(url, password=password, socket_timeout=5)
    assert wait_for(lambda: client.xlen("book:binance:BTCUSDT") > 0, 30)  # the ingest publishes with it
    for name, pid in cluster.pids.items():  # never on a command line, in the launcher's output or a log
        assert password not in " ".join(psutil.Process(pid).cmdline()), name
    assert not any(password in line for line in cluster.lines)
    assert not any(password in f.read_text(errors="replace") for f in cluster.logs.iterdir() if f.is_file())


@pytest.mark.parametrize("replica", ["app1", "app2"])
def test_the_websocket_upgrade_goes_through_to_the_cookies_replica(cluster: RunningCluster, replica: str):
    ws_url = cluster.url.replace("http://", "ws://") + "/_stcore/stream"
    with connect(
        ws_url, additional_headers={"Cookie": f"{COOKIE}={replica}"}, subprotocols=["streamlit"], open_timeout=30
    ) as ws:
        assert ws.response is not None
        assert ws.response.status_code == 101
        assert ws.response.headers["X-Served-By"] == replica


def test_sigterm_stops_every_child(cluster: RunningCluster):
    everyone = descendants(cluster.proc.pid)
    assert set(cluster.pids.values()) <= everyone
    os.kill(cluster.proc.pid, signal.SIGTERM)
    assert cluster.proc.wait(60) == 0
    assert wait_for(lambda: not any(alive(p) for p in everyone), 10), [p for p in everyone if alive(p)]

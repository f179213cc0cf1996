"""`python -m core.cluster` (`make cluster`): the several-process deployment on one machine, on loopback.

Starts, in order, redis-server on a free loopback port (no persistence, a password generated for this run
and given to the ingest and replicas in their environment, never printed), one ingest (``python -m core.ingest``)
publishing to it, N Streamlit app replicas reading from it (``TCS_BUS``), and haproxy in front with
cookie stickiness (``deploy/haproxy.cfg.in``: Streamlit keeps a session in one process, so a browser must
stay on one replica). Prints the URL, then watches: Ctrl-C, SIGTERM or any child exiting stops everything,
proxy first and Redis last. Children run in their own session (a terminal's Ctrl-C reaches only this
launcher, which stops them in order) and get SIGTERM from the kernel if the launcher itself dies, so no
process outlives it. Their output goes to files in the printed log directory, with the generated config.

    python -m core.cluster --replicas 3 --port 8500
    python -m core.cluster --print-config --replicas 2    # the haproxy config only
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from core.paths import ROOT

TEMPLATE = ROOT / "deploy" / "haproxy.cfg.in"
HEALTH = "/_stcore/health"
STOP_GRACE_S = 10.0  # a child that has not exited this long after SIGTERM is killed


def replica_instruments(feeds: Sequence[str]) -> str:
    """``TCS_BUS_INSTRUMENTS`` for the replicas from the ingest's ``--feed`` specs (``source[:exchange:symbol]``;
    a bare ``replay`` is the default recording's instrument, as the ingest reads it)."""
    out = []
    for spec in feeds:
        _, _, instrument = spec.strip().partition(":")
        if not instrument:
            from core.feed.replay import default_recording  # only for a bare replay

            rec = default_recording()
            instrument = f"{rec.exchange}:{rec.symbol}"
        out.append(instrument)
    return ",".join(out)


class ClusterError(RuntimeError):
    """The cluster could not start (a program missing, a part not answering in time)."""


@dataclass(frozen=True)
class Replica:
    """One app replica behind the proxy: its name (the stickiness cookie's value) and loopback port."""

    name: str
    port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def program(name: str) -> str:
    """The path of a Debian program; haproxy lives in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ClusterError(f"{name} is not installed (`make {name.split('-')[0]}` installs Debian's)")
    return found


def haproxy_config(replicas: Sequence[Replica], *, port: int, bind: str = "127.0.0.1") -> str:
    """The proxy's config: the template with the listening address and one ``server`` line per replica."""
    servers = "\n".join(f"    server {r.name} 127.0.0.1:{r.port} cookie {r.name}" for r in replicas)
    return string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(bind=bind, port=port, servers=servers)


def answers_http(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def answers_ping(port: int, password: str | None = None) -> bool:
    client = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the launcher dies, however it dies (Linux prctl)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


class Cluster:
    """The processes of one cluster run, started in order and stopped in reverse."""

    def __init__(
        self,
        *,
        replicas: int = 3,
        port: int = 8500,
        bind: str = "127.0.0.1",
        feeds: Sequence[str] = (),
        speed: float = 1.0,
        logs: Path | None = None,
        start_timeout_s: float = 120.0,
        metrics: bool = False,
    ) -> None:
        """``metrics``: each replica exports its store's figures and thread names to ``logs/metrics-{name}.json``
        (``TCS_METRICS_FILE``; the load and soak benchmarks read them)."""
        if replicas < 1:
            raise ClusterError("the cluster needs at least one replica")
        self.replicas = [Replica(f"app{i + 1}", free_port()) for i in range(replicas)]
        self.port = port or free_port()
        self.bind = bind
        self.feeds = list(feeds)
        self.speed = speed
        self.logs = logs or Path(tempfile.gettempdir()) / f"tcs-cluster-{os.getpid()}"
        self.start_timeout_s = start_timeout_s
        self.metrics = metrics
        self.redis_port = free_port()
        #: this run's Redis password (``requirepass``): handed to the children in their environment
        #: (``TCS_BUS_PASSWORD``), to redis-server on its stdin, never on a command line or in a log
        self.redis_password = secrets.token_urlsafe(24)
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = threading.Event()

    @property
    def bus_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in {"0.0.0.0", "::", ""} else self.bind
        return f"http://{host}:{self.port}/"

    def _spawn(
        self, name: str, args: Sequence[str], *, env: dict[str, str] | None = None, stdin: bytes | None = None
    ) -> None:
        """Start one child; ``stdin`` is written to its standard input (the secret config of redis-server)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                list(args),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin)
            proc.stdin.close()
        self.procs.append((name, proc))
        print(f"started {name} pid {proc.pid}", flush=True)

    def _wait(self, what: str, cond: Callable[[], bool]) -> None:
        end = time.monotonic() + self.start_timeout_s
        while not cond():
            if self.stopping.is_set():
                raise ClusterError(f"stopped while waiting for {what}")
            if (dead := self.exited()) is not None:
                raise ClusterError(f"{dead} exited while waiting for {what} (see {self.logs})")
            if time.monotonic() > end:
                raise ClusterError(f"{what} did not answer within {self.start_timeout_s:.0f} s (see {self.logs})")
            time.sleep(0.1)

    def start(self) -> Cluster:
        haproxy = program("haproxy")
        self._start_redis()
        env = {**os.environ, "TCS_BUS": self.bus_url, "TCS_BUS_PASSWORD": self.redis_password, "PYTHONUNBUFFERED": "1"}
        feeds = [a for f in self.feeds for a in ("--feed", f)]
        self._spawn("ingest", [sys.executable, "-m", "core.ingest", "--speed", str(self.speed), *feeds], env=env)
        if self.feeds:  # the replicas read what the ingest publishes, not their default instruments
            env["TCS_BUS_INSTRUMENTS"] = replica_instruments(self.feeds)
        for r in self.replicas:
            streamlit = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(r.port)]
            own = {**env, "TCS_METRICS_FILE": str(self.metrics_file(r.name))} if self.metrics else env
            # no source watcher: a deployed replica never reloads its code, and on a machine where files change
            # (a checkout being edited) every session would be told its source changed
            opts = ["--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
            self._spawn(r.name, [*streamlit, *opts], env=own)
        for r in self.replicas:
            self._wait(r.name, functools.partial(answers_http, f"http://127.0.0.1:{r.port}{HEALTH}"))
        cfg = self.logs / "haproxy.cfg"
        cfg.write_text(haproxy_config(self.replicas, port=self.port, bind=self.bind), encoding="utf-8")
        self._spawn("haproxy", [haproxy, "-db", "-f", str(cfg)])
        self._wait("haproxy", functools.partial(answers_http, self.url.rstrip("/") + HEALTH))
        return self

    def metrics_file(self, name: str) -> Path:
        return self.logs / f"metrics-{name}.json"

    def pid(self, name: str) -> int:
        return next(proc.pid for n, proc in self.procs if n == name)

    def _start_redis(self) -> None:
        # loopback only, protected mode, a password read from stdin (`-`), no persistence
        args = ["--port", str(self.redis_port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
        args += ["--save", "", "--appendonly", "no"]
        conf = f"requirepass {self.redis_password}\n".encode()
        self._spawn("redis-server", [program("redis-server"), "-", *args], stdin=conf)
        self._wait("redis-server", lambda: answers_ping(self.redis_port, self.redis_password))

    def restart_redis(self, down_s: float) -> None:
        """Kill redis-server (SIGKILL: nothing kept), wait ``down_s``, start it again empty on the same port
        with the same password (the soak's fault: ingest and replicas must reconnect by themselves)."""
        i, (_, proc) = next((i, p) for i, p in enumerate(self.procs) if p[0] == "redis-server")
        proc.kill()
        proc.wait()
        del self.procs[i]
        time.sleep(down_s)
        self._start_redis()
        self.procs.insert(0, self.procs.pop())  # stopped last again

    def exited(self) -> str | None:
        """The first child that has exited, as ``name (exit status N)``; None while all run."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                return f"{name} (exit status {proc.returncode})"
        return None

    def stop(self) -> None:
        """SIGTERM each child, proxy first and Redis last; kill the ones still there after the grace."""
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    print(f"{name} ignored SIGTERM for {STOP_GRACE_S:.0f} s: killed", flush=True)
                    proc.kill()
                    proc.wait()
        self.procs.clear()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.cluster", description=__doc__.splitlines()[0])
    p.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "3")), help="app replicas")
    p.add_argument("--port", type=int, default=8500, help="the proxy's port (0 = any free port)")
    p.add_argument("--bind", default="127.0.0.1", help="the proxy's address (0.0.0.0 to serve other machines)")
    p.add_argument(
        "--feed", action="append", default=[], help="passed to core.ingest (default: each bundled instrument)"
    )
    p.add_argument("--speed", type=float, default=1.0, help="replay pace, passed to core.ingest")
    p.add_argument("--logs", type=Path, default=None, help="children's output and haproxy.cfg (default: a temp dir)")
    p.add_argument("--print-config", action="store_true", help="print the haproxy config and exit")
    args = p.parse_args(argv)
    try:
        cluster = Cluster(
            replicas=args.replicas, port=args.port, bind=args.bind, feeds=args.feed, speed=args.speed, logs=args.logs
        )
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(haproxy_config(cluster.replicas, port=cluster.port, bind=cluster.bind), end="")
        return 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: cluster.stopping.set())  # before any child starts: a stop is never lost
    print(f"logs and haproxy.cfg: {cluster.logs}", flush=True)
    status = 0
    try:
        cluster.start()
        names = ", ".join(f"{r.name}=127.0.0.1:{r.port}" for r in cluster.replicas)
        print(f"redis {cluster.bus_url}; replicas {names}", flush=True)
        print(f"cluster up: open {cluster.url} ; Ctrl-C to stop", flush=True)
        while not cluster.stopping.wait(0.5):
            if (dead := cluster.exited()) is not None:
                print(f"{dead} exited: stopping the cluster (see {cluster.logs})", file=sys.stderr, flush=True)
                status = 1
                break
    except ClusterError as exc:
        if cluster.stopping.is_set():  # Ctrl-C or SIGTERM while starting: a normal stop
            print(str(exc), flush=True)
        else:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            status = 1
    finally:
        cluster.stop()
        print("cluster stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

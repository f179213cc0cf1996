"""Sessions per app process: a load generator that speaks Streamlit's own WebSocket protocol.

Thirty headless Chromium tabs cannot run on a 2-core box next to the server, so the server-side figure
comes from ``ProtocolSession``: one browser tab as Streamlit's frontend (1.67) talks to the server over
``/_stcore/stream``, without rendering anything. It opens a page as a browser does on a deep link
(``rerun_script`` with the page's name, then the page's script hash), and emulates
``st.fragment(run_every=...)`` as the frontend's ``App.handleAutoRerun`` does: a ``ForwardMsg.auto_rerun``
(interval, fragment id) starts a timer that sends a ``rerun_script`` BackMsg with that ``fragment_id`` and
``is_auto_rerun`` every interval (one timer per fragment, replaced when the interval changes, all cleared by
a full run's ``new_session`` and by ``stop_auto_rerun``). It keeps the frontend's ForwardMsg cache (cacheable
messages by hash, aged per finished run, ``cached_message_hashes`` in every rerun), so the server sends
references where a browser would get them. What it leaves out: widget values (the browser sends the current
value of every widget on screen; here the server keeps them from the session's previous run, the same values
while nobody types), rendering and the browser's own requests (media, host config, health).

The app runs under ``serve``: ``streamlit run`` with a timer around each script run (thread CPU time and
wall time of ``ScriptRunner._run_script``, fragment or full) and, once a second, the CPU time of every live
thread by name, written to ``TCS_SESSIONS_TIMINGS``; with ``TCS_SESSIONS_PROFILE`` the script threads' stacks
are also sampled every 2 ms and the counts written there. The app's code is unchanged.

    python -m benchmarks.sessions measure            # both modes, Simulator and Market (make load)
    python -m benchmarks.sessions compare            # one Chromium session vs one protocol session
    python -m benchmarks.sessions profile --page simulator

Two deployments, the app pinned to core 0 and everything else (load generator, replay server, Redis,
ingest) to core 1: ``embedded`` (the feed thread in the app process, books from a replay server at 10x) and
``replica`` (``TCS_BUS``: books from Redis, published by ``python -m core.ingest`` replaying at 10x). Per
page, sessions are added in steps of 10 until a step fails: a session misses a refresh (no fragment run
finished for 2 intervals) or the books the app takes per second fall under 95 % of what is offered.
Bounded in time and count, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"simulator": "", "market": "market"}  # page -> the URL path a browser opens (the default page: "")
STEP = 10
TARGET_SESSIONS = 30  # issue 15: sessions one app process serves at a 1 s refresh
MISS_INTERVALS = 2.0  # a session misses a refresh when no fragment run finished for this many intervals
FEED_SHARE = 0.95  # the feed keeps up while it takes at least this share of the offered books per second
TIMINGS_ENV = "TCS_SESSIONS_TIMINGS"
PROFILE_ENV = "TCS_SESSIONS_PROFILE"
CPROFILE_ENV = "TCS_SESSIONS_CPROFILE"  # a path: fragment runs under cProfile, summed, written there (pstats)
MACHINE = "a 2-core box"


# ---- the protocol client -------------------------------------------------------------------------------------
@dataclass
class _Cached:
    run_count: int
    fragment_id: str


@dataclass
class ProtocolSession:
    """One browser tab on ``page`` (``""`` = the default page), as Streamlit's frontend talks to the server."""

    base_url: str  # http://127.0.0.1:port
    page: str = ""
    page_script_hash: str = ""
    max_cached_message_age: int = 2
    #: monotonic times the session saw a fragment run finish (FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
    fragment_runs: list[float] = field(default_factory=list)
    full_runs: list[float] = field(default_factory=list)
    reruns_sent: int = 0
    messages: int = 0
    bytes_in: int = 0
    cache_hits: int = 0
    errors: list[str] = field(default_factory=list)
    auto_reruns: dict[str, tuple[float, asyncio.Task]] = field(default_factory=dict)
    _cache: dict[str, _Cached] = field(default_factory=dict)
    _cache_runs: int = 0
    _new_session_seen: bool = False
    _run_fragments: tuple[str, ...] = ()
    _ws: Any = None
    _reader: asyncio.Task | None = None
    first_run: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"

    async def open(self, timeout_s: float = 120.0) -> ProtocolSession:
        """Connect and request the page's first (full) run; returns once that run finished."""
        import websockets

        # the frontend sends "streamlit" (then an XSRF token and a session id to resume, neither needed here);
        # without an Origin header the server accepts the socket like any non-browser client
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None, compression=None)  # type: ignore[list-item]
        self._reader = asyncio.create_task(self._read())
        await self._send_rerun(page_name=self.page)
        await asyncio.wait_for(self.first_run.wait(), timeout_s)
        return self

    async def close(self) -> None:
        for _, task in self.auto_reruns.values():
            task.cancel()
        self.auto_reruns.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    def _context(self) -> Any:
        from streamlit.proto.ClientState_pb2 import ContextInfo

        return ContextInfo(
            timezone="UTC",
            timezone_offset=0,
            locale="en-US",
            url=f"{self.base_url.rstrip('/')}/{self.page}",
            is_embedded=False,
            color_scheme="light",
        )

    async def _send_rerun(self, *, page_name: str = "", fragment_id: str = "", auto: bool = False) -> None:
        """``App.sendRerunBackMsg``: the current page's hash (or, before the first run, the page's name)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ClientState_pb2 import ClientState

        state = ClientState(
            query_string="",
            page_script_hash=self.page_script_hash,
            page_name="" if self.page_script_hash else page_name,
            fragment_id=fragment_id,
            is_auto_rerun=auto,
            cached_message_hashes=list(self._cache),
            context_info=self._context(),
        )
        self._new_session_seen = False  # as the frontend: a rerun sent mid-run stops that run from aging the cache
        self.reruns_sent += 1
        await self._ws.send(BackMsg(rerun_script=state).SerializeToString())

    async def _auto_rerun(self, fragment_id: str, interval_s: float) -> None:
        """``setInterval(() => sendUpdateWidgetsMessage(fragmentId, true), interval * 1000)``."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += interval_s
            await asyncio.sleep(max(0.0, due - loop.time()))
            with contextlib.suppress(Exception):  # a closed socket ends the session through the reader
                await self._send_rerun(fragment_id=fragment_id, auto=True)

    def _clear_auto_reruns(self, fragment_ids: Sequence[str] | None = None) -> None:
        for fid in list(self.auto_reruns) if fragment_ids is None else fragment_ids:
            item = self.auto_reruns.pop(fid, None)
            if item is not None:
                item[1].cancel()

    async def _read(self) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        try:
            async for data in self._ws:
                self.messages += 1
                self.bytes_in += len(data)
                self._handle(ForwardMsg.FromString(data))
        except Exception as exc:  # the socket closed under us: recorded, never raised into the event loop
            if not isinstance(exc, asyncio.CancelledError):
                self.errors.append(f"connection: {type(exc).__name__}: {exc}")

    def _handle(self, msg: Any) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kind = msg.WhichOneof("type")
        if msg.metadata.cacheable and msg.hash and msg.hash not in self._cache:
            self._cache[msg.hash] = _Cached(self._cache_runs, msg.delta.fragment_id if kind == "delta" else "")
        if kind == "ref_hash":
            if msg.ref_hash in self._cache:
                self.cache_hits += 1
            else:
                self.errors.append(f"cache miss {msg.ref_hash}")
        elif kind == "new_session":
            self._new_session_seen = True
            self.page_script_hash = msg.new_session.page_script_hash
            self.max_cached_message_age = msg.new_session.config.max_cached_message_age or 2
            self._run_fragments = tuple(msg.metadata.run.fragment_ids)
            if not self._run_fragments:  # a full run: the frontend's cleanupAutoReruns
                self._clear_auto_reruns()
        elif kind == "delta":
            if (
                msg.delta.WhichOneof("type") == "new_element"
                and msg.delta.new_element.WhichOneof("type") == "exception"
            ):
                self.errors.append(f"exception: {msg.delta.new_element.exception.message[:200]}")
        elif kind == "auto_rerun":
            fid, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fid and (fid not in self.auto_reruns or self.auto_reruns[fid][0] != interval):
                self._clear_auto_reruns([fid])
                self.auto_reruns[fid] = (interval, asyncio.create_task(self._auto_rerun(fid, interval)))
        elif kind == "stop_auto_rerun":
            self._clear_auto_reruns(list(msg.stop_auto_rerun.fragment_ids))
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {msg.page_not_found.page_name}")
        elif kind == "script_finished":
            status = msg.script_finished
            now = time.monotonic()
            if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_runs.append(now)
            elif status == ForwardMsg.FINISHED_SUCCESSFULLY:
                self.full_runs.append(now)
                self.first_run.set()
            elif status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                self.errors.append("compile error")
            if status != ForwardMsg.FINISHED_EARLY_FOR_RERUN and self._new_session_seen:
                self._age_cache(tuple(msg.metadata.run.fragment_ids) or self._run_fragments)

    def _age_cache(self, fragment_ids: tuple[str, ...]) -> None:
        """``ForwardMsgCache.incrementRunCount``: a fragment run ages only that fragment's messages."""
        self._cache_runs += 1
        for h, c in list(self._cache.items()):
            if fragment_ids and (not c.fragment_id or c.fragment_id not in fragment_ids):
                continue
            if self._cache_runs - c.run_count > self.max_cached_message_age:
                del self._cache[h]

    def longest_gap_s(self, start: float, end: float) -> float:
        """The longest time in [start, end] without a fragment run finishing (the window's edges count)."""
        times = [start, *(t for t in self.fragment_runs if start <= t <= end), end]
        return float(np.max(np.diff(times)))


# ---- the timed server ------------------------------------------------------------------------------------------
def serve(argv: Sequence[str]) -> None:
    """``streamlit <argv>`` with every script run timed (and sampled with ``TCS_SESSIONS_PROFILE``)."""
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.web import cli

    out = Path(os.environ[TIMINGS_ENV])
    prof_path = os.environ.get(PROFILE_ENV)
    lock = threading.Lock()
    # (end wall time s, thread CPU ms, wall ms, fragment 0/1, the fragments run: their ids, comma-separated)
    runs: list[tuple[float, float, float, int, str]] = []
    original = script_runner.ScriptRunner._run_script
    cprof_path = os.environ.get(CPROFILE_ENV)
    cstats: list[Any] = []  # one pstats.Stats summing every fragment run's profile

    def timed(self: Any, rerun_data: Any) -> None:
        c0, w0 = time.thread_time(), time.perf_counter()
        prof = None
        if cprof_path and rerun_data.fragment_id_queue:
            import cProfile

            prof = cProfile.Profile(time.thread_time)  # this thread's CPU, not time spent waiting for the GIL
            prof.enable()
        try:
            original(self, rerun_data)
        finally:
            if prof is not None:
                import pstats

                prof.disable()
                with lock:
                    if cstats:
                        cstats[0].add(prof)
                    else:
                        cstats.append(pstats.Stats(prof))
            cpu_ms, wall_ms = (time.thread_time() - c0) * 1e3, (time.perf_counter() - w0) * 1e3
            with lock:
                frags = ",".join(rerun_data.fragment_id_queue)
                runs.append((time.time(), cpu_ms, wall_ms, int(bool(frags)), frags))

    script_runner.ScriptRunner._run_script = timed  # type: ignore[method-assign]
    sampler = StackSampler() if prof_path else None

    def dump() -> None:
        tmp = out.with_suffix(".tmp")
        while True:
            time.sleep(1.0)
            threads: dict[str, float] = {}
            for t in threading.enumerate():
                with contextlib.suppress(Exception):  # a thread that ended meanwhile
                    cpu = time.clock_gettime(time.pthread_getcpuclockid(t.ident))  # type: ignore[arg-type]
                    name = re.sub(r"[-_]\d+(_\d+)?$", "", t.name)  # pool workers by pool
                    threads[name] = threads.get(name, 0.0) + cpu
            with lock:
                doc = {"pid": os.getpid(), "written_at": time.time(), "runs": list(runs), "threads_cpu_s": threads}
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, out)
            if sampler is not None and prof_path:
                Path(prof_path).write_text(json.dumps(sampler.result()))
            if cprof_path and cstats:
                with lock:
                    cstats[0].dump_stats(cprof_path)

    threading.Thread(target=dump, name="tcs-sessions-timings", daemon=True).start()
    if sampler is not None:
        sampler.start()
    sys.argv = ["streamlit", *argv]
    cli.main()


class StackSampler:
    """Samples the stacks of Streamlit's script threads every ``period_s`` (a small py-spy, in process):
    per function, the samples it was on the stack (inclusive) and at the top (self). cProfile would charge
    every Python call, which inflates call-heavy code (plotly's validators) against numpy; sampling does not."""

    def __init__(self, period_s: float = 0.002) -> None:
        self.period_s = period_s
        self.samples = 0
        self.inclusive: dict[str, int] = {}
        self.own: dict[str, int] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, name="tcs-sessions-sampler", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.period_s)
            script = {t.ident for t in threading.enumerate() if t.name.startswith("ScriptRunner") and t.ident}
            frames = sys._current_frames()
            with self._lock:
                for ident in script:
                    frame = frames.get(ident or 0)
                    if frame is None:
                        continue
                    self.samples += 1
                    seen: set[str] = set()
                    top = True
                    while frame is not None:
                        code = frame.f_code
                        key = f"{_short(code.co_filename)}:{code.co_firstlineno}({code.co_name})"
                        if top:
                            self.own[key] = self.own.get(key, 0) + 1
                            top = False
                        if key not in seen:
                            seen.add(key)
                            self.inclusive[key] = self.inclusive.get(key, 0) + 1
                        frame = frame.f_back

    def result(self) -> dict:
        with self._lock:
            return {"samples": self.samples, "inclusive": dict(self.inclusive), "own": dict(self.own)}


def _pin(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (threads started later inherit their creator's affinity)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), cpus)


def _cores() -> tuple[set[int], set[int]] | None:
    """(the app's core, everything else's): core 0 and core 1 where there are two; None on one core."""
    return ({0}, {1}) if (os.cpu_count() or 1) >= 2 else None


def _free_port() -> int:
    from core.cluster import free_port

    return free_port()


@dataclass
class TimedApp:
    """``streamlit run app.py`` under ``serve`` on a free port, pinned to the app's core."""

    env: dict[str, str]
    cpus: set[int] | None = None
    profile: Path | None = None
    port: int = field(default_factory=_free_port)
    timings: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tcs-sessions-")) / "timings.json")
    metrics: Path = field(init=False)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.metrics = self.timings.with_name("metrics.json")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> TimedApp:
        env = {**os.environ, **self.env, TIMINGS_ENV: str(self.timings), "TCS_METRICS_FILE": str(self.metrics)}
        if self.profile is not None:
            env[PROFILE_ENV] = str(self.profile)
        args = ["run", "app.py", "--server.port", str(self.port), "--server.address", "127.0.0.1"]
        args += ["--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
        pin = ["taskset", "-c", ",".join(map(str, sorted(self.cpus)))] if self.cpus else []
        cmd = [*pin, sys.executable, "-m", "benchmarks.sessions", "serve", "--", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_http(f"{self.url}/_stcore/health", timeout_s, self.proc)
        return self

    def stop(self) -> None:
        _stop(self.proc)

    def cpu_s(self) -> float:
        assert self.proc is not None
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def timings_doc(self) -> dict:
        return _read_json(self.timings)

    def books(self) -> int:
        return int(_read_json(self.metrics)["status"]["books"])


def _read_json(path: Path, tries: int = 50) -> dict:
    for _ in range(tries):
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(path.read_text()))
        time.sleep(0.1)
    raise RuntimeError(f"nothing readable in {path}")


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited ({proc.returncode})")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- the two deployments ---------------------------------------------------------------------------------------
def _offered_per_s(speed: float) -> float:
    from core.feed.replay import default_recording

    rec = default_recording()
    span_s = (datetime.fromisoformat(rec.end) - datetime.fromisoformat(rec.start)).total_seconds()
    return rec.messages / span_s * speed


class Deployment:
    """The app process under test and its feed; ``fed()`` counts the books offered to it so far."""

    mode = ""
    app: TimedApp

    def __init__(self, speed: float, profile: Path | None = None, app_env: dict[str, str] | None = None) -> None:
        """``app_env``: more environment for the app (``STREAMLIT_RUNNER_POST_SCRIPT_GC=true`` for an A/B)."""
        self.speed = speed
        self.profile = profile
        self.app_env = dict(app_env or {})
        self.cores = _cores()

    def __enter__(self) -> Deployment:
        try:
            self.start()
            asyncio.run(self._first_visit())
        except BaseException:
            self.stop()
            raise
        return self

    async def _first_visit(self) -> None:
        """The app builds its runtime (feed or bus reader, metrics export) on a first page run, as after a
        deploy's first visitor; the session leaves and the feed keeps running."""
        s = await ProtocolSession(self.app.url).open()
        await s.close()
        _read_json(self.app.metrics, tries=300)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def fed(self) -> int | None:
        """Books published to the app so far by its source (None where only the nominal rate is known)."""
        return None

    def _others(self, pid: int) -> None:
        if self.cores:
            _pin(pid, self.cores[1])


class Embedded(Deployment):
    """The feed thread in the app process, fed by a replay server (``python -m core.replay``) on loopback."""

    mode = "embedded"

    def start(self) -> None:
        port = _free_port()
        cmd = [sys.executable, "-m", "core.replay", "--port", str(port), "--speed", str(self.speed), "--loop"]
        self.replay = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._others(self.replay.pid)
        url = None
        assert self.replay.stdout is not None
        for line in self.replay.stdout:  # "serving ws://127.0.0.1:PORT/PATH (speed ...)"
            if m := re.search(r"serving (ws://\S+)", line):
                url = m.group(1)
                break
        if url is None:
            raise RuntimeError("the replay server did not start")
        env = {"TCS_SOURCE": "goquant", "TCS_FEED_URL": url, **self.app_env}
        self.app = TimedApp(env, self.cores[0] if self.cores else None, self.profile).start()

    def stop(self) -> None:
        if hasattr(self, "app"):
            self.app.stop()
        if hasattr(self, "replay"):
            _stop(self.replay)


class Replica(Deployment):
    """An app replica (``TCS_BUS``) fed from Redis by ``python -m core.ingest``, as ``make cluster`` runs them."""

    mode = "replica"

    def start(self) -> None:
        import redis

        from core.cluster import Cluster
        from core.feed.replay import default_recording

        rec = default_recording()
        self.key = (rec.exchange, rec.symbol)
        logs = Path(tempfile.mkdtemp(prefix="tcs-sessions-bus-"))
        # the cluster's own Redis (loopback, password on stdin) and ingest; this benchmark's timed app is the replica
        self.cluster = Cluster(replicas=1, port=0, feeds=["replay"], speed=self.speed, logs=logs)
        self.cluster._start_redis()
        env = {**os.environ, "TCS_BUS": self.cluster.bus_url, "TCS_BUS_PASSWORD": self.cluster.redis_password}
        ingest = [sys.executable, "-m", "core.ingest", "--speed", str(self.speed), "--feed", "replay"]
        self.cluster._spawn("ingest", ingest, env={**env, "PYTHONUNBUFFERED": "1"})
        for _, proc in self.cluster.procs:
            self._others(proc.pid)
        self.redis = redis.Redis.from_url(self.cluster.bus_url, password=self.cluster.redis_password, socket_timeout=2)
        bus_env = {k: env[k] for k in ("TCS_BUS", "TCS_BUS_PASSWORD")}
        bus_env["TCS_BUS_INSTRUMENTS"] = f"{rec.exchange}:{rec.symbol}"
        self.app = TimedApp({**bus_env, **self.app_env}, self.cores[0] if self.cores else None, self.profile).start()

    def stop(self) -> None:
        if hasattr(self, "app"):
            self.app.stop()
        if hasattr(self, "cluster"):
            self.cluster.stop()

    def fed(self) -> int | None:
        from core.feed.bus import status_key

        doc = self.redis.get(status_key(*self.key))
        return int(json.loads(doc)["messages"]) if doc else None


# ---- the measurement --------------------------------------------------------------------------------------------
class Window:
    """What the app did between two instants: CPU, script runs (from the server's timer), books taken and fed."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.t0, self.mono0 = time.time(), time.monotonic()
        self.cpu0, self.books0, self.fed0 = dep.app.cpu_s(), dep.app.books(), dep.fed()
        self.threads0 = dep.app.timings_doc()["threads_cpu_s"]

    def close(self) -> dict:
        dep = self.dep
        cpu1, books1, fed1 = dep.app.cpu_s(), dep.app.books(), dep.fed()
        t1, mono1 = time.time(), time.monotonic()
        time.sleep(1.2)  # the timings file is rewritten once a second
        doc = dep.app.timings_doc()
        runs = [r for r in doc["runs"] if self.t0 <= r[0] <= t1]
        frag = [r for r in runs if r[3]]
        secs = t1 - self.t0
        threads = {
            k: round((v - self.threads0.get(k, 0.0)) / secs * 100, 1)
            for k, v in doc["threads_cpu_s"].items()
            if v - self.threads0.get(k, 0.0) > 0.01 * secs
        }
        self.mono1 = mono1
        return {
            "seconds": round(secs, 1),
            "cpu_percent": round((cpu1 - self.cpu0) / secs * 100, 1),
            "books_per_s": round((books1 - self.books0) / secs, 1),
            "fed_per_s": round((fed1 - self.fed0) / secs, 1) if fed1 is not None and self.fed0 is not None else None,
            "runs": len(runs),
            "fragment_runs": len(frag),
            "runs_per_s": round(len(runs) / secs, 2),
            "fragment_cpu_ms": [round(r[1], 3) for r in frag],
            "fragment_ids": [r[4] if len(r) > 4 else "" for r in frag],
            "fragment_wall_ms": [round(r[2], 3) for r in frag],
            "thread_cpu_percent": threads,  # live threads only: script threads end with their run
        }


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if len(values) else None


def _summary(w: dict) -> dict:
    cpu, wall, ids = w.pop("fragment_cpu_ms"), w.pop("fragment_wall_ms"), w.pop("fragment_ids")
    by: dict[str, list[float]] = {}
    for c, i in zip(cpu, ids, strict=True):  # the same fragment has the same id in every session of a page
        by.setdefault(i[:12], []).append(c)
    return {
        **w,
        "run_cpu_ms": {"p50": _pct(cpu, 50), "p99": _pct(cpu, 99), "n": len(cpu)},
        # per fragment (a page may have several timed fragments: the Simulator's live view and sidebar status)
        "run_cpu_ms_by_fragment": {
            i: {"p50": _pct(v, 50), "p99": _pct(v, 99), "n": len(v)}
            for i, v in sorted(by.items(), key=lambda kv: -float(np.median(kv[1])))
        },
        "run_wall_ms": {"p50": _pct(wall, 50), "p99": _pct(wall, 99)},
    }


async def _open_sessions(url: str, page: str, n: int, into: list[ProtocolSession]) -> None:
    """Open ``n`` more sessions one after another, as visitors arriving (each waits for its first run)."""
    for _ in range(n):
        into.append(await ProtocolSession(url, PAGES[page]).open())


def _feed_rate(dep: Deployment, w: dict) -> float | None:
    """The feed's books per second: the app's own feed thread (embedded) or the ingest publishing to Redis
    (replica: the app's bus reader takes the newest book each time and skips what it did not get to, so its
    rate is shown, not judged)."""
    return w["books_per_s"] if dep.mode == "embedded" else w["fed_per_s"]


async def _step(
    dep: Deployment, page: str, sessions: list[ProtocolSession], warmup_s: float, window_s: float, idle_feed: float
) -> dict:
    await asyncio.sleep(warmup_s)
    w = await asyncio.to_thread(Window, dep)
    await asyncio.sleep(window_s)
    result = _summary(await asyncio.to_thread(w.close))
    gaps = [s.longest_gap_s(w.mono0, w.mono1) for s in sessions]
    errors = [e for s in sessions for e in s.errors]
    refresh_s = min((iv for s in sessions for iv, _ in s.auto_reruns.values()), default=1.0)
    offered = round(_offered_per_s(dep.speed), 1)
    # judged against what the feed reached with no session in the same run (when below the nominal pace, that
    # is what this machine's replay delivers), so a busy box is not counted against the sessions
    reference = min(offered, idle_feed)
    feed = _feed_rate(dep, result)
    missed = sum(g > MISS_INTERVALS * refresh_s for g in gaps)
    keeps_up = feed is not None and feed >= FEED_SHARE * reference
    return {
        "sessions": len(sessions),
        **result,
        "refresh_s": refresh_s,
        "offered_books_per_s": offered,
        "feed_reference_books_per_s": reference,
        "feed_books_per_s": feed,
        "longest_gap_s": round(max(gaps), 2) if gaps else None,
        "sessions_missing_a_refresh": missed,
        "feed_keeps_up": keeps_up,
        "errors": errors[:5],
        "error_count": len(errors),
        "ok": missed == 0 and keeps_up and not errors,
    }


async def _measure_page(
    dep: Deployment, page: str, *, max_sessions: int, warmup_s: float, window_s: float, budget_s: float
) -> dict:
    """Idle (no session), then steps of ``STEP`` sessions until one fails, the count reaches
    ``max_sessions`` or the time budget runs out; when even the first step fails, 5 and then 2 sessions."""
    started = time.monotonic()
    idle = await asyncio.to_thread(Window, dep)
    await asyncio.sleep(window_s / 2)
    idle_r = _summary(await asyncio.to_thread(idle.close))
    idle_feed = _feed_rate(dep, idle_r) or 0.0
    sessions: list[ProtocolSession] = []
    steps: list[dict] = []
    try:
        target = STEP
        while target <= max_sessions and time.monotonic() - started < budget_s:
            await _open_sessions(dep.app.url, page, target - len(sessions), sessions)
            steps.append(await _step(dep, page, sessions, warmup_s, window_s, idle_feed))
            if not steps[-1]["ok"]:
                break
            target += STEP
        for smaller in (5, 2):  # the first step failed: how many does it serve?
            if not steps or steps[0]["ok"] or steps[-1]["ok"]:
                break
            await asyncio.gather(*(s.close() for s in sessions[smaller:]), return_exceptions=True)
            del sessions[smaller:]
            steps.append(await _step(dep, page, sessions, warmup_s, window_s, idle_feed))
    finally:
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
    served = max((s["sessions"] for s in steps if s["ok"]), default=0)
    # CPU of one refresh, all in (script thread, event loop, serialisation): the process's CPU above idle per run,
    # from the smallest step (the least contention)
    base = min(steps, key=lambda s: s["sessions"]) if steps else None
    all_in = None
    if base and base["fragment_runs"]:
        all_in = round((base["cpu_percent"] - idle_r["cpu_percent"]) * 10 * base["seconds"] / base["fragment_runs"], 2)
    return {
        "page": page,
        "idle": idle_r,
        "steps": steps,
        "sessions_served": served,
        "stopped_because": _why(steps, max_sessions),
        "refresh_cpu_all_in_ms": all_in,
    }


def session_cpu_ms_per_s(page_result: dict) -> float | None:
    """What one session costs the app process each second, all threads, above the idle feed: from the smallest
    step (the least contention). Unlike the CPU of one refresh it does not depend on how many script runs a
    page's refresh takes (the Simulator took two, the live view and a sidebar status, until 2026-11-30)."""
    steps = page_result.get("steps") or []
    if not steps:
        return None
    base = min(steps, key=lambda s: s["sessions"])
    return round((base["cpu_percent"] - page_result["idle"]["cpu_percent"]) * 10 / base["sessions"], 2)


def _why(steps: list[dict], max_sessions: int) -> str:
    if not steps:
        return "no step ran"
    failed = [s for s in steps if not s["ok"]]
    last = failed[0] if failed else steps[-1]
    if last["ok"]:
        return (
            f"reached the cap of {max_sessions} sessions" if last["sessions"] + STEP > max_sessions else "time budget"
        )
    reasons = []
    if last["sessions_missing_a_refresh"]:
        reasons.append(
            f"{last['sessions_missing_a_refresh']} of {last['sessions']} sessions missed a refresh "
            f"(longest gap {last['longest_gap_s']} s)"
        )
    if not last["feed_keeps_up"]:
        reasons.append(
            f"feed {last['feed_books_per_s']} books/s, under {FEED_SHARE:.0%} of {last['feed_reference_books_per_s']}"
        )
    if last["error_count"]:
        reasons.append(f"{last['error_count']} session errors")
    return f"at {last['sessions']} sessions: " + "; ".join(reasons)


def measure(
    *,
    modes: Sequence[str] = ("embedded", "replica"),
    pages: Sequence[str] = ("simulator", "market"),
    speed: float = 10.0,
    max_sessions: int = 60,
    warmup_s: float = 5.0,
    window_s: float = 15.0,
    budget_s: float = 120.0,
    app_env: dict[str, str] | None = None,
) -> dict:
    """Sessions per app process for each mode and page; a fresh app process per (mode, page)."""
    kinds: dict[str, Callable[..., Deployment]] = {"embedded": Embedded, "replica": Replica}
    out: dict[str, Any] = {
        "machine": MACHINE,
        "pinning": "app on core 0; load generator, replay server, Redis and ingest on core 1"
        if _cores()
        else "none (one core)",
        "replay_speed": speed,
        "step": STEP,
        "max_sessions": max_sessions,
        "warmup_s": warmup_s,
        "window_s": window_s,
        "miss": f"no fragment run finished for {MISS_INTERVALS:g} refresh intervals",
        "feed_criterion": f"the feed's books per second >= {FEED_SHARE:.0%} of the offered rate, or of the idle "
        "rate where the idle feed stayed under it",
        "app_env": dict(app_env or {}),
        "results": {},
    }
    cores = _cores()
    if cores:
        os.sched_setaffinity(0, cores[1])
    for mode in modes:
        for page in pages:
            with kinds[mode](speed, app_env=app_env) as dep:
                time.sleep(3.0)  # the feed reaches its pace
                r = asyncio.run(
                    _measure_page(
                        dep, page, max_sessions=max_sessions, warmup_s=warmup_s, window_s=window_s, budget_s=budget_s
                    )
                )
            out["results"][f"{mode}/{page}"] = r
            print(f"{mode}/{page}: {r['sessions_served']} sessions ({r['stopped_because']})", flush=True)
    return out


# ---- the check against a real browser ---------------------------------------------------------------------------
def compare(*, page: str = "market", seconds: float = 30.0, speed: float = 10.0) -> dict:
    """One headless Chromium session, then one protocol session, on the same app process: script runs per
    second and CPU per refresh as the server counts them."""
    from playwright.sync_api import sync_playwright

    from benchmarks.browser import launch

    cores = _cores()
    if cores:
        os.sched_setaffinity(0, cores[1])
    out: dict[str, Any] = {"page": page, "seconds": seconds}
    with Embedded(speed) as dep:
        time.sleep(3.0)
        idle = Window(dep)
        time.sleep(seconds / 2)
        out["idle"] = _summary(idle.close())
        with sync_playwright() as p:
            browser = launch(p, cpus=",".join(map(str, sorted(cores[1]))) if cores else None)
            tab = browser.new_context().new_page()
            tab.goto(f"{dep.app.url}/{PAGES[page]}")
            # a figure on screen: the Market page's metrics, the Simulator's cards (core.views.preview.cards_html)
            tab.wait_for_selector('[data-testid="stMetricValue"], .sim-card-value', timeout=120_000)
            time.sleep(5.0)
            w = Window(dep)
            time.sleep(seconds)
            out["chromium"] = _summary(w.close())
            browser.close()
        time.sleep(3.0)

        async def one() -> dict:
            s = await ProtocolSession(dep.app.url, PAGES[page]).open()
            try:
                await asyncio.sleep(5.0)
                w = await asyncio.to_thread(Window, dep)
                await asyncio.sleep(seconds)
                r = _summary(await asyncio.to_thread(w.close))
                r["client_fragment_runs"] = sum(w.mono0 <= t <= w.mono1 for t in s.fragment_runs)
                r["cache_hits"], r["errors"] = s.cache_hits, s.errors[:5]
                return r
            finally:
                await s.close()

        out["protocol"] = asyncio.run(one())
    c, q = out["chromium"], out["protocol"]
    out["runs_per_s_ratio"] = round(q["runs_per_s"] / c["runs_per_s"], 3) if c["runs_per_s"] else None
    if c["run_cpu_ms"]["p50"] and q["run_cpu_ms"]["p50"]:
        out["run_cpu_p50_ratio"] = round(q["run_cpu_ms"]["p50"] / c["run_cpu_ms"]["p50"], 3)
    return out


# ---- where a refresh's CPU goes ---------------------------------------------------------------------------------
def profile(
    *, page: str, sessions: int = 5, seconds: float = 20.0, speed: float = 10.0, top: int = 30, cprofile: bool = False
) -> dict:
    """Where the script threads spend a refresh: stack samples of ``sessions`` protocol sessions for
    ``seconds`` (embedded mode), counted only after every session's first full run. The samples are wall time
    (a thread waiting for the interpreter lock counts where it waits); ``cprofile`` adds cProfile of every
    fragment run on the thread's CPU clock (exact attribution, at cProfile's per-call overhead)."""
    tmp = Path(tempfile.mkdtemp(prefix="tcs-sessions-prof-"))
    prof = tmp / "samples.json"
    env = {CPROFILE_ENV: str(tmp / "fragments.prof")} if cprofile else None
    with Embedded(speed, profile=prof, app_env=env) as dep:
        time.sleep(3.0)

        async def go() -> tuple[dict, dict, int]:
            opened: list[ProtocolSession] = []
            try:
                await _open_sessions(dep.app.url, page, sessions, opened)
                await asyncio.sleep(3.0)
                before = await asyncio.to_thread(_read_json, prof)
                n0 = sum(len(s.fragment_runs) for s in opened)
                await asyncio.sleep(seconds)
                await asyncio.sleep(1.5)  # the next rewrite of the samples file
                after = await asyncio.to_thread(_read_json, prof)
                return before, after, sum(len(s.fragment_runs) for s in opened) - n0
            finally:
                await asyncio.gather(*(s.close() for s in opened), return_exceptions=True)

        before, after, runs = asyncio.run(go())
    n = after["samples"] - before["samples"]

    def table(kind: str) -> list[dict]:
        counts = {k: v - before[kind].get(k, 0) for k, v in after[kind].items()}
        rows = sorted(((k, v) for k, v in counts.items() if v > 0), key=lambda kv: -kv[1])[:top]
        return [{"function": k, "share_pct": round(v / max(1, n) * 100, 1)} for k, v in rows]

    out = {
        "page": page,
        "sessions": sessions,
        "seconds": seconds,
        "fragment_runs": runs,
        "samples": n,
        "inclusive": table("inclusive"),
        "own": table("own"),
    }
    if cprofile:
        out["cprofile"] = _cprofile_table(tmp / "fragments.prof", top)
    return out


def _cprofile_table(path: Path, top: int) -> dict:
    """Per fragment run (every run since the app started, first runs included): CPU ms by function,
    cumulative and own, from the summed cProfile."""
    import pstats

    st = pstats.Stats(str(path))
    stats: dict = st.stats  # type: ignore[attr-defined]
    runs = max(1, max((cc for (f, _, name), (cc, *_rest) in stats.items() if name == "_run_script"), default=1))

    def rows(index: int) -> list[dict]:
        best = sorted(stats.items(), key=lambda kv: -kv[1][index])[:top]
        return [
            {"function": f"{_short(f)}:{line}({name})", "ms_per_run": round(v[index] / runs * 1e3, 3)}
            for (f, line, name), v in best
        ]

    return {"fragment_runs": runs, "cumulative": rows(3), "own": rows(2)}


def _short(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# ---- reports ----------------------------------------------------------------------------------------------------
def report_lines(r: dict | None, cmp: dict | None = None) -> list[str]:
    """The sessions-per-process table (docs/RELIABILITY.md via ``benchmarks.reliability report``) and the check
    of the protocol session against one Chromium session."""
    if not r:
        return ["Not run yet (`make load`)."]
    lines = [
        f"Run {r['run_at']} on {r['machine']}; {r['pinning']}. Protocol sessions (`benchmarks/sessions.py`) at the "
        f"pages' default 1 s refresh, replay at {r['replay_speed']:g}x; steps of {r['step']} sessions "
        f"(at most {r['max_sessions']}; 5 and 2 when 10 fail), each measured for {r['window_s']:g} s after "
        f"{r['warmup_s']:g} s. A step fails when a session misses a refresh ({r['miss']}) or the feed falls "
        f"behind ({r['feed_criterion']}). Target: {TARGET_SESSIONS} sessions per process.",
        "",
        "| mode / page | sessions per process | stopped | CPU of one refresh p50 / p99 (script thread) "
        "| CPU of one refresh, all in | CPU per session a second, all in | feed books/s at the last step "
        "| books/s the app took |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, x in r["results"].items():
        base = min(x["steps"], key=lambda s: s["sessions"]) if x["steps"] else None
        last = x["steps"][-1] if x["steps"] else None
        c = base["run_cpu_ms"] if base else {"p50": None, "p99": None}
        feed = (
            f"{last['feed_books_per_s']} (offered {last['offered_books_per_s']}, judged against "
            f"{last.get('feed_reference_books_per_s')})"
            if last
            else "n/a"
        )
        lines.append(
            f"| {key} | **{x['sessions_served']}** | {x['stopped_because']} | {c['p50']} / {c['p99']} ms "
            f"| {x['refresh_cpu_all_in_ms']} ms | {session_cpu_ms_per_s(x)} ms | {feed} "
            f"| {last['books_per_s'] if last else 'n/a'} |"
        )
    if cmp:
        c, q = cmp["chromium"], cmp["protocol"]
        lines += [
            "",
            f"The protocol session against a real browser ({cmp['run_at']}, `python -m benchmarks.sessions compare`): "
            f"on one app process ({cmp['page']} page, {cmp['seconds']:g} s each), one headless Chromium session "
            f"gave {c['runs_per_s']} script runs a second at {c['run_cpu_ms']['p50']} ms CPU each (p50), one "
            f"protocol session {q['runs_per_s']} at {q['run_cpu_ms']['p50']} ms (ratios {cmp['runs_per_s_ratio']} "
            f"and {cmp.get('run_cpu_p50_ratio')}).",
        ]
    return lines


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        serve(argv[2:] if argv[1:2] == ["--"] else argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sessions")
    ap.add_argument("what", choices=["measure", "compare", "profile"])
    ap.add_argument("--mode", action="append", choices=["embedded", "replica"], help="default: both")
    ap.add_argument("--page", action="append", choices=list(PAGES), help="default: simulator and market")
    ap.add_argument("--max-sessions", type=int, default=60)
    ap.add_argument("--window", type=float, default=15.0, help="seconds measured per step")
    ap.add_argument("--sessions", type=int, default=5, help="profile: sessions")
    ap.add_argument("--seconds", type=float, default=20.0, help="compare and profile: seconds")
    ap.add_argument("--cprofile", action="store_true", help="profile: cProfile the fragment runs too")
    ap.add_argument("--out", type=Path, default=None, help="write the result as JSON here too")
    ap.add_argument("--app-env", action="append", default=[], help="NAME=VALUE for the app (measure), repeatable")
    ap.add_argument("--save", action="store_true", help="measure, compare: into benchmarks/reliability.json")
    args = ap.parse_args(argv)
    if args.what == "measure":
        result: dict = measure(
            modes=args.mode or ("embedded", "replica"),
            pages=args.page or ("simulator", "market"),
            max_sessions=args.max_sessions,
            window_s=args.window,
            app_env=dict(kv.split("=", 1) for kv in args.app_env),
        )
    elif args.what == "compare":
        result = compare(page=(args.page or ["market"])[0], seconds=args.seconds)
    else:
        result = profile(
            page=(args.page or ["simulator"])[0], sessions=args.sessions, seconds=args.seconds, cprofile=args.cprofile
        )
    if args.save and args.what != "profile":
        from benchmarks.reliability import write, write_report

        write({"measure": "sessions", "compare": "sessions_compare"}[args.what], result)
        write_report()
    result.setdefault("run_at", _now())
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

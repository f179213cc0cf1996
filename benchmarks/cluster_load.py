"""`make load-cluster` and `make soak-cluster`: the several-process deployment (core/cluster.py) under load.

load: redis-server, one ingest, REPLICAS app replicas and haproxy (cookie stickiness) on loopback; SESSIONS
      sessions through haproxy for DURATION seconds, opened a few at a time within a deadline. By default
      (``--client protocol``) all but ``--browsers`` (3) are protocol sessions (``StickySession``: Streamlit's
      websocket protocol from benchmarks/sessions.py, one cheap client per session, which on a 2-core box
      leaves the CPU to the cluster; 30 Chromium tabs took 142 % of its 200 %): the page's HTML first, then
      the websocket with haproxy's cookie, on the Market and Simulator pages by turn; the rest are headless
      Chromium on the Market page (Playwright contexts, 10 per browser process). ``--client browser``:
      every session Chromium. Per session: renders received (a protocol session: the live view's fragment
      runs; a browser: every change of the "Book time" metric on screen) against the reruns asked (the 1 s
      timers), the replica that served it (the cookie, and haproxy's X-Served-By on the HTML, on the
      websocket upgrade and on a request with the cookie after the window; the replicas' own active session
      counts against the cookies), errors. Against the ingest's own publish time of each book (read from the
      Redis stream by this process): tick-to-screen (publish -> on screen) and the rendered book age (the
      age of the book on screen, sampled every 100 ms of the window); on the Simulator page, whose live view
      shows no book time, from the status line's tick age. The ingest's book rate against what the replay
      offers; per replica Streamlit's active sessions every 5 s against the websockets open to it (a session
      dropped with its socket open, the send-queue overflow of ``overflow``, shows as fewer); for the box:
      its load average and every part's CPU (other jobs included).
soak: the cluster with a few sessions for DURATION minutes, Redis killed and restarted twice: the book time
      on screen never goes backwards except where the replay loops, and each replica's and the ingest's
      resident memory and thread count stay flat (thread names are recorded, so a change names its thread).

Bounded in time and count, loopback only. Figures go to benchmarks/cluster.json, docs/RELIABILITY.md and
docs/PERFORMANCE.md (the last section of each).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import redis

from benchmarks.browser import OBSERVER_JS, launch
from benchmarks.sessions import PAGES, ProtocolSession
from core.cluster import Cluster
from core.feed.bus import lease_key, status_key, stream_key
from core.feed.recording import iso_ms
from core.feed.replay import default_recording

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "cluster.json"
COOKIE = "TCS_REPLICA"
STALL_S = 5.0  # a session that shows no new book for this long (refresh every 1 s) has stopped updating
MACHINE = "a 2-core box (the CPU row says what else ran)"


class StreamLog:
    """Reads every entry of the book stream as the ingest publishes it: book time text -> publish times."""

    def __init__(self, url: str, password: str, key: str) -> None:
        self.client = redis.Redis.from_url(url, password=password, socket_timeout=2)
        self.key = key
        self.published: dict[str, list[float]] = {}  # "HH:MM:SS.mmm" -> publish times, ms
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stream-log", daemon=True)

    def start(self) -> StreamLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        last = b"$"
        while not self._stop.is_set():
            try:
                got = self.client.xread({self.key: last}, count=1000, block=200)
            except redis.RedisError:  # Redis restarted (soak): start again from the newest
                last = b"$"
                time.sleep(0.2)
                continue
            for _k, entries in got:
                for entry_id, f in entries:
                    last = entry_id
                    text = iso_ms(int(f[b"ts_ms"]))[11:23]
                    self.published.setdefault(text, []).append(int(f[b"pub_ns"]) / 1e6)
                    self.count += 1

    def publish_ms(self, text: str, seen_ms: float) -> float | None:
        """When the book shown as ``text`` at ``seen_ms`` was published (the latest publish before it)."""
        sends = [p for p in self.published.get(text, []) if p <= seen_ms]
        return max(sends) if sends else None


# Counts what the page's websocket does (opened, closed with its code, frames received and sent, when last):
# when a session stops rendering, this tells a server that went silent from a browser that stopped asking.
WS_PROBE_JS = """
(() => {
  const Native = window.WebSocket;
  const s = {opened: 0, closed: 0, recv: 0, sent: 0, last_recv_ms: 0, last_sent_ms: 0, closes: []};
  window.__ws = s;
  class Probed extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { s.opened++; });
      this.addEventListener('close', (e) => { s.closed++; s.closes.push([e.code, Date.now()]); });
      this.addEventListener('message', () => { s.recv++; s.last_recv_ms = Date.now(); });
    }
    send(data) { s.sent++; s.last_sent_ms = Date.now(); return super.send(data); }
  }
  window.WebSocket = Probed;
})();
"""


class Session:
    """One browser context on the Market page through haproxy (async Playwright)."""

    def __init__(self, index: int, ctx) -> None:
        self.index = index
        self.ctx = ctx
        self.page = None
        self.served_by: set[str] = set()
        self.errors: list[str] = []
        self.cookie_start: str | None = None
        self.open_s: float | None = None  # goto -> the Book time metric on screen, None when it never came

    async def open(self, url: str, timeout_s: float) -> None:
        """Straight to the Market page (no Simulator run first: the lighter landing, and the page measured)."""
        t = time.monotonic()
        await self.ctx.add_init_script(WS_PROBE_JS)
        self.page = page = await self.ctx.new_page()
        page.set_default_timeout(timeout_s * 1000)
        page.on("response", lambda r: self._served(r.headers.get("x-served-by")))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        await page.goto(url.rstrip("/") + "/market")
        await page.get_by_text("Book time (UTC)").wait_for()
        await page.evaluate(OBSERVER_JS)
        self.cookie_start = await self.cookie()
        self.open_s = round(time.monotonic() - t, 1)

    def _served(self, name: str | None) -> None:
        if name:
            self.served_by.add(name)

    async def cookie(self) -> str | None:
        return next((c["value"] for c in await self.ctx.cookies() if c["name"] == COOKIE), None)

    async def ticks(self) -> list[tuple[str, float]]:
        return [(t[0], float(t[1])) for t in await self.page.evaluate("window.__ticks")]

    async def websocket(self) -> dict:
        """The websocket probe's counters, with the browser's clock when read (``now``)."""
        return dict(await self.page.evaluate("({...window.__ws, now: Date.now()})"))


async def _open_within(
    sessions: Sequence[Any], open_one: Callable[[Any], Awaitable[None]], concurrency: int, deadline_s: float, what: str
) -> None:
    """Opens every session, at most ``concurrency`` at once, all within ``deadline_s``: a session not open by
    then (its ``open_s`` still None) is left out, with the reason in its ``errors``, never hidden."""
    gate = asyncio.Semaphore(concurrency)

    async def one(s: Any) -> None:
        async with gate:
            try:
                await open_one(s)
            except Exception as exc:  # a timeout, a closed page, a refused socket
                first = (str(exc).splitlines() or [""])[0][:160]
                s.errors.append(f"open failed: {type(exc).__name__}: {first}")

    tasks = [asyncio.create_task(one(s)) for s in sessions]
    _, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for s in sessions:
        if s.open_s is None and not any(e.startswith("open failed") for e in s.errors):
            s.errors.append(f"open failed: not {what} within {deadline_s:.0f} s")


async def open_sessions(
    pw, url: str, n: int, *, per_browser: int = 10, concurrency: int = 4, deadline_s: float = 300.0
) -> tuple[list, list[Session]]:
    """``n`` sessions in ``ceil(n / per_browser)`` Chromium processes, at most ``concurrency`` opening at once,
    all within ``deadline_s``: a session not on the Market page by then is left out and says why."""
    browsers = [await launch(pw) for _ in range(-(-n // per_browser))]
    sessions = [Session(i, await browsers[i // per_browser].new_context()) for i in range(n)]

    async def open_one(s: Session) -> None:
        await s.open(url, timeout_s=deadline_s)
        opened = sum(x.open_s is not None for x in sessions)
        print(f"session {s.index} on the Market page after {s.open_s} s ({opened} of {n})", flush=True)

    await _open_within(sessions, open_one, concurrency, deadline_s, "on the Market page")
    return browsers, sessions


def _page_get(url: str, cookie: str | None = None) -> tuple[str | None, str | None]:
    """A page's HTML through haproxy, as a browser's first request (and, with ``cookie``, a later one): the
    replica that answered (``X-Served-By``) and the stickiness cookie the answer set, if any."""
    req = urllib.request.Request(url, headers={"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        served = resp.headers.get("X-Served-By")
        set_cookies = resp.headers.get_all("Set-Cookie") or []
    mine = [m.group(1) for c in set_cookies if (m := re.match(rf"{COOKIE}=([^;]+)", c))]
    return served, (mine[0] if mine else None)


_TICK_AGE = re.compile(r"last tick (\d+(?:\.\d+)?) s ago")


@dataclass
class StickySession(ProtocolSession):
    """A protocol session (``benchmarks/sessions.py``: Streamlit's websocket protocol, no browser) through
    haproxy, keeping haproxy's cookie as a browser does: the page's HTML first (haproxy picks a replica and
    sets ``TCS_REPLICA``), then the websocket with that cookie. What the server sends is read as a browser
    would show it: the Market page's "Book time (UTC)" metric and the status line's "last tick X s ago" (both
    pages), each with its arrival time on this machine's clock."""

    index: int = 0
    cookie: str | None = None
    served_by: list[str | None] = field(default_factory=list)  # the HTML answer, the websocket upgrade, the last
    open_s: float | None = None
    book_times: list[tuple[str, float]] = field(default_factory=list)  # (Book time text, arrival ms epoch)
    tick_ages: list[tuple[float, float]] = field(default_factory=list)  # (tick age shown s, arrival ms epoch)
    _shown: dict[str, tuple[str, str]] = field(default_factory=dict)  # cached message hash -> what it showed

    async def open(self, timeout_s: float = 120.0) -> StickySession:
        import websockets

        t = time.monotonic()
        served, self.cookie = await asyncio.to_thread(_page_get, f"{self.base_url.rstrip('/')}/{self.page}")
        self.served_by.append(served)
        self._ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],  # type: ignore[list-item]
            max_size=None,
            compression=None,
            additional_headers={"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else None,
            open_timeout=timeout_s,
        )
        self.served_by.append(self._ws.response.headers.get("X-Served-By") if self._ws.response else None)
        self._reader = asyncio.create_task(self._read())
        await self._send_rerun(page_name=self.page)
        await asyncio.wait_for(self.first_run.wait(), timeout_s)
        self.open_s = round(time.monotonic() - t, 1)
        return self

    def _handle(self, msg: Any) -> None:
        super()._handle(msg)
        kind = msg.WhichOneof("type")
        shown: tuple[str, str] | None = None
        if kind == "ref_hash":
            shown = self._shown.get(msg.ref_hash)
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            what = el.WhichOneof("type")
            if what == "metric" and el.metric.label.startswith("Book time"):
                shown = ("book_time", el.metric.body)
            elif what == "markdown" and (m := _TICK_AGE.search(el.markdown.body)):
                shown = ("tick_age", m.group(1))
            if shown and msg.metadata.cacheable and msg.hash:
                self._shown[msg.hash] = shown
        if shown is None:
            return
        now_ms = time.time() * 1000
        if shown[0] == "book_time":
            if not self.book_times or self.book_times[-1][0] != shown[1]:  # a new book on screen
                self.book_times.append((shown[1], now_ms))
        else:
            self.tick_ages.append((float(shown[1]), now_ms))


async def open_protocol_sessions(
    url: str, n: int, pages: list[str], *, first_index: int = 0, concurrency: int = 6, deadline_s: float = 240.0
) -> list[StickySession]:
    """``n`` protocol sessions through haproxy, page by turn from ``pages``, at most ``concurrency`` opening at
    once, all within ``deadline_s``: a session not open by then is left out and says why."""
    sessions = [StickySession(url, PAGES[pages[i % len(pages)]], index=first_index + i) for i in range(n)]

    async def open_one(s: StickySession) -> None:
        await s.open(timeout_s=deadline_s)
        print(f"protocol session {s.index} ({s.page or 'simulator'}) open on {s.cookie} after {s.open_s} s")

    await _open_within(sessions, open_one, concurrency, deadline_s, "open")
    return sessions


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _proc_stats(pids: dict[str, int]) -> dict[str, dict]:
    out = {}
    for name, pid in pids.items():
        try:
            p = psutil.Process(pid)
            out[name] = {"rss_mb": round(p.memory_info().rss / 2**20, 1), "threads": p.num_threads()}
        except psutil.Error:
            out[name] = {"rss_mb": None, "threads": None}
    return out


def _offered_per_s(speed: float) -> float:
    rec = default_recording()
    span_s = (datetime.fromisoformat(rec.end) - datetime.fromisoformat(rec.start)).total_seconds()
    return round(rec.messages / span_s * speed, 1)


def _ingest_messages(client: redis.Redis, key: tuple[str, str]) -> int | None:
    doc = client.get(status_key(*key))
    return int(json.loads(doc)["messages"]) if doc else None


class CpuMeter:
    """CPU seconds of each part (every replica, the ingest, Redis, haproxy, all Chromium processes, this
    benchmark) and of the whole box, so a run says how much of the 2 cores other jobs took meanwhile."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def _groups(self) -> dict[str, list[psutil.Process]]:
        ours = set(self.pids.values())
        groups: dict[str, list[psutil.Process]] = {}
        for name, pid in self.pids.items():
            try:
                groups[name] = [psutil.Process(pid)]
            except psutil.Error:
                groups[name] = []
        me = psutil.Process()
        groups["benchmark"] = [me]
        groups["chromium"], groups["playwright-driver"] = [], []
        for child in me.children(recursive=True):
            if child.pid in ours:
                continue
            try:
                kind = "chromium" if "chrom" in child.name() else "playwright-driver"
            except psutil.Error:
                continue
            groups[kind].append(child)
        return groups

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, procs in self._groups().items():
            total = 0.0
            for p in procs:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            out[name] = total
        sys_t = psutil.cpu_times()
        out["box_busy"] = sum(sys_t) - sys_t.idle - getattr(sys_t, "iowait", 0.0)
        return out

    @staticmethod
    def percent(a: dict[str, float], b: dict[str, float], seconds: float) -> dict[str, float]:
        """Per part, 100 = one core busy for the whole window; ``other jobs`` is the box minus our parts."""
        out = {k: round((b[k] - a.get(k, 0.0)) / seconds * 100, 1) for k in b}
        ours = sum(v for k, v in out.items() if k != "box_busy")
        out["other_jobs"] = round(max(0.0, out["box_busy"] - ours), 1)
        return out


def _replica_metrics(cluster: Cluster) -> dict[str, dict]:
    """Per replica: how many page fragment runs it has recorded (the Market fragment's ``record_refresh``;
    the export keeps the last 5,000), how many Streamlit script threads are alive right now, and Streamlit's
    own session figures (``/_stcore/metrics``: sessions it serves now, connects and disconnects so far). A
    session the server dropped while its browser's websocket stays open shows as fewer active sessions
    than open websockets, with a disconnect no browser made."""
    out = {}
    for r in cluster.replicas:
        row: dict[str, int | None] = {}
        try:
            m = json.loads(cluster.metrics_file(r.name).read_text())
            names = m.get("thread_names") or []
            row["fragment_runs"] = len(m.get("refresh_ms") or [])
            row["script_threads"] = sum("ScriptRunner" in n for n in names)
            row["threads"] = len(names)
        except (OSError, ValueError):
            pass
        row.update(_streamlit_sessions(r.port))
        out[r.name] = row
    return out


def _streamlit_sessions(port: int) -> dict[str, int | None]:
    url = f"http://127.0.0.1:{port}/_stcore/metrics?families=active_sessions&families=session_events"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {"active_sessions": None}
    out: dict[str, int | None] = {}
    for line in text.splitlines():
        if line.startswith("active_sessions "):
            out["active_sessions"] = int(line.split()[-1])
        elif line.startswith("session_events_total{"):
            kind = line.split('"')[1]
            out[f"session_{kind}s"] = int(line.split()[-1])
    return out


def _haproxy_abnormal(log: Path) -> dict[str, int]:
    """haproxy's log (only connections that did not end normally, ``option dontlog-normal``): count by the
    two-letter termination state (e.g. ``CD`` the client closed mid-transfer, ``sD`` a server timeout)."""
    counts: dict[str, int] = {}
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return counts
    for line in lines:
        m = re.search(r" ([A-Za-z-]{2})[A-Za-z-]{2} \d+/\d+/\d+/\d+/\d+ ", line)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


async def _watch(cluster: Cluster, samples: list[dict], stop: asyncio.Event, every_s: float = 5.0) -> None:
    """Every ``every_s``: the box's 1-minute load average and each replica's fragment runs and script threads."""
    t0 = time.time()
    while not stop.is_set():
        replicas = await asyncio.to_thread(_replica_metrics, cluster)
        samples.append({"t_s": round(time.time() - t0, 1), "load1": os.getloadavg()[0], "replicas": replicas})
        print(f"watch {json.dumps(samples[-1])}", flush=True)  # also in the output of a run stopped early
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def _session_row(s: Session, ticks: list[tuple[str, float]], ws0: dict, ws1: dict, t0: float, t1: float) -> dict:
    """One session's renders in the window, by quarter of the window, and its websocket's traffic."""
    quarters, gap = _quarters([ms / 1000 for _, ms in ticks], t0, t1)
    return {
        "session": s.index,
        "client": "browser",
        "page": "market",
        "replica": s.cookie_start,
        "open_s": s.open_s,
        "renders": len(ticks),  # new books on screen (the Book time metric changed)
        "renders_by_quarter": quarters,
        "longest_gap_s": gap,
        "served_by": sorted(s.served_by),
        "ws_frames_received": ws1.get("recv", 0) - ws0.get("recv", 0),
        "ws_frames_sent": ws1.get("sent", 0) - ws0.get("sent", 0),
        "ws_last_frame_age_s": round((ws1["now"] - ws1["last_recv_ms"]) / 1000, 1) if ws1.get("last_recv_ms") else None,
        "ws_opened": ws1.get("opened"),
        "ws_closes_s_into_window": [[code, round(ms / 1000 - t0, 1)] for code, ms in ws1.get("closes", [])],
        "errors": s.errors[:5],
    }


def _quarters(times: list[float], t0: float, t1: float) -> tuple[list[int], float]:
    """Renders in each quarter of the window [t0, t1] and the longest time without one (edges count), in s."""
    gaps = np.diff([t0, *times, t1])
    quarters = np.histogram(times, bins=np.linspace(t0, t1, 5))[0].tolist() if times else [0, 0, 0, 0]
    return quarters, round(float(gaps.max()), 2)


def _protocol_row(s: StickySession, asked: int, mono: tuple[float, float], last_served: str | None) -> dict:
    """One protocol session in the window: fragment runs it received (each a redraw of the live view) against
    the reruns its 1 s timer asked for, and every replica that answered it (HTML, websocket upgrade, and a
    request with its cookie after the window)."""
    runs = [t for t in s.fragment_runs if mono[0] <= t <= mono[1]]
    quarters, gap = _quarters(runs, *mono)
    served = [*s.served_by, last_served]
    return {
        "session": s.index,
        "client": "protocol",
        "page": s.page or "simulator",
        "replica": s.cookie,
        "open_s": s.open_s,
        "renders": len(runs),
        "renders_asked": asked,
        "renders_by_quarter": quarters,
        "longest_gap_s": gap,
        "served_by": sorted({x or "none" for x in served}),
        "cookie_kept": s.cookie is not None and all(x == s.cookie for x in served),
        "errors": s.errors[:5],
    }


def _shown_ages(shown: list[tuple[float, float]], t0_ms: float, t1_ms: float) -> list[float]:
    """The age of what is on screen every 100 ms of the window, from (arrival ms, the book's origin ms) pairs
    in arrival order: the origin is the ingest's publish time, or the arrival minus the tick age shown."""
    ages, i, current = [], 0, None
    for grid in np.arange(t0_ms, t1_ms, 100.0):
        while i < len(shown) and shown[i][0] <= grid:
            current = shown[i][1]
            i += 1
        if current is not None:
            ages.append(grid - current)
    return ages


def _dropped_sessions(expected: dict[str, int], samples: list[dict]) -> dict[str, list]:
    """Per replica, every watch sample where Streamlit served fewer sessions than this run holds open websockets
    to it: a session the server dropped (its send queue overflowed, ``cluster_load overflow``) while the socket
    stayed open. Empty lists: no session was dropped."""
    out: dict[str, list] = {r: [] for r in expected}
    for x in samples:
        for r, want in expected.items():
            got = (x["replicas"].get(r) or {}).get("active_sessions")
            if got is not None and got < want:
                out[r].append([x["t_s"], got, want])
    return out


async def _load(cluster: Cluster, stream: StreamLog, key: tuple[str, str], args: dict) -> dict:
    client = redis.Redis.from_url(cluster.bus_url, password=cluster.redis_password, socket_timeout=2)
    pids = {name: proc.pid for name, proc in cluster.procs}
    meter = CpuMeter(pids)
    async with contextlib.AsyncExitStack() as stack:
        t_open = time.time()
        load_open0 = os.getloadavg()[0]
        browsers: list = []
        sessions: list[Session] = []
        if args["browsers"]:
            from playwright.async_api import async_playwright

            pw = await stack.enter_async_context(async_playwright())
            browsers, sessions = await open_sessions(
                pw, cluster.url, args["browsers"], concurrency=args["concurrency"], deadline_s=args["open_deadline_s"]
            )
        protocol = await open_protocol_sessions(
            cluster.url,
            args["sessions"] - args["browsers"],
            args["pages"],
            first_index=args["browsers"],
            concurrency=args["concurrency"],
            deadline_s=args["open_deadline_s"],
        )
        stack.push_async_callback(lambda: asyncio.gather(*(s.close() for s in protocol), return_exceptions=True))
        open_wall = time.time() - t_open
        live = [s for s in sessions if s.open_s is not None]
        plive = [s for s in protocol if s.open_s is not None]
        ws0 = {s.index: await s.websocket() for s in live}
        runs0 = await asyncio.to_thread(_replica_metrics, cluster)
        samples: list[dict] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch(cluster, samples, stop))
        cpu0, m0, published0 = meter.read(), _ingest_messages(client, key), stream.count
        t0, mono0 = time.time(), time.monotonic()
        asked0 = {s.index: s.reruns_sent for s in plive}  # at the window's start, as the runs counted against it
        print(f"{len(live)} browser and {len(plive)} protocol sessions open; measuring for {args['seconds']:g} s")
        await asyncio.sleep(args["seconds"])
        t1, mono1 = time.time(), time.monotonic()
        asked1 = {s.index: s.reruns_sent for s in plive}
        cpu1, m1, published1 = meter.read(), _ingest_messages(client, key), stream.count
        stop.set()
        await watcher
        runs1 = await asyncio.to_thread(_replica_metrics, cluster)
        abnormal = _haproxy_abnormal(cluster.logs / "haproxy.log")  # before the sessions close their sockets

        async def collect(s: Session) -> dict | None:
            try:
                ticks = [(text, ms) for text, ms in await s.ticks() if t0 * 1000 <= ms <= t1 * 1000]
                row = _session_row(s, ticks, ws0[s.index], await s.websocket(), t0, t1)
                row["cookie_kept"] = row["replica"] == await s.cookie()
            except Exception as exc:  # a page that no longer answers: said, not hidden
                s.errors.append(f"not read after the window: {type(exc).__name__}")
                return None
            row["_shown"] = [(ms, stream.publish_ms(text, ms)) for text, ms in ticks]
            return row

        async def collect_protocol(s: StickySession) -> dict:
            try:  # a later request with the cookie, as the browser's next one: still the same replica?
                last, _ = await asyncio.to_thread(_page_get, f"{cluster.url.rstrip('/')}/{s.page}", s.cookie)
            except OSError as exc:
                s.errors.append(f"request with the cookie after the window: {type(exc).__name__}")
                last = None
            row = _protocol_row(s, asked1[s.index] - asked0[s.index], (mono0, mono1), last)
            if s.page == PAGES["market"]:  # the Book time shown -> the ingest's publish time of that book
                row["age_basis"] = "publish"
                row["_shown"] = [(ms, stream.publish_ms(text, ms)) for text, ms in s.book_times]
                row["new_books"] = sum(t0 * 1000 <= ms <= t1 * 1000 for _, ms in s.book_times)
            else:  # the status line's tick age (from the replica's receipt, 0.1 s steps)
                row["age_basis"] = "tick age shown"
                row["_shown"] = [(ms, ms - age * 1000) for age, ms in s.tick_ages]
            return row

        got_rows = await asyncio.wait_for(
            asyncio.gather(*(collect(s) for s in live), *(collect_protocol(s) for s in plive)), args["collect_s"]
        )
        rows = [r for r in got_rows if r is not None]
        stats = _proc_stats(pids)
        for b in browsers:
            await b.close()
    window = t1 - t0
    expected: dict[str, int] = {r.name: 0 for r in cluster.replicas}
    for r in rows:
        if r["replica"] in expected:
            expected[r["replica"]] += 1
    return {
        "rows": rows,
        "failed": [{"session": s.index, "errors": s.errors[:3]} for s in sessions if s.open_s is None]
        + [{"session": s.index, "errors": s.errors[:3]} for s in protocol if s.open_s is None],
        "open_wall_s": round(open_wall, 1),
        "load1_at_open_start": load_open0,
        "window": (t0, t1),
        "cpu_percent": CpuMeter.percent(cpu0, cpu1, window),
        "ingest_books_per_s": round((m1 - m0) / window, 1) if m0 is not None and m1 is not None else None,
        "published_books_per_s": round((published1 - published0) / window, 1),
        "fragment_runs_in_window": {
            r: runs1[r].get("fragment_runs", 0) - runs0.get(r, {}).get("fragment_runs", 0) for r in runs1
        },
        "replica_sessions_start_end": {r: [runs0.get(r), runs1[r]] for r in runs1},
        "sessions_per_replica_by_cookie": expected,
        "server_disconnects_in_window": {
            r: (runs1[r].get("session_disconnects") or 0) - (runs0.get(r, {}).get("session_disconnects") or 0)
            for r in runs1
        },
        "sessions_dropped_by_server": _dropped_sessions(expected, samples),
        "samples": samples,
        "processes_end": stats,
        "haproxy_abnormal": abnormal,
    }


def run_load(
    *,
    sessions: int,
    seconds: float,
    replicas: int = 3,
    speed: float = 5.0,
    concurrency: int = 4,
    open_deadline_s: float = 240.0,
    browsers: int | None = None,
    pages: tuple[str, ...] = ("market", "simulator"),
) -> dict:
    """``browsers`` of the ``sessions`` are headless Chromium (Market page), the rest protocol sessions on
    ``pages`` by turn; ``browsers=None`` makes every session a browser (the earlier benchmark)."""
    n_browsers = sessions if browsers is None else min(browsers, sessions)
    rec = default_recording()
    key = (rec.exchange, rec.symbol)
    logs = Path(tempfile.mkdtemp(prefix="tcs-load-cluster-"))
    cluster = Cluster(replicas=replicas, port=0, feeds=["replay"], speed=speed, logs=logs, metrics=True)
    cluster.start()
    stream = StreamLog(cluster.bus_url, cluster.redis_password, stream_key(*key)).start()
    try:
        args = {
            "sessions": sessions,
            "browsers": n_browsers,
            "pages": list(pages),
            "seconds": seconds,
            "concurrency": concurrency,
            "open_deadline_s": open_deadline_s,
            "collect_s": 120.0,  # reading every session back after the window, in parallel
        }
        got = asyncio.run(_load(cluster, stream, key, args))
    finally:
        stream.stop()
        cluster.stop()
    t0, t1 = got["window"]
    rows = got["rows"]
    delays: list[float] = []
    ages: list[float] = []
    ages_by_page: dict[str, list[float]] = {}
    fresh_by_page: dict[str, list[float]] = {}
    for row in rows:
        shown = row.pop("_shown")
        if row.get("age_basis", "publish") == "publish":
            delays += [ms - pub for ms, pub in shown if pub is not None and t0 * 1000 <= ms <= t1 * 1000]
        mine = _shown_ages([(ms, o) for ms, o in shown if o is not None], t0 * 1000, t1 * 1000)
        row["book_age_ms"] = {"p50": _pct(mine, 50), "p99": _pct(mine, 99)}
        if row.get("client") == "protocol":
            # the book's age when it reached the session (tick-to-screen; for the tick age, as shown)
            fresh = [ms - o for ms, o in shown if o is not None and t0 * 1000 <= ms <= t1 * 1000]
            row["book_age_at_arrival_ms"] = {"p50": _pct(fresh, 50), "p99": _pct(fresh, 99)}
            ages_by_page.setdefault(f"{row['page']} ({row['age_basis']})", []).extend(mine)
            fresh_by_page.setdefault(f"{row['page']} ({row['age_basis']})", []).extend(fresh)
        else:
            ages += mine
    by_replica: dict[str, list[int]] = {}
    for r in rows:
        by_replica.setdefault(r["replica"] or "?", []).append(r["renders"])
    loads = [x["load1"] for x in got["samples"]]
    window = t1 - t0
    return {
        "machine": MACHINE,
        "sessions": sessions,
        "browser_sessions": n_browsers,
        "protocol_sessions": sessions - n_browsers,
        "protocol_pages": list(pages),
        "sessions_opened": len(rows),
        "open_failures": got["failed"],
        "open_wall_s": got["open_wall_s"],
        "open_s_per_session_p50_max": [
            _pct([r["open_s"] for r in rows], 50),
            max((r["open_s"] for r in rows), default=None),
        ],
        "open_concurrency": concurrency,
        "replicas": replicas,
        "seconds": round(window, 1),
        "replay_speed": speed,
        "every_session_updating": len(rows) == sessions and all(min(r["renders_by_quarter"]) > 0 for r in rows),
        "every_gap_under_stall_s": all(r["longest_gap_s"] <= STALL_S for r in rows),
        "no_session_changed_replica": all(r["cookie_kept"] and r["served_by"] == [r["replica"]] for r in rows),
        "renders_per_session_by_replica": by_replica,
        "fragment_runs_by_replica_in_window": got["fragment_runs_in_window"],
        "sessions_per_replica_by_cookie": got["sessions_per_replica_by_cookie"],
        "server_disconnects_in_window": got["server_disconnects_in_window"],
        "sessions_dropped_by_server": got["sessions_dropped_by_server"],
        "longest_gap_s_max": max((r["longest_gap_s"] for r in rows), default=None),
        "tick_to_screen_ms": {"p50": _pct(delays, 50), "p99": _pct(delays, 99), "n": len(delays)},
        "rendered_book_age_ms": {"p50": _pct(ages, 50), "p99": _pct(ages, 99), "n": len(ages)},
        "protocol_book_age_ms": {
            k: {"p50": _pct(v, 50), "p99": _pct(v, 99), "n": len(v)} for k, v in sorted(ages_by_page.items())
        },
        "protocol_book_age_at_arrival_ms": {
            k: {"p50": _pct(v, 50), "p99": _pct(v, 99), "n": len(v)} for k, v in sorted(fresh_by_page.items())
        },
        "offered_books_per_s": _offered_per_s(speed),
        "ingest_books_per_s": got["ingest_books_per_s"],
        "published_books_per_s": got["published_books_per_s"],
        "load_average_1min": {
            "at_open_start": round(got["load1_at_open_start"], 1),
            "window_mean": round(float(np.mean(loads)), 1) if loads else None,
            "window_max": round(max(loads), 1) if loads else None,
        },
        "cpu_percent": got["cpu_percent"],
        "processes_end": got["processes_end"],
        "replica_sessions_start_end": got["replica_sessions_start_end"],
        "haproxy_abnormal_endings": got["haproxy_abnormal"],
        "window_start_epoch_s": round(t0, 3),
        "page_errors": sum(len(r["errors"]) for r in rows),
        "watch_samples": got["samples"],
        "sessions_detail": rows,
    }


async def _soak(cluster: Cluster, minutes: float, sessions: int, sample_s: float) -> dict:
    from playwright.async_api import async_playwright

    total_s = minutes * 60
    restarts_at = [total_s / 3, 2 * total_s / 3]
    samples: list[dict] = []
    restarts: list[dict] = []
    async with async_playwright() as p:
        browsers, opened = await open_sessions(p, cluster.url, sessions)
        live = [s for s in opened if s.open_s is not None]
        start = time.time()
        while (elapsed := time.time() - start) < total_s:
            if restarts_at and elapsed >= restarts_at[0]:
                restarts_at.pop(0)
                t = time.time()
                await asyncio.to_thread(cluster.restart_redis, 5.0)
                restarts.append({"at_s": round(t - start, 1), "down_s": round(time.time() - t, 1)})
            pids = {name: proc.pid for name, proc in cluster.procs if name != "haproxy"}
            sample = {"t_s": round(elapsed, 1), "procs": _proc_stats(pids), "replica_threads": {}}
            for r in cluster.replicas:
                try:
                    m = json.loads(cluster.metrics_file(r.name).read_text())
                    sample["replica_threads"][r.name] = m.get("thread_names")
                    sample.setdefault("replica_status", {})[r.name] = {
                        k: m["status"][k] for k in ("state", "reconnects", "parse_errors")
                    }
                except (OSError, ValueError, KeyError):
                    pass
            samples.append(sample)
            await asyncio.sleep(min(sample_s, max(0.0, total_s - (time.time() - start))))
        ticks = [await s.ticks() for s in live]
        sticky = len(live) == sessions
        for s in live:
            sticky = sticky and await s.cookie() == s.cookie_start and len(s.served_by) == 1
        errors = [e for s in opened for e in s.errors]
        for b in browsers:
            await b.close()
    return {"samples": samples, "restarts": restarts, "ticks": ticks, "sticky": sticky, "errors": errors}


def run_soak(
    *, minutes: float, sessions: int = 3, replicas: int = 2, speed: float = 5.0, sample_s: float = 10.0
) -> dict:
    rec = default_recording()
    key = (rec.exchange, rec.symbol)
    logs = Path(tempfile.mkdtemp(prefix="tcs-soak-cluster-"))
    cluster = Cluster(replicas=replicas, port=0, feeds=["replay"], speed=speed, logs=logs, metrics=True)
    cluster.start()
    total_s = minutes * 60
    try:
        got = asyncio.run(_soak(cluster, minutes, sessions, sample_s))
        lease = redis.Redis.from_url(cluster.bus_url, password=cluster.redis_password).get(lease_key(*key))
    finally:
        cluster.stop()
    samples, restarts, ticks = got["samples"], got["restarts"], got["ticks"]
    span_ms = (datetime.fromisoformat(rec.end) - datetime.fromisoformat(rec.start)).total_seconds() * 1000
    backwards, loops, renders = 0, 0, []
    for session in ticks:
        renders.append(len(session))
        shown = [t for t in (_ms_of_day(text) for text, _ in session) if t is not None]
        for a, b in itertools.pairwise(shown):
            if b < a:
                if a - b > span_ms / 2:  # the replay started over
                    loops += 1
                else:
                    backwards += 1
    warm = [s for s in samples if s["t_s"] >= min(60.0, total_s / 6)]
    growth = {}
    for name in warm[0]["procs"] if warm else {}:
        rss = [s["procs"][name]["rss_mb"] for s in warm if s["procs"].get(name, {}).get("rss_mb")]
        threads = sorted({s["procs"][name]["threads"] for s in warm if s["procs"].get(name, {}).get("threads")})
        if rss:
            growth[name] = {
                "rss_after_warmup_mb": rss[0],
                "rss_end_mb": rss[-1],
                "rss_growth_pct": round((rss[-1] - rss[0]) / rss[0] * 100, 2),
                "threads_seen": threads,
            }
    names_seen = {
        r.name: sorted({tuple(s["replica_threads"].get(r.name) or ()) for s in warm}, key=len) for r in cluster.replicas
    }
    return {
        "machine": MACHINE,
        "minutes": minutes,
        "sessions": sessions,
        "replicas": replicas,
        "replay_speed": speed,
        "redis_restarts": restarts,
        "renders_per_session": renders,
        "shown_backwards": backwards,
        "replay_loops_seen": loops,
        "sessions_kept_their_replica": got["sticky"],
        "page_errors": len(got["errors"]),
        "processes": growth,
        "replica_thread_name_sets": {r: [list(n) for n in v] for r, v in names_seen.items()},
        "lease_holder_at_end": lease.decode() if lease else None,
        "samples": samples,
    }


def _ms_of_day(text: str) -> float | None:
    """``HH:MM:SS.mmm`` as ms of the day; None for anything else the metric showed ("n/a")."""
    try:
        h, m, rest = text.split(":")
        return (int(h) * 3600 + int(m) * 60 + float(rest)) * 1000
    except ValueError:
        return None


# ---- reports -------------------------------------------------------------------------------------------------
def _load_table(r: dict) -> list[str]:
    t2s, age = r["tick_to_screen_ms"], r["rendered_book_age_ms"]
    load = r.get("load_average_1min") or {}
    cpu = r.get("cpu_percent") or {}
    return [
        "| check | result |",
        "|---|---|",
        f"| sessions open on their page (opened {r.get('open_concurrency', 1)} at a time) | "
        f"{r.get('sessions_opened', r['sessions'])} of {r['sessions']} in {r.get('open_wall_s', 'n/a')} s |",
        f"| every session kept updating (in each quarter of the window: a browser a new book on screen, a "
        f"protocol session a redraw of the live view) | "
        f"{'yes' if r['every_session_updating'] else 'NO'} |",
        f"| longest gap between renders, any session (refresh every 1 s; {STALL_S:g} s or less is "
        f"{'met' if r.get('every_gap_under_stall_s') else 'NOT met'}) | {r['longest_gap_s_max']} s |",
        f"| renders per session, by replica (browser: new books on screen; protocol: live-view redraws) | "
        f"{r['renders_per_session_by_replica']} |",
        f"| fragment runs per replica in the window (server side) | {r.get('fragment_runs_by_replica_in_window', 'n/a')} |",
        f"| no session changed replica (cookie at start = at end = every X-Served-By) | "
        f"{'yes' if r['no_session_changed_replica'] else 'NO'} |",
        f"| tick-to-screen (ingest publish -> on screen; Market sessions) p50 / p99 | {t2s['p50']} / {t2s['p99']} ms "
        f"({t2s['n']} renders) |",
        f"| rendered book age, browsers (sampled every 100 ms) p50 / p99 | {age['p50']} / {age['p99']} ms |",
        *(
            f"| protocol sessions, {page}: book age on screen (every 100 ms) p50 / p99; at arrival p50 / p99 | "
            f"{a['p50']} / {a['p99']} ms; {(r.get('protocol_book_age_at_arrival_ms') or {}).get(page, {}).get('p50')} / "
            f"{(r.get('protocol_book_age_at_arrival_ms') or {}).get(page, {}).get('p99')} ms |"
            for page, a in (r.get("protocol_book_age_ms") or {}).items()
        ),
        *(
            [
                f"| sessions per replica by cookie vs Streamlit's active sessions at the end | "
                f"{r['sessions_per_replica_by_cookie']} vs "
                f"{ {k: v[1].get('active_sessions') for k, v in r['replica_sessions_start_end'].items()} } |",
                f"| sessions the server dropped with the socket open (active < open, any 5 s sample); server "
                f"disconnects in the window | {_dropped_text(r['sessions_dropped_by_server'])}; "
                f"{r['server_disconnects_in_window']} |",
            ]
            if "sessions_dropped_by_server" in r
            else []
        ),
        f"| ingest books/s vs offered by the replay | {r['ingest_books_per_s']} vs {r['offered_books_per_s']} "
        f"(entries this benchmark's own stream reader saw: {r['published_books_per_s']}/s) |",
        f"| the box while it ran: 1-min load average at the start of opening, mean / max in the window | "
        f"{load.get('at_open_start', 'n/a')}, {load.get('window_mean', 'n/a')} / {load.get('window_max', 'n/a')} |",
        "| CPU % over the window (100 = one core; the box has 2) | "
        + (
            f"box {cpu.get('box_busy')}: Chromium {cpu.get('chromium')}, replicas "
            f"{[cpu.get(f'app{i + 1}') for i in range(r['replicas'])]}, ingest {cpu.get('ingest')}, "
            f"Redis {cpu.get('redis-server')}, haproxy {cpu.get('haproxy')}, benchmark + driver "
            f"{round((cpu.get('benchmark') or 0) + (cpu.get('playwright-driver') or 0), 1)}, other jobs {cpu.get('other_jobs')}"
            if cpu
            else "not captured in this run"
        )
        + " |",
        f"| page errors | {r['page_errors']} |",
    ]


def _dropped_text(dropped: dict[str, list]) -> str:
    bad = {k: v for k, v in dropped.items() if v}
    return "none" if not bad else "; ".join(f"{k}: {len(v)} samples, first {v[0]}" for k, v in bad.items())


def _sessions_table(r: dict) -> list[str]:
    """One row per session: client, page, replica, renders received vs asked, book age, longest gap, errors."""
    rows = r.get("sessions_detail") or []
    if not rows or "client" not in rows[0]:
        return []
    out = [
        "",
        "Per session (asked: reruns the session's 1 s timers sent in the window, one per live fragment; a browser "
        "session's renders are new books on screen):",
        "",
        "| session | client | page | replica (cookie = every answer) | renders / asked | by quarter | "
        "longest gap | book age p50 / p99 | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        age = x.get("book_age_ms") or {}
        out.append(
            f"| {x['session']} | {x['client']} | {x['page']} | {x['replica']} "
            f"({'kept' if x['cookie_kept'] and x['served_by'] == [x['replica']] else 'CHANGED ' + str(x['served_by'])}) "
            f"| {x['renders']} / {x.get('renders_asked', 'n/a')} | {x['renders_by_quarter']} | {x['longest_gap_s']} s "
            f"| {age.get('p50')} / {age.get('p99')} ms | {len(x['errors'])} |"
        )
    return out


def _soak_table(r: dict) -> list[str]:
    procs = "; ".join(
        f"{n}: {g['rss_after_warmup_mb']} -> {g['rss_end_mb']} MB ({g['rss_growth_pct']:+.1f} %), threads {g['threads_seen']}"
        for n, g in r["processes"].items()
    )
    return [
        "| check | result |",
        "|---|---|",
        f"| Redis killed and restarted (5 s down) | {len(r['redis_restarts'])}x at {[x['at_s'] for x in r['redis_restarts']]} s |",
        f"| book time on screen going backwards (other than the replay's loop) | {r['shown_backwards']} "
        f"({r['replay_loops_seen']} loops seen) |",
        f"| renders per session | {r['renders_per_session']} |",
        f"| sessions kept their replica | {'yes' if r['sessions_kept_their_replica'] else 'NO'} |",
        f"| replicas' bus reconnects and state at the end (one reconnect per restart expected) | "
        f"{(r['samples'][-1].get('replica_status') if r.get('samples') else None)} |",
        f"| resident memory and OS thread count after warm-up -> end | {procs} |",
        f"| page errors | {r['page_errors']} |",
    ]


def _clients(r: dict) -> str:
    if "protocol_sessions" not in r or not r["protocol_sessions"]:
        return f"{r['sessions']} headless Chromium sessions"
    return (
        f"{r['sessions']} sessions, {r['protocol_sessions']} protocol sessions (`benchmarks/sessions.py`, Streamlit's "
        f"websocket protocol, haproxy's cookie kept; pages by turn: {', '.join(r['protocol_pages'])}) and "
        f"{r['browser_sessions']} headless Chromium sessions (Market page)"
    )


def reliability_lines() -> list[str]:
    """The cluster sections of docs/RELIABILITY.md (benchmarks.reliability.write_report appends them)."""
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    lines = ["", "## 5. Cluster load (`make load-cluster SESSIONS=30 DURATION=60`)", ""]
    if "load" in data:
        r = data["load"]
        lines += [
            f"Run {r['run_at']} on {r['machine']}: {_clients(r)} through haproxy to "
            f"{r['replicas']} replicas for {r['seconds']:g} s, one ingest replaying at {r['replay_speed']:g}x"
            + (
                " (**a smaller run than the 30 sessions the target names; to be rerun**)."
                if r["sessions"] < 30
                else "."
            ),
            "",
            *_load_table(r),
            *_sessions_table(r),
        ]
    else:
        lines.append("Not run yet.")
    lines += ["", "## 6. Cluster soak (`make soak-cluster DURATION=30`, minutes)", ""]
    if "soak" in data:
        r = data["soak"]
        lines += [
            f"Run {r['run_at']} on {r['machine']}: {r['minutes']:g} minutes, {r['sessions']} sessions on "
            f"{r['replicas']} replicas, replay at {r['replay_speed']:g}x"
            + (" (**a short run, not the 30-minute soak; to be rerun**)." if r["minutes"] < 30 else "."),
            "",
            *_soak_table(r),
        ]
    else:
        lines.append("Not run yet.")
    notes = ROOT / "benchmarks" / "CLUSTER_NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    return lines


def performance_lines() -> list[str]:
    """The cluster section of docs/PERFORMANCE.md (benchmarks.run's report appends it)."""
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    lines = ["", "## Cluster: ingest -> Redis -> replicas -> haproxy -> browsers (`make load-cluster`)", ""]
    if "load" not in data:
        return [*lines, "Not run yet."]
    r = data["load"]
    return [
        *lines,
        f"Measured in one run ({r['run_at']}, {r['machine']}; {_clients(r)}, {r['replicas']} replicas, "
        f"{r['seconds']:g} s{', a smaller run than the 30-session target' if r['sessions'] < 30 else ''}); "
        "details in docs/RELIABILITY.md section 5, and what the figures mean on a machine other jobs load (the "
        "notes after its section 6: there, the latencies measure processes waiting for a CPU).",
        "",
        *_load_table(r),
    ]


def write(section: str, result: dict) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    result["run_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data[section] = result
    OUT.write_text(json.dumps(data, indent=2) + "\n")
    write_reports()


def write_reports() -> None:
    """docs/RELIABILITY.md (whole, from benchmarks/reliability.json and cluster.json) and the cluster section
    at the end of docs/PERFORMANCE.md."""
    from benchmarks import reliability

    reliability.write_report()
    perf = ROOT / "docs" / "PERFORMANCE.md"
    text = perf.read_text(encoding="utf-8")
    head = text.split("\n## Cluster: ", 1)[0].rstrip("\n")
    perf.write_text(head + "\n" + "\n".join(performance_lines()) + "\n", encoding="utf-8")


def run_overflow(*, not_reading_s: float = 60.0, every_s: float = 0.5) -> dict:
    """What a Streamlit server does with a session whose client keeps asking for reruns but reads slower than
    the server writes (a starved browser tab): one app process, one websocket client speaking Streamlit's
    protocol with a 4 KB receive buffer. It reads the first run, then sends a rerun request every ``every_s``
    without reading for ``not_reading_s``, sampling the server's own session figures; then it reads again and
    asks for 5 more runs. Bounded: one process, one client, about ``not_reading_s`` + 2 min."""
    import socket

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    from benchmarks.browser import App

    app = App({"TCS_SOURCE": "replay"}).start(timeout=120)
    timeline: list[dict] = []
    try:
        sock = socket.create_connection(("127.0.0.1", app.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with connect(
            f"ws://127.0.0.1:{app.port}/_stcore/stream",
            sock=sock,
            subprotocols=["streamlit"],
            origin=f"http://127.0.0.1:{app.port}",
            max_queue=1,
            max_size=None,
            compression=None,
            ping_interval=None,
            open_timeout=60,
        ) as ws:

            def rerun() -> None:
                msg = BackMsg()
                msg.rerun_script.query_string = ""
                ws.send(msg.SerializeToString())

            rerun()
            first = 0
            while True:
                fwd = ForwardMsg()
                fwd.ParseFromString(ws.recv(timeout=120))
                first += 1
                if fwd.WhichOneof("type") == "script_finished":
                    break
            timeline.append({"t_s": 0.0, "event": "first run read", "messages": first, **_streamlit_sessions(app.port)})
            t0 = time.time()
            while time.time() - t0 < not_reading_s:
                rerun()
                time.sleep(every_s)
                if len(timeline) < 1 + int((time.time() - t0) // 5):
                    timeline.append({"t_s": round(time.time() - t0, 1), **_streamlit_sessions(app.port)})
            drained = after = 0
            closed = None
            try:
                while True:
                    ws.recv(timeout=5)
                    drained += 1
            except TimeoutError:
                for _ in range(5):
                    rerun()
                try:
                    while True:
                        ws.recv(timeout=10)
                        after += 1
                except TimeoutError:
                    pass
            except Exception as exc:  # the server closed or reset the socket meanwhile
                closed = f"{type(exc).__name__}: {exc}"
            timeline.append(
                {
                    "t_s": round(time.time() - t0, 1),
                    "event": "read again",
                    "queued_messages_read": drained,
                    "messages_after_5_more_reruns": after,
                    "socket_closed": closed,
                    **_streamlit_sessions(app.port),
                }
            )
    finally:
        app.stop()
    return {"machine": MACHINE, "not_reading_s": not_reading_s, "rerun_every_s": every_s, "timeline": timeline}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cluster_load")
    ap.add_argument("what", choices=["load", "soak", "overflow", "report"])
    ap.add_argument("--sessions", type=int, default=None, help="browser sessions (load 30, soak 3)")
    ap.add_argument("--duration", type=float, default=None, help="load: seconds (60); soak: minutes (30)")
    ap.add_argument("--replicas", type=int, default=None, help="load 3, soak 2")
    ap.add_argument("--speed", type=float, default=5.0, help="replay pace of the ingest")
    ap.add_argument("--concurrency", type=int, default=6, help="load: sessions opening at once")
    ap.add_argument("--open-deadline", type=float, default=240.0, help="load: seconds to open every session")
    ap.add_argument(
        "--client",
        choices=["protocol", "browser"],
        default="protocol",
        help="load: protocol sessions (benchmarks/sessions.py, with --browsers Chromium ones alongside) or every "
        "session a headless Chromium",
    )
    ap.add_argument(
        "--save-as", default="load", help="load: the section of benchmarks/cluster.json (the docs show `load`)"
    )
    ap.add_argument("--browsers", type=int, default=3, help="load, --client protocol: how many sessions are Chromium")
    ap.add_argument(
        "--pages", default="market,simulator", help="load: the protocol sessions' pages, by turn (market,simulator)"
    )
    args = ap.parse_args(argv)
    if args.what == "report":
        write_reports()
        return 0
    if args.what == "overflow":
        r = run_overflow()
        write("overflow", r)
        print(json.dumps(r, indent=2))
        return 0
    if args.what == "load":
        r = run_load(
            sessions=args.sessions or 30,
            seconds=args.duration or 60.0,
            replicas=args.replicas or 3,
            speed=args.speed,
            concurrency=args.concurrency,
            open_deadline_s=args.open_deadline,
            browsers=args.browsers if args.client == "protocol" else None,
            pages=tuple(x.strip() for x in args.pages.split(",") if x.strip()),
        )
        ok = r["every_session_updating"] and r["no_session_changed_replica"] and r["page_errors"] == 0
    else:
        r = run_soak(
            minutes=args.duration or 30.0, sessions=args.sessions or 3, replicas=args.replicas or 2, speed=args.speed
        )
        flat = all(g["rss_growth_pct"] < 5 for g in r["processes"].values())
        ok = r["shown_backwards"] == 0 and r["sessions_kept_their_replica"] and flat
    write(args.save_as if args.what == "load" else args.what, r)
    print(
        json.dumps({k: v for k, v in r.items() if k not in ("samples", "sessions_detail", "watch_samples")}, indent=2)
    )
    print(f"{args.what}: {'all checks met' if ok else 'SOME CHECKS MISSED'} (written to {OUT.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

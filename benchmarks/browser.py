"""What a person sees: startup time, tick-to-screen latency with 1 and 5 browser sessions, and the
server-side time of a live fragment rerun. Real Streamlit server, real headless Chromium, loopback only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from core.feed.recording import iso_ms, load_recording
from core.feed.replay import ReplayServer, default_recording

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Records (text of the "Book time (UTC)" metric, Date.now()) every time it changes on screen.
OBSERVER_JS = """
() => {
  window.__ticks = [];
  let last = null;
  const read = () => {
    for (const m of document.querySelectorAll('[data-testid="stMetric"]')) {
      const label = m.querySelector('[data-testid="stMetricLabel"]');
      if (label && label.innerText.startsWith('Book time')) {
        const v = m.querySelector('[data-testid="stMetricValue"]').innerText.trim();
        if (v !== last) { last = v; window.__ticks.push([v, Date.now()]); }
      }
    }
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
  read();
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedReplay:
    """A paced replay server in its own thread, logging when each tick left it."""

    def __init__(self, *, speed: float = 1.0, path: Path | None = None) -> None:
        self.recording = load_recording(path or default_recording().path)
        self.server = ReplayServer(self.recording, port=free_port(), speed=speed, loop=True)
        self.sent: dict[str, list[float]] = {}  # "HH:MM:SS.mmm" -> wall times it was sent
        self.server.on_send = self._log
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-replay", daemon=True)

    def _log(self, ts_ms: int, wall: float) -> None:
        self.sent.setdefault(iso_ms(ts_ms)[11:23], []).append(wall)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


class App:
    """``streamlit run app.py`` on a free port with the given environment."""

    def __init__(self, env: dict[str, str] | None = None, *, cpus: str | None = None) -> None:
        """``cpus`` pins the app to those cores (``taskset -c``), away from a load generator."""
        self.cpus = cpus
        self.port = free_port()
        self.env = {**os.environ, "TCS_SOURCE": "replay", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> App:
        self.started_at = time.time()
        pin = ["taskset", "-c", self.cpus] if self.cpus else []
        self.proc = subprocess.Popen(
            [
                *pin,
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(self.port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        end = time.time() + timeout
        while time.time() < end:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the app did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def open_market(page, app: App) -> None:
    """Load the app and go to Market through the sidebar (a deep link makes Streamlit probe
    ``/market/_stcore/*`` first, which logs 404s in the console)."""
    page.goto(app.url)
    page.get_by_role("link", name="Market").click()
    page.get_by_text("Book time (UTC)").wait_for(timeout=60_000)


def launch(playwright, *, cpus: str | None = None):
    """Headless Chromium; ``cpus`` pins it (and its renderers) to those cores through a taskset wrapper."""
    exe = CHROMIUM
    if cpus:
        wrapper = Path(tempfile.mkdtemp()) / "chromium-pinned"
        wrapper.write_text(f'#!/bin/sh\nexec taskset -c {cpus} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        exe = str(wrapper)
    return playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)


def bench_startup() -> dict:
    """Process start to the first rendered cost figure on the default (Simulator) page."""
    from playwright.sync_api import sync_playwright

    app = App()
    t0 = time.time()
    app.start()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page()
            page.goto(app.url)
            page.wait_for_selector('[data-testid="stMetricValue"]', timeout=90_000)
            startup = time.time() - t0
            browser.close()
    finally:
        app.stop()
    return {"startup_s": round(startup, 2)}


def bench_tick_to_screen(sessions: int, seconds: float = 20.0, refresh_s: float = 1.0) -> dict:
    """Tick leaving the replay server -> its book time visible in each browser session (Market page)."""
    from playwright.sync_api import sync_playwright

    replay = ThreadedReplay(speed=1.0)
    url = replay.start()
    app = App({"TCS_SOURCE": "goquant", "TCS_FEED_URL": url}).start()
    delays: list[float] = []
    per_session: list[int] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            pages = []
            for _ in range(sessions):
                page = browser.new_context().new_page()
                open_market(page, app)
                page.evaluate(OBSERVER_JS)
                pages.append(page)
            time.sleep(seconds)
            for page in pages:
                ticks = page.evaluate("window.__ticks")
                per_session.append(len(ticks))
                for text, seen_ms in ticks[1:]:  # the first value was already on screen when observing began
                    sends = [w for w in replay.sent.get(text, []) if w * 1000 <= seen_ms]
                    if sends:
                        delays.append(seen_ms - max(sends) * 1000)
            browser.close()
        connections = replay.server.connections
    finally:
        app.stop()
        replay.stop()
    d = np.asarray(delays)
    return {
        f"tick_to_screen_{sessions}s_p50_ms": round(float(np.median(d)), 1) if d.size else None,
        f"tick_to_screen_{sessions}s_p90_ms": round(float(np.percentile(d, 90)), 1) if d.size else None,
        f"tick_to_screen_{sessions}s_updates_per_session": per_session,
        f"tick_to_screen_{sessions}s_feed_connections": connections,
        "refresh_interval_s": refresh_s,
    }


def bench_ui_refresh(runs: int = 30) -> dict:
    """Server-side time of the live Market fragment, as the page itself records it (AppTest runtime)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/market.py")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.05)
    from pages.common import get_runtime  # the same cached runtime the AppTest runs used (one per process)

    frag = get_runtime().tick_timings()["refresh_ms"]
    return {
        "ui_refresh_p50_ms": round(float(np.median(frag)), 2) if frag.size else None,
        "ui_refresh_p99_ms": round(float(np.percentile(frag, 99)), 2) if frag.size else None,
        "ui_full_rerun_p50_ms": round(float(np.median(times)), 2),
    }

"""What a person sees: startup time, tick-to-screen latency with 1 and 5 browser sessions, and the
server-side time of a live fragment rerun. Real Streamlit server, real headless Chromium, loopback only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
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

    def __init__(self, env: dict[str, str] | None = None, *, cpus: str | None = None, tree: Path = ROOT) -> None:
        """``cpus`` pins the app to those cores (``taskset -c``), away from a load generator; ``tree`` is the
        checkout whose app runs (another one's, to compare two trees with one harness)."""
        self.cpus = cpus
        self.tree = tree
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
            cwd=self.tree,
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
                time.sleep(0.05)  # fine-grained: the startup benchmark times this
        raise RuntimeError("the app did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def go_to(page, name: str) -> None:
    """Click the sidebar link to page ``name`` without waiting for the navigation it starts.

    Why not a plain ``click()``: the sidebar link is an ``<a href>``, so Playwright waits after the click for
    the navigation it schedules, and Streamlit changes the URL (a same-document navigation) only once the server
    has run the new page. On a busy app (``make load``: the first page run of a fresh process beside a 10x
    replay, on one core) that took longer than the click's 30 s, and the click failed although it had landed.
    The caller waits for the new page's own content instead, with its own bound. Why not a deep link
    (``/market``): Streamlit then probes ``/market/_stcore/*`` first, which logs 404s in the console; ``make load``
    (``benchmarks/reliability.py``) does open the deep link, one tab at a time, and counts those 404s apart. Why a dispatched click: a real click waits for the renderer to take the
    input, and in ``make load`` (every session's renderer pinned to one core) that wait itself ran out at 60 s
    with the link visible and stable; the dispatched event reaches the link's handler as the user's click does."""
    link = page.locator('[data-testid="stSidebarNav"] a', has_text=name).first
    link.wait_for(state="visible", timeout=60_000)
    link.dispatch_event("click", timeout=60_000)


def open_market(page, app: App) -> None:
    """Load the app (the Simulator is the default page) and go to Market through the sidebar."""
    page.goto(app.url)
    page.locator("h1", has_text="Simulator").wait_for(timeout=90_000)
    go_to(page, "Market")
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


# Records, in the page, when the first cost figure (a card's value with text) is in the document and when the
# next animation frame after it begins (the frame that paints it), as Date.now() (the same wall clock as
# time.time() on this machine). Installed before the page loads, so nothing is missed.
# The first cost card's value: core.views.preview.cards_html since branch s8-sim; an st.metric before it, so a
# --base checkout from before that merge (e.g. 123eb34) is timed at the same figure.
FIRST_FIGURE = '.sim-card-value, [data-testid="stMetricValue"]'
FIRST_FIGURE_JS = """
window.__first = {};
new MutationObserver((_, obs) => {
  const v = document.querySelector(FIRST_FIGURE);
  if (!v || !v.innerText.trim()) return;
  obs.disconnect();
  window.__first.in_dom = Date.now();
  requestAnimationFrame(() => { window.__first.frame = Date.now(); });
}).observe(document, {subtree: true, childList: true, characterData: true});
""".replace("FIRST_FIGURE", repr(FIRST_FIGURE))


def bench_startup(tree: Path = ROOT, env: dict[str, str] | None = None) -> dict:
    """Process start to the first cost figure on screen (the default Simulator page), with the browser already
    running, as a visitor's is.

    Measured: Chromium is launched and a tab is open first (its launch is reported apart,
    ``startup_browser_launch_s``); t0 is just before ``streamlit run app.py`` is spawned; the tab loads the app
    as soon as the server answers its health check (``startup_server_s``). ``startup_s`` ends at the first
    animation frame after the first cost card's value is in the page (recorded in the page, so it does not
    include Playwright's polling of a busy page); ``startup_seen_by_playwright_s`` is when Playwright's
    ``wait_for_selector`` saw it, the figure this benchmark reported until 2026-11-30 (which then also
    included launching Chromium)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        t_launch = time.time()
        browser = launch(p)
        page = browser.new_page()
        page.add_init_script(FIRST_FIGURE_JS)
        page.goto("about:blank")
        launch_s = time.time() - t_launch
        app = App(env, tree=tree)
        t0 = time.time()
        try:
            app.start()
            server = time.time() - t0  # the server answers its health check: Python, Streamlit and its server are up
            page.goto(app.url)
            page.wait_for_selector(FIRST_FIGURE, timeout=90_000)
            seen = time.time() - t0
            page.wait_for_function("window.__first.frame !== undefined", timeout=30_000)
            first = page.evaluate("window.__first")
        finally:
            app.stop()
            browser.close()
    return {
        "startup_s": round(first["frame"] / 1000 - t0, 2),
        "startup_server_s": round(server, 2),
        "startup_in_dom_s": round(first["in_dom"] / 1000 - t0, 2),
        "startup_seen_by_playwright_s": round(seen, 2),
        "startup_browser_launch_s": round(launch_s, 2),
    }


# In a fresh interpreter: the Simulator's imports, then the app's runtime (the embedded default: the bundled
# replay on the venues' clock) until its first book is in the store; seconds, printed as JSON.
FIRST_BOOK_PROBE = r"""
import json, time
t0 = time.perf_counter()
import core.views.simulator, core.views.preview, core.views.compare, core.views.inputs
from core.runtime import from_environment
t1 = time.perf_counter()
rt = from_environment()
t2 = time.perf_counter()
end = time.monotonic() + 60
while rt.latest() is None and time.monotonic() < end:
    time.sleep(0.002)
t3 = time.perf_counter()
rt.close()
print(json.dumps({"imports_s": t1 - t0, "runtime_s": t2 - t1, "first_book_s": t3 - t1,
                  "booked": rt.latest() is not None}))
"""


def bench_first_book(repeat: int = 5, tree: Path = ROOT) -> dict:
    """Runtime creation (``core.runtime.from_environment``) to the first book in the store, in fresh processes
    (startup, issue 15: what the first page view waits for on the server besides its imports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCS_")} | {"TCS_SOURCE": "replay"}
    runs = []
    for _ in range(repeat):
        r = subprocess.run(
            [sys.executable, "-c", FIRST_BOOK_PROBE], cwd=tree, env=env, capture_output=True, text=True, timeout=120
        )
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    out: dict = {"runs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in x.items()} for x in runs]}
    for key in ("imports_s", "runtime_s", "first_book_s"):
        out[f"median_{key}"] = round(float(np.median([x[key] for x in runs])), 3)
    return out


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


# ---- browser cost: main-thread busy share per page and refresh rate, input-to-effect latency -------------

#: the pages with a refresh-rate control, as the sidebar names them, and the heading each shows when loaded
BUSY_PAGES = ("Simulator", "Market", "Venues", "Execution")
BUSY_RATES_S = (0.25, 1.0, 2.0)
BUSY_TARGET_SHARE = 0.25  # issue 15: at most 25 % of the main thread in long tasks, Simulator at 1 s
INPUT_TARGET_S = 0.5  # issue 15: no input takes longer than this to show its effect at the default refresh
DEFAULT_RATE_S = 1.0

# Long tasks (> 50 ms on the main thread) as the browser reports them, from the moment this runs.
LONGTASK_JS = """
() => {
  window.__long = [];
  window.__longObserver?.disconnect();
  window.__longObserver = new PerformanceObserver(l => {
    for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]);
  });
  window.__longObserver.observe({type: 'longtask'});
  return performance.now();
}
"""

# Milliseconds in long tasks between two performance.now() readings (a task straddling an end is clipped).
LONGTASK_SUM_JS = """
([t0, t1]) => window.__long.reduce(
  (sum, [s, d]) => sum + Math.max(0, Math.min(s + d, t1) - Math.max(s, t0)), 0)
"""

# Arms a one-shot probe: the time of the next pointerdown or Enter (the input) and of the first animation
# frame after a caption in the main column matches ``pattern`` (its effect on screen); with ``lo``/``hi`` the
# pattern's first group, a number, must also lie in [lo, hi].
EFFECT_JS = """
([pattern, lo, hi]) => {
  const re = new RegExp(pattern);
  const probe = window.__probe = {t0: null, t1: null, e0: null};
  const fits = m => m && (lo === null || ((v => v >= lo && v <= hi)(parseFloat(m[1].replace(/,/g, '')))));
  const seen = () => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stCaptionContainer"]')]
    .some(c => fits(re.exec(c.innerText)));
  const input = e => {
    if (probe.t0 === null && (e.type === 'pointerdown' || e.key === 'Enter')) {
      probe.t0 = performance.now();
      probe.e0 = e.timeStamp;  // when the browser took the input, before a busy main thread dispatched it
    }
  };
  document.addEventListener('pointerdown', input, true);
  document.addEventListener('keydown', input, true);
  const obs = new MutationObserver(() => {
    if (probe.t0 === null || probe.t1 !== null || !seen()) return;
    obs.disconnect();
    requestAnimationFrame(() => { probe.t1 = performance.now(); });
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  return seen();
}
"""

#: the Simulator's fill sentence (a caption under the cards) for a market order of each side, and a limit order
FILL_SENTENCE = {
    "buy": r"^Buy .* at average",
    "sell": r"^Sell .* at average",
    "limit": r"^Limit (buy|sell) ",
}


def _rate_label(rate_s: float) -> str:
    return f"{rate_s:g} s"


def open_page(page, app: App, name: str) -> None:
    """Load the app (the Simulator is the default page) and go to ``name`` through the sidebar."""
    page.goto(app.url)
    page.locator("h1", has_text="Simulator").wait_for(timeout=90_000)
    if name != "Simulator":
        go_to(page, name)
        page.locator("h1", has_text=name).wait_for(timeout=60_000)


def set_refresh(page, rate_s: float) -> None:
    """Pick the rate in the page's "Refresh every" control (a segmented control: its options are radios)."""
    page.get_by_role("radio", name=_rate_label(rate_s), exact=True).first.click(timeout=30_000)


def task_counters(page) -> tuple:
    """Two DevTools sessions on ``page``: Chrome's ``TaskDuration`` (main-thread task time) in wall time and in
    the thread's CPU time (``threadTicks``: what the page itself cost, whatever else runs on the machine)."""
    wall, cpu = page.context.new_cdp_session(page), page.context.new_cdp_session(page)
    wall.send("Performance.enable", {"timeDomain": "timeTicks"})
    cpu.send("Performance.enable", {"timeDomain": "threadTicks"})
    return wall, cpu


def _task_s(cdp) -> float:
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


def busy_share(page, counters: tuple, seconds: float) -> dict:
    """Over ``seconds`` of wall time: the share the page's main thread spent in long tasks (the
    ``longtask`` entries, > 50 ms each), in any task (wall time) and in any task on the CPU (thread time)."""
    wall, cpu = counters
    t0 = page.evaluate(LONGTASK_JS)
    c0, u0, w0 = _task_s(wall), _task_s(cpu), time.perf_counter()
    page.wait_for_timeout(seconds * 1000)
    t1 = page.evaluate("performance.now()")
    c1, u1, w1 = _task_s(wall), _task_s(cpu), time.perf_counter()
    long_ms = page.evaluate(LONGTASK_SUM_JS, [t0, t1])
    return {
        "longtask_share": round(long_ms / (t1 - t0), 3),
        "task_share": round((c1 - c0) / (w1 - w0), 3),
        "task_cpu_share": round((u1 - u0) / (w1 - w0), 3),
        "longtasks": page.evaluate("window.__long.length"),
    }


def bench_browser_busy(seconds: float = 20.0, settle_s: float = 3.0, pages=BUSY_PAGES, rates=BUSY_RATES_S) -> dict:
    """Per page and refresh rate: the main-thread busy share of one headless Chromium session over ``seconds``
    (after ``settle_s`` at that rate). Replay source, one session, 1400x1000 viewport."""
    from playwright.sync_api import sync_playwright

    app = App().start()
    out: dict[str, dict[str, dict]] = {}
    try:
        with sync_playwright() as p:
            browser = launch(p)
            for name in pages:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                open_page(page, app, name)
                page.locator(".js-plotly-plot, [data-testid='stDataFrame']").first.wait_for(
                    state="attached", timeout=60_000
                )
                counters = task_counters(page)
                for rate in rates:
                    set_refresh(page, rate)
                    page.wait_for_timeout(settle_s * 1000)
                    out.setdefault(name, {})[_rate_label(rate)] = busy_share(page, counters, seconds)
                    print(f"  busy {name} @ {_rate_label(rate)}: {out[name][_rate_label(rate)]}", flush=True)
                page.context.close()
            browser.close()
    finally:
        app.stop()
    sim = out.get("Simulator", {}).get(_rate_label(DEFAULT_RATE_S), {})
    return {
        "browser_busy": out,
        "browser_busy_window_s": seconds,
        "browser_busy_sim_1s_longtask_share": sim.get("longtask_share"),
    }


def _effect_time(
    page, pattern: str, act, within=(None, None), timeout_s: float = 20.0
) -> tuple[float, float, float] | None:
    """Seconds from the input ``act`` performs to the first frame showing a caption matching ``pattern``: from
    the input's handler, and from the event's own time stamp (adds the wait for a busy main thread); and the
    milliseconds of long tasks in between (``LONGTASK_JS`` must be running)."""
    page.evaluate(EFFECT_JS, [pattern, *within])
    act()
    try:
        page.wait_for_function("window.__probe.t1 !== null && window.__probe.t0 !== null", timeout=timeout_s * 1000)
    except Exception:
        return None
    probe = page.evaluate("window.__probe")
    long_ms = page.evaluate(LONGTASK_SUM_JS, [probe["e0"], probe["t1"]])
    return (probe["t1"] - probe["t0"]) / 1000, (probe["t1"] - probe["e0"]) / 1000, float(long_ms)


def bench_input_latency(tries: int = 10, pause_s: float = 1.3) -> dict:
    """Input to effect on the Simulator at the default refresh (1 s): the Buy/Sell switch, a size typed (Enter),
    the order type; ``tries`` of each, alternating, ``pause_s`` apart (so an input lands anywhere in a refresh).

    Timed from the input's handler in the page to the first animation frame after the new fill sentence is in
    the document; ``max_from_event_s`` times the slowest from the event's time stamp instead (the handler runs
    late when the main thread is busy as the input arrives). ``longtask_ms_median`` and ``slowest_longtask_ms``:
    the browser's long tasks (> 50 ms) between the input and its effect, in the median try and in the slowest
    (most of the slowest one's time in long tasks: the browser was busy; little: the server or the CPU)."""
    from playwright.sync_api import sync_playwright

    app = App().start()
    times: dict[str, list[tuple[float, float, float]]] = {"side": [], "size": [], "order_type": []}
    missing = dict.fromkeys(times, 0)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            open_page(page, app, "Simulator")
            page.locator(".js-plotly-plot").nth(2).wait_for(state="attached", timeout=60_000)
            page.wait_for_timeout(3000)
            page.evaluate(LONGTASK_JS)
            main = page.locator('[data-testid="stMain"]')
            qty = page.get_by_role("textbox", name="Quantity (USD)")
            limit_ok = main.get_by_role("radio", name="Limit").is_enabled()

            def click(label: str):  # a segmented control's option is a radio button
                return lambda: main.get_by_role("radio", name=label, exact=True).first.click()

            def radio(label: str):
                return lambda: main.locator('[data-testid="stRadio"] label', has_text=label).first.click()

            def typed(text: str):
                def act() -> None:
                    qty.fill(text)
                    qty.press("Enter")

                return act

            plan = []
            for i in range(tries):
                side = "sell" if i % 2 == 0 else "buy"
                plan.append(("side", FILL_SENTENCE[side], click(side.capitalize()), (None, None)))
            # the fill sentence names the filled USD: $1,000 or $100 rounded down to the lot (0.001 BTC, about $60,
            # on the default replay), so "$500 to $1,100" and "$1 to $200" tell the two sizes apart
            sizes = (("1000", (500.0, 1100.0)), ("100", (1.0, 200.0)))
            for i in range(tries):
                text, within = sizes[i % 2]
                plan.append(("size", r"\(\$([0-9,.]+)\) at average", typed(text), within))
            if limit_ok:
                for i in range(tries):
                    limit = i % 2 == 0
                    pattern = FILL_SENTENCE["limit"] if limit else r"^(Buy|Sell) .* at average"
                    plan.append(("order_type", pattern, radio("Limit" if limit else "Market"), (None, None)))
            for what, pattern, act, within in plan:
                t = _effect_time(page, pattern, act, within)
                if t is None:
                    missing[what] += 1
                else:
                    times[what].append(t)
                page.wait_for_timeout(pause_s * 1000)
            browser.close()
    finally:
        app.stop()
    out: dict = {}
    for what, ts in times.items():
        cols = np.asarray(ts, dtype=np.float64).reshape(-1, 3)  # handler, event, long-task ms
        a, e, lt = cols[:, 0], cols[:, 1], cols[:, 2]
        out[what] = {
            "median_s": round(float(np.median(a)), 3) if a.size else None,
            "max_s": round(float(a.max()), 3) if a.size else None,
            "max_from_event_s": round(float(e.max()), 3) if e.size else None,
            "longtask_ms_median": round(float(np.median(lt))) if lt.size else None,
            "slowest_longtask_ms": round(float(lt[int(np.argmax(a))])) if a.size else None,
            "tries": len(ts),
            "missed": missing[what],
        }
    worst = [v["max_s"] for v in out.values() if v["max_s"] is not None]
    return {"input_to_effect": out, "input_to_effect_max_s": max(worst) if worst else None}


def compile_tree(tree: Path) -> None:
    """Compile a checkout's bytecode as ``make run`` does (the Makefile's ``bytecode`` step), so every checkout
    measured starts the way it would be run."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app.py", "core", "pages"], cwd=tree, check=True)


#: the server speedups ``requirements.txt`` installs (httptools, uvloop); ``--base-as-before`` hides them from a base
SPEEDUPS = ("httptools", "uvloop")


def as_before(tree: Path) -> dict[str, str]:
    """A checkout started as before session 10's start-up changes: its compiled bytecode removed (this box sets
    ``PYTHONDONTWRITEBYTECODE``, so it compiles from source on every start) and ``SPEEDUPS`` unimportable (stub
    modules first on its path: uvicorn then falls back to h11 and asyncio's loop, as when they are not installed);
    the environment to start it with."""
    for d in [*tree.glob("core/**/__pycache__"), tree / "pages" / "__pycache__", tree / "__pycache__"]:
        shutil.rmtree(d, ignore_errors=True)
    stubs = Path(tempfile.mkdtemp(prefix="tcs-no-speedups-"))
    for name in SPEEDUPS:
        (stubs / f"{name}.py").write_text(
            f"raise ModuleNotFoundError('{name} hidden by benchmarks.browser --base-as-before')\n"
        )
    return {"PYTHONPATH": os.pathsep.join([str(stubs), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def compare_trees(what: str, base: Path, tree: Path, repeat: int, *, base_as_before: bool = False) -> dict:
    """``repeat`` runs of each checkout's app, alternating (base first, then the other way round), so both see the
    same machine load; the medians and their ratio (tree / base). ``base_as_before``: the base starts as before the
    start-up changes (``as_before``), so one run measures them all; otherwise both are compiled alike."""
    key = "startup_s" if what == "startup" else "first_book_s"
    base_env = as_before(base) if base_as_before else None
    for path in (tree,) if base_as_before else (base, tree):
        compile_tree(path)
    runs: dict[str, list] = {"base": [], "tree": []}
    for i in range(repeat):
        for name in ("base", "tree") if i % 2 == 0 else ("tree", "base"):
            path, env = (base, base_env) if name == "base" else (tree, None)
            if what == "startup":
                runs[name].append(bench_startup(path, env))
            else:
                runs[name].append(bench_first_book(1, path)["runs"][0])
    med = {name: float(np.median([x[key] for x in xs])) for name, xs in runs.items()}
    return {
        "what": what,
        "base": str(base),
        "tree": str(tree),
        "runs": runs,
        f"median_{key}": med,
        "ratio_tree_to_base": round(med["tree"] / med["base"], 3),
        "base_as_before": base_as_before,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.browser [startup|first-book|busy|input] ...``: one browser figure alone, printed as JSON."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m benchmarks.browser")
    ap.add_argument("what", choices=("startup", "first-book", "busy", "input"))
    ap.add_argument("--seconds", type=float, default=20.0, help="busy: the window per page and rate")
    ap.add_argument("--pages", nargs="*", default=list(BUSY_PAGES))
    ap.add_argument("--rates", nargs="*", type=float, default=list(BUSY_RATES_S))
    ap.add_argument("--tries", type=int, default=10, help="input: tries per input")
    ap.add_argument("--repeat", type=int, default=1, help="startup, first-book: runs (the median is reported too)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="startup, first-book: the checkout whose app is measured")
    ap.add_argument(
        "--base",
        type=Path,
        default=None,
        help="startup, first-book: alternate runs with this checkout's app, both reported",
    )
    ap.add_argument(
        "--base-as-before",
        action="store_true",
        help="startup: start the --base checkout without compiled bytecode and with httptools/uvloop hidden",
    )
    args = ap.parse_args(argv)
    if args.what in ("startup", "first-book") and args.base is not None:
        r = compare_trees(args.what, args.base, args.tree, max(args.repeat, 1), base_as_before=args.base_as_before)
    elif args.what == "startup":
        compile_tree(args.tree)
        runs = [bench_startup(args.tree) for _ in range(args.repeat)]
        r = {"runs": runs, "median_s": float(np.median([x["startup_s"] for x in runs]))}
    elif args.what == "first-book":
        r = bench_first_book(max(args.repeat, 1), args.tree)
    elif args.what == "busy":
        r = bench_browser_busy(args.seconds, pages=tuple(args.pages), rates=tuple(args.rates))
    else:
        r = bench_input_latency(args.tries)
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make load` and `make soak`: bounded, loopback-only runs whose figures go to docs/RELIABILITY.md.

load: 10 browser sessions (Playwright contexts, headless Chromium) on one app process for 60 s with the
      replay at 10x: no page errors, every session keeps updating, per-tick p99 within 2x of idle, one
      feed connection in total.
soak: 30 minutes of replay at 20x through the full pipeline with one session open: resident memory flat
      after warm-up (< 5 % growth), thread count constant, every reconnect accounted for.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

from benchmarks.browser import OBSERVER_JS, App, ThreadedReplay, launch, open_market

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "reliability.json"


def _metrics(path: Path) -> dict:
    for _ in range(50):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise RuntimeError("no metrics from the app")


class TickLog:
    """Merges the app's exported per-tick timings, read every few seconds, into one history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ticks: dict[float, float] = {}  # receive time -> parse + book + publish, µs

    def poll(self) -> dict:
        m = _metrics(self.path)
        t = m["ticks"]
        for r, a, b, c in zip(t["recv_s"], t["parse_us"], t["book_us"], t["publish_us"]):
            self.ticks[r] = a + b + c
        return m

    def sleep(self, seconds: float, every: float = 2.0) -> None:
        end = time.time() + seconds
        while time.time() < end:
            time.sleep(min(every, max(0.0, end - time.time())))
            self.poll()

    def p99(self, since: float, until: float) -> tuple[float, int]:
        recv = np.fromiter(self.ticks.keys(), float)
        total = np.fromiter(self.ticks.values(), float)
        sel = (recv >= since) & (recv < until)
        return (float(np.percentile(total[sel], 99)) if sel.any() else float("nan")), int(sel.sum())


def run_load(sessions: int = 10, seconds: float = 60.0, idle_s: float = 20.0, speed: float = 10.0) -> dict:
    from playwright.sync_api import sync_playwright

    metrics_file = Path(tempfile.mkdtemp()) / "metrics.json"
    replay = ThreadedReplay(speed=speed)
    url = replay.start()
    app = App({"TCS_SOURCE": "goquant", "TCS_FEED_URL": url, "TCS_METRICS_FILE": str(metrics_file)}).start()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)

            def open_session():
                ctx = browser.new_context()
                page = ctx.new_page()
                page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
                page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
                open_market(page, app)
                page.evaluate(OBSERVER_JS)
                return page

            log = TickLog(metrics_file)
            first = open_session()  # starts the feed (one per process, on first use)
            idle_start = time.time()
            log.sleep(idle_s)
            idle_end = time.time()
            pages = [first]
            for _ in range(sessions - 1):
                pages.append(open_session())
                log.poll()
            load_start = time.time()
            half = load_start + seconds / 2
            log.sleep(seconds)
            load_end = time.time()
            updates_first_half, updates_second_half = [], []
            for page in pages:
                ticks = page.evaluate("window.__ticks")
                seen = [t[1] / 1000 for t in ticks]
                updates_first_half.append(sum(load_start <= s < half for s in seen))
                updates_second_half.append(sum(half <= s < load_end for s in seen))
            browser.close()
        m = log.poll()
        idle_p99, idle_n = log.p99(idle_start, idle_end)
        load_p99, load_n = log.p99(load_start, load_end)
        connections = replay.server.connections
        app_rss = psutil.Process(app.proc.pid).memory_info().rss / 2**20 if app.proc else None
    finally:
        app.stop()
        replay.stop()
    return {
        "sessions": sessions,
        "seconds": seconds,
        "replay_speed": speed,
        "page_errors": errors[:20],
        "page_error_count": len(errors),
        "updates_per_session_first_half": updates_first_half,
        "updates_per_session_second_half": updates_second_half,
        "every_session_updating": all(a > 0 and b > 0 for a, b in zip(updates_first_half, updates_second_half)),
        "tick_p99_idle_us": round(idle_p99, 1),
        "tick_p99_load_us": round(load_p99, 1),
        "ticks_idle": idle_n,
        "ticks_load": load_n,
        "p99_ratio_load_over_idle": round(load_p99 / idle_p99, 2),
        "feed_connections": connections,
        "feed_status": {k: m["status"][k] for k in ("state", "messages", "books", "reconnects", "parse_errors")},
        "app_rss_mb": round(app_rss, 1) if app_rss else None,
    }


def run_soak(minutes: float = 30.0, speed: float = 20.0, sample_s: float = 10.0, warmup_min: float = 3.0) -> dict:
    from playwright.sync_api import sync_playwright

    metrics_file = Path(tempfile.mkdtemp()) / "metrics.json"
    replay = ThreadedReplay(speed=speed)
    url = replay.start()
    app = App({"TCS_SOURCE": "goquant", "TCS_FEED_URL": url, "TCS_METRICS_FILE": str(metrics_file)}).start()
    samples = []
    errors: list[str] = []
    try:
        proc = psutil.Process(app.proc.pid)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_context().new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{app.url}/")
            page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
            t0 = time.time()
            while time.time() - t0 < minutes * 60:
                time.sleep(sample_s)
                m = _metrics(metrics_file)
                samples.append({
                    "t_s": round(time.time() - t0, 1),
                    "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                    "threads": proc.num_threads(),
                    "books": m["status"]["books"],
                    "reconnects": m["status"]["reconnects"],
                    "state": m["status"]["state"],
                })
            browser.close()
        connections = replay.server.connections
        final = _metrics(metrics_file)["status"]
    finally:
        app.stop()
        replay.stop()
    after = [s for s in samples if s["t_s"] >= warmup_min * 60] or samples
    rss0, rss1 = after[0]["rss_mb"], after[-1]["rss_mb"]
    threads = sorted({s["threads"] for s in after})
    return {
        "minutes": minutes,
        "replay_speed": speed,
        "books": final["books"],
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_pct": round((rss1 - rss0) / rss0 * 100, 2),
        "rss_max_mb": max(s["rss_mb"] for s in after),
        "thread_counts_after_warmup": threads,
        "feed_connections": connections,
        "reconnects_reported": final["reconnects"],
        "reconnects_accounted": connections - 1 == final["reconnects"],
        "page_errors": errors[:20],
        "samples": samples,
    }


def write(section: str, result: dict) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    result["run_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    data[section] = result
    OUT.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reliability")
    ap.add_argument("what", choices=["load", "soak"])
    ap.add_argument("--minutes", type=float, default=30.0, help="soak duration")
    ap.add_argument("--seconds", type=float, default=60.0, help="load duration")
    ap.add_argument("--sessions", type=int, default=10)
    args = ap.parse_args(argv)
    if args.what == "load":
        r = run_load(sessions=args.sessions, seconds=args.seconds)
        ok = r["page_error_count"] == 0 and r["every_session_updating"] and r["feed_connections"] == 1 \
            and r["p99_ratio_load_over_idle"] <= 2
    else:
        r = run_soak(minutes=args.minutes)
        ok = r["rss_growth_pct"] < 5 and len(r["thread_counts_after_warmup"]) == 1 and r["reconnects_accounted"]
    write(args.what, r)
    print(json.dumps({k: v for k, v in r.items() if k != "samples"}, indent=2))
    print(f"{args.what}: {'all checks met' if ok else 'SOME CHECKS MISSED'} (written to {OUT.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

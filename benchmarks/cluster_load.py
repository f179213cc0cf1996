"""`make load-cluster` and `make soak-cluster`: the several-process deployment (core/cluster.py) under browsers.

load: redis-server, one ingest, REPLICAS app replicas and haproxy (cookie stickiness) on loopback; SESSIONS
      headless Chromium sessions (Playwright contexts) open the Market page through haproxy and stay for
      DURATION seconds. Per session: every change of the "Book time" metric on screen (a render of a new
      book), the replica that served it (haproxy's X-Served-By on every answer, and the stickiness cookie at
      the start and the end). Against the ingest's own publish time of each book (read from the Redis stream
      by this process): tick-to-screen (publish -> on screen) and the rendered book age (the age of the book
      on screen, sampled every 100 ms of the window). The ingest's book rate against what the replay offers.
soak: the cluster with a few sessions for DURATION minutes, Redis killed and restarted twice: the book time
      on screen never goes backwards except where the replay loops, and each replica's and the ingest's
      resident memory and thread count stay flat (thread names are recorded, so a change names its thread).

Bounded in time and count, loopback only. Figures go to benchmarks/cluster.json, docs/RELIABILITY.md and
docs/PERFORMANCE.md (the last section of each).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil
import redis

from benchmarks.browser import OBSERVER_JS, launch
from core.cluster import Cluster
from core.feed.bus import lease_key, status_key, stream_key
from core.feed.recording import iso_ms
from core.feed.replay import default_recording

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "cluster.json"
COOKIE = "TCS_REPLICA"
STALL_S = 5.0  # a session that shows no new book for this long (refresh every 1 s) has stopped updating
MACHINE = "a shared 2-core box (other jobs running)"


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


class Session:
    """One browser context on the Market page through haproxy."""

    def __init__(self, browser, url: str) -> None:
        self.ctx = browser.new_context()
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(180_000)  # a busy shared machine: opening a page can take a while
        self.served_by: set[str] = set()
        self.errors: list[str] = []
        self.page.on("response", lambda r: self._served(r.headers.get("x-served-by")))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url)
        self.page.get_by_role("link", name="Market").click()
        self.page.get_by_text("Book time (UTC)").wait_for()
        self.page.evaluate(OBSERVER_JS)
        self.cookie_start = self.cookie()

    def _served(self, name: str | None) -> None:
        if name:
            self.served_by.add(name)

    def cookie(self) -> str | None:
        return next((c["value"] for c in self.ctx.cookies() if c["name"] == COOKIE), None)

    def ticks(self) -> list[tuple[str, float]]:
        return [(t[0], float(t[1])) for t in self.page.evaluate("window.__ticks")]


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


def run_load(*, sessions: int, seconds: float, replicas: int = 3, speed: float = 5.0) -> dict:
    from playwright.sync_api import sync_playwright

    rec = default_recording()
    key = (rec.exchange, rec.symbol)
    logs = Path(tempfile.mkdtemp(prefix="tcs-load-cluster-"))
    cluster = Cluster(replicas=replicas, port=0, feeds=["replay"], speed=speed, logs=logs, metrics=True)
    cluster.start()
    try:
        stream = StreamLog(cluster.bus_url, cluster.redis_password, stream_key(*key)).start()
        client = redis.Redis.from_url(cluster.bus_url, password=cluster.redis_password, socket_timeout=2)
        pids = {name: proc.pid for name, proc in cluster.procs}
        with sync_playwright() as p:
            browser = launch(p)
            opened = [Session(browser, cluster.url) for _ in range(sessions)]
            procs = {name: psutil.Process(pid) for name, pid in pids.items()}
            for proc in procs.values():  # start psutil's CPU counters for the window (same objects below)
                proc.cpu_percent(None)
            m0, t0 = _ingest_messages(client, key), time.time()
            published0 = stream.count
            time.sleep(seconds)
            m1, t1 = _ingest_messages(client, key), time.time()
            cpu = {name: round(proc.cpu_percent(None), 1) for name, proc in procs.items()}
            published1 = stream.count
            per_session = []
            for s in opened:
                ticks = [(text, ms) for text, ms in s.ticks() if t0 * 1000 <= ms <= t1 * 1000]
                per_session.append({"ticks": ticks, "cookie_end": s.cookie(), "s": s})
            stats = _proc_stats(pids)
            browser.close()
        stream.stop()
    finally:
        cluster.stop()
    delays: list[float] = []
    ages: list[float] = []
    rows = []
    for item in per_session:
        s, ticks = item["s"], item["ticks"]
        times = [ms for _, ms in ticks]
        gaps = np.diff([t0 * 1000, *times, t1 * 1000]) / 1000
        pubs = [stream.publish_ms(text, ms) for text, ms in ticks]
        delays += [ms - pub for (_, ms), pub in zip(ticks, pubs, strict=True) if pub is not None]
        for grid in np.arange(t0 * 1000, t1 * 1000, 100.0):  # the age of what is on screen, every 100 ms
            shown = [pub for (_, ms), pub in zip(ticks, pubs, strict=True) if ms <= grid and pub is not None]
            if shown:
                ages.append(grid - shown[-1])
        rows.append(
            {
                "replica": s.cookie_start,
                "renders": len(ticks),
                "longest_gap_s": round(float(gaps.max()), 2),
                "served_by": sorted(s.served_by),
                "cookie_kept": s.cookie_start == item["cookie_end"],
                "errors": s.errors[:5],
            }
        )
    by_replica: dict[str, list[int]] = {}
    for r in rows:
        by_replica.setdefault(r["replica"] or "?", []).append(r["renders"])
    window = t1 - t0
    return {
        "machine": MACHINE,
        "sessions": sessions,
        "replicas": replicas,
        "seconds": round(window, 1),
        "replay_speed": speed,
        "every_session_updating": all(r["longest_gap_s"] <= STALL_S and r["renders"] > 0 for r in rows),
        "no_session_changed_replica": all(r["cookie_kept"] and r["served_by"] == [r["replica"]] for r in rows),
        "renders_per_session_by_replica": by_replica,
        "longest_gap_s_max": max(r["longest_gap_s"] for r in rows),
        "tick_to_screen_ms": {"p50": _pct(delays, 50), "p99": _pct(delays, 99), "n": len(delays)},
        "rendered_book_age_ms": {"p50": _pct(ages, 50), "p99": _pct(ages, 99), "n": len(ages)},
        "offered_books_per_s": _offered_per_s(speed),
        "ingest_books_per_s": round((m1 - m0) / window, 1) if m0 is not None and m1 is not None else None,
        "published_books_per_s": round((published1 - published0) / window, 1),
        "cpu_percent": cpu,
        "processes_end": stats,
        "page_errors": sum(len(r["errors"]) for r in rows),
        "sessions_detail": rows,
    }


def run_soak(
    *, minutes: float, sessions: int = 3, replicas: int = 2, speed: float = 5.0, sample_s: float = 10.0
) -> dict:
    from playwright.sync_api import sync_playwright

    rec = default_recording()
    key = (rec.exchange, rec.symbol)
    logs = Path(tempfile.mkdtemp(prefix="tcs-soak-cluster-"))
    cluster = Cluster(replicas=replicas, port=0, feeds=["replay"], speed=speed, logs=logs, metrics=True)
    cluster.start()
    total_s = minutes * 60
    restarts_at = [total_s / 3, 2 * total_s / 3]
    samples: list[dict] = []
    restarts: list[dict] = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            opened = [Session(browser, cluster.url) for _ in range(sessions)]
            start = time.time()
            while (elapsed := time.time() - start) < total_s:
                if restarts_at and elapsed >= restarts_at[0]:
                    restarts_at.pop(0)
                    t = time.time()
                    cluster.restart_redis(down_s=5.0)
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
                time.sleep(min(sample_s, max(0.0, total_s - (time.time() - start))))
            ticks = [s.ticks() for s in opened]
            errors = [e for s in opened for e in s.errors]
            sticky = all(s.cookie() == s.cookie_start and len(s.served_by) == 1 for s in opened)
            browser.close()
        lease = redis.Redis.from_url(cluster.bus_url, password=cluster.redis_password).get(lease_key(*key))
    finally:
        cluster.stop()
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
        r: sorted({tuple(s["replica_threads"].get(r) or ()) for s in warm}, key=len) for r in ("app1", "app2")
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
        "sessions_kept_their_replica": sticky,
        "page_errors": len(errors),
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
    return [
        "| check | result |",
        "|---|---|",
        f"| every session kept updating (no gap over {STALL_S:g} s between new books on screen) | "
        f"{'yes' if r['every_session_updating'] else 'NO'} (longest gap {r['longest_gap_s_max']} s) |",
        f"| renders per session, by replica | {r['renders_per_session_by_replica']} |",
        f"| no session changed replica (cookie at start = at end = every X-Served-By) | "
        f"{'yes' if r['no_session_changed_replica'] else 'NO'} |",
        f"| tick-to-screen (ingest publish -> on screen) p50 / p99 | {t2s['p50']} / {t2s['p99']} ms ({t2s['n']} renders) |",
        f"| rendered book age (sampled every 100 ms) p50 / p99 | {age['p50']} / {age['p99']} ms |",
        f"| ingest books/s vs offered by the replay | {r['ingest_books_per_s']} vs {r['offered_books_per_s']} "
        f"(entries this benchmark's own stream reader saw: {r['published_books_per_s']}/s) |",
        f"| CPU % over the window (100 = one core) | {r['cpu_percent'] or 'not captured in this run'} |",
        f"| page errors | {r['page_errors']} |",
    ]


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


def reliability_lines() -> list[str]:
    """The cluster sections of docs/RELIABILITY.md (benchmarks.reliability.write_report appends them)."""
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    lines = ["", "## 5. Cluster load (`make load-cluster SESSIONS=30 DURATION=60`)", ""]
    if "load" in data:
        r = data["load"]
        lines += [
            f"Run {r['run_at']} on {r['machine']}: {r['sessions']} headless Chromium sessions through haproxy to "
            f"{r['replicas']} replicas for {r['seconds']:g} s, one ingest replaying at {r['replay_speed']:g}x"
            + (
                " (**a smaller run than the 30 sessions the target names; to be rerun**)."
                if r["sessions"] < 30
                else "."
            ),
            "",
            *_load_table(r),
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
        f"Measured in one run ({r['run_at']}, {r['machine']}; {r['sessions']} sessions, {r['replicas']} replicas, "
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cluster_load")
    ap.add_argument("what", choices=["load", "soak", "report"])
    ap.add_argument("--sessions", type=int, default=None, help="browser sessions (load 30, soak 3)")
    ap.add_argument("--duration", type=float, default=None, help="load: seconds (60); soak: minutes (30)")
    ap.add_argument("--replicas", type=int, default=None, help="load 3, soak 2")
    ap.add_argument("--speed", type=float, default=5.0, help="replay pace of the ingest")
    args = ap.parse_args(argv)
    if args.what == "report":
        write_reports()
        return 0
    if args.what == "load":
        r = run_load(
            sessions=args.sessions or 30, seconds=args.duration or 60.0, replicas=args.replicas or 3, speed=args.speed
        )
        ok = r["every_session_updating"] and r["no_session_changed_replica"] and r["page_errors"] == 0
    else:
        r = run_soak(
            minutes=args.duration or 30.0, sessions=args.sessions or 3, replicas=args.replicas or 2, speed=args.speed
        )
        flat = all(g["rss_growth_pct"] < 5 for g in r["processes"].values())
        ok = r["shown_backwards"] == 0 and r["sessions_kept_their_replica"] and flat
    write(args.what, r)
    print(json.dumps({k: v for k, v in r.items() if k not in ("samples", "sessions_detail")}, indent=2))
    print(f"{args.what}: {'all checks met' if ok else 'SOME CHECKS MISSED'} (written to {OUT.relative_to(ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make load` and `make soak`: bounded, loopback-only runs whose figures go to docs/RELIABILITY.md.

load: 10 browser sessions (Playwright contexts, headless Chromium) on one app process for 60 s with the
      replay at 10x: no page errors, every session keeps updating, per-tick p99 within 2x of idle, one
      feed connection in total. Then sessions per app process (benchmarks/sessions.py: protocol sessions,
      no browser) with the feed embedded and on a bus replica, Simulator and Market.
soak: 30 minutes of replay at 20x through the full pipeline with one session open: resident memory flat
      after warm-up (< 5 % growth), thread count constant, every reconnect accounted for.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
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
        for r, a, b, c in zip(t["recv_s"], t["parse_us"], t["book_us"], t["publish_us"], strict=False):
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


def run_load(
    sessions: int = 10, seconds: float = 60.0, idle_s: float = 20.0, speed: float = 10.0, pinned: bool = True
) -> dict:
    """With ``pinned`` the app runs on core 0 and the load generator (browsers, replay server, this
    process) on core 1, as visitors' browsers would run on their own machines, not the server's."""
    from playwright.sync_api import sync_playwright

    app_cpus = gen_cpus = None
    if pinned and (os.cpu_count() or 1) >= 2:
        app_cpus, gen_cpus = "0", "1"
        os.sched_setaffinity(0, {1})
    metrics_file = Path(tempfile.mkdtemp()) / "metrics.json"
    replay = ThreadedReplay(speed=speed)
    url = replay.start()
    app = App(
        {"TCS_SOURCE": "goquant", "TCS_FEED_URL": url, "TCS_METRICS_FILE": str(metrics_file)}, cpus=app_cpus
    ).start()
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = launch(p, cpus=gen_cpus)

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
        "pinned": f"app on core {app_cpus}, browsers + replay server on core {gen_cpus}" if app_cpus else "no",
        "sessions": sessions,
        "seconds": seconds,
        "replay_speed": speed,
        "page_errors": errors[:20],
        "page_error_count": len(errors),
        "updates_per_session_first_half": updates_first_half,
        "updates_per_session_second_half": updates_second_half,
        "every_session_updating": all(
            a > 0 and b > 0 for a, b in zip(updates_first_half, updates_second_half, strict=False)
        ),
        "tick_p99_idle_us": round(idle_p99, 1),
        "tick_p99_load_us": round(load_p99, 1),
        "ticks_idle": idle_n,
        "ticks_load": load_n,
        "ticks_per_s_idle": round(idle_n / (idle_end - idle_start), 1),
        "ticks_per_s_load": round(load_n / (load_end - load_start), 1),
        "replay_offered_per_s": round(len(replay.recording) / replay.recording.duration_s * speed, 1),
        "p99_ratio_load_over_idle": round(load_p99 / idle_p99, 2),
        "feed_connections": connections,
        "feed_status": {k: m["status"][k] for k in ("state", "messages", "books", "reconnects", "parse_errors")},
        "app_rss_mb": round(app_rss, 1) if app_rss else None,
    }


def _os_thread_names(pid: int) -> dict[str, int]:
    """The kernel's name of each thread of ``pid`` (``/proc/<pid>/task/*/comm``), counted: a native thread a
    library starts is named here (Python 3.11 does not name its own threads in the kernel: they show as the
    process name), so with the Python-level names it identifies any thread the count gains."""
    names: dict[str, int] = {}
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        try:
            name = comm.read_text().strip()
        except OSError:  # the thread ended while listing
            continue
        names[name] = names.get(name, 0) + 1
    return dict(sorted(names.items()))


def _thread_changes(samples: list[dict]) -> list[dict]:
    """Every sample where the thread count changed, with the names that came and went (Python and kernel)."""
    out = []
    for a, b in itertools.pairwise(samples):
        if a["threads"] == b["threads"]:
            continue
        py_a, py_b = Counter(a.get("thread_names") or ()), Counter(b.get("thread_names") or ())
        os_a, os_b = Counter(a.get("os_thread_names") or {}), Counter(b.get("os_thread_names") or {})
        out.append(
            {
                "t_s": b["t_s"],
                "threads": [a["threads"], b["threads"]],
                "python_added": sorted((py_b - py_a).elements()),
                "python_gone": sorted((py_a - py_b).elements()),
                "os_added": sorted((os_b - os_a).elements()),
                "os_gone": sorted((os_a - os_b).elements()),
            }
        )
    return out


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
                samples.append(
                    {
                        "t_s": round(time.time() - t0, 1),
                        "rss_mb": round(proc.memory_info().rss / 2**20, 1),
                        "threads": proc.num_threads(),
                        "py_threads": m.get("threads"),  # Python threads: tells a native thread from a Python one
                        "thread_names": m.get("thread_names"),  # which Python thread, when the count changes
                        "os_thread_names": _os_thread_names(proc.pid),  # and which native one (kernel's names)
                        "books": m["status"]["books"],
                        "reconnects": m["status"]["reconnects"],
                        "state": m["status"]["state"],
                    }
                )
            browser.close()
        connections = replay.server.connections
        final = _metrics(metrics_file)["status"]
    finally:
        app.stop()
        replay.stop()
    after = [s for s in samples if s["t_s"] >= warmup_min * 60] or samples
    rss0, rss1 = after[0]["rss_mb"], after[-1]["rss_mb"]
    threads = sorted({s["threads"] for s in after})
    third = max(1, len(after) // 3)
    early, late = [s["threads"] for s in after[:third]], [s["threads"] for s in after[-third:]]
    return {
        # Streamlit runs each (fragment) rerun in a short-lived script thread, so a sample can catch one
        # more thread; a leak shows as growth, so compare the late maximum with the early one
        "threads_no_growth": max(late) <= max(early) and threads[-1] - threads[0] <= 2,
        "minutes": minutes,
        "replay_speed": speed,
        "books": final["books"],
        "rss_after_warmup_mb": rss0,
        "rss_end_mb": rss1,
        "rss_growth_pct": round((rss1 - rss0) / rss0 * 100, 2),
        "rss_max_mb": max(s["rss_mb"] for s in after),
        "thread_counts_after_warmup": threads,
        "thread_changes": _thread_changes(samples),  # which thread came or went, by name
        "feed_connections": connections,
        "reconnects_reported": final["reconnects"],
        "reconnects_accounted": connections - 1 == final["reconnects"],
        "page_errors": errors[:20],
        "samples": samples,
    }


def write(section: str, result: dict) -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    result["run_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data[section] = result
    OUT.write_text(json.dumps(data, indent=2) + "\n")


REPORT = ROOT / "docs" / "RELIABILITY.md"

FAULTS = """\
## 1. Fault matrix (runs in `make test`: `tests/loopback/test_faults.py`, `tests/loopback/test_feed.py`)

Real WebSocket servers on 127.0.0.1, started by the tests, misbehave on cue against the real feed client,
fed with real recorded frames. Every case asserts: no crash and no stuck thread; the status and counters
say what happened (each parse-error reason is logged once); only good books are ever published, and the
last good one stays available (marked stale when the feed goes quiet); recovery without intervention.

| fault | what the client does | test |
|---|---|---|
| abrupt close (no close frame), server back on the same port | RECONNECTING, capped jittered backoff (0.5 s doubling to 30 s), reconnects, counter +1 | `test_server_closes_abruptly_and_comes_back` |
| close in the middle of a burst | reconnects, resumes with the next good book | `test_close_in_the_middle_of_a_burst_recovers` |
| accepts but never sends | STALE after 3 s, drops and reconnects after 10 s | `test_accepts_but_never_sends_marks_stale_and_retries` |
| sends then goes silent | LIVE -> STALE -> RECONNECTING, last book kept | `test_silent_server_goes_stale_then_reconnects` |
| refuses connections for a while | keeps retrying; LIVE once the server listens | `test_refuses_connections_for_a_while_then_accepts` |
| very slow drip (1 msg / s) | STALE between messages, never drops the connection | `test_slow_drip_goes_stale_between_messages_but_never_drops` |
| malformed JSON, JSON list/string, missing `asks`/`bids`, sides not lists, empty side, crossed book, unsorted or duplicate levels, text / NaN / Infinity / 1e999 / negative prices or sizes, level not a pair, wrong symbol, bad timestamp (21 cases) | counted by reason (`malformed_json`, `wrong_shape`, `missing_asks`, `empty_side`, `crossed_book`, `unsorted_levels`, `non_numeric_level`, `non_finite_level`, `non_positive_price`, `negative_size`, `wrong_instrument`, `bad_timestamp`), skipped; the next good book applies | `test_content_fault_is_counted_skipped_and_never_published[*]` |
| frames keep arriving but none is a valid book (all rejected) | counted; STALE after 3 s without a valid book, reconnect after 10 s | `test_a_stream_of_rejected_messages_goes_stale_then_reconnects` |
| message over the size limit (4 MiB) | the library closes with 1009; counted as `message_too_large`; reconnects | `test_message_over_size_limit_closes_counts_and_recovers` |
| burst of 10,000 messages at once | all 10,000 applied, histories stay bounded | `test_burst_of_10000_messages` |
| OKX sequence gap | resync: unsubscribe + subscribe; in-flight updates are held and dropped by the new snapshot's seqId | `test_okx_gap_triggers_resubscribe_and_recovery` |
| OKX update with a NaN, Infinity, text or negative price or size, or emptying a side | every level is checked before it touches the maintained book; `corrupt_update` resync, never published | `test_okx_corrupt_update_resyncs_and_recovers[*]`, `test_okx_update_emptying_a_side_resyncs` |
| OKX checksum mismatch (non-zero checksum) | resync; the corrupt book is never published | `test_okx_checksum_mismatch_resyncs_and_keeps_the_last_good_book` |
| OKX notice 64008 | reconnects and resubscribes | `test_okx_notice_64008_reconnects` |
| OKX missing `pong` | text `ping` after silence, reconnect when nothing comes back | `test_okx_missing_pong_leads_to_reconnect` |
| OKX update before snapshot | updates held; no WS snapshot and no REST: one resubscribe | `test_okx_update_before_snapshot_without_rest_resubscribes` |
| OKX sends no WS snapshot at all (announced change) | after 2 s, REST `/api/v5/market/books` snapshot joined to the held updates by seqId; a REST book that does not join is a gap | `test_okx_without_ws_snapshot_bootstraps_from_rest`, `tests/unit/test_okx.py` |
| bad operator configuration (unknown symbol, bad source) | the app falls back to the replay and says why | `tests/app/test_app_market.py` |

### The book bus (runs in `make test`: `tests/loopback/test_bus.py`)

With several processes (`python -m core.ingest` -> Redis -> app replicas with `TCS_BUS`, README), the
tests start a real `redis-server` on a free loopback port (`--save '' --appendonly no`; `make test` installs
Debian's package where missing) and a real ingest replaying recorded books on loopback. Checked: the books a
reader publishes are the ingest's, array for array (prices, sizes, cumulative depth, times); two readers end
on the same newest book; a malformed entry (missing field, bytes that are not whole float64s, a non-integer
field, a crossed, unsorted or non-finite book, the wrong instrument) is counted under its reason and skipped,
the last good book staying; an entry not newer than the last of its run id is dropped; an ingest restart
(new run id, sequence starting over) is followed; Redis killed for 2 s and restarted, and Redis frozen with
SIGSTOP then resumed: the reader's book goes STALE by its age (a frozen Redis raises nothing, so staleness
never waits for an exception), the last good book stays, and the reader is LIVE again with newer books a few
seconds after Redis answers, reconnecting by itself (capped backoff 0.2 s to 2 s; 1 s socket timeouts). The
publisher writes from its own thread and keeps only the newest unsent book per instrument, so a slow or
frozen Redis never holds up a feed. Redis away for 10 s (ConnectionErrors rather than hidden retries) ends the
same way, and a reader that falls 500 books behind shows the newest at once instead of walking the backlog.

One ingest publishes an instrument at a time (`tests/loopback/test_bus.py`, real ingest processes): each
stream has a lease key (`lease:{exchange}:{symbol}`, the run id, 5 s expiry) that the ingest takes before its
feeds start and renews in the same Lua script that appends each entry, so an entry is only ever written by
the lease holder. A second ingest for the same instrument waits `--lease-wait` (10 s) and then refuses in
words (exit status 2); a killed ingest's lease lapses and a restarted one takes over; an ingest frozen with
SIGSTOP past its lease and woken after another took over writes nothing more (every entry from the takeover
on is the successor's).

## 2. Security for a hosted deployment

- Live sources come from an allowlist (`TCS_ALLOWED_HOSTS`, default the GoQuant and OKX hosts; the
  operator's own `TCS_FEED_URL` host is added). The app's feed checks every live URL before connecting;
  a refused URL changes nothing. Visitors cannot type a URL unless `TCS_ALLOW_CUSTOM_URL=1` (and then only
  to allowlisted hosts), and source switching can be turned off with `TCS_ALLOW_SOURCE_SWITCH=0`
  (`tests/unit/test_config.py`, `tests/app/test_app_custom_url.py`). The server's own fixed requests go to
  `www.okx.com` only (instrument list; OKX REST book snapshot).
- Several processes (`TCS_BUS`): Redis stays on loopback by default (`make cluster` binds it to 127.0.0.1
  in protected mode) and takes a password from the configuration (`TCS_BUS_PASSWORD` or the URL's;
  `make cluster` generates one per run, hands it to redis-server on its stdin and to the ingest and
  replicas in their environment, never on a command line or in a log). A client without it is refused;
  a replica without it shows the plain reason and its books as stale (`tests/loopback/test_bus.py`,
  `tests/loopback/test_cluster.py`). The ingest checks every live feed against the same allowlist
  before starting any and refuses in words. Visitors reach only haproxy and the app: a replica runs no
  feed, refuses source switches (`SourceNotAllowed`) and recording, and its Data page says so instead of
  offering the controls; what the ingest subscribes to is set on the ingest's command line only.
- Recording from the Data page runs off the tick path (a writer thread), at most 2 at once per process,
  each at most 600 s and 20,000 books.
- Limits: WebSocket messages over 4 MiB close the connection; recordings are refused over 200 MB
  uncompressed or 2,000,000 messages; Streamlit uploads are capped at 50 MB (`.streamlit/config.toml`).
  Recordings and feed messages are parsed as data with orjson only (no eval, pickle or literal_eval).
- No secrets in the repository (`.streamlit/secrets.toml` is ignored and checked by a test); Streamlit's
  XSRF protection stays on; every dependency is pinned exactly; `pip-audit` runs in `make test`
  (`tests/unit/test_dependencies.py`) and fails on any vulnerability not listed with a reason in
  `security/known-vulnerabilities.txt`. On machines with no vulnerability database in reach (these
  build machines) it reports "NOT AUDITED" as a visible skip rather than a silent pass.
"""


def _fmt_load(r: dict) -> list[str]:
    note = (
        "Serving 10 sessions on one core, the app processes fewer books per second than a 10x replay offers "
        "(about 190 a second of 400-level books); the client's bounded receive queue (64 messages) then "
        "pushes back on the replay server over TCP, so the replay runs late rather than memory growing."
    )
    return [
        note,
        "",
        f"Run {r['run_at']}: {r['sessions']} browser sessions (Playwright contexts, headless Chromium) on one app "
        f"process for {r['seconds']:.0f} s, replay at {r['replay_speed']:g}x served by a separate local server; "
        f"CPU pinning: {r.get('pinned', 'no')}.",
        "",
        "| check | result | target |",
        "|---|---|---|",
        f"| page errors (pageerror + console errors) | {r['page_error_count']} | 0 |",
        f"| every session kept updating (book-time changes per session, 1st / 2nd half) | "
        f"{'yes' if r['every_session_updating'] else 'NO'} ({r['updates_per_session_first_half']} / "
        f"{r['updates_per_session_second_half']}) | yes |",
        f"| feed per-tick p99 (parse + book + publish), idle -> load | {r['tick_p99_idle_us']:,.0f} -> "
        f"{r['tick_p99_load_us']:,.0f} µs ({r['p99_ratio_load_over_idle']}x) | <= 2x |",
        f"| feed connections in total | {r['feed_connections']} | 1 |",
        f"| books processed per second, idle -> load (replay offers {r.get('replay_offered_per_s', 'n/a')}/s) | "
        f"{r.get('ticks_per_s_idle', 'n/a')} -> {r.get('ticks_per_s_load', 'n/a')} | |",
        f"| feed status at the end | {r['feed_status']} | live, no parse errors |",
        f"| app resident memory | {r['app_rss_mb']} MB | |",
    ]


def _extra_threads(r: dict) -> str:
    """When and how often the thread count sat above its warm-up level, in words."""
    samples = r.get("samples") or []
    if not samples:
        return "more threads late in the run than early"
    base = min(x["threads"] for x in samples)
    high = [x for x in samples if x["threads"] > base]
    if not high:
        return "more threads late in the run than early"
    return (
        f"{len(high)} of {len(samples)} samples read {max(x['threads'] for x in high)} instead of {base}, "
        f"from {high[0]['t_s']:.0f} s to {high[-1]['t_s']:.0f} s"
    )


def _threads_kept(r: dict) -> str:
    """The Python threads (by name) at the end that were not there after warm-up, each with when it first
    appeared, and those gone: a leak keeps adding names; a lazily grown pool adds a few and stops."""
    samples = r.get("samples") or []
    after = [x for x in samples if x.get("thread_names") is not None]
    warm = next((x for x in after if x["t_s"] >= 180), after[0] if after else None)  # run_soak's 3-min warm-up
    if warm is None:
        return "not recorded in this run"
    first, last = Counter(warm["thread_names"]), Counter(after[-1]["thread_names"])
    added = sorted((last - first).elements())
    gone = sorted((first - last).elements())

    def seen(name: str) -> str:
        t = next((x["t_s"] for x in after if name in x["thread_names"]), None)
        return f"{name} (from {t:.0f} s)" if t is not None else name

    return (
        f"added: {', '.join(seen(n) for n in added) or 'none'}; gone: {', '.join(gone) or 'none'} "
        f"({warm['t_s']:.0f} s -> {after[-1]['t_s']:.0f} s)"
    )


def _fmt_soak(r: dict) -> list[str]:
    return [
        f"Run {r['run_at']}: {r['minutes']:g} minutes of replay at {r['replay_speed']:g}x through the full "
        f"pipeline with one browser session open ({r['books']:,} books).",
        "",
        "| check | result | target |",
        "|---|---|---|",
        f"| resident memory after warm-up -> end | {r['rss_after_warmup_mb']} -> {r['rss_end_mb']} MB "
        f"({r['rss_growth_pct']:+.2f} %, max {r['rss_max_mb']} MB) | < 5 % growth |",
        f"| thread counts seen after warm-up | {r['thread_counts_after_warmup']} "
        + (
            "(constant)"
            if len(r["thread_counts_after_warmup"]) == 1
            else "(no growth: the late maximum is not above the early one; the count moves with Streamlit's "
            "per-rerun script thread, caught or missed by a sample)"
            if r.get("threads_no_growth")
            else f"(NOT MET: {_extra_threads(r)})"
        )
        + " | no growth |",
        f"| Python threads at the end that were not there after warm-up (names) | {_threads_kept(r)} | |",
        f"| reconnects reported vs server connections - 1 | {r['reconnects_reported']} vs "
        f"{r['feed_connections'] - 1} ({'accounted' if r['reconnects_accounted'] else 'NOT accounted'}) | equal |",
        f"| page errors | {len(r['page_errors'])} | 0 |",
        "",
        "The soak's checks are growth, not speed: it may run beside other work (`nice`), and the notes after "
        "section 6 say where the last run did and which pool the thread that came belongs to.",
    ] + (
        []
        if r.get("threads_no_growth", True)
        else [
            "",
            "The thread check is not met in this run and the extra thread is not identified: that run recorded "
            "counts only. Its pattern, one more thread appearing late and then staying, looks like a lazily "
            "created pool worker rather than a leak; a leak would keep growing. Each sample now records the "
            "Python names (`thread_names`) and the kernel's name of every thread (`/proc/<pid>/task/*/comm`), "
            "and the run lists each change of the count with the names that came and went (`thread_changes`). "
            "An 8-minute soak on 2026-11-30 (shared machine, not written here) did not reproduce a thread that "
            "stays: the count moved between 10 and 12 all along, each move a `ScriptRunner.scriptThread` (the "
            "thread of one rerun, caught or missed by a sample) or, 20 s in, five idle `AnyIO worker thread`s "
            "retired; the only native thread with a name of its own was `jemalloc_bg_thd`, every other one "
            "`python` (Python 3.11 does not name its threads in the kernel). The next 30-minute `make soak` "
            "names the late thread if it comes again.",
        ]
    )


def write_report() -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    lines = [
        "# Reliability",
        "",
        "Generated by `python -m benchmarks.reliability report` (also after `make load` / `make soak`);",
        "raw figures in `benchmarks/reliability.json`.",
        "",
        FAULTS,
        "## 3. Load (`make load`)",
        "",
    ]
    lines += _fmt_load(data["load"]) if "load" in data else ["Not run yet."]
    if "load_unpinned" in data:
        u = data["load_unpinned"]
        lines += [
            "",
            f"The same run without pinning ({u['run_at']}, `make load` with `--unpinned`): p99 "
            f"{u['tick_p99_idle_us']:,.0f} -> {u['tick_p99_load_us']:,.0f} µs ({u['p99_ratio_load_over_idle']}x, "
            "over the 2x target), with no page errors, every session updating and one feed connection. "
            "Ten Chromium renderers then take the app's cores, so the feed thread's wall-clock tick time "
            "includes waiting for a CPU. On a real deployment the browsers run on the visitors' machines, "
            "which is what the pinned run reproduces: app on one core, load generator on the other.",
        ]
    from benchmarks.sessions import report_lines as sessions_lines

    lines += ["", "### Sessions per app process (`make load`, `benchmarks/sessions.py`)", ""]
    lines += sessions_lines(data.get("sessions"), data.get("sessions_compare"))
    lines += ["", "## 4. Soak (`make soak`, `SOAK_MINUTES=30` by default)", ""]
    lines += _fmt_soak(data["soak"]) if "soak" in data else ["Not run yet."]
    from benchmarks.cluster_load import reliability_lines  # the cluster's load and soak (make load-cluster)

    lines += reliability_lines()
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.reliability")
    ap.add_argument("what", choices=["load", "soak", "report"])
    ap.add_argument("--minutes", type=float, default=30.0, help="soak duration")
    ap.add_argument("--seconds", type=float, default=60.0, help="load duration")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--unpinned", action="store_true", help="let the app and the browsers share every core")
    ap.add_argument("--protocol-window", type=float, default=12.0, help="load: seconds per sessions-per-process step")
    ap.add_argument("--no-protocol", action="store_true", help="load: skip the sessions-per-process steps")
    args = ap.parse_args(argv)
    if args.what == "report":
        write_report()
        return 0
    if args.what == "load":
        r = run_load(sessions=args.sessions, seconds=args.seconds, pinned=not args.unpinned)
        section = "load_unpinned" if args.unpinned else "load"
        ok = (
            r["page_error_count"] == 0
            and r["every_session_updating"]
            and r["feed_connections"] == 1
            and r["p99_ratio_load_over_idle"] <= 2
        )
    else:
        r = run_soak(minutes=args.minutes)
        ok = r["rss_growth_pct"] < 5 and r["threads_no_growth"] and r["reconnects_accounted"]
    write(section if args.what == "load" else args.what, r)
    write_report()
    print(json.dumps({k: v for k, v in r.items() if k != "samples"}, indent=2))
    print(f"{args.what}: {'all checks met' if ok else 'SOME CHECKS MISSED'} (written to {OUT.relative_to(ROOT)})")
    if args.what == "load" and not args.no_protocol:
        from benchmarks.sessions import TARGET_SESSIONS, measure

        per_process = measure(window_s=args.protocol_window)
        write("sessions", per_process)
        write_report()
        for key, x in per_process["results"].items():
            met = "met" if x["sessions_served"] >= TARGET_SESSIONS else "NOT MET"
            print(
                f"sessions per process, {key}: {x['sessions_served']} (target {TARGET_SESSIONS}: {met}); "
                f"{x['stopped_because']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

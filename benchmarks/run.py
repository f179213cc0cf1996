"""`make bench`: run every benchmark in one process run, print a summary, write benchmarks/latest.json and
docs/PERFORMANCE.md (figures against their targets, and what changed since the last report)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from benchmarks import browser, calibration, inference, pipeline

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "latest.json"
REPORT = ROOT / "docs" / "PERFORMANCE.md"
ANALYSIS = ROOT / "benchmarks" / "ANALYSIS.md"


def targets(r: dict) -> list[tuple[str, str, object, bool | None]]:
    """(name, target, measured, met) for every target of issue 6."""

    def g(*keys):
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    rows = [
        ("goquant50 ratio_p50 (issue 15)", "<= 1.5", g("goquant50", "ratio_p50")),
        ("goquant400 ratio_p50", "<= 3", g("goquant400", "ratio_p50")),
        ("goquant400 pipeline_p99_us", "<= 1000", g("goquant400", "pipeline_p99_us")),
        ("okx_update ratio_p50 (issue 15)", "<= 3", g("okx_update", "ratio_p50")),
        ("throughput_msgs_s (400 levels)", ">= 5000", g("throughput_msgs_s")),
        ("rss_growth_mb over 100k ticks", "<= 20", g("rss_growth_mb")),
        ("tensorflow calls on the tick path", "== 0", g("tf_calls_on_tick_path")),
        ("tick_to_screen_1s_p50_ms (refresh 1 s)", "<= 1500", g("tick_to_screen_1s_p50_ms")),
        ("tick_to_screen_5s_p50_ms (refresh 1 s)", "<= 1500", g("tick_to_screen_5s_p50_ms")),
        ("startup_s: process start to first figure (issue 15)", "<= 3", g("startup_s")),
        (
            "Simulator main thread in long tasks at 1 s (issue 15)",
            f"<= {browser.BUSY_TARGET_SHARE}",
            g("browser_busy_sim_1s_longtask_share"),
        ),
        (
            "slowest input to its effect, 1 s refresh, s (issue 15)",
            f"<= {browser.INPUT_TARGET_S}",
            g("input_to_effect_max_s"),
        ),
    ]
    out = []
    for name, target, val in rows:
        met = None
        if isinstance(val, (int, float)):
            op, lim = target.split()
            lim = float(lim)
            met = {"<=": val <= lim, ">=": val >= lim, "==": val == lim}[op]
        out.append((name, target, val, met))
    for model, res in (r.get("inference") or {}).items() if isinstance(r.get("inference"), dict) else []:
        if res.get("infer_numpy_us"):
            sp = res["speedup_vs_call"]
            out.append((f"{model}: numpy vs Keras call", ">= 100x", f"{sp}x", sp >= 100))
        if res.get("infer_compiled_us"):
            sp = round(res["infer_keras_call_us"] / res["infer_compiled_us"], 1)
            out.append((f"{model}: compiled (per tick) vs Keras call", ">= 100x", f"{sp}x", sp >= 100))
    return out


def machine() -> dict:
    import psutil

    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "versions": {p: version(p) for p in ("numpy", "orjson", "websockets", "streamlit", "keras")},
    }


def run(quick: bool = False) -> dict:
    r: dict = {"machine": machine()}
    t_all = time.time()
    print("pipeline ...", flush=True)
    for case in ("goquant50", "goquant400", "okx_update"):
        r[case] = pipeline.bench_case(case)
        print(f"  {case}: {r[case]}", flush=True)
    r["goquant400_rules_only"] = pipeline.bench_case("goquant400", models=pipeline.Models())
    print(f"  goquant400 without models: {r['goquant400_rules_only']}", flush=True)
    for case in ("goquant50", "goquant400"):  # the same path without the compiled kernel, as a baseline
        r[f"{case}_python"] = pipeline.bench_case(case, compiled=False)
        print(f"  {case} pure Python: {r[f'{case}_python']}", flush=True)
    r["stages_goquant400"] = pipeline.bench_stages()
    r.update(pipeline.bench_throughput(3.0 if quick else 5.0))
    print(f"  throughput {r['throughput_msgs_s']} msg/s", flush=True)
    pipe = pipeline.make_pipeline("goquant400")
    r["tf_calls_on_tick_path"] = inference.tf_calls_on_tick_path(pipe, pipeline.goquant_messages(400, 200))
    print("memory ...", flush=True)
    r.update(pipeline.bench_rss(20_000 if quick else 100_000))
    print(f"  rss growth {r['rss_growth_mb']} MB", flush=True)
    print("inference ...", flush=True)
    r.update(inference.bench_inference())
    print("online calibration ...", flush=True)
    r.update(calibration.bench_calibration())
    print("ui ...", flush=True)
    r.update(browser.bench_ui_refresh())
    for n in (1, 5):
        r.update(browser.bench_tick_to_screen(n, 10 if quick else 20))
        print(f"  tick_to_screen {n} session(s): {r.get(f'tick_to_screen_{n}s_p50_ms')} ms", flush=True)
    r.update(browser.bench_startup())
    print(f"  startup {r['startup_s']} s", flush=True)
    print("browser cost ...", flush=True)
    r.update(browser.bench_browser_busy(8.0 if quick else 20.0))
    r.update(browser.bench_input_latency(4 if quick else 10))
    print(f"  slowest input to effect {r['input_to_effect_max_s']} s", flush=True)
    r["bench_runtime_s"] = round(time.time() - t_all, 1)
    return r


def fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "n/a" if v is None else str(v)


def changes(prev: dict, cur: dict) -> list[str]:
    keys = [
        ("goquant50", "pipeline_p50_us"),
        ("goquant50", "ratio_p50"),
        ("goquant400", "pipeline_p50_us"),
        ("goquant400", "ratio_p50"),
        ("okx_update", "pipeline_p50_us"),
        ("throughput_msgs_s",),
        ("rss_growth_mb",),
        ("startup_s",),
        ("tick_to_screen_1s_p50_ms",),
        ("browser_busy_sim_1s_longtask_share",),
        ("input_to_effect_max_s",),
    ]
    out = []
    for k in keys:
        a, b = prev, cur
        for part in k:
            a = a.get(part) if isinstance(a, dict) else None
            b = b.get(part) if isinstance(b, dict) else None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            out.append(f"| {'.'.join(k)} | {fmt(a)} | {fmt(b)} | {b / a:.2f}x |")
    return out


def browser_lines(r: dict) -> list[str]:
    """The browser's cost: main-thread busy share per page and refresh rate, and input-to-effect times."""
    busy, inputs = r.get("browser_busy"), r.get("input_to_effect")
    if not busy and not inputs:
        return []
    lines = [
        "## Browser cost (one headless Chromium session, replay source)",
        "",
        "Share of wall time the page's main thread spent in long tasks (> 50 ms, `PerformanceObserver` "
        "'longtask'), in any task (Chrome's `TaskDuration`, wall time) and in any task on the CPU (the same "
        f"counter in thread time), over {r.get('browser_busy_window_s', 0):g} s per page and refresh rate "
        "(`benchmarks/browser.py`, `bench_browser_busy`). Target: long tasks <= "
        f"{browser.BUSY_TARGET_SHARE:.0%} on the Simulator at 1 s.",
        "",
        "| page | refresh | long tasks | all tasks (wall) | all tasks (CPU) |",
        "|---|---|---|---|---|",
    ]

    def share(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.0%}"

    for page, rates in (busy or {}).items():
        for rate, v in rates.items():
            lines.append(
                f"| {page} | {rate} | {share(v.get('longtask_share'))} | {share(v.get('task_share'))} | "
                f"{share(v.get('task_cpu_share'))} |"
            )
    if inputs:
        lines += [
            "",
            "Input to effect on the Simulator at the default 1 s refresh: from the click (or Enter) to the first "
            "frame showing the changed fill sentence (`bench_input_latency`). Target: every try <= "
            f"{browser.INPUT_TARGET_S} s.",
            "",
            "| input | median s | max s | tries | missed (no effect in 20 s) |",
            "|---|---|---|---|---|",
        ]
        for what, v in inputs.items():
            lines.append(
                f"| {what} | {fmt(v['median_s'])} | {fmt(v['max_s'])} | {fmt(v['tries'])} | {fmt(v['missed'])} |"
            )
    return [*lines, ""]


def report(r: dict, prev: dict | None) -> str:
    m = r["machine"]
    lines = [
        "# Performance",
        "",
        "Generated by `make bench` (`python -m benchmarks.run`); raw figures in `benchmarks/latest.json`.",
        "Every ratio is measured in one run, side by side, because absolute times on these shared 2-core",
        "machines move by tens of percent from run to run. Tests never assert times.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gb']} GB, {m['platform']}, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f". Run {m['date_utc']}, "
        f"{r['bench_runtime_s']} s in all.",
        "",
        "## Targets (issues 6 and 15)",
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
    ]
    for name, target, val, met in targets(r):
        lines.append(f"| {name} | {target} | {fmt(val)} | {'yes' if met else ('no' if met is False else 'n/a')} |")
    lines += [
        "",
        "## Per-tick pipeline (bytes in -> book published -> the tracked order priced)",
        "",
        "The feed thread's own path (`GoQuantAdapter.on_message`, `BookStore.publish`, `CostTracker`) pricing the "
        "Simulator's old defaults: a $100 market buy, 100 ms latency, the shipped models for the p90 band. "
        "`goquant400_rules_only` is the same path without the models; the `_python` rows are the same path "
        "with the compiled kernel switched off (the pure-Python parser and `core.costs.estimate.estimate` on every "
        "tick), measured in the same run as the baseline.",
        "",
        "| case | levels/side | msg bytes p50 | orjson.loads p50 µs | pipeline p50 µs | p90 µs | p99 µs | ratio p50 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in (
        "goquant50",
        "goquant400",
        "goquant400_rules_only",
        "okx_update",
        "goquant50_python",
        "goquant400_python",
    ):
        c = r.get(case)
        if not c:
            continue
        lines.append(
            f"| {case} | {c['levels_per_side']} | {fmt(c['bytes_p50'])} | {fmt(c['orjson_loads_p50_us'])} | "
            f"{fmt(c['pipeline_p50_us'])} | {fmt(c['pipeline_p90_us'])} | {fmt(c['pipeline_p99_us'])} | {fmt(c['ratio_p50'])} |"
        )
    s = r["stages_goquant400"]
    lines += [
        "",
        "Where the goquant400 time goes (medians): "
        f"parse (compiled: JSON, strings to floats, validation and cumulative depth in one pass) "
        f"{fmt(s['parse_p50_us'])} µs, book {fmt(s['book_p50_us'])} µs (done in the parse), publish "
        f"{fmt(s['publish_p50_us'])} µs, pricing the tracked order {fmt(s['tick_cost_p50_us'])} µs (of which "
        f"the pricer's own timer {fmt(s['figures_latency_us_p50'])} µs). For comparison, the explained "
        f"estimate a page builds once per refresh (methods, notes, calibration): "
        f"{fmt(s['explained_estimate_p50_us'])} µs.",
        "",
        "## Throughput, memory, UI",
        "",
        "| figure | value |",
        "|---|---|",
        f"| throughput (parse + store + pricing, one core, 400 levels) | {fmt(r['throughput_msgs_s'])} msg/s |",
        f"| RSS growth over {fmt(r['rss_ticks'])} ticks after warm-up | {fmt(r['rss_growth_mb'])} MB "
        f"({fmt(r['rss_before_mb'])} -> {fmt(r['rss_after_mb'])} MB) |",
        f"| live fragment rerun, server side (Market page, p50 / p99) | {fmt(r['ui_refresh_p50_ms'])} / {fmt(r['ui_refresh_p99_ms'])} ms |",
        f"| full script rerun (AppTest, p50) | {fmt(r['ui_full_rerun_p50_ms'])} ms |",
        f"| tick to screen, 1 session (p50 / p90) | {fmt(r.get('tick_to_screen_1s_p50_ms'))} / {fmt(r.get('tick_to_screen_1s_p90_ms'))} ms |",
        f"| tick to screen, 5 sessions (p50 / p90) | {fmt(r.get('tick_to_screen_5s_p50_ms'))} / {fmt(r.get('tick_to_screen_5s_p90_ms'))} ms |",
        f"| feed connections with 5 sessions open | {fmt(r.get('tick_to_screen_5s_feed_connections'))} |",
        f"| startup: process start to first rendered figure | {fmt(r['startup_s'])} s |",
        f"| of which: process start to the server answering | {fmt(r.get('startup_server_s'))} s |",
        "",
        *browser_lines(r),
    ]
    cal = r.get("calibration")
    if isinstance(cal, dict):
        lines += [
            "## Online calibration (its own thread, beside the feed)",
            "",
            f"{cal['books']:,} books of the default replay ({cal['recorded_s']} s recorded) with its tape: "
            f"{cal['taker_orders']:,} real taker orders scored and {cal['resting_orders']:,} resting orders of the grid "
            f"(placed every {cal['grid_every_s']:g} s). Per book: median {fmt(cal['per_book_p50_us'])} µs, p99 "
            f"{fmt(cal['per_book_p99_us'])} µs, slowest {fmt(cal['per_book_max_ms'])} ms (a grid book); "
            f"{cal['cpu_share_of_one_core']:.1%} of one core at the recorded pace. The feed only queues the book, "
            "so this is CPU taken from the machine, not latency added to a tick.",
            "",
        ]
    inf = r.get("inference")
    lines += ["## Model inference (one row)", ""]
    if isinstance(inf, dict):
        lines += [
            "| model | compiled µs (per tick) | numpy µs (explained estimate) | Keras model(x) µs | Keras predict µs "
            "| numpy speed-up vs model(x) |",
            "|---|---|---|---|---|---|",
        ]
        for k, v in inf.items():
            lines.append(
                f"| {k} | {fmt(v.get('infer_compiled_us'))} | {fmt(v['infer_numpy_us'])} | "
                f"{fmt(v['infer_keras_call_us'])} | {fmt(v['infer_keras_predict_us'])} | {fmt(v.get('speedup_vs_call'))}x |"
            )
    else:
        lines.append(str(inf))
    lines += ["", "## What changed since the last report", ""]
    ch = changes(prev, r) if prev else []
    if ch:
        lines += ["| figure | previous | now | now / previous |", "|---|---|---|---|", *ch]
        lines.append("")
        lines.append(f"Previous run: {prev['machine']['date_utc']}.")
    else:
        lines.append("First report.")
    if ANALYSIS.exists():
        lines += ["", ANALYSIS.read_text(encoding="utf-8").strip()]
    from benchmarks.cluster_load import performance_lines  # the cluster's figures (make load-cluster)

    lines += performance_lines()
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run")
    ap.add_argument("--quick", action="store_true", help="shorter runs (a smoke test of the suite)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="re-render docs/PERFORMANCE.md from benchmarks/latest.json (e.g. after editing ANALYSIS.md)",
    )
    ap.add_argument("--previous", type=Path, help="the run to compare with (default: the latest.json replaced)")
    args = ap.parse_args(argv)
    if args.report_only:
        prev = json.loads(args.previous.read_text()) if args.previous else None
        REPORT.write_text(report(json.loads(LATEST.read_text()), prev), encoding="utf-8")
        print(f"wrote {REPORT.relative_to(ROOT)}")
        return 0
    prev = json.loads((args.previous or LATEST).read_text()) if (args.previous or LATEST).exists() else None
    r = run(quick=args.quick)
    print()
    for name, target, val, met in targets(r):
        print(f"{name:45s} {fmt(val):>12s}  target {target:8s} {'ok' if met else ('MISSED' if met is False else '')}")
    if not args.no_write:
        LATEST.write_text(json.dumps(r, indent=2) + "\n")
        REPORT.write_text(report(r, prev), encoding="utf-8")
        print(f"\nwrote {LATEST.relative_to(ROOT)} and {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

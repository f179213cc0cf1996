"""What `make load` judges and reports, without browsers: a failed step is recorded and the run goes on, the
deep link's base-path 404s are told from other console errors, the per-half update counts, the figures from the
app's exported tick timings (a real metrics file), the checks and the report of a run that did not finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.reliability import (
    PROBE_404,
    ConsoleErrors,
    StepLog,
    TickLog,
    _fmt_load,
    _halves,
    _load_figures,
    load_checks_met,
)


def test_a_failed_step_is_recorded_with_its_reason_and_the_next_step_runs() -> None:
    steps = StepLog()
    with steps.step("open"):
        raise TimeoutError("Timeout 90000ms exceeded.\nwaiting for get_by_text('Book time (UTC)')")
    ran = []
    with steps.step("window") as entry:
        entry["opened"] = 3
        ran.append(True)
    assert ran == [True]
    assert [s["ok"] for s in steps.steps] == [False, True]
    assert steps.steps[0]["error"] == "TimeoutError: Timeout 90000ms exceeded."
    assert steps.steps[1]["opened"] == 3
    assert steps.failed() == ["open"]


def test_a_step_does_not_swallow_an_interrupt() -> None:
    steps = StepLog()
    with pytest.raises(KeyboardInterrupt), steps.step("window"):
        raise KeyboardInterrupt
    assert steps.failed() == []


def test_only_the_base_path_probe_404s_are_set_apart_from_page_errors() -> None:
    c = ConsoleErrors("market")
    c.response(404, "http://127.0.0.1:8501/market/_stcore/health")
    c.response(404, "http://127.0.0.1:8501/market/_stcore/host-config")
    c.response(404, "http://127.0.0.1:8501/static/missing.js")  # any other 404 stays an error
    c.response(200, "http://127.0.0.1:8501/_stcore/health")
    for _ in range(3):
        c.console_message("error", f"{PROBE_404} (Not Found)")
    c.console_message("error", "Uncaught TypeError: x is undefined")
    c.console_message("warning", "a warning is not an error")
    assert c.probe_404s == 2
    assert c.errors() == [f"console: {PROBE_404} (Not Found)", "console: Uncaught TypeError: x is undefined"]


def test_updates_are_counted_per_half_of_the_window() -> None:
    start, end = 1000.0, 1010.0
    seen_ms = [999_000.0, 1_000_000.0, 1_004_999.0, 1_005_000.0, 1_009_999.0, 1_010_000.0]
    assert _halves(seen_ms, start, end) == (2, 2)
    assert _halves([], start, end) == (0, 0)


def _metrics_file(path: Path, recv_s: list[float], total_us: list[float]) -> Path:
    path.write_text(
        json.dumps(
            {
                "ticks": {
                    "recv_s": recv_s,
                    "parse_us": [t / 2 for t in total_us],
                    "book_us": [t / 4 for t in total_us],
                    "publish_us": [t / 4 for t in total_us],
                },
                "status": {"state": "live", "messages": 4, "books": 4, "reconnects": 0, "parse_errors": {}},
            }
        )
    )
    return path


def test_figures_of_a_complete_run(tmp_path: Path) -> None:
    log = TickLog(_metrics_file(tmp_path / "m.json", [1.0, 2.0, 11.0, 12.0], [100.0, 100.0, 300.0, 300.0]))
    log.poll()
    d = {
        "idle_start": 0.0,
        "idle_end": 10.0,
        "load_start": 10.0,
        "load_end": 20.0,
        "browser": [{"index": 0, "open_s": 5.0, "errors": [], "updates": (5, 5)}],
        "protocol": [{"index": 1, "open_s": 0.6, "errors": [], "updates": (4, 6)}],
        "page_errors": [],
        "base_path_probe_404s": 2,
    }
    f = _load_figures(d, log)
    assert (f["tick_p99_idle_us"], f["tick_p99_load_us"], f["p99_ratio_load_over_idle"]) == (100.0, 300.0, 3.0)
    assert (f["ticks_per_s_idle"], f["ticks_per_s_load"]) == (0.2, 0.2)
    assert f["every_session_updating"] is True
    assert (f["browser_updates_first_half"], f["protocol_updates_second_half"]) == ([5], [6])
    assert not load_checks_met({**f, "failed_steps": [], "feed_connections": 1})  # p99 3x is over 2x


def test_a_session_that_never_opened_or_went_quiet_fails_the_updating_check(tmp_path: Path) -> None:
    log = TickLog(_metrics_file(tmp_path / "m.json", [], []))
    log.poll()
    d = {
        "browser": [
            {"index": 0, "open_s": 5.0, "errors": [], "updates": (5, 0)},
            {"index": 1, "open_s": None, "errors": ["open failed: not on the market page within 90 s"]},
        ],
        "protocol": [],
    }
    f = _load_figures(d, log)
    assert f["every_session_updating"] is False
    assert f["browser_updates_first_half"] == [5, None]
    assert f["session_errors"] == ["browser 1: open failed: not on the market page within 90 s"]
    assert f["tick_p99_load_us"] is None and f["p99_ratio_load_over_idle"] is None
    assert _load_figures({}, log)["every_session_updating"] is False  # no session at all is not "every session"


def test_the_report_of_a_run_that_stopped_early_says_which_step_and_shows_what_is_missing(tmp_path: Path) -> None:
    log = TickLog(_metrics_file(tmp_path / "m.json", [], []))
    r = {
        "run_at": "2026-11-30 20:00 UTC",
        "sessions": 10,
        "browser_sessions": 3,
        "protocol_sessions": 7,
        "page": "market",
        "opened_at": "/market",
        "seconds": 60.0,
        "idle_s": 20.0,
        "replay_speed": 10.0,
        "replay_offered_per_s": 189.7,
        "steps": [{"step": "launch Chromium", "ok": False, "error": "TimeoutError: launch", "s": 60.0}],
        "failed_steps": ["launch Chromium"],
        **_load_figures({}, log),
    }
    text = "\n".join(_fmt_load(r))
    assert "Steps that did not complete: launch Chromium" in text
    assert "FAILED (TimeoutError: launch)" in text
    assert "n/a -> n/a µs" in text
    assert not load_checks_met(r)
    assert "earlier form" in "\n".join(_fmt_load({"run_at": "2026-11-25 01:51 UTC", "sessions": 10}))

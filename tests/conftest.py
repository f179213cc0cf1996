"""Shared fixtures: real recorded frames from data/, feeds that always shut down, a wait helper."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.feed.client import Feed, FeedSettings
from core.feed.recording import RecordingWriter, iter_lines
from core.feed.replay import default_recording

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("unit", "parity", "loopback", "app", "browser", "architecture")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries the marker of its folder (tests/<layer>/), so `-m "unit or parity"` picks a layer."""
    for item in items:
        parts = item.path.relative_to(ROOT / "tests").parts
        if len(parts) > 1 and parts[0] in LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


OKX_CAPTURE = ROOT / "data" / "okx" / "OKX.ws.1.0"

FAST = FeedSettings(
    stale_after_s=0.6,
    reconnect_after_s=2.0,
    keepalive_after_s=1.0,
    backoff_initial_s=0.1,
    backoff_max_s=0.5,
    open_timeout_s=2.0,
    snapshot_wait_s=0.5,
)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``cond`` until true; tests assert the result so a timeout fails with a clear message."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval)
    return cond()


def record_states(feed: Feed, until: Callable[[list], bool], timeout: float = 10.0) -> list:
    """Poll until ``until(seen)``; return the distinct successive feed states seen (asserting it happened)."""
    seen: list = []

    def watch() -> bool:
        s = feed.store.state
        if not seen or seen[-1] is not s:
            seen.append(s)
        return until(seen)

    assert wait_for(watch, timeout, 0.01), seen
    return seen


def okx_frames() -> list[tuple[float, str]]:
    """(local receive time, raw JSON) of every message OKX sent in the cryptofeed capture."""
    out = []
    for line in OKX_CAPTURE.read_text().splitlines():
        if line.startswith("wss://"):
            continue  # connection opened / messages we sent
        ts, _, raw = line.partition(": ")
        out.append((float(ts), raw))
    return out


@pytest.fixture(scope="session")
def recorded_messages() -> list[bytes]:
    """The first 300 real messages of the bundled default recording (GoQuant format)."""
    out = []
    for line in iter_lines(default_recording().path):
        out.append(line)
        if len(out) == 300:
            break
    return out


@pytest.fixture
def slice_file(tmp_path, recorded_messages) -> Path:
    path = tmp_path / "slice.jsonl.gz"
    with RecordingWriter(path) as w:
        for m in recorded_messages[:200]:
            w.write(m)
    return path


@pytest.fixture
def feed():
    f = Feed(settings=FAST)
    yield f
    f.shutdown()

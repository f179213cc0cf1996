"""Opt-in export of the store's own instrumentation to a JSON file, for the load and soak runs.

Set ``TCS_METRICS_FILE`` and the app writes, once a second, the feed status and the recent per-tick
timings: the same numbers the Latency page shows, readable from outside the app process.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import fields
from pathlib import Path

from core.feed.store import BookStore


def snapshot(store: BookStore, *, last: int = 5_000) -> dict:
    st = store.status()
    t = store.tick_timings()
    status = {f.name: getattr(st, f.name) for f in fields(st)}
    status["state"] = st.state.value
    status["parse_errors"] = dict(st.parse_errors)
    return {
        "written_at": time.time(),
        "status": status,
        "threads": threading.active_count(),
        "thread_names": sorted(t.name for t in threading.enumerate()),  # which one, when a count changes
        "ticks": {k: [round(float(x), 3) for x in v[-last:]] for k, v in t.items() if k != "refresh_ms"},
        "refresh_ms": [round(float(x), 3) for x in t["refresh_ms"][-last:]],
    }


class MetricsExporter:
    """A daemon thread rewriting ``path`` atomically every ``interval_s`` seconds."""

    def __init__(self, store: BookStore, path: str | Path, *, interval_s: float = 1.0) -> None:
        self.store, self.path, self.interval_s = store, Path(path), interval_s
        self._thread = threading.Thread(target=self._run, name="tcs-metrics", daemon=True)

    def start(self) -> MetricsExporter:
        self._thread.start()
        return self

    def _run(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        while True:
            try:
                tmp.write_text(json.dumps(snapshot(self.store)))
                os.replace(tmp, self.path)
            except Exception:  # never let a metrics hiccup end the thread silently
                logging.getLogger(__name__).warning("metrics export failed", exc_info=True)
            time.sleep(self.interval_s)


def export_if_configured(store: BookStore) -> MetricsExporter | None:
    path = os.environ.get("TCS_METRICS_FILE")
    return MetricsExporter(store, path).start() if path else None

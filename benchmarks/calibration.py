"""The online calibration's cost (``core.pricing.calibration``): what its thread spends per book of a real replay.

It runs beside the feed, not on it (the listener only queues the book), so this is CPU taken from the machine, not
latency added to a tick. Measured single-threaded on the default recording's books with its trade tape.
"""

from __future__ import annotations

import itertools
import time

import numpy as np


def bench_calibration(n_books: int = 3000) -> dict:
    from core.feed.goquant import parse_snapshot
    from core.feed.recording import load_recording
    from core.feed.replay import default_recording
    from core.learned.fill import GRID_STEP_S
    from core.learned.models import load_models
    from core.learned.online import load_steps
    from core.market.instruments import get_instrument
    from core.pricing.calibration import OnlineCalibration

    rec = default_recording()
    steps = load_steps()
    if steps is None or rec.trades is None:
        return {"calibration": "no online steps or no tape"}
    inst = get_instrument(rec.exchange, rec.symbol)
    msgs = itertools.islice(load_recording(rec.path).iter_messages(), n_books)
    books = [parse_snapshot(m, instrument=inst, seq=i) for i, m in enumerate(msgs)]
    cal = OnlineCalibration(load_models().models, steps)
    cal.follow(rec.trades, (rec.exchange, rec.symbol))
    per = []
    for b in books:
        t0 = time.perf_counter_ns()
        cal.on_book(b)
        per.append(time.perf_counter_ns() - t0)
    us = np.asarray(per[1:], dtype=np.float64) / 1e3  # the first book reads the tape
    span_s = (books[-1].exchange_ts_ms - books[0].exchange_ts_ms) / 1000.0
    st = cal.status()
    return {
        "calibration": {
            "books": len(books) - 1,
            "recorded_s": round(span_s, 1),
            "per_book_p50_us": round(float(np.median(us)), 1),
            "per_book_p99_us": round(float(np.percentile(us, 99)), 1),
            "per_book_max_ms": round(float(us.max()) / 1e3, 1),
            "cpu_share_of_one_core": round(float(us.sum()) / 1e6 / span_s, 4),
            "taker_orders": st.taker_orders,
            "resting_orders": st.resting_orders,
            "grid_every_s": GRID_STEP_S,
        }
    }

"""The per-tick path on real recorded messages: bytes in -> book updated -> every output computed.

Each case is timed message by message next to ``orjson.loads`` of the same bytes, in the same run, so
the ratio holds on a noisy machine.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import orjson
import psutil

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.models import Models
from core.costs.order import Order
from core.feed import goquant, okx
from core.feed.adapter import Adapter
from core.feed.goquant import GoQuantAdapter
from core.feed.okx import OkxAdapter
from core.feed.recording import load_recording
from core.feed.replay import default_recording
from core.feed.store import BookStore
from core.market.instruments import get_instrument
from core.pricing.pricer import TickPricer
from core.pricing.tracker import CostTracker

OKX_CAPTURE = "data/okx/OKX.ws.1.0"


def goquant_messages(levels: int, n: int = 3000) -> list[bytes]:
    """Real Binance USDⓈ-M books from the bundled recording, cut to ``levels`` per side."""
    rec = load_recording(default_recording().path)
    out = []
    for raw in itertools.islice(rec.iter_messages(), n):
        if levels >= 400:
            out.append(raw)
        else:
            d = orjson.loads(raw)
            d["bids"], d["asks"] = d["bids"][:levels], d["asks"][:levels]
            out.append(orjson.dumps(d))
    return out


def okx_messages(repeat: int = 30) -> tuple[list[bytes], list[bool]]:
    """OKX BTC-USDT books from the 2022 capture: (messages, is_update), the snapshot+updates repeated."""
    frames = []
    with open(OKX_CAPTURE, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("wss://"):
                continue
            raw = line.split(": ", 1)[1].strip()
            if '"channel":"books"' in raw and '"instId":"BTC-USDT"' in raw and '"action"' in raw:
                frames.append(raw.encode())
    msgs = frames * repeat
    return msgs, [b'"action":"update"' in m for m in msgs]


@dataclass
class Pipeline:
    """The feed thread's per-tick path, with the app's own objects: adapter (parse + book), store publish,
    then the cost tracker pricing the Simulator's default inputs (a $100 market buy, the instrument's base
    fee tier, 100 ms latency, shipped models: the p90 band is computed every tick) on the new book."""

    adapter: Adapter
    store: BookStore
    order: Order
    models: Models | None = None

    def __post_init__(self) -> None:
        inst = self.adapter.instrument
        self.store.begin(source="bench", url="", exchange=inst.exchange, symbol=inst.symbol)
        self.tier = get_tier(inst.exchange, inst.kind)
        self.tracker = CostTracker(mids=self.store.mids, record_tick_cost=self.store.record_tick_cost, idle_s=math.inf)
        self.pricer = TickPricer(self.order, fee_tier=self.tier, models=self.models)
        self.track = self.tracker.track("bench", lambda: self.pricer, exchange=inst.exchange, symbol=inst.symbol)

    @property
    def vol(self) -> object:
        snap = self.store.latest()
        return self.tracker.volatility(snap, None) if snap is not None else None

    def __call__(self, raw: bytes) -> object:
        snap = self.adapter.on_message(raw, time.time_ns())
        if snap is None:
            return None
        self.store.publish(snap, parse_ns=self.adapter.last_parse_ns, book_ns=self.adapter.last_book_ns)
        self.tracker(self.adapter, snap)
        return snap


_MODELS: list[Models] = []


def app_models(latency_ms: float = 100.0) -> Models:
    """The shipped models as the Simulator uses them (its default 100 ms latency); numpy inference."""
    if not _MODELS:
        from core.learned.models import load_models

        lm = load_models()
        slip = lm.models.slippage.with_latency(latency_ms) if lm.models.slippage is not None else None
        _MODELS.append(Models(slippage=slip, maker_taker=lm.models.maker_taker))
    return _MODELS[0]


@contextlib.contextmanager
def python_path() -> Iterator[None]:
    """Within: GoQuant messages and OKX books take the pure-Python path (as where the kernels are not built)."""
    was = goquant.NATIVE, okx.NATIVE
    goquant.NATIVE = okx.NATIVE = False
    try:
        yield
    finally:
        goquant.NATIVE, okx.NATIVE = was


def make_pipeline(case: str, models: Models | None = None, *, compiled: bool = True) -> Pipeline:
    if case.startswith("okx"):
        inst = get_instrument("okx", "BTC-USDT")
        adapter: Adapter = OkxAdapter(inst, "ws://bench")
    else:
        inst = get_instrument("binance-futures", "BTCUSDT")
        adapter = GoQuantAdapter(inst, "ws://bench")
    pipe = Pipeline(
        adapter, BookStore(), Order("buy", 100.0, latency_ms=100.0), app_models() if models is None else models
    )
    if not compiled:  # the same inputs priced by core.costs.estimate.estimate on every tick, as without the kernel
        pipe.pricer.compiled = False
    return pipe


def time_each(fn: Callable[[bytes], object], msgs: Iterable[bytes]) -> np.ndarray:
    out = []
    pc = time.perf_counter_ns
    for m in msgs:
        t0 = pc()
        fn(m)
        out.append(pc() - t0)
    return np.asarray(out, dtype=np.float64) / 1e3


def bench_case(case: str, models: Models | None = None, *, compiled: bool = True) -> dict:
    """One case; ``compiled=False`` measures the pure-Python path (no kernel) in the same run, as a baseline."""
    msgs, is_update = case_messages(case)
    with contextlib.nullcontext() if compiled else python_path():
        pipe = make_pipeline(case, models, compiled=compiled)
        for m in msgs[:300]:  # warm-up (allocators, caches, the volatility history)
            pipe(m)
        pipe = make_pipeline(case, models, compiled=compiled)
        gc.collect()
        gc.disable()
        try:
            loads = time_each(orjson.loads, msgs)
            total = time_each(pipe, msgs)
        finally:
            gc.enable()
        figs = pipe.tracker.figures(pipe.track)
    if not figs or figs[-1].compiled != (compiled and goquant.NATIVE):
        raise RuntimeError(f"{case}: the {'compiled' if compiled else 'Python'} path did not run")
    okx_python_book = isinstance(getattr(pipe.adapter, "book", None), okx.OkxBook)
    if isinstance(pipe.adapter, OkxAdapter) and okx_python_book == (compiled and okx.NATIVE):
        raise RuntimeError(f"{case}: the {'compiled' if compiled else 'Python'} OKX book did not run")
    mask = np.asarray(is_update)
    loads, total = loads[mask], total[mask]
    p50_loads = float(np.median(loads))
    p50 = float(np.median(total))
    return {
        "messages": int(mask.sum()),
        "levels_per_side": 400 if case != "goquant50" else 50,
        "bytes_p50": int(np.median([len(m) for m in msgs])),
        "orjson_loads_p50_us": round(p50_loads, 2),
        "pipeline_p50_us": round(p50, 2),
        "pipeline_p90_us": round(float(np.percentile(total, 90)), 2),
        "pipeline_p99_us": round(float(np.percentile(total, 99)), 2),
        "ratio_p50": round(p50 / p50_loads, 2),
        "compiled": bool(figs[-1].compiled),
    }


def case_messages(case: str) -> tuple[list[bytes], list[bool]]:
    """The messages of a case and which of them are timed (OKX: the updates, not the snapshots)."""
    if case == "okx_update":
        return okx_messages()
    msgs = goquant_messages(50 if case == "goquant50" else 400)
    return msgs, [True] * len(msgs)


def bench_stages(models: Models | None = None, case: str = "goquant400") -> dict:
    """Where one case's time goes (medians, µs): parse, book build, publish, pricing the tracked order, next to
    ``orjson.loads`` of the same message in the same loop (``*_ratio``: the stage over that parse), and the
    explained estimate a page builds once per refresh for comparison."""
    msgs, timed = case_messages(case)
    if case != "okx_update":
        msgs, timed = msgs[:2000], timed[:2000]
    pipe = make_pipeline(case, models)
    for m in msgs[:200]:
        pipe(m)
    loads, parse, book, est, fig = [], [], [], [], []
    vol = pipe.vol
    pc = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for m, t in zip(msgs, timed, strict=True):
            t0 = pc()
            orjson.loads(m)
            loads_ns = pc() - t0
            snap = pipe.adapter.on_message(m, time.time_ns())
            pipe.store.publish(snap, parse_ns=pipe.adapter.last_parse_ns, book_ns=pipe.adapter.last_book_ns)
            pipe.tracker(pipe.adapter, snap)
            if not t:
                continue
            loads.append(loads_ns / 1e3)
            parse.append(pipe.adapter.last_parse_ns / 1e3)
            book.append(pipe.adapter.last_book_ns / 1e3)
            fig.append(pipe.tracker.figures(pipe.track)[-1].latency_us)
            if len(est) < 500:
                t0 = pc()
                estimate(snap, pipe.order, fee_tier=pipe.tier, volatility=vol, models=pipe.models)
                est.append((pc() - t0) / 1e3)
    finally:
        gc.enable()
    timings = pipe.store.tick_timings()
    n = len(loads)  # the store keeps every tick's timings; the timed ones are among the last
    publish = timings["publish_us"][-len(timed) :][np.asarray(timed)][-n:]
    tick_cost = timings["tick_cost_us"][-len(timed) :][np.asarray(timed)][-n:]
    p50_loads = float(np.median(loads))
    out = {"orjson_loads_p50_us": round(p50_loads, 2)}
    for name, values in (
        ("parse", parse),
        ("book", book),
        ("publish", publish),
        ("tick_cost", tick_cost),
    ):
        p50 = float(np.median(values)) if len(values) else 0.0
        out[f"{name}_p50_us"] = round(p50, 2)
        out[f"{name}_ratio"] = round(p50 / p50_loads, 2)
    out["figures_latency_us_p50"] = round(float(np.median(fig)), 2)
    out["explained_estimate_p50_us"] = round(float(np.median(est)), 2)
    return out


def bench_throughput(seconds: float = 5.0, models: Models | None = None) -> dict:
    msgs = goquant_messages(400, 2000)
    pipe = make_pipeline("goquant400", models)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    for m in itertools.cycle(msgs):
        pipe(m)
        n += 1
        if n % 200 == 0 and time.perf_counter() > end:
            break
    return {"throughput_msgs_s": round(n / (time.perf_counter() - t0), 1), "throughput_levels_per_side": 400}


def bench_rss(ticks: int = 100_000, warmup: int = 10_000, models: Models | None = None) -> dict:
    msgs = goquant_messages(400, 2000)
    pipe = make_pipeline("goquant400", models)
    proc = psutil.Process()
    it = itertools.cycle(msgs)
    for _ in range(warmup):
        pipe(next(it))
    gc.collect()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    for _ in range(ticks):
        pipe(next(it))
    gc.collect()
    after = proc.memory_info().rss
    return {
        "rss_ticks": ticks,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "rss_growth_mb": round((after - before) / 2**20, 2),
        "rss_run_s": round(time.perf_counter() - t0, 1),
    }

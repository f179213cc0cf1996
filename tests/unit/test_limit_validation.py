"""The size-aware fill label of resting limit orders (core.validation.limit_orders) on hand-made trade tapes,
the markout sign by hand, and the ``limit_orders`` figures on a short real slice."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from core.learned.fill import resting_fill
from core.market.tape import Tape
from core.paths import DATA_DIR
from core.validation.bootstrap import BlockBootstrap
from core.validation.limit_orders import LimitGrid, markout_bps, size_label
from core.validation.report import document, markdown, validate_recording

REC = DATA_DIR / "recordings" / "binance-futures_BTCUSDT_20240808.jsonl.gz"
TRADES = DATA_DIR / "trades" / "binance-futures_BTCUSDT_20240808.parquet"
TICK = 0.1
BUY, SELL = 1, -1


def fill(rows: list[tuple[int, float, float, bool]], **kw: float) -> float:
    """Fraction filled of a resting order on a hand-made tape ``[(ts_ms, price, qty, buyer_is_maker)]``."""
    tape = Tape.from_rows(rows)
    args: dict = {"side": BUY, "limit_px": 100.0, "placed_ms": 1000, "horizon_ms": 10_000, "queue_ahead": 0.0}
    args.update(kw)
    f = resting_fill(tape.ts_ms, tape.price, tape.qty, tape.side, tick=TICK, **args)
    return f.fraction


def test_the_queue_ahead_is_consumed_before_the_order_fills():
    # a buy at 100 behind 5 displayed: sells at 100 (buyer_is_maker) eat the 5 first
    tape = [(2000, 100.0, 3.0, True), (3000, 100.0, 2.0, True)]
    assert fill(tape, queue_ahead=5.0, size=1.0) == 0.0
    tape.append((4000, 100.0, 0.5, True))
    assert fill(tape, queue_ahead=5.0, size=1.0) == pytest.approx(0.5)
    tape.append((5000, 100.0, 4.0, True))
    assert fill(tape, queue_ahead=5.0, size=1.0) == 1.0
    # the same tape with no queue ahead fills at once
    assert fill(tape[:1], queue_ahead=0.0, size=1.0) == 1.0


def test_trades_through_the_price_fill_directly_without_the_queue():
    # 5 ahead at 100, but a sell prints at 99.9: below a buy's price, it fills the order directly
    tape = [(2000, 99.9, 0.4, True)]
    assert fill(tape, queue_ahead=5.0, size=1.0) == pytest.approx(0.4)
    tape += [(2500, 100.0, 5.0, True), (3000, 99.8, 0.6, True)]
    assert fill(tape, queue_ahead=5.0, size=1.0) == pytest.approx(1.0)
    # a sell order: buys printing above its price fill it
    assert fill([(2000, 100.2, 0.3, False)], side=SELL, queue_ahead=5.0, size=1.0) == pytest.approx(0.3)


def test_a_large_order_fills_a_much_smaller_fraction_of_the_same_tape():
    price = 60_000.0
    tape = [(2000 + 100 * i, price - TICK * (i % 2), 0.05, True) for i in range(40)]  # 2 BTC traded in all
    small = fill(tape, limit_px=price, queue_ahead=1.0, size=10_000 / price)
    large = fill(tape, limit_px=price, queue_ahead=1.0, size=5_000_000 / price)
    assert small == 1.0
    assert large < 0.05 * small
    assert large == pytest.approx(1.0 / (5_000_000 / price))  # 1.0 traded through; the 1.0 at the price was the queue


def test_nothing_fills_from_the_wrong_side_or_before_placement_or_after_the_horizon():
    # buys (buyer_is_maker false) at or below a resting buy's price do not hit it
    assert fill([(2000, 100.0, 9.0, False), (2100, 99.0, 9.0, False)], size=1.0) == 0.0
    # sells into a resting sell do not fill it
    assert fill([(2000, 100.0, 9.0, True), (2100, 101.0, 9.0, True)], side=SELL, size=1.0) == 0.0
    # trades before or at placement, or after the horizon, do not count
    assert fill([(500, 99.0, 9.0, True), (1000, 99.0, 9.0, True)], size=1.0) == 0.0
    assert fill([(11_001, 99.0, 9.0, True)], size=1.0) == 0.0
    assert fill([(11_000, 99.0, 9.0, True)], size=1.0) == 1.0
    # sells above a buy's price never reach it
    assert fill([(2000, 100.1, 9.0, True)], size=1.0) == 0.0


def test_the_fill_time_is_when_the_fill_reached_its_final_amount():
    tape = Tape.from_rows([(2000, 99.9, 0.5, True), (3000, 99.9, 0.5, True), (4000, 99.9, 0.5, True)])
    f = resting_fill(
        tape.ts_ms,
        tape.price,
        tape.qty,
        tape.side,
        side=BUY,
        limit_px=100.0,
        tick=TICK,
        placed_ms=1000,
        horizon_ms=10_000,
        queue_ahead=0.0,
        size=1.0,
    )
    assert f.fraction == 1.0 and f.filled_base == 1.0 and f.fill_ms == 3000


def test_markout_sign_by_hand():
    # a filled buy, then the mid falls 1 bp: it moved against the position (cost +1 bp)
    assert markout_bps(BUY, True, 100.0, 99.99) == pytest.approx(1.0)
    # a filled sell, then the mid falls: in its favour
    assert markout_bps(SELL, True, 100.0, 99.99) == pytest.approx(-1.0)
    # an unfilled buy, then the mid rises 2 bps: it moved away from the order (cost +2 bps)
    assert markout_bps(BUY, False, 100.0, 100.02) == pytest.approx(2.0)
    # an unfilled sell, then the mid rises: in its favour (selling later is better)
    assert markout_bps(SELL, False, 100.0, 100.02) == pytest.approx(-2.0)


def test_size_labels():
    assert [size_label(x) for x in (1e4, 1e5, 1e6, 5e6, 500.0)] == ["$10k", "$100k", "$1M", "$5M", "$500"]


# ---- a short real slice ----------------------------------------------------------------------------------


def test_limit_orders_json_on_a_real_slice():
    grid = LimitGrid(sizes_usd=(1e4, 5e6), offsets_bps=(0.0,), horizons_s=(10.0,), step_s=20.0, warmup_s=5.0)
    r = validate_recording(REC, TRADES, bootstrap=BlockBootstrap(replicates=200), max_lines=1500, limits=grid)
    lo = r["limit_orders"]
    assert {"maker_model", "grid", "n", "skipped", "fill_calibration", "markouts", "bootstrap"} <= lo.keys()
    assert [row["bucket"] for row in lo["fill_calibration"]] == ["$10k", "$5M"]
    for row in lo["fill_calibration"]:
        assert {"bucket", "n", "predicted", "realised", "predicted_ci", "realised_ci"} <= row.keys()
        assert 0.0 <= row["predicted"] <= 1.0 and 0.0 <= row["realised"] <= 1.0
    small, large = lo["fill_calibration"]
    assert small["n"] == large["n"] > 0
    assert large["realised"] <= small["realised"]
    assert sum(row["n"] for row in lo["fill_calibration"]) == lo["n"]
    for part in ("filled", "unfilled"):
        assert [m["after_s"] for m in lo["markouts"][part]] == [1.0, 10.0, 60.0]
        for m in lo["markouts"][part]:
            assert {"after_s", "n", "mean_bps", "mean_bps_ci"} <= m.keys()
        assert {"n", "mean_bps", "mean_bps_ci"} <= lo["markouts"]["rest_move"][part].keys()
    # BLOCK_RULE: a fill spans its horizon, a markout the horizon and the markout (never beyond the recording)
    fills, marks = lo["bootstrap"], lo["bootstrap_markouts"]
    assert fills["block_rule"]["window_s"] == 10.0 and marks["block_rule"]["window_s"] == 70.0
    assert fills["block_s"] == min(fills["seconds"], max(10, math.ceil(fills["block_rule"]["politis_white_s"])))
    assert marks["block_s"] == min(marks["seconds"], max(70, math.ceil(marks["block_rule"]["politis_white_s"])))
    doc = document([r], "python -m core.validate")
    json.dumps(doc)  # JSON-ready, no numpy scalars
    text = markdown(doc)
    assert "### Limit orders (size-aware fill)" in text
    assert f"resting orders' fills {fills['block_s']} s (outcome window 10 s" in text and "BLOCK_RULE" in text
    assert np.isfinite(small["predicted"])


def test_fill_calibration_is_split_by_the_apps_regime_warning():
    """Orders the app warned about (market outside the maker model's training conditions) are calibrated apart from
    the others, per size, and the Markdown shows both sides."""
    from core.validation.limit_orders import SimulatedLimits
    from core.validation.report import MIN_WARNING_ROWS, _limit_section, limit_figures

    rng = np.random.default_rng(0)
    n = 8 * MIN_WARNING_ROWS  # 2 sizes x 2 sides of the warning, 2x the minimum each
    size = np.repeat([1e4, 5e6], n // 2)
    warned = np.tile([True, False], n // 2)
    realised = np.where(warned, 0.6, 0.2) * (rng.random(n) < 0.9)
    sim = SimulatedLimits(
        placed_ms=np.arange(n, dtype=np.int64) * 1000,
        side=np.ones(n, dtype=np.int64),
        size_usd=size,
        offset_bps=np.zeros(n),
        horizon_s=np.full(n, 10.0),
        predicted=np.full(n, 0.3),
        realised=realised,
        markouts=np.zeros((n, 3)),
        rest_move=np.zeros(n),
        skipped={},
        warned=warned,
    )
    grid = LimitGrid(sizes_usd=(1e4, 5e6), offsets_bps=(0.0,), horizons_s=(10.0,), markouts_s=(1.0, 10.0, 60.0))
    lo = limit_figures(sim, BlockBootstrap(replicates=50), grid)
    assert lo["warned_share"] == pytest.approx(0.5)
    by = lo["fill_calibration_by_warning"]
    assert [r["n"] for r in by["warned"]] == [r["n"] for r in by["silent"]] == [n // 4, n // 4]
    assert all(w["realised"] > s["realised"] + 0.3 for w, s in zip(by["warned"], by["silent"], strict=True))
    text = "\n".join(_limit_section({**lo, "maker_model": "m"}))
    assert "Split by the app's warning" in text and "| $5M |" in text
    few = limit_figures(replace(sim, warned=np.arange(n) < 2 * MIN_WARNING_ROWS), BlockBootstrap(replicates=50), grid)
    assert list(few["fill_calibration_by_warning"]) == [
        "silent"
    ]  # all in the $10k bucket, none at $5M: not a calibration by size


def test_limit_intervals_are_drawn_with_the_blocks_the_json_reports():
    """Fills with the longest horizon as window, markouts with horizon + markout: the intervals in the JSON are the
    ones a resampler with exactly the reported blocks gives (not the base spec's)."""
    from core.validation.bootstrap import Resampler
    from core.validation.limit_orders import SimulatedLimits
    from core.validation.report import limit_figures

    rng = np.random.default_rng(3)
    n = 720  # one order every 2 s for 24 min
    c = np.r_[0.0, np.cumsum(rng.normal(size=n + 60))]
    drift = (c[np.arange(n) + 60] - c[np.arange(n)]) / 60  # neighbours share a 60 s window, as a resting fill does
    sim = SimulatedLimits(
        placed_ms=np.arange(n, dtype=np.int64) * 2000,
        side=np.ones(n, dtype=np.int64),
        size_usd=np.full(n, 1e4),
        offset_bps=np.zeros(n),
        horizon_s=np.full(n, 60.0),
        predicted=np.full(n, 0.4),
        realised=np.clip(0.4 + 0.3 * drift, 0.0, 1.0),
        markouts=np.column_stack([drift, drift, drift]),
        rest_move=np.zeros(n),
        skipped={},
    )
    grid = LimitGrid(sizes_usd=(1e4,), offsets_bps=(0.0,), horizons_s=(30.0, 60.0), markouts_s=(1.0, 10.0, 60.0))
    base = BlockBootstrap(replicates=80, seed=5)
    lo = limit_figures(sim, base, grid)
    fills, marks = lo["bootstrap"], lo["bootstrap_markouts"]
    assert fills["block_rule"]["window_s"] == 60.0 and fills["block_s"] >= 60
    assert marks["block_rule"]["window_s"] == 120.0 and marks["block_s"] >= 120
    second = sim.placed_ms // 1000
    every = np.ones(n, dtype=bool)
    for block, values, got in (
        (fills["block_s"], sim.realised, lo["fill_calibration"][0]["realised_ci"]),
        (marks["block_s"], sim.markouts[:, 2], lo["markouts"]["filled"][2]["mean_bps_ci"]),
    ):
        spec = BlockBootstrap(block_s=block, replicates=80, seed=5, automatic=False)
        want = Resampler.of(spec, second, int(second.max()) + 1).interval(values, every)
        assert got == pytest.approx(want, abs=1e-6)  # the JSON rounds to 6 decimals
    fixed = limit_figures(sim, BlockBootstrap(replicates=80, seed=5, automatic=False), grid)
    lo_w = lo["fill_calibration"][0]["realised_ci"]
    fx_w = fixed["fill_calibration"][0]["realised_ci"]
    assert lo_w[1] - lo_w[0] > fx_w[1] - fx_w[0]  # the shared windows make the 10 s block too narrow

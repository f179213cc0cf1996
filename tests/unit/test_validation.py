"""The validator (core.validation) on hand-made tapes and books and on a short real slice of a bundled recording."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from core.market.book import BookSnapshot
from core.market.tape import Tape, group_orders
from core.paths import DATA_DIR
from core.validation.books import load_books
from core.validation.bootstrap import MIN_BLOCK_S, MIN_INTERVAL_N, BlockBootstrap, Resampler, politis_white_s
from core.validation.command import main
from core.validation.delay import measure_delay
from core.validation.market_orders import SIZE_BUCKETS, explains, realised_cost_bps
from core.validation.report import bundled, document, markdown, validate_recording

REC = DATA_DIR / "recordings" / "binance-futures_BTCUSDT_20240808.jsonl.gz"
TRADES = DATA_DIR / "trades" / "binance-futures_BTCUSDT_20240808.parquet"
SLICE = 2000  # books: the first ~100 s of the recording


def book(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookSnapshot:
    return BookSnapshot.build(
        exchange="binance-futures",
        symbol="BTCUSDT",
        source="test",
        bid_px=np.array([p for p, _ in bids]),
        bid_sz=np.array([s for _, s in bids]),
        ask_px=np.array([p for p, _ in asks]),
        ask_sz=np.array([s for _, s in asks]),
        exchange_ts_ms=1,
        recv_ns=1,
        seq=1,
    )


# ---- grouping trades into taker orders ---------------------------------------------------------------


def test_same_millisecond_and_side_is_one_order_on_a_hand_made_tape():
    tape = Tape.from_rows(
        [
            (1000, 100.0, 0.5, False),  # buy taker: 3 trades at 1000 ms, walking 100 -> 101
            (1000, 100.0, 0.25, False),
            (1000, 101.0, 0.25, False),
            (1000, 99.0, 2.0, True),  # a sell taker in the same millisecond: another order
            (1001, 101.0, 1.0, False),  # next millisecond: another order
            (1002, 99.0, 0.0, True),  # zero size: not a trade
        ]
    )
    o = group_orders(tape)
    assert len(o) == 3
    assert list(o.ts_ms) == [1000, 1000, 1001]
    assert list(o.side) == [-1, 1, 1]  # sells sort before buys within a millisecond
    assert list(o.n_trades) == [1, 3, 1]
    assert o.qty[1] == pytest.approx(1.0)
    assert o.notional[1] == pytest.approx(0.75 * 100.0 + 0.25 * 101.0)
    assert o.vwap[1] == pytest.approx(100.25)
    assert o.first_price[1] == 100.0
    prices, qty = o.fills(1)
    assert list(prices) == [100.0, 101.0] and list(qty) == pytest.approx([0.75, 0.25])


def test_interleaved_sides_in_one_millisecond_keep_each_sides_tape_order():
    tape = Tape.from_rows([(5, 10.0, 1.0, False), (5, 9.0, 1.0, True), (5, 11.0, 1.0, False), (5, 8.0, 1.0, True)])
    o = group_orders(tape)
    assert len(o) == 2
    assert list(o.fills(0)[0]) == [9.0, 8.0]  # the sell walked the bids down
    assert list(o.fills(1)[0]) == [10.0, 11.0]  # the buy walked the asks up


def test_grouping_the_real_tape_keeps_every_trade_once():
    tape = Tape.from_parquet(TRADES)
    o = group_orders(tape)
    assert len(o) < len(tape)
    assert o.qty.sum() == pytest.approx(tape.qty.sum(), rel=1e-12)
    assert (np.diff(o.ts_ms) >= 0).all()
    assert int(o.n_trades.sum()) == len(tape)
    same = (o.ts_ms[1:] == o.ts_ms[:-1]) & (o.side[1:] == o.side[:-1])
    assert not same.any()  # no two orders share (ms, side)


# ---- the realised-cost arithmetic and "clean" --------------------------------------------------------


def test_realised_cost_by_hand():
    # buy 1 BTC: 0.5 at 100.5 and 0.5 at 101 -> VWAP 100.75 against mid 100: 0.75 / 100.75 of the notional
    assert realised_cost_bps(1, 1.0, 100.75, 100.0) == pytest.approx(0.75 / 100.75 * 1e4)
    assert realised_cost_bps(1, 1.0, 100.75, 100.0) == pytest.approx(74.44168734491315)
    # sell 2 BTC for 198 (VWAP 99) against mid 100: received 2 less than 2 x mid, 2 / 198 of the notional
    assert realised_cost_bps(-1, 2.0, 198.0, 100.0) == pytest.approx(2.0 / 198.0 * 1e4)
    # a buy below the mid (price improvement) is a negative cost
    assert realised_cost_bps(1, 1.0, 99.9, 100.0) < 0


def test_clean_means_the_book_explains_the_fills():
    b = book([(99.5, 1.0), (99.0, 2.0)], [(100.5, 1.0), (101.0, 2.0), (101.5, 3.0)])
    assert explains(b, 1, np.array([100.5, 101.0]), np.array([1.0, 1.5]))
    assert not explains(b, 1, np.array([101.0]), np.array([1.0]))  # first trade not at the touch
    assert not explains(b, 1, np.array([100.5, 101.0]), np.array([1.2, 1.0]))  # more than the touch showed
    assert not explains(b, 1, np.array([100.5, 100.75]), np.array([1.0, 0.1]))  # a price the book did not show
    assert not explains(b, 1, np.array([100.5, 102.0]), np.array([1.0, 0.1]))  # beyond the book
    assert explains(b, -1, np.array([99.5, 99.0]), np.array([1.0, 2.0]))
    assert not explains(b, -1, np.array([99.0]), np.array([1.0]))


# ---- the block bootstrap -------------------------------------------------------------------------------


def test_bootstrap_blocks_are_runs_of_consecutive_seconds_wrapping_around():
    spec = BlockBootstrap(block_s=7, replicates=50, seed=3)
    n = 40
    w = spec.weights(n)
    starts = spec.starts(n)
    assert w.shape == (50, n) and starts.shape == (50, math.ceil(n / 7))
    assert (w.sum(axis=1) == 7 * math.ceil(n / 7)).all()
    for r in range(50):
        expect = np.zeros(n)
        for s0 in starts[r]:
            expect[(s0 + np.arange(7)) % n] += 1
        assert (w[r] == expect).all()
    assert (spec.weights(n) == w).all()  # seeded: the same draw every time
    assert not (BlockBootstrap(block_s=7, replicates=50, seed=4).weights(n) == w).all()
    assert (BlockBootstrap(block_s=100, replicates=5).weights(n).sum(axis=1) == n).all()  # one block: the span


def test_bootstrap_replicates_are_means_over_the_drawn_seconds():
    spec = BlockBootstrap(block_s=2, replicates=20, seed=1)
    second = np.array([0, 0, 1, 2, 3])
    values = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    rs = Resampler.of(spec, second, 4)
    per_second_sum, per_second_n = np.array([4.0, 5.0, 7.0, 9.0]), np.array([2.0, 1.0, 1.0, 1.0])
    expect = (rs.weights @ per_second_sum) / (rs.weights @ per_second_n)
    assert rs.replicates(values) == pytest.approx(expect)
    assert rs.interval(values) is None  # fewer than MIN_INTERVAL_N orders
    assert values.size < MIN_INTERVAL_N


def test_politis_white_block_grows_with_how_long_errors_stay_correlated():
    rng = np.random.default_rng(5)
    n = 600
    second = np.arange(n)
    noise = rng.normal(size=n)
    c = np.r_[0.0, np.cumsum(rng.normal(size=n + 60))]
    windowed = (c[60:] - c[:-60])[:n] / 60  # each second's outcome spans the next 60 s: neighbours share most of it
    assert politis_white_s(second, noise, n) < 5
    assert politis_white_s(second, windowed, n) > 25
    assert politis_white_s(second, np.ones(n), n) == 0.0  # a constant: nothing to resample
    assert politis_white_s(second[:1], noise[:1], n) == 0.0
    with_gaps = np.where(np.arange(n) % 7 == 0, np.nan, windowed)  # non-finite rows are left out
    assert politis_white_s(second, with_gaps, n) > 25


def test_politis_white_centres_each_row_so_uneven_counts_alone_set_no_block():
    """Rows per second follow a slow intensity, values are independent: the ratio-of-sums mean needs no long block,
    though the raw per-second sums (which follow the counts) would ask for one."""
    rng = np.random.default_rng(11)
    n = 600
    counts = rng.poisson(3.0 * (1.0 + np.sin(np.arange(n) / 40.0)) + 0.5)
    second = np.repeat(np.arange(n), counts)
    values = 1.0 + rng.normal(size=second.size)  # a mean far from 0: uncentred sums would track the counts
    assert politis_white_s(second, values, n) < 5
    raw = np.bincount(second, weights=values, minlength=n)
    assert politis_white_s(np.arange(n), raw, n) > 20  # what centring avoids
    assert politis_white_s(second, np.full(second.size, 0.3), n) == 0.0  # a constant at uneven counts: no block
    for m in range(3, 9):  # too short for an estimate: no block, no error (arch needs 8 values)
        assert politis_white_s(np.arange(m), rng.normal(size=m), m) == 0.0 or m >= 8


def test_a_spec_derived_for_one_family_is_derived_again_for_another():
    rng = np.random.default_rng(12)
    second = np.arange(0, 600, 5)
    noise = rng.normal(size=second.size)
    fills = BlockBootstrap(replicates=20).for_family(second, [noise], 600, window_s=60.0)
    taker = fills.for_family(second, [noise], 600, window_s=0.0)
    assert fills.block_s == 60 and taker.block_s == MIN_BLOCK_S and taker.minimum_s == MIN_BLOCK_S
    rule = fills.to_dict(600)["block_rule"]
    assert rule["politis_white_cap_s"] == math.ceil(min(3 * math.sqrt(600), 200)) and rule["arch"]


def test_block_rule_takes_the_longest_of_minimum_window_and_politis_white():
    rng = np.random.default_rng(6)
    n = 600
    second = np.arange(0, n, 5)
    noise = rng.normal(size=second.size)
    base = BlockBootstrap(replicates=20)
    assert base.block_s == MIN_BLOCK_S == 10
    assert base.for_family(second, [noise], n, window_s=0.0).block_s == MIN_BLOCK_S
    fills = base.for_family(second, [noise], n, window_s=60.0)
    assert fills.block_s == 60 and fills.to_dict(n)["block_rule"]["window_s"] == 60.0
    c = np.r_[0.0, np.cumsum(rng.normal(size=n + 120))]
    slow = (c[second + 120] - c[second]) / 120
    long = base.for_family(second, [noise, slow], n, window_s=0.0)  # the longer of the residuals' blocks
    pw = long.to_dict(n)["block_rule"]["politis_white_s"]
    assert long.block_s == math.ceil(pw) > 30
    assert long.to_dict(30)["block_s"] == 30  # never longer than the recording
    fixed = BlockBootstrap(block_s=7, automatic=False)
    assert fixed.for_family(second, [slow], n, window_s=60.0) is fixed and "block_rule" not in fixed.to_dict(n)


def test_block_rule_widens_intervals_where_outcome_windows_overlap():
    """Rows every 5 s whose outcomes average the next 60 s (a resting order's fill): the fixed 10 s block covers
    the true mean (0) far less often than its nominal 95%; the rule's block (the 60 s window) much more often."""
    rng = np.random.default_rng(7)
    n, second, sims = 600, np.arange(0, 600, 5), 40
    covered = {"fixed": 0, "rule": 0}
    for k in range(sims):
        c = np.r_[0.0, np.cumsum(rng.normal(size=n + 60))]
        y = (c[second + 60] - c[second]) / 60 + 0.05 * rng.normal(size=second.size)
        for name, spec in (
            ("fixed", BlockBootstrap(replicates=300, seed=k, automatic=False)),
            ("rule", BlockBootstrap(replicates=300, seed=k).for_family(second, [y], n, window_s=60.0)),
        ):
            ci = Resampler.of(spec, second, n).interval(y)
            assert ci is not None
            covered[name] += ci[0] <= 0.0 <= ci[1]
    assert covered["fixed"] / sims < 0.65  # 52% of these 40 runs (docs/VALIDATION.md, "Not validated yet")
    assert covered["rule"] / sims >= covered["fixed"] / sims + 0.2  # 80%


# ---- a short real slice end to end -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def result() -> dict:
    return validate_recording(REC, TRADES, bootstrap=BlockBootstrap(replicates=400), max_lines=SLICE)


def test_the_book_delay_is_measured_and_never_points_past_the_trade():
    books = load_books(REC, max_lines=SLICE)
    d = measure_delay(books, group_orders(Tape.from_parquet(TRADES)))
    assert d.n > 0 and d.lag_ms >= 0
    assert d.quantiles_ms["p50"] > 0  # the book shows a trade after it, not before
    assert d.lag_ms <= max(d.quantiles_ms["p1"], 0)


def test_json_keys_on_a_real_slice(result: dict):
    mo = result["market_orders"]
    for part in ("all", "clean"):
        fig = mo[part]
        assert {"n", "bias_bps", "mae_bps", "by_size", "bias_bps_ci", "mae_bps_ci"} <= fig.keys()
        assert [b["bucket"] for b in fig["by_size"]] == [b for b, _, _ in SIZE_BUCKETS]
        for row in fig["by_size"]:
            assert {"bucket", "n", "bias_bps", "mae_bps"} <= row.keys()
        assert sum(b["n"] for b in fig["by_size"]) == fig["n"]
    assert 0 < mo["clean"]["n"] < mo["all"]["n"]
    cov = result["p90_coverage"]
    assert cov["shown"] is True
    assert 0.0 <= cov["overall"] <= 1.0
    for row in cov["by_size"]:
        assert {"bucket", "n", "coverage"} <= row.keys()
    bs = result["bootstrap"]
    assert bs["replicates"] == 400 and bs["seed"] == 12
    rule = bs["block_rule"]  # taker orders: no outcome window beyond the minimum; the errors' own block
    assert rule["minimum_s"] == 10 and rule["window_s"] == 0.0
    assert bs["block_s"] == min(bs["seconds"], max(10, math.ceil(rule["politis_white_s"])))
    assert "held_out" in cov and result["book_delay"]["lag_ms"] >= 0
    json.dumps(document([result], "python -m core.validate"))  # JSON-ready, no numpy scalars


def test_intervals_contain_the_point_estimates(result: dict):
    figs = [result["market_orders"]["all"], result["market_orders"]["clean"]]
    for fig in figs:
        for key in ("bias_bps", "mae_bps"):
            lo, hi = fig[f"{key}_ci"]
            assert lo <= fig[key] <= hi
    cov = result["p90_coverage"]
    lo, hi = cov["overall_ci"]
    assert lo <= cov["overall"] <= hi


def test_clean_orders_are_priced_as_the_book_walk_fills_them(result: dict):
    clean = result["market_orders"]["clean"]
    assert abs(clean["bias_bps"]) < 0.05 and clean["mae_bps"] < 0.05
    assert result["market_orders"]["all"]["mae_bps"] >= clean["mae_bps"]


def test_the_report_states_definitions_and_what_is_not_validated(result: dict):
    text = markdown(document([result], "python -m core.validate"))
    assert "## Definitions" in text and "## Not validated yet" in text
    assert "Limit orders" in text and "impact" in text.lower()
    assert result["recording"] in text


def test_bundled_pairs_have_their_trades():
    pairs = bundled()
    assert pairs and all(r.exists() and t.exists() for r, t in pairs)
    assert (REC, TRADES) in pairs


def test_the_command_refuses_a_recording_without_its_trades(capsys: pytest.CaptureFixture[str]):
    assert main(["--recording", str(REC)]) == 2
    assert "--trades" in capsys.readouterr().err

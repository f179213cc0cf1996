"""The online calibration (core.learned.online): the trackers' arithmetic, causality and long-run calibration."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.learned.online import (
    BUCKET_LABELS,
    DECADES,
    HALF_DECADES,
    BandTracker,
    ShareTracker,
    band_unit_bps,
    load_steps,
    replay_band,
    replay_share,
    size_bucket,
)
from core.paths import ONLINE_FILE


def test_size_buckets_are_the_validators():
    assert [size_bucket(v) for v in (10, 999.99, 1e3, 5e4, 1e5, 1e6, 5e6)] == [0, 0, 1, 2, 3, 4, 4]
    assert DECADES.labels == BUCKET_LABELS == ("<$1k", "$1k-10k", "$10k-100k", "$100k-1M", ">=$1M")


def test_half_decades_part_the_sizes_the_decades_share():
    h = HALF_DECADES
    assert len(h) == 9 and h.labels[0] == "<$1k" and h.labels[-1] == ">=$3.2M"
    assert h.labels[6] == "$316k-1M" and h.labels[7] == "$1M-3.2M"
    # the test limit orders' sizes each get their own shift; $1M and $5M share one under decades
    assert [h.of(v) for v in (1e4, 1e5, 1e6, 5e6)] == [3, 5, 7, 8]
    assert DECADES.of(1e6) == DECADES.of(5e6)
    # lower bounds inclusive, as the decades; the log10 path (the per-tick one) agrees
    for v in (999.0, 1e3, 3162.0, 3163.0, 1e6, 3.17e6, 1e9):
        assert h.of(v) == h.of_log10(np.log10(v)) == sum(v >= e for e in h.edges_usd)
    t = ShareTracker(0.5, HALF_DECADES)
    t.observe(h.of(1e6), realised=1.0, shown=0.3)
    assert t.share(0.3, h.of(1e6)) > 0.3 and t.share(0.3, h.of(5e6)) == 0.3
    assert t.state().buckets is HALF_DECADES and len(t.state().shifts) == 9


def test_a_miss_raises_the_band_and_a_cover_lowers_it_by_the_level():
    t = BandTracker(step=2.0)
    t.observe(2, missed=True)
    assert t.shift(2) == pytest.approx(2.0 * 0.9)
    t.observe(2, missed=False)
    assert t.shift(2) == pytest.approx(2.0 * 0.9 - 2.0 * 0.1)
    assert t.shift(1) == 0.0  # other buckets untouched
    # the band is the static p90 moved by shift x max(spread, floor), never below the expectation
    assert t.band_bps(1.0, 0.01, 2, floor_bps=0.0) == pytest.approx(1.0 + 1.6 * band_unit_bps(0.01))
    assert band_unit_bps(0.01) == 0.03
    t2 = BandTracker(step=10.0)
    for _ in range(20):
        t2.observe(0, missed=False)
    assert t2.band_bps(0.5, 0.02, 0, floor_bps=0.4) == 0.4
    state = t.state()
    assert state.outcomes[2] == 2 and state.misses[2] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.step = 3.0  # type: ignore[misc]


def test_a_negative_step_is_refused():
    with pytest.raises(ValueError):
        BandTracker(step=-1.0)


def _stream(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(0, 3, n)).astype(np.int64)  # some orders share a millisecond
    return {
        "ts_ms": ts,
        "notional_usd": np.full(n, 5e4),
        "p90_bps": np.zeros(n),  # a static band far too low: realised costs are N(1, 1)
        "floor_bps": np.full(n, -np.inf),
        "spread_bps": np.full(n, 0.1),
        "realised_bps": rng.normal(1.0, 1.0, n),
    }


def test_the_band_is_causal():
    s = _stream(400)
    shown = replay_band(**s, step=3.0)
    k = 200
    later = dict(s, realised_bps=s["realised_bps"].copy())
    later["realised_bps"][k:] += 50.0  # what happens at and after order k
    shown2 = replay_band(**later, step=3.0)
    same_ms = s["ts_ms"] == s["ts_ms"][k]
    first = int(np.flatnonzero(same_ms)[0])
    np.testing.assert_array_equal(shown[: first + int(same_ms.sum())], shown2[: first + int(same_ms.sum())])
    assert not np.array_equal(shown[first + int(same_ms.sum()) :], shown2[first + int(same_ms.sum()) :])


def test_the_band_tends_to_its_level_from_a_wrong_start():
    s = _stream(6000, seed=3)
    static_cover = float((s["realised_bps"] <= s["p90_bps"]).mean())
    assert static_cover < 0.3
    shown = replay_band(**s, step=3.0)
    late = slice(3000, None)
    cover = float((s["realised_bps"][late] <= shown[late] + 1e-6).mean())
    assert abs(cover - 0.9) < 0.03
    assert replay_band(**s, step=0.0).tolist() == s["p90_bps"].tolist()  # step 0: the static band


def test_the_share_is_causal_and_learns_the_days_fill_rate():
    rng = np.random.default_rng(1)
    n_t, per = 400, 6
    placed = np.repeat(np.arange(n_t) * 5000, per).astype(np.int64)
    horizon = np.tile([10.0, 30.0, 60.0], n_t * per // 3)
    size = np.full(placed.size, 1e5)
    predicted = np.full(placed.size, 0.2)
    realised = (rng.random(placed.size) < 0.45).astype(np.float64)
    shown = replay_share(placed, horizon, size, predicted, realised, 0.03)
    # nothing has matured during the first 10 s: the model's share as is
    assert (shown[placed < 10_000] == 0.2).all()
    assert abs(shown[placed.size // 2 :].mean() - 0.45) < 0.03
    # an outcome moves only shares shown after its rest ended
    k = placed.size // 2
    flipped = realised.copy()
    flipped[k] = 1.0 - flipped[k]
    shown2 = replay_share(placed, horizon, size, predicted, flipped, 0.03)
    end_k = placed[k] + horizon[k] * 1000
    np.testing.assert_array_equal(shown[placed < end_k], shown2[placed < end_k])
    assert not np.array_equal(shown[placed >= end_k], shown2[placed >= end_k])


def test_share_tracker_moves_the_logit_by_the_residual():
    t = ShareTracker(step=0.5)
    assert t.share(0.3, 2) == 0.3
    t.observe(2, realised=1.0, shown=0.3)
    z = np.log(0.3 / 0.7) + 0.5 * 0.7
    assert t.share(0.3, 2) == pytest.approx(1 / (1 + np.exp(-z)))
    assert t.share(0.3, 3) == 0.3


def test_the_shipped_steps_load_and_say_where_they_came_from(tmp_path):
    steps = load_steps()
    card = json.loads(ONLINE_FILE.read_text(encoding="utf-8"))
    assert steps is not None and steps.band_step == card["band"]["step"] and steps.share_step == card["share"]["step"]
    assert "training days" in steps.source
    # the card keeps every candidate's evidence, the chosen step among them
    assert steps.band_step in [c["step"] for c in card["band"]["candidates"]]
    assert steps.share_step in [c["step"] for c in card["share"]["candidates"]]
    # and the size buckets chosen with them (decades on a card written before they were a choice)
    assert steps.band_buckets.name == card["band"].get("buckets", "decades")
    assert steps.share_buckets.name == card["share"].get("buckets", "decades")
    chosen = [c for c in card["share"]["candidates"] if c["step"] == steps.share_step]
    assert any(c.get("buckets", "decades") == steps.share_buckets.name for c in chosen)
    assert load_steps(tmp_path / "none.json") is None


def test_the_rule_takes_the_lowest_loss_among_steps_within_tolerance():
    from core.training.online import TOLERANCE, _best

    cand = [
        {"step": 0.0, "worst": 0.14, "loss": 0.10},
        {"step": 1.0, "worst": 0.04, "loss": 0.13},
        {"step": 3.0, "worst": 0.01, "loss": 0.16},
    ]
    assert TOLERANCE == 0.05
    assert _best(cand, "worst", "loss")["step"] == 1.0  # the narrowest band among those that cover
    # none within tolerance: the smallest worst cell, the smaller step on a tie
    far = [dict(c, worst=w) for c, w in zip(cand, (0.34, 0.24, 0.21), strict=True)]
    far.append({"step": 5.0, "worst": 0.21, "loss": 0.0})
    assert _best(far, "worst", "loss")["step"] == 3.0


def test_covers_at_the_expectation_do_not_wind_the_band_down():
    t = BandTracker(step=3.0)
    for _ in range(1000):  # small orders that all pay their expectation: the band sits on it
        t.observe(0, missed=False, at_floor=True)
    assert t.shift(0) == 0.0
    t.observe(0, missed=True, at_floor=True)
    assert t.shift(0) == pytest.approx(2.7)  # one miss lifts it at once


def test_the_validator_scores_the_online_calibration_on_a_real_slice():
    from core.learned.online import OnlineSteps
    from core.validation.bootstrap import BlockBootstrap
    from core.validation.limit_orders import LimitGrid
    from core.validation.report import validate_recording
    from tests.unit.test_limit_validation import REC, TRADES

    grid = LimitGrid(sizes_usd=(1e4, 5e6), offsets_bps=(0.0,), horizons_s=(10.0,), step_s=10.0, warmup_s=5.0)

    def run(band: float, share: float) -> dict:
        steps = OnlineSteps(band_step=band, share_step=share, source="test")
        return validate_recording(
            REC, TRADES, bootstrap=BlockBootstrap(replicates=50), max_lines=1500, limits=grid, online=steps
        )

    still, moving = run(0.0, 0.0), run(3.0, 0.3)
    # step 0 is the static models exactly
    cov = still["p90_coverage"]
    assert cov["online"]["overall"] == cov["overall"]
    assert [r["coverage"] for r in cov["online"]["by_size"]] == [r["coverage"] for r in cov["by_size"]]
    lo = still["limit_orders"]
    assert [r["predicted"] for r in lo["fill_calibration_online"]["by_size"]] == [
        r["predicted"] for r in lo["fill_calibration"]
    ]
    # a step moves them, and the realised side never changes
    on = moving["p90_coverage"]["online"]
    assert on["step"] == 3.0 and on["mean_band_above_estimate_bps"] != cov["mean_band_above_estimate_bps"]
    mo = moving["limit_orders"]["fill_calibration_online"]["by_size"]
    assert [r["realised"] for r in mo] == [r["realised"] for r in lo["fill_calibration"]]
    assert [r["predicted"] for r in mo] != [r["predicted"] for r in lo["fill_calibration"]]


def test_the_validator_reads_the_shift_as_it_stood_before_each_order():
    from core.learned.online import OnlineSteps
    from core.validation.online import OnlineRun

    hist = (np.array([100, 200]), np.array([2, 2]), np.array([1.0, 2.0]))
    run = OnlineRun(OnlineSteps(3.0, 0.03, "test"), hist, hist, taker_orders=2, resting_orders=2)
    ts = np.array([50, 100, 150, 250, 250])
    notional = np.array([5e4, 5e4, 5e4, 5e4, 500.0])  # the last one is in another bucket
    p90 = np.full(5, 1.0)
    band = run.band_bps(ts, notional, p90, np.zeros(5), np.full(5, 0.1))
    np.testing.assert_allclose(
        band, [1.0, 1.0, 1.1, 1.2, 1.0]
    )  # strictly before: the outcome at 100 is not known at 100
    share = run.share(ts, notional, np.full(5, 0.5))
    np.testing.assert_allclose(share, [0.5, 0.5, 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-2.0)), 0.5])


def test_a_tracker_state_crosses_the_bus_and_a_wrong_one_is_refused():
    import orjson

    from core.errors import ParseError
    from core.learned.online import TrackerState

    t = ShareTracker(0.1, HALF_DECADES)
    t.observe(7, realised=1.0, shown=0.2)
    st = t.state()
    back = TrackerState.from_doc(orjson.loads(orjson.dumps(st.to_doc())))
    assert back == st
    other = ShareTracker(0.1, HALF_DECADES)
    other.load(back)
    assert other.share(0.2, 7) == t.share(0.2, 7) != 0.2
    with pytest.raises(ParseError):
        ShareTracker(0.1).load(back)  # decades: the shifts would land on the wrong sizes
    doc = st.to_doc()
    for bad in (
        None,
        {**doc, "buckets": "weeks"},
        {**doc, "shifts": doc["shifts"][:-1]},
        {**doc, "shifts": [float("nan")] * 9},
        {**doc, "outcomes": [0.5] * 9},
        {**doc, "step": -1},
        {**doc, "misses": "many"},
        {**doc, "recent_outcomes": [1.5] * 9},
        {**doc, "recent_misses": [1.0] * 3},
        {**doc, "recent_outcomes": [5_000_000] * 9, "outcomes": [5_000_000] * 9},  # beyond the window
        {**doc, "recent_outcomes": [1] * 9},  # more recent outcomes than outcomes
        {**doc, "recent_misses": [0.0] * 7 + [2.0, 0.0]},  # more fills than outcomes
    ):
        with pytest.raises(ParseError):
            TrackerState.from_doc(bad)
    # an ingest of the version before the recent window: its state is read, the recent counts are not known
    old = {k: v for k, v in doc.items() if not k.startswith("recent_")}
    read = TrackerState.from_doc(old)
    assert read.shifts == st.shifts and read.recent(7) == (0, 0.0, 0.0) and st.recent(7) == (1, 1.0, 0.2)


def test_the_recent_window_counts_only_the_last_outcomes():
    from core.learned.online import RECENT_OUTCOMES, TrackerState

    t = BandTracker(step=1.0)
    for _ in range(300):
        t.observe(2, missed=True)
    for _ in range(RECENT_OUTCOMES - 10):
        t.observe(2, missed=False)
    st = t.state()
    assert st.outcomes[2] == 300 + RECENT_OUTCOMES - 10 and st.misses[2] == 300
    assert st.recent(2) == (RECENT_OUTCOMES, pytest.approx(10.0), 0.0)  # 10 misses among the last 100
    note = st.band_note(2, spread_bps=0.02)
    assert f"(target 10%; the last {RECENT_OUTCOMES}: 10%)" in note and "paid more than the band shown them" in note
    # a replica loading the state keeps the same recent counts, and rolls them on with its own outcomes
    r = BandTracker(step=1.0)
    r.load(TrackerState.from_doc(st.to_doc()))
    assert r.state().recent(2) == st.recent(2)
    r.observe(2, missed=False)
    assert r.state().recent(2)[0] == RECENT_OUTCOMES and r.state().recent(2)[1] < 10.0
    s = ShareTracker(0.1)
    for _ in range(150):
        s.observe(2, realised=1.0, shown=0.5)
    assert s.state().recent(2) == (RECENT_OUTCOMES, pytest.approx(100.0), pytest.approx(50.0))
    assert f"the last {RECENT_OUTCOMES} filled 100% where it showed 50%" in s.state().share_note(2)


def test_the_band_note_says_its_move_in_bps_and_the_rule_without_a_false_because():
    t = BandTracker(step=3.0)
    t.observe(1, missed=True)  # one miss: +2.7 units
    for _ in range(30):  # covers at the floor: they do not lower it
        t.observe(1, missed=False, at_floor=True)
    note = t.state().band_note(1, spread_bps=0.1)
    assert "3% paid more than the band shown them (target 10%)" in note  # 1 of 31, under the 10% target
    # the band stands raised although under target: the note states the correction and the rule, not a "so"
    assert "the correction stands at +0.27 bps on this book (+2.70 x max(spread, 0.03 bps))" in note
    assert "so the band" not in note and "already its expected cost" in note
    for _ in range(12):  # covers above the floor lower it, 0.3 units each: below zero now
        t.observe(1, missed=False)
    assert "stands at −0.09 bps on this book (−0.90 x max" in t.state().band_note(1, 0.1)
    assert BandTracker(step=3.0).state().band_note(1, 0.1) == ""  # nothing seen: no note


def test_minute_changes_measure_what_a_trader_sees_move_and_how_much_goes_back_and_forth():
    from core.learned.online import REFERENCE_SHARE, SETTLE_MS, minute_changes, moves_summary

    t = np.arange(0, 10 * 60_000, 1000)
    assert not minute_changes(t, np.full(t.size, 0.7)).any()  # a steady shift moves nothing
    jump = np.where(t >= SETTLE_MS + 3 * 60_000 - 500, 1.0, 0.0)  # +1 logit once, in the fourth minute after settling
    up = minute_changes(t[::-1], jump[::-1])  # any order in, time order used
    z = np.log(REFERENCE_SHARE / (1 - REFERENCE_SHARE)) + 1.0
    assert np.count_nonzero(up) == 1 and up.max() == pytest.approx(100 * (1 / (1 + np.exp(-z)) - 0.25))
    assert minute_changes(np.zeros(0, dtype=np.int64), np.zeros(0)).size == 0
    # a climb goes nowhere back; a swing up and down again does
    climb = moves_summary([up])
    assert climb is not None and climb["back_and_forth"] == 0.0 and climb["median"] == 0.0
    swing = np.where((t >= SETTLE_MS + 60_000) & (t < SETTLE_MS + 2 * 60_000), 1.0, 0.0)
    both = moves_summary([minute_changes(t, swing)])
    assert both is not None and both["back_and_forth"] > 0 and both["p90"] == pytest.approx(up.max())
    assert moves_summary([np.zeros(0)]) is None


def test_the_shipped_share_step_is_no_worse_than_the_static_model_by_the_log_loss():
    card = json.loads(ONLINE_FILE.read_text(encoding="utf-8"))["share"]
    static = next(c for c in card["candidates"] if c["step"] == 0.0)
    chosen = next(c for c in card["candidates"] if c["step"] == card["step"] and c["buckets"] == card["buckets"])
    assert chosen["log_loss"] <= static["log_loss"]
    # the guard's reason is on the card: what each candidate moves a 25% share per minute
    assert all(c["minute_moves_points"] is not None for c in card["candidates"] if c["step"] > 0)
    fastest = max(card["candidates"], key=lambda c: c["step"])
    assert fastest["minute_moves_points"]["back_and_forth"] > chosen["minute_moves_points"]["back_and_forth"]


def test_an_untested_size_takes_a_correction_between_its_neighbours_and_says_so():
    grid = (1e4, 1e5, 1e6, 5e6)
    t = ShareTracker(0.5, HALF_DECADES, grid)
    t.observe(HALF_DECADES.of(1e5), realised=1.0, shown=0.3)  # the $100k test orders: raised by 0.35 logit
    s100k = t.shift(HALF_DECADES.of(1e5))
    assert s100k == pytest.approx(0.35)
    # at a tested size its own bucket's shift; between two, by log size; beyond the ends, flat
    assert t.shift_at(1e5) == s100k and t.shift_at(1e4) == 0.0 and t.shift_at(1e6) == 0.0
    assert t.shift_at(10**4.5) == pytest.approx(s100k / 2) and t.shift_at(10**5.5) == pytest.approx(s100k / 2)
    assert t.shift_at(100.0) == t.shift_at(1e4) and t.shift_at(1e8) == t.shift_at(5e6)
    # no jump at a bucket edge: $31k and $33k get nearly the same correction
    assert abs(t.share_at(0.3, 3.1e4) - t.share_at(0.3, 3.3e4)) < 0.01
    assert t.share_at(0.3, 1e5) == t.share(0.3, HALF_DECADES.of(1e5)) > 0.3
    # the notes: a tested size (even rounded down to the lot) says nothing of an assumption; another size does
    assert "assumption" not in t.note(99_990.0) and "$100k-316k" in t.note(99_990.0)
    between = t.note(5e4)
    assert "$10k and $100k" in between and "an assumption" in between and "$100k-316k" in between
    assert t.note(2e6) == ""  # neither neighbour has an outcome yet


def test_the_validator_says_how_much_the_band_moves_a_minute():
    from core.learned.online import OnlineSteps
    from core.validation.online import OnlineRun
    from core.validation.report import band_moves

    minute = 60_000
    hist = (np.array([3 * minute, 4 * minute]), np.array([2, 2]), np.array([10.0, 0.0]))  # up 10 units, back down
    run = OnlineRun(OnlineSteps(3.0, 0.03, "test"), hist, hist, taker_orders=2, resting_orders=0)
    ts = np.arange(0, 8 * minute, 1000)
    mv = band_moves(run, ts, np.full(ts.size, 5e4), np.full(ts.size, 0.1))  # one unit = max(0.1, 0.03) = 0.1 bps
    assert mv is not None and mv["p90"] == pytest.approx(1.0) and mv["median"] == 0.0
    assert mv["back_and_forth"] == pytest.approx(2.0 / 5)  # +1 then -1 bps over the 5 minute-to-minute changes


def test_a_fixed_unit_band_moves_the_same_bps_whatever_the_spread():
    """The session-18 unit: a shift learnt on a floor spread is not multiplied when the spread opens (a sweep's gap)."""
    from core.learned.online import BandUnit, moved_band

    spread = BandTracker(step=3.0)
    fixed = BandTracker(step=3.0, unit=BandUnit.FIXED)
    for t in (spread, fixed):
        for _ in range(10):
            t.observe(2, missed=True)  # +27 units each
    assert spread.shift(2) == fixed.shift(2) == pytest.approx(27.0)
    # on a floor spread both move the static p90 by 27 x 0.03 = 0.81 bps
    assert spread.band_bps(1.0, 0.016, 2, 0.0) == pytest.approx(1.81) == fixed.band_bps(1.0, 0.016, 2, 0.0)
    # a spread of 2.6 bps: the spread unit moves it by 27 x 2.6 = 70.2 bps, the fixed one still by 0.81
    assert spread.band_bps(1.0, 2.6, 2, 0.0) == pytest.approx(71.2)
    assert fixed.band_bps(1.0, 2.6, 2, 0.0) == pytest.approx(1.81)
    # the arrays path (the validator's) agrees with the floats path (the app's)
    arr = moved_band(np.array([1.0, 1.0]), np.array([27.0, 27.0]), np.array([0.016, 2.6]), 0.0, BandUnit.FIXED)
    np.testing.assert_allclose(arr, [1.81, 1.81])
    # the same bps on any book, so the note does not tie it to this one
    assert "stands at +0.81 bps (+27.00 x 0.03 bps)" in fixed.state().band_note(2, spread_bps=2.6)
    # replay_band takes the unit too: same orders, same misses at a floor spread, another band when it opens
    n = 40
    s = dict(
        ts_ms=np.arange(n, dtype=np.int64),
        notional_usd=np.full(n, 5e4),
        p90_bps=np.full(n, 0.5),
        floor_bps=np.zeros(n),
        spread_bps=np.r_[np.full(n - 1, 0.016), 2.6],
        realised_bps=np.r_[np.full(n - 1, 5.0), 0.0],
    )
    wide_spread = replay_band(**s, step=3.0)[-1]
    wide_fixed = replay_band(**s, step=3.0, unit=BandUnit.FIXED)[-1]
    assert wide_fixed == pytest.approx(0.5 + 39 * 2.7 * 0.03) and wide_spread == pytest.approx(0.5 + 39 * 2.7 * 2.6)


def test_the_band_unit_crosses_the_bus_and_a_replica_refuses_another():
    import orjson

    from core.errors import ParseError
    from core.learned.online import BandUnit, TrackerState

    t = BandTracker(step=3.0, unit=BandUnit.FIXED)
    t.observe(1, missed=True)
    st = t.state()
    assert st.unit is BandUnit.FIXED
    back = TrackerState.from_doc(orjson.loads(orjson.dumps(st.to_doc())))
    assert back == st
    r = BandTracker(step=3.0, unit=BandUnit.FIXED)
    r.load(back)
    assert r.band_bps(1.0, 2.6, 1, 0.0) == t.band_bps(1.0, 2.6, 1, 0.0)
    with pytest.raises(ParseError):  # the shifts would be read in another unit: 87 times too large at 2.6 bps
        BandTracker(step=3.0).load(back)
    with pytest.raises(ParseError):
        TrackerState.from_doc({**st.to_doc(), "unit": "furlongs"})
    # an ingest of the version before the unit: its shifts are in the spread unit, the only one it had
    spread = BandTracker(step=3.0)
    spread.observe(1, missed=True)
    old = {k: v for k, v in spread.state().to_doc().items() if k != "unit"}
    assert TrackerState.from_doc(old).unit is BandUnit.SPREAD and TrackerState.from_doc(old) == spread.state()
    # the other way round: fixed-unit shifts go under their own key, so a replica of that version (which reads
    # "shifts" and knows no "unit") finds none and skips the state instead of reading them 87x too large at 2.6 bps
    doc = st.to_doc()
    assert "shifts" not in doc and doc["shifts_fixed"] == list(st.shifts)
    with pytest.raises(ParseError):
        TrackerState.from_doc({k: v for k, v in doc.items() if k != "unit"})  # as the older version reads it
    with pytest.raises(ParseError):  # fixed unit with its shifts under the spread key: not a state this writes
        TrackerState.from_doc({**{k: v for k, v in doc.items() if k != "shifts_fixed"}, "shifts": doc["shifts_fixed"]})
    assert "shifts" in ShareTracker(0.1).state().to_doc()  # a share's logits stay where they were


def test_the_shipped_band_unit_is_the_cards_and_among_its_candidates():
    card = json.loads(ONLINE_FILE.read_text(encoding="utf-8"))
    steps = load_steps()
    assert steps is not None and steps.band_unit.value == card["band"]["unit"]
    chosen = [
        c
        for c in card["band"]["candidates"]
        if c["step"] == card["band"]["step"] and c["buckets"] == card["band"]["buckets"]
    ]
    assert [c["unit"] for c in chosen if c["unit"] == card["band"]["unit"]]
    # every candidate reports how far it moved the band (bps), the chosen one included
    assert all(c["moved_bps"]["max"] >= c["moved_bps"]["p99"] >= c["moved_bps"]["median"] >= 0 for c in chosen)
    # the validator's and the Models page's method line names the card's unit
    assert ("x 0.03 bps per real taker order" in steps.describe) == (card["band"]["unit"] == "0.03 bps")

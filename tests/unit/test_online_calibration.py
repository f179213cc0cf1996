"""The app's own online calibration (core.pricing.calibration) on real recorded books and trades."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.order import AtExpiry, Order, OrderType
from core.feed.goquant import parse_snapshot
from core.feed.recording import load_recording
from core.learned.models import load_models
from core.learned.online import BandUnit, OnlineSteps
from core.market.instruments import get_instrument
from core.paths import DATA_DIR
from core.pricing.calibration import CalibrationState, OnlineCalibration

REC = DATA_DIR / "recordings" / "binance-futures_BTCUSDT_20240718.jsonl.gz"
TRADES = DATA_DIR / "trades" / "binance-futures_BTCUSDT_20240718.parquet"
INST = get_instrument("binance-futures", "BTCUSDT")
LOADED = load_models()
STEPS = OnlineSteps(band_step=3.0, share_step=0.03, source="test")


def books(n: int, start: int = 0):
    msgs = itertools.islice(load_recording(REC).iter_messages(), start, start + n)
    return [parse_snapshot(m, instrument=INST, seq=i) for i, m in enumerate(msgs)]


BOOKS = books(2600)  # about 140 s of the held-out evening


def run(snaps, steps: OnlineSteps = STEPS) -> OnlineCalibration:
    cal = OnlineCalibration(LOADED.models, steps)
    cal.follow(TRADES, ("binance-futures", "BTCUSDT"))
    for s in snaps:
        cal.on_book(s)  # single-threaded: the thread does exactly this per book
    return cal


@pytest.fixture(scope="module")
def learnt() -> OnlineCalibration:
    return run(BOOKS)


def test_it_scores_the_tapes_taker_orders_and_resting_orders(learnt):
    st = learnt.status()
    assert st.state is CalibrationState.LEARNING and st.tape == TRADES.name
    assert st.taker_orders > 300 and st.resting_orders > 300 and st.pending > 0
    assert st.band is not None and st.share is not None
    assert sum(st.band.outcomes) == st.taker_orders
    assert sum(st.share.outcomes) == st.resting_orders
    # every outcome moved its bucket: a bucket with outcomes has a shift unless exactly balanced
    assert any(s != 0.0 for s in st.band.shifts) and any(s != 0.0 for s in st.share.shifts)
    # the share tracker moved toward what the tape filled: its sign is the sign of (filled - shown)
    for k in range(len(st.share.buckets)):
        if st.share.outcomes[k] >= 50:
            gap = st.share.misses[k] - st.share.shown[k]
            assert np.sign(st.share.shifts[k]) == np.sign(gap)


def test_the_same_books_give_the_same_state(learnt):
    again = run(BOOKS)
    assert again.status().band == learnt.status().band and again.status().share == learnt.status().share


def test_step_zero_is_the_static_models():
    cal = run(BOOKS[:1200], OnlineSteps(band_step=0.0, share_step=0.0, source="test"))
    st = cal.status()
    assert st.taker_orders > 0 and all(s == 0.0 for s in st.band.shifts + st.share.shifts)


def test_the_served_models_carry_the_shifts_and_say_so(learnt):
    served = learnt.wrap(LOADED.models)
    snap = BOOKS[-1]
    tier = get_tier("binance-futures", INST.kind)
    limit = Order("buy", 1e5, order_type=OrderType.LIMIT, offset_bps=0.0, horizon_s=30.0, at_expiry=AtExpiry.CANCEL)
    static_e = estimate(snap, limit, fee_tier=tier, models=LOADED.models)
    online_e = estimate(snap, limit, fee_tier=tier, models=served)
    assert online_e.maker_fraction != static_e.maker_fraction
    assert "corrected online:" in online_e.methods["maker_fraction"]
    assert "corrected online" not in static_e.methods["maker_fraction"]
    market = Order("buy", 5e4, unit="quote", latency_ms=100.0)
    st = learnt.status().band
    assert st is not None and st.shifts[2] != 0.0
    m_static = estimate(snap, market, fee_tier=tier, models=LOADED.models)
    m_online = estimate(snap, market, fee_tier=tier, models=served)
    assert m_online.slippage_usd == m_static.slippage_usd  # the expectation is untouched
    assert m_online.slippage_p90_usd != m_static.slippage_p90_usd
    # the card says which part of the p90 the tape's orders moved
    assert m_online.slippage_p90_online_usd == pytest.approx(m_online.slippage_p90_usd - m_static.slippage_p90_usd)
    assert m_static.slippage_p90_online_usd == 0.0
    from core.views.formatting import bps, usd
    from core.views.preview import cost_cards, maker_note

    note = next(c.note for c in cost_cards(m_online) if c.label == "Expected slippage")
    p90_bps = m_online.slippage_p90_usd / m_online.filled_usd * 1e4
    assert note is not None and note.startswith(f"p90 {usd(m_online.slippage_p90_usd)} ({bps(p90_bps)}) =")
    c = m_online.slippage_p90_online_usd
    c_bps = bps(abs(c) / m_online.filled_usd * 1e4)
    assert f"{usd(abs(c))} correction ({c_bps}) from real orders of this size on this tape" in note  # USD and bps
    static_note = next(c.note for c in cost_cards(m_static) if c.label == "Expected slippage") or ""
    assert static_note.startswith("p90 ") and "corrected" not in static_note
    assert "corrected online:" in m_online.methods["slippage_p90"]
    # the method note says the band's move in bps on this book, and in the tracker's own units
    from core.learned.online import signed

    shift_bps = st.shifts[2] * max(snap.spread_bps, 0.03)
    assert (
        f"stands at {signed(shift_bps, '.2f')} bps on this book ({signed(st.shifts[2], '.2f')} x max(spread"
        in m_online.methods["slippage_p90"]
    )
    # the maker card says how much of the share shown is the correction: the model's share and the points added
    assert online_e.maker_fraction_model == static_e.maker_fraction and static_e.maker_fraction_model is None
    pts = round(online_e.maker_fraction * 100) - round(static_e.maker_fraction * 100)
    unit = "point" if abs(pts) == 1 else "points"
    sign = "+" if pts > 0 else "−"
    large = ": a large one, the model and this tape disagree (Models page)" if abs(pts) >= 15 else ""
    assert maker_note(online_e) == (
        f"model {static_e.maker_fraction:.0%}, {sign}{abs(pts)} {unit} correction from the app's test orders on this "
        f"tape{large}"
        if pts
        else f"model {static_e.maker_fraction:.0%}; the test orders on this tape have not moved it"
    )
    assert maker_note(static_e) is None
    # the points are the card's rounded shares' difference, so the card adds up on its face; one point is singular
    assert maker_note(replace(online_e, maker_fraction=0.824, maker_fraction_model=0.716)) == (
        "model 72%, +10 points correction from the app's test orders on this tape"
    )
    assert "model 72%, −1 point correction" in maker_note(
        replace(online_e, maker_fraction=0.714, maker_fraction_model=0.72)
    )
    assert "disagree" not in maker_note(replace(online_e, maker_fraction=0.86, maker_fraction_model=0.72))  # +14
    large = maker_note(replace(online_e, maker_fraction=0.87, maker_fraction_model=0.72))  # +15: said to be large
    assert large.endswith(
        "+15 points correction from the app's test orders on this tape: a large one, the model and this tape disagree (Models page)"
    )
    # a band lowered onto the expected cost says so: the correction shown is what the floor left of it
    floored = replace(m_online, slippage_p90_usd=m_online.slippage_usd, slippage_p90_online_usd=-0.5)
    p90 = next(c.note for c in cost_cards(floored) if c.label == "Expected slippage")
    assert "= the expected cost, the lowest a band goes: model" in p90 and "− $0.500 correction" in p90
    assert "mostly correction" not in p90
    # most of the band and at least half a bps: flagged
    big = 1.0 * m_online.filled_usd / 1e4  # 1 bps of the order
    mostly = replace(m_online, slippage_p90_usd=big / 0.6, slippage_p90_online_usd=big)  # the model's part: 40%
    assert "mostly correction, the model and this tape disagree" in next(
        c.note for c in cost_cards(mostly) if c.label == "Expected slippage"
    )
    # most of a thin band but a tenth of a bps: not a disagreement worth a flag (walkthrough 18: it flickered)
    tenth = 0.1 * m_online.filled_usd / 1e4
    thin = replace(m_online, slippage_p90_usd=tenth / 0.6, slippage_p90_online_usd=tenth)
    thin_note = next(c.note for c in cost_cards(thin) if c.label == "Expected slippage")
    assert "correction (0.10 bps)" in thin_note and "mostly correction" not in thin_note
    # a correction that rounds to nothing is not shown as "+ $0.00 correction"
    nil = replace(m_online, slippage_p90_online_usd=1e-12)
    assert "correction" not in next(c.note for c in cost_cards(nil) if c.label == "Expected slippage")
    # the held-out caveat in the maker note is this instrument's own, not another's
    assert "BTCUSDT_20240718" in online_e.methods["maker_fraction"]
    assert "ETHUSDT_20240718" not in online_e.methods["maker_fraction"]
    # another instrument's orders keep the static figures
    eth = get_instrument("binance-futures", "ETHUSDT")
    other = replace(snap, symbol="ETHUSDT")
    e1 = estimate(other, limit, fee_tier=get_tier("binance-futures", eth.kind), models=served)
    e0 = estimate(other, limit, fee_tier=get_tier("binance-futures", eth.kind), models=LOADED.models)
    assert e1.maker_fraction == e0.maker_fraction and "corrected online" not in e1.methods["maker_fraction"]


def test_books_of_another_instrument_and_a_rewind_are_handled():
    cal = run(BOOKS[:1500])
    n = cal.status().taker_orders
    cal.on_book(replace(BOOKS[100], symbol="ETHUSDT"))
    assert cal.status().skipped["other_instrument"] == 1 and cal.status().taker_orders == n
    first = cal.status()
    for s in BOOKS[:1500]:  # the replay looped: the tape and the trackers start over with the books
        cal.on_book(s)
    st = cal.status()
    assert st.taker_orders == n and st.band == first.band and st.share == first.share


def test_a_gap_in_the_books_skips_the_orders_it_hid():
    cal = run(BOOKS[:500] + BOOKS[1500:1800])  # about a minute of books missing (a reconnect)
    st = cal.status()
    assert st.skipped["stale_book"] > 10 and st.taker_orders > 0


def test_a_source_without_trades_is_the_static_models():
    cal = OnlineCalibration(LOADED.models, STEPS)
    cal.follow(None, None)
    for s in BOOKS[:300]:
        cal(None, s)  # the listener does nothing without a tape
    st = cal.status()
    assert st.state is CalibrationState.OFF and st.taker_orders == 0
    served = cal.wrap(LOADED.models)
    limit = Order("sell", 1e4, order_type=OrderType.LIMIT, offset_bps=1.0, horizon_s=10.0, at_expiry=AtExpiry.CANCEL)
    tier = get_tier("binance-futures", INST.kind)
    a = estimate(BOOKS[299], limit, fee_tier=tier, models=served)
    b = estimate(BOOKS[299], limit, fee_tier=tier, models=LOADED.models)
    assert a.maker_fraction == b.maker_fraction
    # and nothing says it was corrected: no model-alone share for the card, no online note (as before any status on
    # a bus replica)
    assert a.maker_fraction_model is None and "corrected online" not in a.methods["maker_fraction"]
    market = estimate(BOOKS[299], Order("buy", 5e4, latency_ms=100.0), fee_tier=tier, models=served)
    assert market.slippage_p90_online_usd == 0.0 and "corrected online" not in market.methods.get("slippage_p90", "")
    from core.pricing.calibration import BusCalibration

    replica = BusCalibration(STEPS, ("binance-futures", "BTCUSDT")).wrap(LOADED.models)
    assert estimate(BOOKS[299], limit, fee_tier=tier, models=replica).maker_fraction_model is None
    # a tape followed but no test order's outcome yet: the share is the model's and nothing is said beside it
    fresh = OnlineCalibration(LOADED.models, STEPS)
    fresh.follow(TRADES, ("binance-futures", "BTCUSDT"))
    for snap in BOOKS[:50]:
        fresh.on_book(snap)
    assert fresh.status().resting_orders == 0
    e = estimate(BOOKS[49], limit, fee_tier=tier, models=fresh.wrap(LOADED.models))
    static_49 = estimate(BOOKS[49], limit, fee_tier=tier, models=LOADED.models)
    assert e.maker_fraction_model is None and e.maker_fraction == static_49.maker_fraction


def test_the_thread_processes_what_the_listener_hands_over():
    cal = OnlineCalibration(LOADED.models, STEPS)
    cal.follow(TRADES, ("binance-futures", "BTCUSDT"))
    for s in BOOKS[:800]:
        cal(None, s)
    cal.drain()
    threaded = cal.status()
    cal.close()
    single = run(BOOKS[:800]).status()
    assert threaded.taker_orders == single.taker_orders > 0
    assert threaded.band == single.band


def test_the_tape_is_read_only_after_the_delay_and_a_late_start_begins_at_its_book():
    cal = OnlineCalibration(LOADED.models, STEPS, load_delay_s=3600.0)
    cal.follow(TRADES, ("binance-futures", "BTCUSDT"))
    assert cal.status().state is CalibrationState.WAITING
    for s in BOOKS[:50]:
        cal.on_book(s)
    assert cal.status().state is CalibrationState.WAITING and cal.status().taker_orders == 0
    cal.load_delay_s, cal._load_at = 0.0, 0.0
    for s in BOOKS[1000:1400]:  # the source started mid-recording: nothing before its first book is scored
        cal.on_book(s)
    st = cal.status()
    assert st.state is CalibrationState.LEARNING and st.taker_orders > 0 and st.skipped["no_book_yet"] == 0


def test_the_models_page_view_says_what_the_calibration_does(learnt):
    from core.learned.online import signed
    from core.views.models import BAND_COLUMNS, MAKER_COLUMNS, online_view

    st = learnt.status()
    v = online_view(st, 0.5, now_s=st.since_s + 125)
    assert v.learning and list(v.band_table.columns) == BAND_COLUMNS and len(v.band_table) == len(st.band.buckets)
    assert f"{st.taker_orders:,} real taker orders" in v.headline and TRADES.name in v.headline
    # named as the rest of the app names it, and the clock said (the replay's books carry 2024's times)
    assert "Binance USD-M BTCUSDT" in v.headline and "by this computer's clock (2 min ago" in v.headline
    row = v.band_table.iloc[2]  # $10k-100k
    assert row["order size"] == "$10k-100k" and row["orders"] == f"{st.band.outcomes[2]:,}"
    assert row["band moved by"] == f"{signed(st.band.shifts[2] * 0.5, '.2f')} bps"  # in bps on a 0.5 bps spread
    assert online_view(st).band_table.iloc[2]["band moved by"] == f"{signed(st.band.shifts[2], '.2f')} units"
    assert v.units.startswith("'Band moved by' is the shift in bps on the instrument's current book")
    # in the fixed unit (the shipped card's since session 18) the move is the same bps whatever the spread, and said so
    fixed = replace(st, band=replace(st.band, unit=BandUnit.FIXED))
    bps = f"{signed(st.band.shifts[2] * 0.03, '.2f')} bps"
    assert online_view(fixed, 0.5).band_table.iloc[2]["band moved by"] == bps
    assert online_view(fixed).band_table.iloc[2]["band moved by"] == bps
    assert (
        "counted in units worth 0.03 bps whatever the spread (an order above its band adds 3 x 0.9 = 2.7 units, 0.081 bps"
        in online_view(fixed, 0.5).units
    )
    rn, rm, _ = st.band.recent(2)
    assert row["last 100"] == (f"{rm / rn:.0%}" if rn == 100 else "—")
    assert v.band_table.iloc[-1]["order size"] == "≥$1M"
    # the maker table has a row for each size a test limit order has ($10k, $100k, $1M, $5M: decades here)
    assert list(v.maker_table.columns) == MAKER_COLUMNS
    assert list(v.maker_table["test orders"]) == [
        "$10k ($10k-100k)",
        "$100k ($100k-1M)",
        "$1M (≥$1M)",
        "$5M (≥$1M)",
    ]
    k = st.share.buckets.of(1e6)
    last = v.maker_table.iloc[-1]
    n = st.share.outcomes[k]
    assert last["rests ended"] == f"{n:,}" and n > 0 and last["shift"] == f"{signed(st.share.shifts[k], '.2f')} logit"
    filled, shown = st.share.misses[k] / n, st.share.shown[k] / n
    assert last["filled / app showed"] == (f"{filled:.0%} / {shown:.0%}" if n >= 20 else f"— ({n} so far)")
    # the shift's effect in points at a 25% share: up for a positive logit, down for a negative one
    pct = int(last["a 25% share shows"].rstrip("%"))
    assert (pct > 25) if st.share.shifts[k] > 0.01 else (pct < 25) if st.share.shifts[k] < -0.01 else pct == 25
    assert "since" in v.headline and "start over" in v.headline
    off = OnlineCalibration(LOADED.models, STEPS)
    assert not online_view(off.status()).learning and "no trade tape" in online_view(off.status()).headline
    waiting = OnlineCalibration(LOADED.models, STEPS, load_delay_s=3600.0)
    waiting.follow(TRADES, ("binance-futures", "BTCUSDT"))
    assert "read a few seconds after" in online_view(waiting.status()).headline
    assert "does not run" in online_view(None).headline and online_view(None).band_table.empty


# ---- a bus replica following its ingest's calibration (core.pricing.calibration.BusCalibration) -----------------


def test_the_status_crosses_the_bus_as_json_unchanged(learnt):
    import orjson

    from core.pricing.calibration import CalibrationStatus

    st = learnt.status()
    back = CalibrationStatus.from_doc(orjson.loads(orjson.dumps(st.to_doc())), run="r1")
    assert back.from_bus and back.ingest_run == "r1"
    assert replace(back, from_bus=False, ingest_run="") == st


def _ingest_doc(status, run: str = "r1") -> dict:
    return {"run": run, "state": "live", "calibration": status.to_doc()}


def test_a_replica_serves_the_ingests_corrections_and_skips_a_malformed_document(learnt):
    from core.pricing.calibration import BusCalibration

    key = ("binance-futures", "BTCUSDT")
    remote = BusCalibration(STEPS, key)
    served = remote.wrap(LOADED.models)
    assert remote.status().from_bus and remote.status().state is CalibrationState.OFF
    remote.on_status(key, _ingest_doc(learnt.status()))
    st = remote.status()
    assert st.state is CalibrationState.LEARNING and st.ingest_run == "r1" and st.taker_orders > 0
    assert st.band == learnt.band.state() and st.share == learnt.share.state()
    # the served models give the same figures as the models the ingest's calibration carries
    limit = Order("buy", 2e6, unit="quote", order_type=OrderType.LIMIT, offset_bps=0.0, horizon_s=30.0)
    tier = get_tier("binance-futures", INST.kind)
    mine = estimate(BOOKS[-1], limit, fee_tier=tier, models=served)
    theirs = estimate(BOOKS[-1], limit, fee_tier=tier, models=learnt.wrap(LOADED.models))
    static = estimate(BOOKS[-1], limit, fee_tier=tier, models=LOADED.models)
    assert mine.maker_fraction == theirs.maker_fraction != static.maker_fraction
    market = Order("buy", 5e4, unit="quote", latency_ms=50.0)
    assert (
        estimate(BOOKS[-1], market, fee_tier=tier, models=served).slippage_p90_usd
        == estimate(BOOKS[-1], market, fee_tier=tier, models=learnt.wrap(LOADED.models)).slippage_p90_usd
    )
    # a malformed document is counted and skipped: the last good corrections stay
    for bad in (
        {"run": "r1", "calibration": {"state": "learning"}},
        {"run": "r1", "calibration": {**learnt.status().to_doc(), "band": {"buckets": "weeks"}}},
        {
            "run": "r1",
            "calibration": {**learnt.status().to_doc(), "share": {**learnt.share.state().to_doc(), "shifts": [1.0]}},
        },
        {"run": "r1", "calibration": {**learnt.status().to_doc(), "state": "dancing"}},
        # an ingest whose band is in another unit (another version's card): its shifts would be misread
        {
            "run": "r1",
            "calibration": {**learnt.status().to_doc(), "band": {**learnt.band.state().to_doc(), "unit": "0.03 bps"}},
        },
    ):
        remote.on_status(key, bad)
    assert remote.status().skipped["bad_bus_documents"] == 5
    assert remote.band.state() == learnt.band.state() and remote.share.state() == learnt.share.state()
    # another instrument's status, or none (the ingest gone), changes nothing
    remote.on_status(("okx", "BTC-USDT-SWAP"), {"run": "x", "calibration": None})
    remote.on_status(key, None)
    assert remote.status().state is CalibrationState.LEARNING
    # an ingest whose source has no tape: the static models again
    remote.on_status(key, {"run": "r2", "calibration": None})
    assert remote.status().state is CalibrationState.OFF and not any(remote.share.state().shifts)
    assert estimate(BOOKS[-1], limit, fee_tier=tier, models=served).maker_fraction == static.maker_fraction


def test_the_models_page_says_a_replica_applies_its_ingests_corrections(learnt):
    from core.pricing.calibration import BusCalibration
    from core.views.models import online_view

    key = ("binance-futures", "BTCUSDT")
    remote = BusCalibration(STEPS, key)
    v = online_view(remote.status())
    assert not v.learning and "ingest service" in v.headline
    remote.on_status(key, _ingest_doc(learnt.status(), run="abc123"))
    remote.on_status(key, {"run": "abc123", "calibration": {"state": 1}})
    v = online_view(remote.status())
    assert v.learning and "ingest service (run abc123)" in v.headline and "1 of its status documents" in v.headline
    assert list(v.band_table["orders"]) == [f"{n:,}" for n in learnt.band.state().outcomes]


def test_the_bus_heartbeat_never_waits_for_the_calibration_thread():
    cal = run(BOOKS[:400])
    before = cal.status()
    with cal._lock:  # the calibration thread busy (a tape read, a grid of resting orders)
        assert cal.status(wait=False) == before  # the last status computed, at once
        assert cal.bus_document() == before.to_doc()
    fresh = OnlineCalibration(LOADED.models, STEPS)
    with fresh._lock:
        assert fresh.status(wait=False).state is CalibrationState.OFF  # one is there from the start


def test_the_thread_keeps_the_status_the_bus_publishes_current():
    """A busy calibration thread holds its lock nearly all the time, so the heartbeat's status must come from a
    snapshot the thread itself keeps (make test once saw a replica stuck at the first grid's status for 180 s)."""
    cal = OnlineCalibration(LOADED.models, STEPS)
    cal.follow(TRADES, ("binance-futures", "BTCUSDT"))
    assert cal.status(wait=False).state is CalibrationState.WAITING  # follow() refreshes it too
    for s in BOOKS[:800]:
        cal(None, s)
    cal.drain()
    try:
        with cal._lock:  # as if the thread were busy: the heartbeat gets the snapshot, without waiting
            snap = cal.status(wait=False)
            assert snap.taker_orders == cal._scored > 0 and snap.resting_orders == cal._matured > 0
            assert snap.band == cal.band.state() and snap.share == cal.share.state()
    finally:
        cal.close()

"""Training rows: hand-checked slippage and size-aware maker labels, features, the block split, on real and
tiny data."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pandas as pd
import pytest

from core.costs.volatility import realised_vol
from core.costs.walk import walk_book
from core.feed.goquant import parse_snapshot
from core.feed.recording import iter_lines, parse_timestamp_ms
from core.feed.replay import default_recording
from core.learned.features import (
    LATENCIES_MS,
    MAKER_NAMES,
    SLIPPAGE_NAMES,
    FlowFeatures,
    book_features,
    limit_price,
    slippage_vector,
)
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.market.tape import Tape
from core.training.dataset import (
    BLOCK_S,
    MARKOUT_S,
    VALIDATION_EVERY,
    VALIDATION_PHASE,
    MarketData,
    block_split,
    find_trades,
    load_market,
    maker_rows,
    maker_window,
    slippage_rows,
    slippage_window,
)


def book(bids, asks, ts_ms=0):
    return BookSnapshot.build(
        exchange="test",
        symbol="TEST",
        source="test",
        bid_px=[p for p, _ in bids],
        bid_sz=[s for _, s in bids],
        ask_px=[p for p, _ in asks],
        ask_sz=[s for _, s in asks],
        exchange_ts_ms=ts_ms,
        recv_ns=0,
        seq=0,
    )


# Three books, 100 ms apart, tick 1. The mid moves from 100 to 101.
BOOKS = [
    book([(99, 1), (98, 5)], [(101, 1), (102, 5)], ts_ms=1_000),
    book([(100, 1), (99, 5)], [(102, 1), (103, 5)], ts_ms=1_100),
    book([(100, 2), (99, 5)], [(102, 2), (103, 5)], ts_ms=1_200),
]


def market(books=BOOKS, trades=None, tick=1.0):
    return MarketData.from_snapshots(books, trades=trades, tick=tick, name="hand")


# ---------------------------------------------------------------- slippage label


def test_slippage_label_zero_latency_is_the_walk_by_hand():
    m = market()
    # buy $204 at t = 1050 (book 0, mid 100): 1 BTC @101, then $103 / 102 BTC @102
    base = 1 + 103 / 102
    assert m.slippage_label(1_050, +1, 204.0, 0.0) == pytest.approx((204 - 100 * base) / 204 * 1e4, rel=1e-12)
    w = walk_book(BOOKS[0], "buy", 204.0)
    assert m.slippage_label(1_050, +1, 204.0, 0.0) == w.cost_bps  # bit-identical: the baseline at L = 0


def test_slippage_label_with_latency_walks_the_later_book_against_the_decision_mid():
    m = market()
    # decided at 1050 (mid 100), executed at 1150: book 1 (asks 102 x1, 103 x5): 1 @102, $102/103 @103
    base = 1 + 102 / 103
    assert m.slippage_label(1_050, +1, 204.0, 100.0) == pytest.approx((204 - 100 * base) / 204 * 1e4, rel=1e-12)
    # a sell of $150 executed on book 1 (bids 100 x1, 99 x5): 1 @100, $50/99 @99, against the mid 100 at t
    base = 1 + 50 / 99
    assert m.slippage_label(1_050, -1, 150.0, 100.0) == pytest.approx(-(150 - 100 * base) / 150 * 1e4, rel=1e-12)
    # a $100 sell decided at 1100 (mid 101) executes at 1200 on book 2's bid 100: a cost of 1 per 100
    assert m.slippage_label(1_100, -1, 100.0, 100.0) == pytest.approx((101 - 100) / 100 * 1e4, rel=1e-12)
    # exactly at a book's timestamp the new book is in force (t + L = 1200 -> book 2)
    assert m.slippage_label(1_100, +1, 102.0, 100.0) == pytest.approx((102 - 101 * 1) / 102 * 1e4, rel=1e-12)


def test_slippage_label_on_real_recorded_lines(recorded_messages):
    """300 real lines: the label equals an independent computation straight from the raw messages."""
    inst = get_instrument("binance-futures", "BTCUSDT")
    snaps = [parse_snapshot(raw, instrument=inst, seq=i) for i, raw in enumerate(recorded_messages)]
    m = MarketData.from_snapshots(snaps, tick=inst.tick_size, name="slice")
    ts = [parse_timestamp_ms(orjson.loads(raw)["timestamp"]) for raw in recorded_messages]
    rng = np.random.default_rng(1)
    for _ in range(40):
        t = float(rng.uniform(ts[0], ts[-1] - 1_000))
        lat = float(rng.choice(LATENCIES_MS))
        side = int(rng.choice((-1, 1)))
        usd = float(np.exp(rng.uniform(np.log(10), np.log(5e6))))
        i_t = max(i for i, v in enumerate(ts) if v <= t)
        i_l = max(i for i, v in enumerate(ts) if v <= t + lat)
        mid_t = snaps[i_t].mid
        w = walk_book(snaps[i_l], "buy" if side > 0 else "sell", usd)
        by_hand = side * (w.filled_quote - w.filled_base * mid_t) / w.filled_quote * 1e4
        assert m.slippage_label(t, side, usd, lat) == pytest.approx(by_hand, rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------- maker label (size-aware queue rule)

# Buy at the best bid 100 (tick 1): 2 BTC visible there when placed at t = 0.
MAKER_BOOK = book([(100, 2), (99, 3)], [(101, 1), (102, 1)], ts_ms=0)


def test_maker_queue_is_eaten_first_then_fills_us():
    trades = Tape.from_rows(
        [
            (0, 100.0, 9.0, True),  # at t itself: not after placement, ignored
            (10, 100.0, 1.5, True),  # sell aggressor at our price: queue ahead 2 -> 0.5
            (20, 101.0, 1.0, False),  # buy aggressor at the ask: nothing to do with our bid
            (30, 100.0, 1.0, True),  # 0.5 finishes the queue, 0.5 fills us
            (40, 100.0, 1.0, False),  # buy aggressor at our price: does not hit bids
            (50, 100.0, 1.0, True),  # 1.0 more for us -> 1.5 of 3
            (2_000, 99.0, 5.0, True),  # through our price, but after the 1 s horizon
        ]
    )
    m = market([MAKER_BOOK], trades)
    f = m.maker_fill(0, +1, 300.0, 0.0, 1.0)  # 300 USD / 100 = 3 BTC
    assert (f.price, f.queue_ahead_base, f.order_base) == (100.0, 2.0, 3.0)
    assert f.filled_base == pytest.approx(1.5)
    assert f.fraction == pytest.approx(0.5)
    assert not f.full and f.fill_ms == 50
    # with a 3 s horizon the 5 BTC traded through 99 at t = 2 s fill the 1.5 left (capped at the order)
    f3 = m.maker_fill(0, +1, 300.0, 0.0, 3.0)
    assert f3.fraction == 1.0 and f3.full and f3.fill_ms == 2_000


def test_maker_fill_is_capped_by_the_volume_traded_through():
    # a through trade fills only what traded: 0.001 BTC below our bid fills 0.001 of a 10 BTC order
    trades = Tape.from_rows([(40, 99.0, 0.001, True)])
    f = market([MAKER_BOOK], trades).maker_fill(0, +1, 1_000.0, 0.0, 1.0)
    assert f.filled_base == pytest.approx(0.001) and f.fraction == pytest.approx(1e-4) and not f.full
    # the same tape fills a 0.001 BTC order completely: the label depends on the order's size
    small = market([MAKER_BOOK], trades).maker_fill(0, +1, 0.1, 0.0, 1.0)
    assert small.fraction == pytest.approx(1.0)
    # a partial through trade adds to what came at our price after the queue: 2.5 at 100 (2 ahead) + 0.5
    # through = 1.0 of 3
    tape = Tape.from_rows([(10, 100.0, 2.5, True), (20, 98.0, 0.5, True)])
    assert market([MAKER_BOOK], tape).maker_fill(0, +1, 300.0, 0.0, 1.0).fraction == pytest.approx(1 / 3)


def test_maker_queue_ahead_is_not_shortened_by_cancellations_nor_by_a_crossing_book():
    # 5 BTC ahead at placement; a later book shows only 1 BTC left at 100: the tape decides, not the book
    books = [book([(100, 5), (99, 3)], [(101, 1)], ts_ms=0), book([(100, 1), (99, 3)], [(101, 1)], ts_ms=20)]
    trades = Tape.from_rows([(30, 100.0, 1.5, True)])
    f = market(books, trades).maker_fill(0, +1, 100.0, 0.0, 1.0)  # 1 BTC order
    assert f.queue_ahead_base == 5.0 and f.fraction == 0.0 and f.fill_ms is None
    # the ask coming down to our bid fills nothing without trades
    crossing = [MAKER_BOOK, book([(99, 1)], [(100, 1)], ts_ms=500)]
    assert market(crossing, Tape.from_rows([])).maker_fill(0, +1, 1_000.0, 0.0, 1.0).fraction == 0.0


def test_maker_markouts_by_hand():
    # mid 100.5 at placement; the mid falls to 99.5 at t = 5 s and 98.5 at t = 20 s
    books = [
        MAKER_BOOK,
        book([(99, 2)], [(100, 1)], ts_ms=5_000),
        book([(98, 2)], [(99, 1)], ts_ms=20_000),
        book([(98, 2)], [(99, 1)], ts_ms=40_000),
    ]
    trades = Tape.from_rows([(1_000, 100.0, 3.0, True)])  # eats the 2 ahead and fills 1 BTC at t = 1 s
    m = market(books, trades)
    f = m.maker_fill(0, +1, 100.0, 0.0, 30.0)
    assert f.fraction == 1.0 and f.fill_ms == 1_000
    adverse, opportunity = m.limit_markouts(0, +1, 30.0, f)
    # filled buy: the mid 10 s after the fill (t = 11 s, 99.5) against the mid at placement, positive = cost
    assert MARKOUT_S == 10.0
    assert adverse == pytest.approx((100.5 - 99.5) / 100.5 * 1e4)
    # the move away from the order to expiry (t = 30 s, 98.5): the market came to the buyer, negative
    assert opportunity == pytest.approx((98.5 - 100.5) / 100.5 * 1e4)
    unfilled = m.maker_fill(0, +1, 100.0, 0.0, 0.5)
    assert unfilled.fill_ms is None and math.isnan(m.limit_markouts(0, +1, 0.5, unfilled)[0])


def test_maker_sell_side_mirror_and_offset():
    # sell at the best ask 101, 1 BTC ahead; buy aggressors (buyer_is_maker False) at 101: 1.2 -> 0.2 for us
    trades = Tape.from_rows([(5, 101.0, 1.2, False), (6, 101.0, 5.0, True)])
    f = market([MAKER_BOOK], trades).maker_fill(0, -1, 101.0, 0.0, 1.0)  # 1 BTC
    assert (f.price, f.queue_ahead_base) == (101.0, 1.0)
    assert f.fraction == pytest.approx(0.2)
    # 100 bps behind a 100 bid with tick 1 is 99, where 3 BTC are queued
    lp = limit_price(MAKER_BOOK, +1, 100.0, 1.0)
    assert (lp.price, lp.queue_base, lp.visible) == (99.0, 3.0, True)
    lp = limit_price(MAKER_BOOK, +1, 300.0, 1.0)  # 97: past the last recorded bid
    assert lp.queue_base == 0.0 and not lp.visible
    lp = limit_price(MAKER_BOOK, -1, 100.0, 1.0)  # 101 + 1.01 ticks -> 102
    assert (lp.price, lp.queue_base) == (102.0, 1.0)


# ---------------------------------------------------------------- features


def test_book_features_by_hand():
    b = book([(99.99, 1), (99.9, 2), (98.0, 4)], [(100.01, 1), (100.3, 1), (101.5, 3)])
    f = book_features(b)
    assert f.mid == pytest.approx(100.0)
    assert f.spread_bps == pytest.approx(2.0)
    assert f.bid_depth_usd == pytest.approx((99.99, 99.99 + 199.8, 99.99 + 199.8))  # 98 is 200 bps away
    assert f.ask_depth_usd == pytest.approx((100.01, 100.01, 100.01 + 100.3))  # 100.3 is 30 bps away
    assert f.imbalance25 == pytest.approx((299.79 - 100.01) / (299.79 + 100.01))
    assert f.imbalance_top == 0.0
    row = slippage_vector(
        f, FlowFeatures(2.0, 5.0, 0.5), side=+1, size_usd=1_000.0, walk_bps=3.0, latency_ms=250.0, is_spot=True
    )
    named = dict(zip(SLIPPAGE_NAMES, row, strict=False))
    assert len(row) == len(SLIPPAGE_NAMES)
    assert named["log10_size_usd"] == 3.0
    assert named["size_over_depth5"] == pytest.approx(1_000 / 100.01)
    assert named["side_x_imbalance25"] == pytest.approx(f.imbalance25)
    assert named["sqrt_latency_s"] == 0.5
    assert named["latency_move_bps"] == 1.0  # vol 2 bps per sqrt(s) x sqrt(0.25 s)
    assert named["log10_trades_per_s"] == pytest.approx(math.log10(6.0))
    assert named["is_spot"] == 1.0


def test_flow_features_by_hand():
    books = [book([(99, 1)], [(101, 1)], ts_ms=0), book([(100, 1)], [(102, 1)], ts_ms=29_500)]
    trades = Tape.from_rows(
        [(500, 100.0, 1.0, True), (25_000, 100.0, 2.0, False), (30_000, 100.0, 4.0, True), (30_001, 100.0, 8.0, True)]
    )
    m = market(books, trades)
    fl = m.flow(30_000)  # trades in (20 s, 30 s]: the 2 and the 4 -> 0.2 trades/s, 0.6 BTC/s
    assert fl.trades_per_s == pytest.approx(0.2)
    assert fl.btc_per_s == pytest.approx(0.6)
    # the volatility is the app's own estimator over the mids recorded up to t (the same call the pages make)
    app = realised_vol(np.array([0.0, 29.5]), np.array([100.0, 101.0]), mid=101.0)
    assert app.n_returns == 29 and fl.vol_bps == app.sigma_per_sqrt_s * 1e4


# ---------------------------------------------------------------- rows and split on a real slice


@pytest.fixture(scope="module")
def real_slice() -> MarketData:
    """The first 2,000 real books (about 105 s) of the bundled futures recording, with its trades."""
    rec = default_recording().path
    return load_market(rec, find_trades(rec), max_lines=2_000)


def test_rows_on_real_slice(real_slice):
    m = real_slice
    assert m.exchange == "binance-futures" and m.tick == 0.1 and not m.is_spot
    s = slippage_rows(m, n_times=40, per_time=5, seed=3)
    assert len(s) == 200 and list(s.columns[-len(SLIPPAGE_NAMES) :]) == list(SLIPPAGE_NAMES)
    assert np.isfinite(s[list(SLIPPAGE_NAMES)].to_numpy()).all()
    lo, hi = slippage_window(m)
    assert s["t_ms"].between(lo, hi).all()
    assert s["size_usd"].between(10, 5e6).all() and set(s["side"]) == {-1.0, 1.0}
    for r in s.sample(20, random_state=0).itertuples():
        assert r.label_bps == m.slippage_label(r.t_ms, int(r.side), r.size_usd, r.latency_ms)
    zero = s[s["latency_ms"] == 0]
    assert len(zero) and (zero["label_bps"] == zero["baseline_walk_bps"]).all()
    pd.testing.assert_frame_equal(s, slippage_rows(m, n_times=40, per_time=5, seed=3))  # seeded
    assert not s.equals(slippage_rows(m, n_times=40, per_time=5, seed=4))

    k = maker_rows(m, n_times=10, per_time=4, seed=3)
    assert len(k) > 30 and list(k.columns[-len(MAKER_NAMES) :]) == list(MAKER_NAMES)
    assert k["fill_fraction"].between(0, 1).all()
    assert (k.loc[k["filled_full"], "fill_fraction"] == 1.0).all()
    r = k.iloc[0]
    again = m.maker_fill(r.t_ms, int(r.side), r.size_usd, r.offset_bps, r.horizon_s)
    assert again.fraction == r.fill_fraction


def test_block_split_keeps_fitting_labels_out_of_the_validation_blocks(real_slice):
    m = real_slice
    # the slice is short: 15 s blocks for market orders, 1 s blocks for the maker rows' few seconds of window
    for rows, window, block in (
        (slippage_rows(m, n_times=80, per_time=4, seed=0), slippage_window(m), 15.0),
        (maker_rows(m, n_times=40, per_time=4, seed=0), maker_window(m), 1.0),
    ):
        split = block_split(rows, {m.name: window}, block_s=block, every=3, phase=1)
        blocks = split.bounds[m.name]["validation_blocks"]
        lo = window[0]
        assert blocks and blocks[0] == (lo + block * 1000.0, lo + 2 * block * 1000.0)  # blocks 1, 4, 7, ...
        t, end = split.train["t_ms"], split.train["t_ms"] + split.train["span_ms"]
        for a, b in blocks:
            assert not ((end >= a) & (t < b)).any()  # no fitting label reaches into a validation block
        inside = np.zeros(len(split.test), dtype=bool)
        for a, b in blocks:
            inside |= split.test["t_ms"].between(a, b, inclusive="left").to_numpy()
        assert inside.all() and len(split.test) > 0
        assert len(split.train) + len(split.test) + split.purged == len(rows)
    assert (BLOCK_S, VALIDATION_EVERY, VALIDATION_PHASE) == (60.0, 4, 2)


def test_a_recording_without_trades_gives_no_maker_rows(real_slice):
    m = MarketData.from_snapshots([real_slice.snapshot(i) for i in range(0, 2_000, 2)], tick=0.1)
    assert maker_rows(m, n_times=5, per_time=2, seed=0).empty
    s = slippage_rows(m, n_times=5, per_time=2, seed=0)
    assert (s["trades_per_s"] == 0).all() and (s["btc_per_s"] == 0).all()


def test_recorded_lines_fixture_is_real(recorded_messages):
    # the slice really is the bundled recording's head (guards against a silently empty fixture)
    first = next(iter_lines(default_recording().path))
    assert recorded_messages[0] == first and len(recorded_messages) == 300

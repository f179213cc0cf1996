"""Book walk: hand-checked small books, both sides, exact boundaries, contracts, beyond-visible depth."""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import orjson
import pytest

from core.costs.order import Side, SizeUnit
from core.costs.walk import extrapolation_slope, walk_book
from core.errors import OrderError
from core.feed.goquant import parse_snapshot
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument


def book(bids, asks, *, exchange="test", symbol="TEST"):
    return BookSnapshot.build(
        exchange=exchange,
        symbol=symbol,
        source="test",
        bid_px=[p for p, _ in bids],
        bid_sz=[s for _, s in bids],
        ask_px=[p for p, _ in asks],
        ask_sz=[s for _, s in asks],
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )


# asks 100 x1, 101 x2, 102 x3 ; bids 99 x1, 98 x2, 97 x3 ; mid 99.5, half-spread 0.5
SMALL = book([(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)], [(100.0, 1.0), (101.0, 2.0), (102.0, 3.0)])


def test_buy_base_partial_second_level():
    w = walk_book(SMALL, "buy", 2.0, unit="base")
    assert w.side is Side.BUY and w.unit is SizeUnit.BASE
    assert w.levels_used == 2
    assert w.fill_px.tolist() == [100.0, 101.0]
    assert w.fill_base.tolist() == [1.0, 1.0]
    assert w.filled_base == 2.0
    assert w.filled_quote == 201.0
    assert w.avg_price == 100.5
    assert w.mid == 99.5
    assert w.half_spread_cost == pytest.approx(1.0, abs=1e-12)  # 2 x 0.5
    assert w.depth_cost == pytest.approx(1.0, abs=1e-12)  # 1 x (101 - 100)
    assert w.cost == pytest.approx(2.0, abs=1e-12)  # 201 - 2 x 99.5
    assert w.cost_bps == pytest.approx(2.0 / 201.0 * 1e4, rel=1e-12)
    assert w.fully_filled and not w.beyond_visible and w.extrapolated_base == 0.0


def test_buy_exact_level_boundary_base_and_quote():
    wb = walk_book(SMALL, "buy", 3.0, unit="base")
    assert wb.levels_used == 2  # ends exactly at the end of level 2: level 3 untouched
    assert wb.fill_base.tolist() == [1.0, 2.0]
    assert wb.filled_quote == 302.0
    assert wb.avg_price == pytest.approx(302.0 / 3.0, rel=1e-15)
    wq = walk_book(SMALL, "buy", 302.0, unit="quote")
    assert wq.levels_used == 2
    assert wq.filled_base == pytest.approx(3.0, rel=1e-15)
    assert wq.fully_filled
    # the whole visible side, exactly
    wall = walk_book(SMALL, "buy", 6.0, unit="base")
    assert wall.levels_used == 3 and wall.fully_filled and not wall.beyond_visible
    assert wall.filled_quote == 608.0


def test_buy_quote_inside_first_level_has_no_depth_cost():
    w = walk_book(SMALL, "buy", 50.0)  # default unit: quote (USD)
    assert w.levels_used == 1
    assert w.filled_base == 0.5
    assert w.filled_quote == 50.0
    assert w.depth_cost == 0.0
    assert w.cost == pytest.approx(0.25, abs=1e-12)  # 0.5 x half-spread 0.5
    assert w.cost_bps == pytest.approx(50.0, rel=1e-12)  # 0.25 / 50 x 1e4


def test_buy_quote_into_second_level():
    w = walk_book(SMALL, "buy", 150.0)
    assert w.levels_used == 2
    assert w.fill_base[1] == pytest.approx(50.0 / 101.0, rel=1e-15)
    assert w.filled_base == pytest.approx(1.0 + 50.0 / 101.0, rel=1e-15)
    assert w.avg_price == pytest.approx(150.0 / (1.0 + 50.0 / 101.0), rel=1e-15)


def test_sell_side_hand_checked():
    w = walk_book(SMALL, "sell", 2.0, unit="base")
    assert w.fill_px.tolist() == [99.0, 98.0]
    assert w.filled_quote == 197.0  # received
    assert w.avg_price == 98.5
    assert w.half_spread_cost == pytest.approx(1.0, abs=1e-12)
    assert w.depth_cost == pytest.approx(1.0, abs=1e-12)
    assert w.cost == pytest.approx(2.0, abs=1e-12)  # 2 x 99.5 - 197
    boundary = walk_book(SMALL, "sell", 3.0, unit="base")
    assert boundary.levels_used == 2 and boundary.filled_quote == 295.0
    byq = walk_book(SMALL, "sell", 197.0, unit="usd")
    assert byq.filled_base == pytest.approx(2.0, rel=1e-15) and byq.levels_used == 2


def test_beyond_visible_buy_is_extrapolated_and_flagged():
    slope = 2.5 / 6.0  # |102 - 99.5| / 6 base of visible depth
    assert extrapolation_slope(SMALL.ask_px, SMALL.ask_cum_base, SMALL.mid) == pytest.approx(slope, rel=1e-15)
    w = walk_book(SMALL, "buy", 8.0, unit="base")
    assert not w.fully_filled and w.beyond_visible
    assert w.levels_used == 3
    assert w.extrapolated_base == 2.0
    assert w.extrapolation_slope == pytest.approx(slope, rel=1e-15)
    extra = 2.0 * (102.0 + 0.5 * slope * 2.0)  # marginal price 102 + slope q, q from 0 to 2
    assert w.filled_quote == pytest.approx(608.0 + extra, rel=1e-15)
    assert w.filled_quote > 608.0 + 2 * 102.0  # never priced at the last level for free
    assert w.cost == pytest.approx(608.0 + extra - 8 * 99.5, rel=1e-12)
    assert w.half_spread_cost == pytest.approx(8 * 0.5, rel=1e-12)


def test_beyond_visible_buy_by_quote_solves_the_quadratic():
    w = walk_book(SMALL, "buy", 700.0)
    slope = 2.5 / 6.0
    q = w.extrapolated_base
    assert q * (102.0 + 0.5 * slope * q) == pytest.approx(92.0, rel=1e-12)
    assert w.filled_quote == pytest.approx(700.0, rel=1e-15)
    assert w.filled_base == pytest.approx(6.0 + q, rel=1e-15)
    assert 0.89 < q < 0.902


def test_beyond_visible_without_extrapolation_fills_only_visible():
    w = walk_book(SMALL, "buy", 8.0, unit="base", extrapolate=False)
    assert w.beyond_visible and not w.fully_filled
    assert w.filled_base == 6.0 and w.filled_quote == 608.0 and w.extrapolated_base == 0.0


def test_beyond_visible_sell_mirrors_buy_and_floors_price_at_zero():
    w = walk_book(SMALL, "sell", 8.0, unit="base")
    slope = 2.5 / 6.0
    assert w.filled_quote == pytest.approx(586.0 + 2.0 * (97.0 - 0.5 * slope * 2.0), rel=1e-15)
    assert w.cost == pytest.approx(walk_book(SMALL, "buy", 8.0, unit="base").cost, rel=1e-12)
    huge = walk_book(SMALL, "sell", 1000.0, unit="base")  # past the point where the bid would hit zero
    assert huge.filled_quote == pytest.approx(586.0 + 0.5 * 97.0 * (97.0 / slope), rel=1e-12)
    with pytest.raises(OrderError, match="plausibly"):
        walk_book(SMALL, "sell", 1e9, unit="usd")


def test_contracts_are_converted_with_ct_val():
    inst = get_instrument("okx", "BTC-USDT-SWAP")
    assert inst.ct_val == 0.01
    msg = {
        "timestamp": "2025-05-04T10:39:13Z",
        "exchange": "OKX",
        "symbol": "BTC-USDT-SWAP",
        "asks": [["100000.0", "3"], ["100010.0", "4"]],  # contracts: 0.03 and 0.04 BTC
        "bids": [["99990.0", "5"]],
    }
    snap = parse_snapshot(orjson.dumps(msg), instrument=inst)
    w = walk_book(snap, "buy", 0.05, unit="base")
    assert w.fill_base.tolist() == pytest.approx([0.03, 0.02], rel=1e-12)
    assert w.filled_quote == pytest.approx(0.03 * 100000.0 + 0.02 * 100010.0, rel=1e-13)  # 5000.2
    wq = walk_book(snap, "buy", 3000.0)  # exactly the first level
    assert wq.levels_used == 1 and wq.filled_base == pytest.approx(0.03, rel=1e-13)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_sizes_raise_order_error(bad):
    with pytest.raises(OrderError):
        walk_book(SMALL, "buy", bad)


def test_bad_side_and_unit():
    with pytest.raises(OrderError, match="side"):
        walk_book(SMALL, "hold", 1.0)
    with pytest.raises(OrderError, match="unit"):
        walk_book(SMALL, "buy", 1.0, unit="contracts")


def test_fill_arrays_are_read_only():
    w = walk_book(SMALL, "buy", 2.0, unit="base")
    with pytest.raises(ValueError):
        w.fill_base[0] = 5.0


def test_hot_path_is_tens_of_microseconds_on_400_levels():
    rng = np.random.default_rng(1)
    mid = 95_000.0
    steps = np.arange(400) * 0.1
    snap = book(
        list(zip(mid - 0.05 - steps, rng.uniform(0.01, 2, 400), strict=False)),
        list(zip(mid + 0.05 + steps, rng.uniform(0.01, 2, 400), strict=False)),
    )
    for q in (1e4, 1e6, 1e8):
        walk_book(snap, "buy", q)
        samples = []
        for _ in range(2000):
            t = time.perf_counter_ns()
            walk_book(snap, "buy", q)
            samples.append(time.perf_counter_ns() - t)
        assert statistics.median(samples) / 1e3 < 100.0, q  # typically ~6 us

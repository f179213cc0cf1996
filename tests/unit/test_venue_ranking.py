"""The Venues ranking on hand-made books, every expected cost computed by hand below.

Each order fits inside the best ask level, so the walk cost is the half-spread part alone and the permanent
impact is 0 by its cap (docs/METHODOLOGY.md section 2): net cost = notional x (best ask - mid) / best ask + fee.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.costs.fees import get_tier, override
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from core.runtime import VenueBook, VenueBooks
from core.views.venues import Standing, VenueOrder, compare, fee_group

USDM = get_instrument("binance-futures", "BTCUSDT")  # base units, min 0.001 BTC, table taker 5 bps
COINM = get_instrument("binance-coinm", "BTCUSD_PERP")  # inverse: contracts of 100 USD, min 1 contract
SPOT = get_instrument("binance", "BTCUSDT")  # base units, table taker 10 bps
OKX_SWAP = get_instrument("okx", "BTC-USDT-SWAP")  # linear contracts of 0.01 BTC
# a hand-made minimum: 500 contracts of 100 USD = $50,000, so a $10,000 order is below it
OKX_INVERSE = replace(get_instrument("okx", "BTC-USD-SWAP"), min_size=500.0)
ETH = get_instrument("binance-futures", "ETHUSDT")


def book(inst, bid: float, ask: float, ask_size_venue: float, ts_ms: int = 1_723_161_300_000) -> BookSnapshot:
    """One level a side; the ask size is in the venue's unit (contracts for COIN-M) and converted like a feed does."""
    ask_base = float(inst.to_base(ask, ask_size_venue))
    return BookSnapshot.build(
        exchange=inst.exchange,
        symbol=inst.symbol,
        source="test",
        bid_px=np.array([bid]),
        bid_sz=np.array([5.0]),
        ask_px=np.array([ask]),
        ask_sz=np.array([ask_base]),
        exchange_ts_ms=ts_ms,
        recv_ns=1,
        seq=1,
    )


def venues(*extra: VenueBook) -> VenueBooks:
    return VenueBooks(
        (
            VenueBook(USDM, book(USDM, 49_990.0, 50_000.0, 1.0), age_s=0.2),
            VenueBook(COINM, book(COINM, 49_995.0, 50_005.0, 200.0), age_s=0.1),  # 200 contracts = $20,000
            VenueBook(SPOT, book(SPOT, 49_998.0, 50_002.0, 1.0), age_s=0.3),
            VenueBook(OKX_SWAP, book(OKX_SWAP, 49_999.0, 50_001.0, 100.0), age_s=10.0),  # stale: 10 s > 3 s
            VenueBook(OKX_INVERSE, book(OKX_INVERSE, 49_999.0, 50_001.0, 1_000.0), age_s=0.1),
            VenueBook(ETH, book(ETH, 2_600.0, 2_601.0, 10.0), age_s=0.1),
            *extra,
        ),
        source="replay",
        stale_after_s=3.0,
    )


TIERS = {
    fee_group(USDM): get_tier("binance-futures", "swap"),  # taker 5 bps (data/fees.json)
    fee_group(COINM): override(get_tier("binance-coinm", "swap"), taker_rate=0.0002),  # 2 bps
    fee_group(SPOT): get_tier("binance", "spot"),  # taker 10 bps
    fee_group(OKX_SWAP): override(get_tier("okx", "swap"), taker_rate=0.0),  # free, but stale
}


def test_ranking_on_hand_made_books_with_hand_checked_costs():
    view = compare(venues(), VenueOrder(asset="BTC", side="buy", size=10_000.0, unit="usd"), tiers=TIERS)
    assert view.error is None
    by = {(c.instrument.exchange, c.instrument.symbol): c for c in view.rows}
    assert ("binance-futures", "ETHUSDT") not in by  # a BTC order is compared on BTC venues only

    # USD-M: mid 49,995, all at 50,000: walk 10,000 x 5 / 50,000 = $1.00; fee 10,000 x 0.0005 = $5.00
    usdm = by["binance-futures", "BTCUSDT"].estimate
    assert usdm.slippage_usd == pytest.approx(1.0, abs=1e-9) and usdm.impact_usd == 0.0
    assert usdm.fee_usd == pytest.approx(5.0) and usdm.net_cost_usd == pytest.approx(6.0, abs=1e-9)
    # COIN-M: mid 50,000, all at 50,005: walk 10,000 x 5 / 50,005 = $0.99990001; fee 2 bps = $2.00
    coinm = by["binance-coinm", "BTCUSD_PERP"]
    assert coinm.estimate.net_cost_usd == pytest.approx(10_000 * 5 / 50_005 + 2.0, abs=1e-9)
    # ... and $10,000 of an inverse perpetual is 10,000 / 100 = 100 contracts, whatever the price
    assert coinm.size_venue == pytest.approx(100.0) and coinm.size_text == "100 contracts of 100 USD"
    # spot: mid 50,000, all at 50,002: walk 10,000 x 2 / 50,002 = $0.39998400; fee 10 bps = $10.00
    spot = by["binance", "BTCUSDT"]
    assert spot.estimate.net_cost_usd == pytest.approx(10_000 * 2 / 50_002 + 10.0, abs=1e-9)
    assert spot.size_venue == pytest.approx(10_000 / 50_002) and spot.size_text.endswith(" BTC")
    # OKX swap (stale): mid 50,000, all at 50,001: $0.19999600, no fee: the cheapest book, but stale
    stale = by["okx", "BTC-USDT-SWAP"]
    assert stale.estimate.net_cost_usd == pytest.approx(10_000 * 1 / 50_001, abs=1e-9)
    assert stale.standing is Standing.STALE and "10.0 s old" in stale.reason
    assert stale.size_venue == pytest.approx(10_000 / 50_001 / 0.01)  # contracts of 0.01 BTC
    # OKX inverse: 100 contracts < the 500-contract minimum: listed, never ranked
    below = by["okx", "BTC-USD-SWAP"]
    assert below.standing is Standing.BELOW_MINIMUM and below.rank is None
    assert below.reason == "Below the venue minimum of 500 contracts (50000 USD)."

    # fresh by net cost (COIN-M $3.00 < USD-M $6.00 < spot $10.40), then the stale one, then below minimum
    assert [(c.instrument.symbol, c.rank) for c in view.rows] == [
        ("BTCUSD_PERP", 1),
        ("BTCUSDT", 2),
        ("BTCUSDT", 3),
        ("BTC-USDT-SWAP", 4),
        ("BTC-USD-SWAP", None),
    ]
    assert [c.instrument.exchange for c in view.rows][:3] == ["binance-coinm", "binance-futures", "binance"]
    # every amount of $10,000 is also its bps: saving = 10.39998400 - 2.99990001 = $7.40008399 = 7.40 bps
    assert view.best == (
        "Cheapest venue for a $10,000.00 market buy: Binance COIN-M BTCUSD_PERP, net cost $3.00 (3.00 bps)."
    )
    assert view.saving == (
        "Against the dearest, Binance spot BTCUSDT at $10.40 (10.4 bps), it saves $7.40 "
        "(7.40 bps of the executed notional)."
    )
    table = view.table
    assert list(table["rank"].astype("object").where(table["rank"].notna(), None)) == [1, 2, 3, 4, None]
    assert table["net cost (USD)"].iloc[0] == pytest.approx(coinm.net_cost_usd)
    assert table["status"].iloc[3].startswith("Stale book")


def test_a_base_order_counts_contracts_at_the_fill_price():
    """0.2 BTC on COIN-M fills at 50,005: 0.2 x 50,005 / 100 = 100.01 contracts, notional $10,001."""
    view = compare(venues(), VenueOrder(asset="BTC", side="buy", size=0.2, unit="base"), tiers=TIERS)
    coinm = next(c for c in view.rows if c.instrument.exchange == "binance-coinm")
    assert coinm.size_venue == pytest.approx(100.01)
    assert coinm.estimate.filled_usd == pytest.approx(10_001.0)
    assert coinm.estimate.net_cost_usd == pytest.approx(0.2 * 5 + 10_001 * 0.0002, abs=1e-9)


def test_books_from_another_instant_or_missing_are_listed_not_compared():
    other = replace(USDM, symbol="BTCUSDT_OTHER")
    note = "The shared feed streams this instrument from another source, day or speed now."
    view = compare(
        venues(VenueBook(other, None, float("inf")), VenueBook(SPOT, book(SPOT, 1.0, 2.0, 1.0), 0.1, note)),
        VenueOrder(size=10_000.0),
        tiers=TIERS,
    )
    tail = view.rows[-2:]
    assert {c.standing for c in tail} == {Standing.NOT_COMPARED}
    assert {c.reason for c in tail} == {note, "No order book from this venue yet."}


def test_when_every_book_is_stale_the_verdict_says_so_and_a_bad_order_is_a_message():
    old = VenueBooks(tuple(replace(b, age_s=9.0) for b in venues().books[:3]), source="replay", stale_after_s=3.0)
    view = compare(old, VenueOrder(size=10_000.0), tiers=TIERS)
    assert "every book is stale" in view.best and view.rows[0].standing is Standing.STALE
    for size, unit, words in (
        (-5.0, "usd", "negative"),
        (None, "base", "Enter an order size in BTC"),
        (0.0, "base", "zero"),
    ):
        bad = compare(venues(), VenueOrder(size=size, unit=unit), tiers=TIERS)
        assert bad.error is not None and words in bad.error and not bad.rows
    assert compare(venues(), VenueOrder(asset="SOL"), tiers=TIERS).error == "No venue with SOL books here."


def test_the_default_ingest_plays_the_same_minutes_on_one_clock_over_their_common_window():
    from core.ingest import default_configs

    configs = default_configs()
    clocks = {c.replay_clock for c in configs if c.replay_clock is not None}
    assert len(clocks) == 1 and sum(c.replay_clock is not None for c in configs) == 5  # the 2024-08-08 ones
    (clock,) = clocks
    # latest start: COIN-M 2024-08-08T23:54:17.887Z; earliest end: USD-M BTCUSDT 2024-08-09T00:00:01.105Z
    assert (clock.start_ms, clock.end_ms) == (1_723_161_257_887, 1_723_161_601_105)
    assert clock.recorded_ms(clock.epoch_s + 10.0) == clock.start_ms + 10_000
    assert clock.recorded_ms(clock.epoch_s + clock.period_s + 1.0) == pytest.approx(clock.start_ms + 1_000)
    assert all(c.replay_clock is None for c in default_configs(replay_speed=0))  # unpaced: no clock


def test_venues_that_cost_the_same_are_called_a_tie_not_one_cheapest():
    """USD-M at the COIN-M fee and COIN-M on the same book: the same cost to the cent, so neither is 'cheapest'."""
    same = VenueBooks(
        (
            VenueBook(USDM, book(USDM, 49_995.0, 50_005.0, 1.0), age_s=0.1),
            VenueBook(COINM, book(COINM, 49_995.0, 50_005.0, 200.0), age_s=0.1),
            VenueBook(SPOT, book(SPOT, 49_998.0, 50_002.0, 1.0), age_s=0.1),
        ),
        source="replay",
        stale_after_s=3.0,
    )
    tiers = {**TIERS, fee_group(USDM): TIERS[fee_group(COINM)]}
    view = compare(same, VenueOrder(size=10_000.0), tiers=tiers)
    assert view.best.startswith("Cheapest venues for a $10,000.00 market buy, tied at net cost $3.00 (3.00 bps): ")
    assert "Binance COIN-M BTCUSD_PERP" in view.best and "Binance USD-M BTCUSDT" in view.best
    assert "Binance spot" not in view.best

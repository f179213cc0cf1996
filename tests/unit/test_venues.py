"""The venue registry is the one place a venue is declared: labels, hosts, sources, adapters and size units
all come from it."""

from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import urlparse

import numpy as np
import pytest

from core.errors import InstrumentError
from core.feed.client import ADAPTERS
from core.feed.config import DEFAULT_ALLOWED_HOSTS, FeedConfig, Source, SourcePolicy
from core.feed.replay import PROTOCOL as REPLAY_PROTOCOL
from core.market import venues
from core.market.instruments import BUNDLED_PATH, InstrumentTable, get_instrument
from core.market.venues import Protocol, SizeUnit, VenueKind
from core.views.market import EXCHANGE_LABELS
from core.views.simulator import source_instruments


def test_every_venue_of_the_instrument_table_is_declared_as_an_exchange():
    rows = json.loads(BUNDLED_PATH.read_text(encoding="utf-8"))["instruments"]
    for exchange in {r["exchange"] for r in rows}:
        assert venues.venue(exchange).kind is VenueKind.EXCHANGE, exchange


def test_ids_are_unique_and_lookups_name_the_known_venues():
    ids = [v.id for v in venues.VENUES]
    assert len(ids) == len(set(ids)) and all(i == i.lower() for i in ids)
    with pytest.raises(InstrumentError, match="okx"):
        venues.venue("nowhere")
    assert venues.label("nowhere") == "nowhere"


def test_page_labels_come_from_the_registry():
    assert EXCHANGE_LABELS == {
        "okx": "OKX",
        "binance": "Binance spot",
        "binance-futures": "Binance USD-M",
        "binance-coinm": "Binance COIN-M",
    }
    assert all(EXCHANGE_LABELS[v.id] == v.label for v in venues.VENUES if v.kind is VenueKind.EXCHANGE)


def test_default_hosts_are_the_declared_hosts_and_allow_every_public_stream():
    assert DEFAULT_ALLOWED_HOSTS == ("ws.gomarket-cpp.goquant.io", "ws.okx.com", "wspap.okx.com")
    assert venues.default_hosts() == DEFAULT_ALLOWED_HOSTS
    policy = SourcePolicy()
    for v in venues.live_venues():
        url = v.stream_url(*v.default_instrument)
        assert urlparse(url).hostname == v.hosts[0]
        policy.check(url)


def test_sources_are_the_replay_and_each_live_venue_with_an_adapter():
    assert [s.value for s in Source] == ["replay", *(v.id for v in venues.live_venues())]
    assert [s.label for s in Source] == ["Replay (bundled recording)", "GoQuant live", "OKX live"]
    for v in venues.live_venues():
        assert Source(v.id).venue is v and v.protocol in ADAPTERS
    assert Source.REPLAY.venue is None and REPLAY_PROTOCOL in ADAPTERS
    assert set(ADAPTERS) == set(Protocol)  # every protocol the registry can name has its adapter


def test_live_urls_and_defaults_come_from_the_registry():
    for v in venues.live_venues():
        r = FeedConfig(source=Source(v.id)).resolved()
        assert (r.exchange, r.symbol) == v.default_instrument
        assert r.url == v.stream_url(r.exchange, r.symbol)


def test_an_exchange_feed_offers_its_own_instruments_and_an_aggregator_every_exchanges():
    table = InstrumentTable.load()
    for v in venues.live_venues():
        offered = source_instruments(Source(v.id), table, [])
        if v.kind is VenueKind.EXCHANGE:
            assert offered == {v.id: table.symbols(v.id)}
        else:
            assert sorted(offered) == table.exchanges()


def test_size_units_come_from_the_registry():
    assert venues.venue("okx").size_unit("swap") is SizeUnit.CONTRACTS
    assert venues.venue("okx").size_unit("future") is SizeUnit.CONTRACTS
    assert venues.venue("okx").size_unit("spot") is SizeUnit.BASE
    assert venues.venue("binance-futures").size_unit("swap") is SizeUnit.BASE
    assert venues.venue("binance-coinm").size_unit("swap") is SizeUnit.CONTRACTS  # COIN-M: contracts of USD
    assert venues.size_unit("nowhere", "swap") is SizeUnit.BASE  # undeclared: sizes taken as they come
    for inst in InstrumentTable.load().all():
        assert inst.sized_in_contracts == (venues.size_unit(inst.exchange, inst.kind) is SizeUnit.CONTRACTS)


def test_linear_contracts_are_ct_val_base_units():
    inst = get_instrument("okx", "BTC-USDT-SWAP")  # 0.01 BTC a contract
    assert inst.sized_in_contracts and inst.ct_type == "linear"
    px, sz = np.array([60_000.0, 59_999.0]), np.array([5.0, 120.0])
    assert inst.to_base(px, sz) == pytest.approx([0.05, 1.2])
    assert inst.from_base(px, inst.to_base(px, sz)) == pytest.approx(sz)


def test_inverse_contracts_are_ct_val_usd_each():
    inst = get_instrument("okx", "BTC-USD-SWAP")  # 100 USD a contract
    assert inst.sized_in_contracts and inst.ct_type == "inverse"
    px, sz = np.array([50_000.0, 40_000.0]), np.array([3.0, 10.0])
    assert inst.to_base(px, sz) == pytest.approx([3 * 100 / 50_000, 10 * 100 / 40_000])
    assert inst.from_base(px, inst.to_base(px, sz)) == pytest.approx(sz)


@pytest.mark.parametrize(("symbol", "ct_val"), [("BTCUSD_PERP", 100.0), ("ETHUSD_PERP", 10.0)])
def test_binance_coinm_perpetuals_are_inverse_contracts_of_usd(symbol, ct_val):
    inst = get_instrument("binance-coinm", symbol)
    assert inst.sized_in_contracts and (inst.ct_type, inst.ct_val, inst.ct_val_ccy) == ("inverse", ct_val, "USD")
    assert venues.label("binance-coinm") == "Binance COIN-M"
    # 35 contracts at 61,804.7 (the top bid of the bundled COIN-M snapshot): 35 x ct_val USD, in base units
    assert inst.to_base(61_804.7, 35.0) == pytest.approx(35 * ct_val / 61_804.7)
    assert inst.to_base(61_804.7, 35.0) * 61_804.7 == pytest.approx(35 * ct_val)  # notional: contracts x ct_val


def test_base_sized_venues_pass_sizes_through():
    for inst in (get_instrument("binance-futures", "BTCUSDT"), get_instrument("okx", "BTC-USDT")):
        assert not inst.sized_in_contracts
        assert inst.to_base(60_000.0, 1.5) == 1.5 and inst.from_base(60_000.0, 1.5) == 1.5
    # the unit is the venue's, not the row's: the same contract terms on a base-sized venue convert nothing
    moved = replace(get_instrument("okx", "BTC-USDT-SWAP"), exchange="binance-futures")
    assert moved.to_base(60_000.0, 5.0) == 5.0

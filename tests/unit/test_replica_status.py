"""The status line of a bus replica: what the ingest says it streams, its counters, every instrument's age."""

from __future__ import annotations

import math

from core.feed.bus import BusInstrument
from core.feed.store import BookStore, FeedState
from core.views.market import NO_INGEST, summarize

RUN = "3f2a9c"
REPLAY_DOC = {
    "run": RUN,
    "state": "live",
    "source": "replay",
    "replay": {"file": "binance_BTCUSDT_20240808.jsonl.gz", "date": "2024-08-08", "speed": 2.0},
    "messages": 12345,
    "parse_errors": {"crossed_book": 2, "wrong_shape": 1},
    "reconnects": 4,
}
LIVE_DOC = {**REPLAY_DOC, "source": "okx", "replay": None, "parse_errors": {}, "reconnects": 0, "messages": 7}


def status(exchange: str = "binance", symbol: str = "BTCUSDT"):
    store = BookStore()
    store.begin(source="bus", url="redis://127.0.0.1:6379/0", exchange=exchange, symbol=symbol)
    store.set_state(FeedState.LIVE)
    return store.status()


def summary(*bus: BusInstrument, exchange: str = "binance", symbol: str = "BTCUSDT"):
    return summarize(None, status(exchange, symbol), None, msgs_per_s=10.0, now_ns=0, bus=bus)


def test_a_replica_says_replay_when_the_ingest_replays_not_live_because_the_bus_is_up():
    s = summary(BusInstrument("binance", "BTCUSDT", 0.2, False, REPLAY_DOC))
    assert s.source_label == "REPLAY"
    assert "recorded 2024-08-08" in s.source_detail and "x2" in s.source_detail and RUN in s.source_detail
    assert s.ingest is not None
    assert s.ingest.counters == (
        f"Ingest run {RUN}: live · 12,345 messages · 3 malformed (crossed_book 2, wrong_shape 1) · 4 reconnects"
    )


def test_a_live_ingest_is_live_and_a_missing_status_is_said():
    live = summary(BusInstrument("okx", "BTC-USDT-SWAP", 0.1, False, LIVE_DOC), exchange="okx", symbol="BTC-USDT-SWAP")
    assert live.source_label == "LIVE" and "okx" in live.source_detail
    assert live.ingest is not None and "7 messages · 0 malformed · 0 reconnects" in live.ingest.counters
    gone = summary(BusInstrument("binance", "BTCUSDT", 30.0, True, None))
    assert gone.source_label == NO_INGEST and "no status from the ingest service" in gone.source_detail
    assert gone.ingest is not None and "no status on the bus" in gone.ingest.counters


def test_every_instruments_age_is_shown_and_the_stale_ones_named():
    s = summary(
        BusInstrument("binance", "BTCUSDT", 0.25, False, REPLAY_DOC),
        BusInstrument("binance-futures", "BTCUSDT", 12.4, True, REPLAY_DOC),
        BusInstrument("okx", "BTC-USDT-SWAP", math.inf, True, None),
    )
    assert s.ingest is not None
    parts = s.ingest.books.removeprefix("Books: ").split(" · ")
    assert len(parts) == 3
    assert parts[0].endswith("BTCUSDT 0.2 s old") or parts[0].endswith("BTCUSDT 0.3 s old")
    assert parts[1].endswith("stale (12 s old)") and parts[2].endswith("none yet")
    assert len(s.ingest.stale) == 2 and all("BTCUSDT" in n or "BTC-USDT-SWAP" in n for n in s.ingest.stale)


def test_the_shown_instruments_document_is_the_one_used():
    s = summary(
        BusInstrument("binance-futures", "BTCUSDT", 0.1, False, LIVE_DOC),
        BusInstrument("binance", "BTCUSDT", 0.1, False, REPLAY_DOC),
    )
    assert s.source_label == "REPLAY"  # the status line's instrument is binance/BTCUSDT, replayed


def test_without_a_bus_the_summary_has_no_ingest_part():
    s = summarize(None, status(), None, msgs_per_s=1.0, now_ns=0)
    assert s.ingest is None and s.source_label == "LIVE"

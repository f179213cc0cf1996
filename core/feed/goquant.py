"""GoQuant full-snapshot stream (also what the replay server speaks): every message replaces the book.

Message: ``{"timestamp","exchange","symbol","asks":[["price","size"],…],"bids":[…]}``; prices and sizes are
strings, sizes in the venue's unit (contracts for OKX SWAP, converted here with ``ctVal``).
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from core.compiled import load
from core.errors import ParseError
from core.feed.adapter import Adapter
from core.feed.recording import parse_timestamp_ms
from core.market.book import BookSnapshot, levels_to_arrays
from core.market.instruments import Instrument
from core.market.venues import venue

URL_TEMPLATE = venue("goquant").ws_url  # declared in the venue registry

_compiled = load("core.feed._goquant")  # the compiled twin; absent, the Python path does it all

#: True when GoQuant messages take the compiled path (TCS_NATIVE=0 turns every compiled path off); read by each
#: new adapter (and on every message), so a benchmark or test can switch to the Python path
NATIVE = _compiled is not None


def parse_message(raw: bytes | str) -> dict:
    """JSON -> dict with the keys a book needs; raises ParseError with a countable reason."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ParseError("malformed_json") from None
    if not isinstance(doc, dict):
        raise ParseError("wrong_shape", type(doc).__name__)
    for key in ("asks", "bids"):
        side = doc.get(key)
        if side is None:
            raise ParseError(f"missing_{key}")
        if not isinstance(side, list):
            raise ParseError("wrong_shape", f"{key} is {type(side).__name__}")
    return doc


def snapshot_from_doc(doc: dict, *, instrument: Instrument, source: str, recv_ns: int, seq: int) -> BookSnapshot:
    """A parsed GoQuant message -> validated snapshot in base units."""
    sym = doc.get("symbol")
    if sym is not None and str(sym).upper() != instrument.symbol:
        raise ParseError("wrong_instrument", f"{sym} != {instrument.symbol}")
    try:
        bid_px, bid_sz = levels_to_arrays(doc["bids"])
        ask_px, ask_sz = levels_to_arrays(doc["asks"])
    except (IndexError, KeyError):
        raise ParseError("wrong_shape", "level is not [price, size]") from None
    ts = doc.get("timestamp")
    ts_ms = parse_timestamp_ms(ts) if ts is not None else 0
    if instrument.sized_in_contracts:
        bid_sz = instrument.to_base(bid_px, bid_sz)
        ask_sz = instrument.to_base(ask_px, ask_sz)
    return BookSnapshot.build(
        exchange=instrument.exchange,
        symbol=instrument.symbol,
        source=source,
        bid_px=bid_px,
        bid_sz=bid_sz,
        ask_px=ask_px,
        ask_sz=ask_sz,
        exchange_ts_ms=ts_ms,
        recv_ns=recv_ns,
        seq=seq,
    )


def _unit_code(instrument: Instrument) -> int:
    if not instrument.sized_in_contracts:
        return 0
    return 2 if instrument.ct_type == "inverse" else 1


def native_books(instrument: Instrument, source: str) -> Any | None:
    """The compiled path for one instrument and source (``core.feed._goquant.GoQuantBooks``: the instrument's
    constants read once, then one call a message), or None when the kernel is off."""
    if not NATIVE:
        return None
    return _compiled.GoQuantBooks(  # type: ignore[union-attr]
        _unit_code(instrument),
        float(instrument.ct_val),
        instrument.exchange,
        instrument.symbol,
        source,
        parse_timestamp_ms,
        ParseError,
    )


def native_snapshot(raw: bytes, *, instrument: Instrument, source: str, recv_ns: int, seq: int) -> BookSnapshot | None:
    """The compiled path: the same snapshot as ``snapshot_from_doc(parse_message(raw))`` or None.

    None means the message is not the plain valid case (or the kernel is off); the Python path then gives
    the exact result or the countable error, so both paths always agree.
    """
    books = native_books(instrument, source)
    return books.snapshot(raw, recv_ns, seq) if books is not None else None


def parse_snapshot(raw: bytes | str, *, instrument: Instrument, source: str = "file", seq: int = 0) -> BookSnapshot:
    """One GoQuant message (bytes or str) -> snapshot; used by the CLI and tests."""
    raw = raw if isinstance(raw, bytes) else raw.encode()
    recv_ns = time.time_ns()
    snap = native_snapshot(raw, instrument=instrument, source=source, recv_ns=recv_ns, seq=seq)
    if snap is not None:
        return snap
    return snapshot_from_doc(parse_message(raw), instrument=instrument, source=source, recv_ns=recv_ns, seq=seq)


class GoQuantAdapter(Adapter):
    """Full snapshots; no subscription, no sequence numbers, nothing to resync but reconnecting."""

    source = "goquant"

    def __init__(self, instrument: Instrument, url: str, *, source: str = "goquant") -> None:
        super().__init__(instrument, url)
        self.source = source
        self._count = 0
        self._last_raw: bytes | None = None
        self._native = native_books(instrument, source)

    @classmethod
    def for_feed(cls, instrument: Instrument, url: str, *, source: str, snapshot_wait_s: float) -> Adapter:
        return cls(instrument, url, source=source)  # the same protocol serves the replay and the GoQuant endpoint

    def on_message(self, raw: bytes | str, recv_ns: int) -> BookSnapshot | None:
        raw = raw if isinstance(raw, bytes) else raw.encode()
        t0 = time.perf_counter_ns()
        native = self._native
        snap = native.snapshot(raw, recv_ns, self._count + 1) if native is not None and NATIVE else None
        if snap is not None:  # one compiled pass did parse and book together: it is all counted as parse
            self.last_parse_ns, self.last_book_ns = time.perf_counter_ns() - t0, 0
            self._count += 1
        else:
            doc = parse_message(raw)
            t1 = time.perf_counter_ns()
            self._count += 1
            snap = snapshot_from_doc(
                doc, instrument=self.instrument, source=self.source, recv_ns=recv_ns, seq=self._count
            )
            self.last_parse_ns, self.last_book_ns = t1 - t0, time.perf_counter_ns() - t1
        self._last_raw = raw
        return snap

    def native_message(self) -> bytes | None:
        return self._last_raw

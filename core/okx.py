"""OKX v5 public ``books`` channel: snapshot then incremental updates.

Rules (shared/specs/FEEDS_AND_FEES.md section 1): a snapshot has prevSeqId -1; each update's prevSeqId
must equal the last seqId (heartbeats repeat it, resets may lower seqId); sizes are absolute and "0"
deletes; the CRC32 checksum of the top 25 levels is checked only when non-zero (OKX sends 0 since
2026-06); a gap, a bad checksum or a crossed book throws the book away and resubscribes.
"""

from __future__ import annotations

import time
import zlib

import numpy as np
import orjson

from core.adapter import Adapter
from core.book import BookSnapshot
from core.exceptions import BadChecksum, CrossedBook, FeedError, ParseError, SequenceGap, ServerNotice
from core.instruments import Instrument
from core.recording import goquant_message

URL = "wss://ws.okx.com:8443/ws/v5/public"
CHANNEL = "books"
CHECKSUM_LEVELS = 25
NOTICE_RECONNECT = "64008"


def checksum_string(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> str:
    """``bid1px:bid1sz:ask1px:ask1sz:…`` over the top 25, skipping missing entries on a shorter side."""
    parts: list[str] = []
    for i in range(CHECKSUM_LEVELS):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    return ":".join(parts)


def crc32_signed(s: str) -> int:
    c = zlib.crc32(s.encode())
    return c - (1 << 32) if c >= (1 << 31) else c


class OkxBook:
    """Raw-string price->size ladders for one instrument, as OKX sends them (needed for the checksum)."""

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str]] = {}
        self.asks: dict[float, tuple[str, str]] = {}

    @staticmethod
    def _apply(side: dict[float, tuple[str, str]], levels: list) -> None:
        for lv in levels:
            px_s, sz_s = lv[0], lv[1]
            px = float(px_s)
            if float(sz_s) == 0.0:
                side.pop(px, None)  # deleting an unknown price is harmless
            else:
                side[px] = (px_s, sz_s)

    def apply(self, bids: list, asks: list) -> None:
        try:
            self._apply(self.bids, bids)
            self._apply(self.asks, asks)
        except (TypeError, ValueError, IndexError):
            raise ParseError("non_numeric_level") from None

    def sorted_levels(self, depth: int | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        bid_keys = sorted(self.bids, reverse=True)[:depth]
        ask_keys = sorted(self.asks)[:depth]
        return [self.bids[k] for k in bid_keys], [self.asks[k] for k in ask_keys]


class OkxAdapter(Adapter):
    """One instrument on OKX ``books``; raises ResyncNeeded subclasses for the feed to act on."""

    source = "okx"

    def __init__(self, instrument: Instrument, url: str = URL, *, depth: int = 400) -> None:
        super().__init__(instrument, url)
        self.depth = depth
        self.book: OkxBook | None = None
        self.last_seq: int | None = None  # seqId of the last applied message (local count without seqIds)
        self.last_ts_ms = 0
        self.checksums_verified = 0
        self.awaiting_snapshot = False  # True between a resync request and its snapshot
        self.ignored_in_flight = 0

    # ---- protocol ------------------------------------------------------------------------------
    def _arg(self) -> dict:
        return {"channel": CHANNEL, "instId": self.instrument.symbol}

    def on_connect(self) -> list[str]:
        return [orjson.dumps({"id": "1", "op": "subscribe", "args": [self._arg()]}).decode()]

    def keepalive(self) -> str | None:
        return "ping"  # OKX drops a connection after 30 s without traffic; it answers the text "pong"

    def resync(self) -> list[str]:
        self.reset()
        self.awaiting_snapshot = True  # updates still in flight from the old subscription are ignored
        return [
            orjson.dumps({"id": "2", "op": "unsubscribe", "args": [self._arg()]}).decode(),
            orjson.dumps({"id": "3", "op": "subscribe", "args": [self._arg()]}).decode(),
        ]

    def reset(self) -> None:
        self.book = None
        self.last_seq = None
        self.awaiting_snapshot = False

    # ---- messages ------------------------------------------------------------------------------
    def on_message(self, raw: bytes | str, recv_ns: int) -> BookSnapshot | None:
        if raw == "pong" or raw == b"pong":
            return None
        t0 = time.perf_counter_ns()
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ParseError("malformed_json") from None
        if not isinstance(msg, dict):
            raise ParseError("wrong_shape", type(msg).__name__)
        event = msg.get("event")
        if event is not None:
            return self._on_event(msg)
        arg = msg.get("arg") or {}
        if arg.get("channel") != CHANNEL or arg.get("instId") != self.instrument.symbol:
            return None  # another channel or instrument on a shared connection
        data = msg.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ParseError("wrong_shape", "books message without data[0]")
        d = data[0]
        action = msg.get("action")
        try:
            # seqId/prevSeqId arrived in 2023; older captures (and some channels) carry none, so
            # continuity is then left to the checksum and seq is a local count.
            has_seq = "seqId" in d
            seq = int(d["seqId"]) if has_seq else (self.last_seq or 0) + 1
            prev = int(d.get("prevSeqId", -1)) if has_seq else (self.last_seq if self.last_seq is not None else -1)
            bids, asks = d.get("bids", []), d.get("asks", [])
            ts_ms = int(d.get("ts", 0))
            checksum = int(d.get("checksum", 0) or 0)
        except (KeyError, TypeError, ValueError):
            raise ParseError("wrong_shape", "books data fields") from None
        if action == "snapshot":
            self.book = OkxBook()
            self.awaiting_snapshot = False
        elif action == "update":
            if self.awaiting_snapshot:
                self.ignored_in_flight += 1
                return None
            if self.book is None or self.last_seq is None:
                raise SequenceGap("update before snapshot")
            if prev != self.last_seq:
                raise SequenceGap(f"prevSeqId {prev} != last seqId {self.last_seq}")
        else:
            raise ParseError("wrong_shape", f"action {action!r}")
        t1 = time.perf_counter_ns()
        self.book.apply(bids, asks)
        self.last_seq = seq
        self.last_ts_ms = ts_ms
        bid_lv, ask_lv = self.book.sorted_levels(self.depth)
        if checksum != 0:
            got = crc32_signed(checksum_string(bid_lv, ask_lv))
            if got != checksum:
                raise BadChecksum(f"checksum {got} != {checksum} at seqId {seq}")
            self.checksums_verified += 1
        if not bid_lv or not ask_lv:
            raise ParseError("empty_side")
        if float(bid_lv[0][0]) >= float(ask_lv[0][0]):
            raise CrossedBook(f"bid {bid_lv[0][0]} >= ask {ask_lv[0][0]} at seqId {seq}")
        snap = self._snapshot(bid_lv, ask_lv, ts_ms, recv_ns, seq)
        t2 = time.perf_counter_ns()
        self.last_parse_ns, self.last_book_ns = t1 - t0, t2 - t1
        return snap

    def _on_event(self, msg: dict) -> None:
        event = msg.get("event")
        if event == "notice" and str(msg.get("code")) == NOTICE_RECONNECT:
            raise ServerNotice(f"OKX notice {NOTICE_RECONNECT}: {msg.get('msg', 'service upgrade')}")
        if event == "error":
            raise FeedError(f"OKX error {msg.get('code')}: {msg.get('msg', '')}")
        return None  # subscribe / unsubscribe acks, other notices

    def _snapshot(self, bid_lv, ask_lv, ts_ms: int, recv_ns: int, seq: int) -> BookSnapshot:
        bid = np.array(bid_lv, dtype=np.float64)  # float parse of the sorted string pairs
        ask = np.array(ask_lv, dtype=np.float64)
        inst = self.instrument
        return BookSnapshot.build(
            exchange=inst.exchange,
            symbol=inst.symbol,
            source=self.source,
            bid_px=bid[:, 0],
            bid_sz=inst.to_base(bid[:, 0], bid[:, 1]),
            ask_px=ask[:, 0],
            ask_sz=inst.to_base(ask[:, 0], ask[:, 1]),
            exchange_ts_ms=ts_ms,
            recv_ns=recv_ns,
            seq=seq,
        )

    def native_message(self) -> bytes | None:
        if self.book is None:
            return None
        bid_lv, ask_lv = self.book.sorted_levels(self.depth)
        return goquant_message(
            ts_ms=self.last_ts_ms, exchange="okx", symbol=self.instrument.symbol, bids=bid_lv, asks=ask_lv
        )

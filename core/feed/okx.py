"""OKX v5 public ``books`` channel: snapshot then incremental updates.

Rules (shared/specs/FEEDS_AND_FEES.md section 1): a snapshot has prevSeqId -1; each update's prevSeqId
must equal the last seqId (heartbeats repeat it, resets may lower seqId); sizes are absolute and "0"
deletes; the CRC32 checksum of the top 25 levels is checked only when non-zero (OKX sends 0 since
2026-06); a gap, a bad checksum or a crossed book throws the book away and resubscribes.
"""

from __future__ import annotations

import math
import time
import zlib
from typing import Any
from urllib.parse import urlparse

import numpy as np
import orjson

from core.compiled import load
from core.errors import BadChecksum, CorruptUpdate, CrossedBook, FeedError, ParseError, SequenceGap, ServerNotice
from core.feed.adapter import Adapter
from core.feed.goquant import _unit_code as unit_code
from core.feed.recording import goquant_message
from core.market.book import BookSnapshot
from core.market.instruments import Instrument
from core.market.tape import Tape
from core.market.venues import venue

VENUE = venue("okx")  # URLs and hosts are declared in the venue registry
URL = VENUE.ws_url
REST_BASE = VENUE.rest_url
REST_BOOKS = "{base}/api/v5/market/books?instId={inst_id}&sz=400"
OKX_WS_HOSTS = set(VENUE.hosts)
MAX_BUFFERED = 10_000  # updates held while waiting for a snapshot
CHANNEL = "books"
TRADES_CHANNEL = "trades"
MAX_TS_MS = 10**14  # year 5138: any later "ts" is not an epoch millisecond
CHECKSUM_LEVELS = 25
NOTICE_RECONNECT = "64008"

_compiled = load("core.feed._okx")  # the compiled twin (core/feed/_okx.pyx); absent, the Python path does it all

_now_ns = time.perf_counter_ns  # the parse and book timings the store records

#: True when OKX books take the compiled path (TCS_NATIVE=0 turns every compiled path off); read by each
#: new adapter, so a benchmark or test can switch one adapter to the Python path
NATIVE = _compiled is not None


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


def parse_trades(msg: dict, instrument: Instrument) -> Tape:
    """One ``trades`` push as a tape in base units: ``sz`` is contracts on a swap (x ``ctVal``; inverse: x ``ctVal``
    USD / ``px``), base on spot; ``side`` is the taker's. ``ParseError("bad_trades")`` for anything else (counted and
    skipped by the feed, as a malformed book message is)."""
    data = msg.get("data")
    if not isinstance(data, list):
        raise ParseError("bad_trades", "trades message without a data list")
    rows = []
    for d in data:
        try:
            px, sz, ts, side = float(d["px"]), float(d["sz"]), int(d["ts"]), d["side"]
        except (KeyError, TypeError, ValueError):
            raise ParseError("bad_trades", "trade without px, sz, ts and side") from None
        if side not in ("buy", "sell") or not (math.isfinite(px) and px > 0 and math.isfinite(sz) and sz > 0):
            raise ParseError("bad_trades", f"trade with side {side!r}, px {px}, sz {sz}")
        if not 0 < ts < MAX_TS_MS:  # an epoch millisecond, or it would overflow the tape's int64 (never a number)
            raise ParseError("bad_trades", f"trade time {ts} is not epoch milliseconds")
        rows.append((ts, px, float(instrument.to_base(px, sz)), side == "sell"))  # a sell taker: the buyer made
    return Tape.from_rows(rows)


class OkxBook:
    """Price->level ladders for one instrument. Each level keeps OKX's raw strings (the checksum is over
    them) and its size as a float, so an update parses only the levels it changes."""

    def __init__(self) -> None:
        self.bids: dict[float, tuple[str, str, float]] = {}
        self.asks: dict[float, tuple[str, str, float]] = {}

    @classmethod
    def from_levels(cls, bids: list, asks: list) -> OkxBook:
        """The book holding ``(px, px_s, sz_s, sz)`` levels (``Ladders.levels()``: the compiled book's contents)."""
        book = cls()
        book.bids = {px: (px_s, sz_s, sz) for px, px_s, sz_s, sz in bids}
        book.asks = {px: (px_s, sz_s, sz) for px, px_s, sz_s, sz in asks}
        return book

    @staticmethod
    def _parse(levels: list) -> list[tuple[float, str, str, float]]:
        """Every level checked before any is applied, so a bad message never half-changes the book. OKX
        sends prices and sizes as text and the checksum is over that text, so anything else is corrupt."""
        if not isinstance(levels, list):
            raise CorruptUpdate("a side is not a list of levels")
        out = []
        for lv in levels:
            if not (isinstance(lv, list) and len(lv) >= 2 and type(lv[0]) is str and type(lv[1]) is str):
                raise CorruptUpdate("a level is not [price, size] text")
            px_s, sz_s = lv[0], lv[1]
            try:
                px, sz = float(px_s), float(sz_s)
            except ValueError:
                raise CorruptUpdate("a level is not [price, size] numbers") from None
            if not (math.isfinite(px) and math.isfinite(sz)) or px <= 0 or sz < 0:
                raise CorruptUpdate(f"invalid level [{px_s!r}, {sz_s!r}]")
            out.append((px, px_s, sz_s, sz))
        return out

    def apply(self, bids: list, asks: list) -> None:
        parsed = ((self.bids, self._parse(bids)), (self.asks, self._parse(asks)))
        for side, levels in parsed:
            for px, px_s, sz_s, sz in levels:
                if sz == 0.0:
                    side.pop(px, None)  # deleting an unknown price is harmless
                else:
                    side[px] = (px_s, sz_s, sz)

    def top_prices(self, depth: int | None = None) -> tuple[list[float], list[float]]:
        return sorted(self.bids, reverse=True)[:depth], sorted(self.asks)[:depth]

    def sorted_levels(self, depth: int | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Raw (price, size) strings, best first (checksum and recordings)."""
        bid_keys, ask_keys = self.top_prices(depth)
        return [self.bids[k][:2] for k in bid_keys], [self.asks[k][:2] for k in ask_keys]

    def raw_top(self, keys_bid: list[float], keys_ask: list[float], n: int) -> tuple[list, list]:
        return [self.bids[k][:2] for k in keys_bid[:n]], [self.asks[k][:2] for k in keys_ask[:n]]


class OkxAdapter(Adapter):
    """One instrument on OKX ``books``; raises ResyncNeeded subclasses for the feed to act on."""

    source = "okx"
    carries_trades = True

    def __init__(
        self, instrument: Instrument, url: str = URL, *, depth: int = 400, snapshot_wait_s: float = 2.0
    ) -> None:
        super().__init__(instrument, url)
        self.depth = depth
        self.snapshot_wait_s = snapshot_wait_s  # no WS snapshot this long after the ack: bootstrap from REST
        # compiled: the scanner reads plain messages and the book is ``Ladders``; else both are Python
        self._scanner: Any = _compiled.UpdateScanner(CHANNEL, instrument.symbol) if NATIVE and _compiled else None
        self._unit, self._ct_val = unit_code(instrument), float(instrument.ct_val)
        self.book: Any = None  # OkxBook, or its compiled twin Ladders (same apply and sorted_levels)
        self.last_seq: int | None = None  # seqId of the last applied message (local count without seqIds)
        self.last_ts_ms = 0
        self.checksums_verified = 0
        self.buffer: list[dict] = []  # updates received while there is no book (see ``on_bootstrap``)
        self.acked_at: float | None = None  # monotonic time of the subscribe ack
        self._next_fetch = 0.0
        self.rest_bootstraps = 0

    @classmethod
    def for_feed(cls, instrument: Instrument, url: str, *, source: str, snapshot_wait_s: float) -> Adapter:
        return cls(instrument, url, snapshot_wait_s=snapshot_wait_s)

    # ---- protocol ------------------------------------------------------------------------------
    def _arg(self) -> dict:
        return {"channel": CHANNEL, "instId": self.instrument.symbol}

    def on_connect(self) -> list[str]:
        args = [self._arg()]
        if self.trades is not None:  # the public trades too, on the same connection: the online calibration's tape
            args.append({"channel": TRADES_CHANNEL, "instId": self.instrument.symbol})
        return [orjson.dumps({"id": "1", "op": "subscribe", "args": args}).decode()]

    def keepalive(self) -> str | None:
        return "ping"  # OKX drops a connection after 30 s without traffic; it answers the text "pong"

    def resync(self) -> list[str]:
        self.reset()  # updates still in flight are buffered and dropped by the next snapshot's seqId
        return [
            orjson.dumps({"id": "2", "op": "unsubscribe", "args": [self._arg()]}).decode(),
            orjson.dumps({"id": "3", "op": "subscribe", "args": [self._arg()]}).decode(),
        ]

    def reset(self) -> None:
        self.book = None
        self.last_seq = None
        self.buffer = []
        self.acked_at = None

    # ---- REST bootstrap (OKX announced the end of the initial WS snapshot; see FEEDS_AND_FEES.md) ----
    def rest_url(self) -> str:
        """OKX's REST host for OKX's WS hosts; the WS server's own host otherwise (local test servers)."""
        u = urlparse(self.url)
        if (u.hostname or "") in OKX_WS_HOSTS:
            base = REST_BASE
        else:
            base = f"{'https' if u.scheme == 'wss' else 'http'}://{u.netloc}"
        return REST_BOOKS.format(base=base, inst_id=self.instrument.symbol)

    def bootstrap_request(self, now: float) -> str | None:
        """The REST URL to fetch when no WS snapshot came ``snapshot_wait_s`` after the ack, else None."""
        if self.book is not None or self.acked_at is None or now < self._next_fetch:
            return None
        if now - self.acked_at < self.snapshot_wait_s:
            return None
        self._next_fetch = now + 1.0
        return self.rest_url()

    def on_bootstrap(self, body: bytes, recv_ns: int) -> BookSnapshot | None:
        """Build the book from a REST snapshot plus the buffered updates after it (None: fetch again)."""
        try:
            d = orjson.loads(body)["data"][0]
            snap_seq = int(d["seqId"])
            ts_ms = int(d.get("ts", 0))
            bids, asks = d["bids"], d["asks"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
            raise ParseError("rest_snapshot", "unexpected REST books response") from None
        if self.buffer and snap_seq < self.buffer[0]["prevSeqId"]:
            return None  # the REST book is older than the first buffered update: refetch
        kept = [u for u in self.buffer if u["seqId"] > snap_seq]
        if kept and not (kept[0]["prevSeqId"] <= snap_seq < kept[0]["seqId"]):
            raise SequenceGap(f"REST snapshot seqId {snap_seq} does not join the buffered updates")
        self.book = self._new_book()
        self.book.apply(bids, asks)
        self.last_seq, self.last_ts_ms = snap_seq, ts_ms
        self.buffer = []
        self.rest_bootstraps += 1
        for i, u in enumerate(kept):
            if i and u["prevSeqId"] != self.last_seq:
                raise SequenceGap(f"prevSeqId {u['prevSeqId']} != last seqId {self.last_seq}")
            self.book.apply(u.get("bids", []), u.get("asks", []))
            self.last_seq, self.last_ts_ms = int(u["seqId"]), int(u.get("ts", self.last_ts_ms))
        return self._checked_snapshot(self.last_ts_ms, recv_ns, self.last_seq, 0)

    # ---- messages ------------------------------------------------------------------------------
    def _new_book(self) -> Any:
        if self._scanner is None:
            return OkxBook()
        inst = self.instrument
        return _compiled.Ladders(  # type: ignore[union-attr]
            OkxBook._parse,
            self.depth,
            CHECKSUM_LEVELS,
            self._unit,
            self._ct_val,
            inst.exchange,
            inst.symbol,
            self.source,
        )

    def on_message(self, raw: bytes | str, recv_ns: int) -> BookSnapshot | None:
        if len(raw) == 4 and (raw == "pong" or raw == b"pong"):
            return None
        # a trades push names its channel first (OKX puts "arg" first): only the head is searched, so a book of
        # 400 levels pays nothing for it
        if self.trades is not None:
            head = raw[:64]
            if (b'"trades"' in head if isinstance(head, bytes) else '"trades"' in head) and self._on_trades(raw):
                return None
        t0 = _now_ns()
        fields = self._scanner.scan(raw) if self._scanner is not None else None
        if fields is None or (fields and not fields[0] and (self.book is None or self.last_seq is None)):
            # not the plain valid case, or an update to buffer as a dict for the REST bootstrap
            return self._on_json(raw, recv_ns, t0)
        if not fields:
            return None  # another channel or instrument on a shared connection
        is_snapshot, has_seq, seq, prev, ts_ms, checksum = fields
        return self._step(is_snapshot, has_seq, seq, prev, ts_ms, checksum, None, recv_ns, t0)

    def _on_trades(self, raw: bytes | str) -> bool:
        """A ``trades`` push of this instrument into the live tape; False for any other message (a book)."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False  # the book path counts it
        arg = msg.get("arg") if isinstance(msg, dict) else None
        if not isinstance(arg, dict) or arg.get("channel") != TRADES_CHANNEL or "event" in msg:
            return False
        if arg.get("instId") == self.instrument.symbol and self.trades is not None:
            self.trades.append(parse_trades(msg, self.instrument))
        return True

    def _on_json(self, raw: bytes | str, recv_ns: int, t0: int) -> BookSnapshot | None:
        """The Python path: orjson, then every shape check with its countable reason."""
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
        if not isinstance(arg, dict):
            raise ParseError("wrong_shape", "arg is not an object")
        if arg.get("channel") != CHANNEL or arg.get("instId") != self.instrument.symbol:
            return None  # another channel or instrument on a shared connection
        data = msg.get("data")
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise ParseError("wrong_shape", "books message without data[0]")
        d = data[0]
        action = msg.get("action")
        try:
            # seqId/prevSeqId arrived in 2023; older captures (and some channels) carry none, so
            # continuity is then left to the checksum and seq is a local count (see ``_step``).
            has_seq = "seqId" in d
            seq = int(d["seqId"]) if has_seq else 0
            prev = int(d.get("prevSeqId", -1)) if has_seq else 0
            bids, asks = d.get("bids", []), d.get("asks", [])
            ts_ms = int(d.get("ts", 0))
            checksum = int(d.get("checksum", 0) or 0)
        except (KeyError, TypeError, ValueError):
            raise ParseError("wrong_shape", "books data fields") from None
        if action == "update" and (self.book is None or self.last_seq is None):
            # no book yet: hold updates for the snapshot (WS, or REST after snapshot_wait_s)
            if not has_seq:
                raise SequenceGap("update before snapshot (no seqId to join a later snapshot)")
            if len(self.buffer) >= MAX_BUFFERED:
                raise SequenceGap("update before snapshot (buffer full)")
            self.buffer.append(d)
            return None
        if action not in ("snapshot", "update"):
            raise ParseError("wrong_shape", f"action {action!r}")
        return self._step(action == "snapshot", has_seq, seq, prev, ts_ms, checksum, (bids, asks), recv_ns, t0)

    def _step(
        self,
        is_snapshot: bool,
        has_seq: bool,
        seq: int,
        prev: int,
        ts_ms: int,
        checksum: int,
        levels: tuple[Any, Any] | None,
        recv_ns: int,
        t0: int,
    ) -> BookSnapshot:
        """Sequence rules, apply, checks: one message on both paths (``levels`` None: the scanner holds them)."""
        if not has_seq:
            seq = (self.last_seq or 0) + 1
            prev = self.last_seq if self.last_seq is not None else -1
        if is_snapshot:
            self.book = self._new_book()
            self.buffer = []
        elif prev != self.last_seq:
            raise SequenceGap(f"prevSeqId {prev} != last seqId {self.last_seq}")
        t1 = _now_ns()
        snap = None
        if levels is None:  # validated by the scan, level by level; then every check and the snapshot in C
            snap = self.book.update(self._scanner, checksum, ts_ms, recv_ns, seq)
        else:
            self.book.apply(*levels)
        self.last_seq = seq
        self.last_ts_ms = ts_ms
        if snap is None:  # the Python book, or a compiled check failed: the checks name it
            snap = self._checked_snapshot(ts_ms, recv_ns, seq, checksum)
        elif checksum != 0:
            self.checksums_verified += 1
        t2 = _now_ns()
        self.last_parse_ns, self.last_book_ns = t1 - t0, t2 - t1
        return snap

    def _checked_snapshot(self, ts_ms: int, recv_ns: int, seq: int, checksum: int) -> BookSnapshot:
        """Checksum (when non-zero), emptiness and crossing checks, then the frozen snapshot."""
        book = self.book
        if not isinstance(book, OkxBook):  # compiled: every check, the arrays and the snapshot in one call
            snap = book.book(checksum, ts_ms, recv_ns, seq)
            if snap is not None:
                if checksum != 0:
                    self.checksums_verified += 1
                return snap
            book = OkxBook.from_levels(*book.levels())  # a check fails: the Python path names it
        bid_keys, ask_keys = book.top_prices(self.depth)
        if checksum != 0:
            bid_lv, ask_lv = book.raw_top(bid_keys, ask_keys, CHECKSUM_LEVELS)
            got = crc32_signed(checksum_string(bid_lv, ask_lv))
            if got != checksum:
                raise BadChecksum(f"checksum {got} != {checksum} at seqId {seq}")
            self.checksums_verified += 1
        if not bid_keys or not ask_keys:
            raise CorruptUpdate(f"a side of the book is empty at seqId {seq}")
        if bid_keys[0] >= ask_keys[0]:
            raise CrossedBook(f"bid {bid_keys[0]} >= ask {ask_keys[0]} at seqId {seq}")
        try:
            return self._snapshot(book, bid_keys, ask_keys, ts_ms, recv_ns, seq)
        except ParseError as exc:  # the maintained book is no longer valid: rebuild it from a snapshot
            raise CorruptUpdate(f"{exc.reason} at seqId {seq}") from None

    def _on_event(self, msg: dict) -> BookSnapshot | None:
        event = msg.get("event")
        if event == "notice" and str(msg.get("code")) == NOTICE_RECONNECT:
            raise ServerNotice(f"OKX notice {NOTICE_RECONNECT}: {msg.get('msg', 'service upgrade')}")
        if event == "error":
            raise FeedError(f"OKX error {msg.get('code')}: {msg.get('msg', '')}")
        arg = msg.get("arg") or {}
        if event == "subscribe" and arg.get("instId") == self.instrument.symbol and arg.get("channel") == CHANNEL:
            self.acked_at = time.monotonic()  # starts the wait for a WS snapshot
        return None  # subscribe / unsubscribe acks, other notices

    def _snapshot(
        self, book: OkxBook, bid_keys: list[float], ask_keys: list[float], ts_ms: int, recv_ns: int, seq: int
    ) -> BookSnapshot:
        bids, asks = book.bids, book.asks
        bid_px = np.array(bid_keys, dtype=np.float64)
        ask_px = np.array(ask_keys, dtype=np.float64)
        bid_sz = np.fromiter((bids[k][2] for k in bid_keys), dtype=np.float64, count=len(bid_keys))
        ask_sz = np.fromiter((asks[k][2] for k in ask_keys), dtype=np.float64, count=len(ask_keys))
        inst = self.instrument
        return BookSnapshot.build(
            exchange=inst.exchange,
            symbol=inst.symbol,
            source=self.source,
            bid_px=bid_px,
            bid_sz=inst.to_base(bid_px, bid_sz),
            ask_px=ask_px,
            ask_sz=inst.to_base(ask_px, ask_sz),
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

"""Turn the raw public captures in ``shared/data`` into the bundled recordings in ``data/``.

Binance publishes depth as one REST snapshot plus diff events, while the app replays full books
(GoQuant format), so the book is rebuilt here once, offline, with Binance's own sequencing rules, and
every rebuilt state is written as a full-snapshot message. Prices and sizes stay the exchange's original
strings (no float or Decimal round trip), so a replayed book is exactly what Binance sent.

Run by developers only; the app never reads ``shared/`` at run time::

    python -m core.convert --src ../shared/data --out data/ [--levels 400]
    python -m core.convert --raw FILE [FILE ...] --market usdm|spot|cm --symbol SYMBOL --out DIR

The second form converts a raw capture it has never seen (another day, another symbol) into one recording
(``DIR/recordings/``) and its trades (``DIR/trades/``); what it cannot rebuild (a sequence gap, no snapshot,
an unknown market or COIN-M symbol) it refuses with a one-line message and exit status 2.

Sizes stay in the venue's unit: base units on spot and USDⓈ-M, **contracts** on COIN-M (inverse: a
contract is ``ct_val`` USD, so base = contracts x ct_val / price; ``data/instruments.json`` holds ct_val and
the app converts at parse time, as for OKX SWAP). COIN-M trades carry both: ``qty`` in base units (as in
every trades file) and ``size_contracts``.

The run is deterministic: gzip headers carry no file name or mtime, and Parquet files are written from
fixed schemas, so running it twice gives the same bytes. ``core.feed.provenance`` holds the upstream records
the inputs are checked against and builds ``recordings.json`` and ``PROVENANCE.md`` from the results.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn, cast

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import InputError, ParseError, SequenceGap, SimulatorError
from core.feed.provenance import (
    CRYPTOFEED,
    DEFAULT_LEVELS,
    HFTBACKTEST,
    OKX_CAPTURE,
    SYMBOL,
    UpstreamFile,
    manifest,
    provenance,
)
from core.feed.recording import MAX_RECORDING_BYTES, goquant_message, iso_ms, sha256_file
from core.market.instruments import Instrument, get_instrument
from core.market.venues import label as venue_label
from core.paths import UPSTREAM_DIR

Market = Literal["usdm", "spot", "cm"]
Level = tuple[str, str]  # (price, size) exactly as the exchange sent them

#: the venue id (GoQuant ``exchange``) of each Binance market
EXCHANGES: dict[str, str] = {"usdm": "binance-futures", "spot": "binance", "cm": "binance-coinm"}
#: markets whose diffs chain by ``pu`` (futures rules); spot chains by ``U`` = previous ``u`` + 1
PU_CHAINED = ("usdm", "cm")
#: COIN-M books change ~70 times a second; writing the last book of every 100 ms (spot's own diff cadence)
#: keeps a 400-level recording under ``MAX_RECORDING_BYTES`` uncompressed (PROVENANCE.md gives the counts)
DEFAULT_INTERVAL_MS: dict[str, int] = {"usdm": 0, "spot": 0, "cm": 100}
#: the 2023-04-04/05 BTCUSDT perpetual changes its book about 31 times a second (16k diffs in 514 s); every book
#: would exceed MAX_RECORDING_BYTES, so the last of each 50 ms is written (half spot's 100 ms cadence)
QUIET_DAY_INTERVAL_MS = 50


TRADE_SCHEMA = pa.schema(
    [
        ("ts_ms", pa.int64()),  # trade time T, ms since epoch
        ("price", pa.float64()),  # quote currency (USDT; USD on COIN-M)
        ("qty", pa.float64()),  # base units (BTC, ETH) on every market; COIN-M: contracts x ct_val / price
        ("buyer_is_maker", pa.bool_()),  # Binance `m`: true means the aggressor sold
        ("trade_id", pa.int64()),  # Binance `t`
    ]
)
#: COIN-M trades: the same columns plus the venue's own size, contracts of ``ct_val`` USD
INVERSE_TRADE_SCHEMA = TRADE_SCHEMA.append(pa.field("size_contracts", pa.float64()))


@dataclass(frozen=True)
class MarketSpec:
    """How one Binance recording is named in the app and which raw files (in order) hold it."""

    market: Market
    exchange: str  # GoQuant `exchange` value (the venue id)
    label: str
    stem: str  # output file name without extension
    files: tuple[UpstreamFile, ...]
    default: bool
    symbol: str = SYMBOL  # Binance symbol, as in the data's `s`
    interval_ms: int = 0  # write the last book of each interval of event time (0: every book)


def _hft(local: str, blob: str, sha256: str, *, commit: str = "", shipped: bool = False) -> UpstreamFile:
    """A file of hftbacktest's ``examples/``, kept under ``hftbacktest-binance/`` with the same sub-path."""
    return UpstreamFile(
        local=f"hftbacktest-binance/{local}",
        upstream=f"examples/{local}",
        blob=blob,
        sha256=sha256,
        commit=commit,
        shipped=shipped,
    )


#: every bundled recording, in manifest order (the default first; the two original ones keep their places)
MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M BTCUSDT perpetual",
        stem="binance-futures_BTCUSDT_20240808",
        files=(
            _hft(
                "usdm/btcusdt_20240808.gz",
                "a786c69d99a77be6060af5f7714db7393c9a4f5d",
                "0ad7b3a0f5cff220761ea890cfd6e3c15f6899edc7f94637ec915043d7a72251",
            ),
        ),
        default=True,
    ),
    MarketSpec(
        market="spot",
        exchange="binance",
        label="Binance spot BTCUSDT",
        stem="binance_BTCUSDT_20240808",
        files=(
            _hft(
                "spot/btcusdt_20240808.gz",
                "68bfc259f4e89c3d75238e3d7eb0501e49068084",
                "5d263f4c5379cfc27379ef0e22779aa33804463d1b69c292e9c0714e31f2e1b4",
            ),
            _hft(
                "spot/btcusdt_20240809.gz",
                "32e0413b24b49f3ab3d0bdb2b210b603bb7df567",
                "2981a27474b8903133cc66e25f4da561140dd061c942b84801b9d8c60e4b3599",
            ),
        ),
        default=False,
    ),
    MarketSpec(
        market="cm",
        exchange="binance-coinm",
        label="Binance COIN-M BTCUSD perpetual (inverse)",
        stem="binance-coinm_BTCUSD_PERP_20240808",
        files=(
            _hft(
                "cm/btcusd_perp_20240808.gz",
                "27a319b1fa1042fc3bfff5573dc1e893060aa02e",
                "795efa5540bfca87d20181df5c444741a8cc31810689c429a4004cbbd0b3a374",
            ),
            _hft(
                "cm/btcusd_perp_20240809.gz",
                "4f004bd5103d9fc315457433c8219970d8ebe428",
                "49ae1c7797b924e7f1dca4c5a64f5cebafaf08473041227b4b142b447c56c766",
            ),
        ),
        default=False,
        symbol="BTCUSD_PERP",
        interval_ms=DEFAULT_INTERVAL_MS["cm"],
    ),
    MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M ETHUSDT perpetual",
        stem="binance-futures_ETHUSDT_20240808",
        files=(
            _hft(
                "usdm/ethusdt_20240808.gz",
                "66aea638c646d8412a636147d70bc3b63bbdd0cc",
                "6b76bc224bbb7fe402e7206066775e17e18dbc697247fbab8ebcc38289a3f772",
            ),
        ),
        default=False,
        symbol="ETHUSDT",
    ),
    MarketSpec(
        market="spot",
        exchange="binance",
        label="Binance spot ETHUSDT",
        stem="binance_ETHUSDT_20240808",
        files=(
            _hft(
                "spot/ethusdt_20240808.gz",
                "ca6ab4da3405cd646f9a6ffb6c2fd73a04133c37",
                "179a67651ec90f8d299c033f85df29027315a30a738eae74a1388d560f80a737",
            ),
            _hft(
                "spot/ethusdt_20240809.gz",
                "63e758f9402365777e1a77513c8804c621b3ff1b",
                "7be2b6113ced0cdb125bfa7607aacb18acd1f3cea9a248d1f53c627c7eed6bb8",
            ),
        ),
        default=False,
        symbol="ETHUSDT",
    ),
    MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M BTCUSDT perpetual, another day",
        stem="binance-futures_BTCUSDT_20240718",
        files=(
            _hft(
                "usdm/btcusdt_20240718.gz",
                "60590436299734c4a431aa9fb5d9955ffcefa4f8",
                "e4163718b819a93b858d1259bfeb53e170ee31e03738f88e172af74078cd45be",
                commit="593ec847cc239bed4d1b0871746f9801ab873ca9",
            ),
            _hft(
                "usdm/btcusdt_20240719.gz",
                "f2b8c186c6a15c01a1c532ba1ef5c411e8ee6cfa",
                "33bab357ff6e97be8134efd35d3489794807bedeb47f1a1f6cc81ece65d88b58",
                commit="73bfa1728c130d24b491c4680055769f6fa3742b",
            ),
        ),
        default=False,
    ),
    MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M BTCUSDT perpetual, a quiet day",
        stem="binance-futures_BTCUSDT_20230404",
        files=(
            _hft(
                "usdm/btcusdt_20230404.dat.gz",
                "4739e769c40ed3e36b8f7fb83c360e13ab368d13",
                "85c1c350353bc5d73c8d48daf1519d1a7ce8d0bbe703be0b45278171876e110d",
                commit="b73eae70c674050dca294e1a1f53e4e2d0221ff0",
                shipped=True,
            ),
            _hft(
                "usdm/btcusdt_20230405.dat.gz",
                "9699fb4191d2762226ad3c2309c9b2947f0df72d",
                "f08860355a5924f7220dc26836485ea0f36dc3dabb22948d0d36af00e08e89c0",
                commit="b73eae70c674050dca294e1a1f53e4e2d0221ff0",
                shipped=True,
            ),
        ),
        default=False,
        interval_ms=QUIET_DAY_INTERVAL_MS,
    ),
    MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M ETHUSDT perpetual, another day",
        stem="binance-futures_ETHUSDT_20240718",
        files=(
            _hft(
                "usdm/ethusdt_20240718.gz",
                "1ff3373577987ef4c149ef764f4a9d9624fbbaec",
                "f2260198a4e9e8015fa9c0867746baec1675670a0c82cb9332beb4bf87696d4c",
                commit="593ec847cc239bed4d1b0871746f9801ab873ca9",
                shipped=True,
            ),
            _hft(
                "usdm/ethusdt_20240719.gz",
                "587579565f00285f821f0a8fd3e7c7b356a61c46",
                "1412e7aa1091fc74d928b7cda4abf1bc0742cea7d8f770e2c63565b926e8817e",
                commit="73bfa1728c130d24b491c4680055769f6fa3742b",
                shipped=True,
            ),
        ),
        default=False,
        symbol="ETHUSDT",
    ),
)


# --------------------------------------------------------------------------------------------- raw input


def iter_raw(paths: Sequence[str | Path]) -> Iterator[tuple[int, dict]]:
    """Yield ``(local_receive_ns, json)`` for each ``<ns> <json>`` line of the gzip files, in order.

    Several paths are read as one stream because upstream splits a capture by day and the files follow
    on (spot: 20240808 then 20240809).
    """
    for path in paths:
        with gzip.open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                ns, _, body = line.partition(b" ")
                try:
                    yield int(ns), orjson.loads(body)
                except (ValueError, orjson.JSONDecodeError):
                    raise ParseError("malformed_raw_line", f"{Path(path).name}:{lineno}") from None


def _stream_kind(doc: dict) -> str:
    """'depth', 'trade', 'bookTicker', 'snapshot' or '' for a raw Binance document."""
    stream = doc.get("stream")
    if stream is None:
        return "snapshot" if "lastUpdateId" in doc else ""
    if "@depth" in stream:
        return "depth"
    if stream.endswith("@trade"):
        return "trade"
    if stream.endswith("@bookTicker"):
        return "bookTicker"
    return ""


# ------------------------------------------------------------------------------------------------- book


class DepthBook:
    """A mutable L2 book: price -> original (price, size) strings, plus price keys kept sorted.

    Keys are floats so that two spellings of one price are one level and sorting is numeric; the
    strings are kept for output. Sorted key lists (bisect) make top-N a slice instead of a sort of
    the 2,000-5,000 levels a side that Binance's diffs build up.
    """

    def __init__(self, bids: Iterable[Sequence[str]] = (), asks: Iterable[Sequence[str]] = ()) -> None:
        self._bids: dict[float, Level] = {}
        self._asks: dict[float, Level] = {}
        self._bid_keys: list[float] = []  # ascending; best bid is the last
        self._ask_keys: list[float] = []  # ascending; best ask is the first
        self.apply(bids, asks)

    @staticmethod
    def _apply_side(levels: Iterable[Sequence[str]], book: dict[float, Level], keys: list[float]) -> None:
        for px_s, sz_s in levels:
            px = float(px_s)
            if float(sz_s) == 0.0:  # "0.000": delete the level (absent levels are fine)
                if book.pop(px, None) is not None:
                    del keys[bisect.bisect_left(keys, px)]
                continue
            if px not in book:
                bisect.insort(keys, px)
            book[px] = (px_s, sz_s)  # replace, never add: Binance sends the new total size

    def apply(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Apply one diff (or the snapshot levels)."""
        self._apply_side(bids, self._bids, self._bid_keys)
        self._apply_side(asks, self._asks, self._ask_keys)

    def top(self, n: int | None) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Top ``n`` levels a side (all when ``None``): bids descending, asks ascending."""
        bk = self._bid_keys[::-1] if n is None else self._bid_keys[: -n - 1 : -1]
        ak = self._ask_keys if n is None else self._ask_keys[:n]
        return tuple(self._bids[p] for p in bk), tuple(self._asks[p] for p in ak)

    @property
    def best_bid(self) -> float:
        return self._bid_keys[-1] if self._bid_keys else float("nan")

    @property
    def best_ask(self) -> float:
        return self._ask_keys[0] if self._ask_keys else float("nan")

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask (or a side is empty): the book cannot be used."""
        return not (self._bid_keys and self._ask_keys and self._bid_keys[-1] < self._ask_keys[0])

    @property
    def size(self) -> tuple[int, int]:
        return len(self._bid_keys), len(self._ask_keys)


@dataclass(frozen=True)
class BookState:
    """One rebuilt book, right after a diff was applied."""

    event_ms: int  # Binance event time E of the diff, ms since epoch
    recv_ns: int  # recorder's local receive time (about 1.27 s behind E; use for ordering only)
    update_id: int  # the diff's final update id `u`
    bids: tuple[Level, ...]  # descending, original strings
    asks: tuple[Level, ...]  # ascending, original strings

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(bid_px, bid_sz, ask_px, ask_sz)`` as float64 arrays, for model features."""
        b = np.array(self.bids, dtype=np.float64).reshape(-1, 2)
        a = np.array(self.asks, dtype=np.float64).reshape(-1, 2)
        return b[:, 0], b[:, 1], a[:, 0], a[:, 1]

    def message(self, exchange: str, symbol: str = SYMBOL) -> bytes:
        """This state as a GoQuant full-snapshot message."""
        return goquant_message(ts_ms=self.event_ms, exchange=exchange, symbol=symbol, bids=self.bids, asks=self.asks)


@dataclass
class RebuildCounts:
    """What the rebuild did, filled in while iterating (mutable on purpose: the iterator is lazy)."""

    diffs: int = 0  # diff events seen
    buffered: int = 0  # diffs seen before the snapshot line
    dropped: int = 0  # diffs with u <= lastUpdateId
    applied: int = 0
    crossed: int = 0  # applied diffs after which best bid >= best ask (not yielded)
    snapshot_id: int = 0  # lastUpdateId of the snapshot used
    extra_snapshots: int = 0  # later snapshot lines, ignored (the diffs already carry the book on)
    max_levels: tuple[int, int] = (0, 0)  # largest (bids, asks) book size seen


def _check_continuity(market: Market, diff: dict, snapshot_id: int, prev_u: int | None) -> None:
    """Raise ``SequenceGap`` unless ``diff`` follows on from the snapshot / previous diff (Binance rules)."""
    first, last = diff["U"], diff["u"]
    if prev_u is None:
        target = snapshot_id if market in PU_CHAINED else snapshot_id + 1
        if not first <= target <= last:
            raise SequenceGap(
                f"{market}: first diff after snapshot {snapshot_id} has U={first} u={last}; need U <= {target} <= u"
            )
    elif market in PU_CHAINED:
        if diff.get("pu") != prev_u:
            raise SequenceGap(f"{market}: diff U={first} u={last} has pu={diff.get('pu')}, previous u={prev_u}")
    elif first != prev_u + 1:
        raise SequenceGap(f"spot: diff U={first} u={last} does not follow previous u={prev_u} (need U = u+1)")


def _check_symbol(doc: dict, symbol: str | None, where: str) -> None:
    """``InputError`` when a raw event (``s``) or the snapshot (``symbol``) names another symbol."""
    got = doc.get("s", doc.get("symbol"))
    if symbol is not None and got is not None and str(got).upper() != symbol.upper():
        raise InputError(f"{where} holds {got}, not {symbol.upper()}")


def iter_binance_books(
    paths: Sequence[str | Path],
    market: Market,
    *,
    depth: int | None = DEFAULT_LEVELS,
    counts: RebuildCounts | None = None,
    symbol: str | None = None,
) -> Iterator[BookState]:
    """Rebuild the book from raw Binance captures and yield it after every applied diff.

    Follows Binance's procedure: diffs before the snapshot line are buffered, diffs with
    ``u <= lastUpdateId`` are dropped, the rest must be continuous (``usdm`` and ``cm``: first
    ``U <= id <= u``, or ``pu == id`` after a dropped diff that ended exactly on the snapshot (``u == id``),
    then ``pu`` == previous ``u``; ``spot``: first ``U <= id+1 <= u``, then ``U`` ==
    previous ``u`` + 1) or ``SequenceGap`` is raised. A crossed book is counted in ``counts.crossed`` and not
    yielded. ``depth`` limits each side of the yielded state (``None`` = the whole book). With ``symbol``,
    an event or snapshot of another symbol raises ``InputError``.
    """
    if market not in EXCHANGES:
        raise InputError(f"market must be one of {', '.join(EXCHANGES)}, not {market!r}")
    where = ", ".join(Path(p).name for p in paths)
    c = counts if counts is not None else RebuildCounts()
    book: DepthBook | None = None
    pending: list[tuple[int, dict]] = []
    prev_u: int | None = None

    def apply(recv_ns: int, diff: dict) -> BookState | None:
        nonlocal prev_u
        assert book is not None
        if diff["u"] <= c.snapshot_id:
            c.dropped += 1
            if market in PU_CHAINED and diff["u"] == c.snapshot_id:
                prev_u = diff["u"]  # the snapshot ends exactly on this diff: the next must chain from it (pu)
            return None
        _check_continuity(market, diff, c.snapshot_id, prev_u)
        book.apply(diff["b"], diff["a"])
        prev_u = diff["u"]
        c.applied += 1
        nb, na = book.size
        c.max_levels = (max(c.max_levels[0], nb), max(c.max_levels[1], na))
        if book.crossed:
            c.crossed += 1
            return None
        bids, asks = book.top(depth)
        return BookState(event_ms=int(diff["E"]), recv_ns=recv_ns, update_id=int(diff["u"]), bids=bids, asks=asks)

    for recv_ns, doc in iter_raw(paths):
        kind = _stream_kind(doc)
        if kind == "depth":
            _check_symbol(doc["data"], symbol, where)
            c.diffs += 1
            if book is None:
                c.buffered += 1
                pending.append((recv_ns, doc["data"]))
                continue
            state = apply(recv_ns, doc["data"])
            if state is not None:
                yield state
        elif kind == "snapshot":
            if book is not None:
                c.extra_snapshots += 1
                continue
            _check_symbol(doc, symbol, where)
            c.snapshot_id = int(doc["lastUpdateId"])
            book = DepthBook(doc["bids"], doc["asks"])
            for recv_ns_b, diff in pending:
                state = apply(recv_ns_b, diff)
                if state is not None:
                    yield state
            pending.clear()
    if book is None:
        raise ParseError("no_snapshot", f"no REST depth snapshot line in {where}, so the book cannot be rebuilt")


def read_binance_trades(
    paths: Sequence[str | Path], *, symbol: str | None = None, instrument: Instrument | None = None
) -> pa.Table:
    """All ``@trade`` events of the raw files as a table (see ``TRADE_SCHEMA``), in file order.

    Futures trades other than ``X == "MARKET"`` (insurance fund, ADL) are not market trades and are
    skipped; the bundled captures have none. Trade ids repeated across files are kept once. With an
    ``instrument`` sized in contracts (COIN-M), Binance's ``q`` is contracts: ``qty`` is then base units
    (``instrument.to_base``) and ``size_contracts`` keeps ``q`` (``INVERSE_TRADE_SCHEMA``).
    """
    where = ", ".join(Path(p).name for p in paths)
    ts: list[int] = []
    px: list[float] = []
    qty: list[float] = []
    maker: list[bool] = []
    tid: list[int] = []
    seen: set[int] = set()
    for _, doc in iter_raw(paths):
        if _stream_kind(doc) != "trade":
            continue
        d = doc["data"]
        _check_symbol(d, symbol, where)
        if d.get("X", "MARKET") != "MARKET" or d["t"] in seen:
            continue
        seen.add(d["t"])
        ts.append(int(d["T"]))
        px.append(float(d["p"]))
        qty.append(float(d["q"]))
        maker.append(bool(d["m"]))
        tid.append(int(d["t"]))
    columns = [
        pa.array(ts, type=pa.int64()),
        pa.array(px, type=pa.float64()),
        pa.array(qty, type=pa.float64()),
        pa.array(maker, type=pa.bool_()),
        pa.array(tid, type=pa.int64()),
    ]
    if instrument is None or not instrument.sized_in_contracts:
        return pa.Table.from_arrays(columns, schema=TRADE_SCHEMA)
    contracts = np.asarray(qty, dtype=np.float64)
    columns[2] = pa.array(instrument.to_base(np.asarray(px, dtype=np.float64), contracts), type=pa.float64())
    return pa.Table.from_arrays([*columns, pa.array(contracts, type=pa.float64())], schema=INVERSE_TRADE_SCHEMA)


# ----------------------------------------------------------------------------------------------- output


def write_recording(path: str | Path, messages: Iterable[bytes]) -> int:
    """Write messages as gzip JSON lines with a reproducible header; return the count.

    ``core.feed.recording.RecordingWriter`` uses ``gzip.open(path)``, which stamps the file name and the
    current time into the header, so two runs would differ; this writes the same format with
    ``filename=''`` and ``mtime=0``, via a temporary file so a failed run leaves no half file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
        ):
            for msg in messages:
                gz.write(msg.rstrip(b"\n") + b"\n")
                n += 1
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return n


def write_trades(path: str | Path, table: pa.Table) -> None:
    """Parquet with a fixed schema and no pandas metadata, so the bytes only depend on the data."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=9)
    os.replace(tmp, path)


def copy_verbatim(src: Path, dst: Path) -> None:
    """Byte-for-byte copy (content only; mode and times are not carried over)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


@dataclass(frozen=True)
class RecordingResult:
    """What one market's conversion produced, for the manifest and PROVENANCE.md."""

    spec: MarketSpec
    levels: int
    messages: int
    duplicates_dropped: int
    counts: RebuildCounts
    raw_bytes: int  # uncompressed size of the recording (what load_recording holds in memory)
    min_depth_base: tuple[float, float]  # least base units (BTC, ETH) on the written (bids, asks) over all messages
    min_reach_bps: tuple[float, float]  # least distance from mid to the deepest written level, bps
    start_ms: int
    end_ms: int
    recording: str  # path relative to --out
    trades: str
    trade_rows: int
    trade_start_ms: int
    trade_end_ms: int
    thinned: int = 0  # books not written because a later one fell in the same ``spec.interval_ms``
    instrument: Instrument | None = None  # the contract sizes came from (COIN-M); None: sizes are base units


def last_per_interval(states: Iterable[BookState], interval_ms: int, counter: list[int]) -> Iterator[BookState]:
    """The last state of each ``interval_ms`` window of event time (all of them when ``interval_ms <= 0``).

    ``counter[0]`` counts the states left out. A window is ``E // interval_ms``, so the choice depends only on
    the data and the output is reproducible.
    """
    if interval_ms <= 0:
        yield from states
        return
    held: BookState | None = None
    for state in states:
        if held is not None and held.event_ms // interval_ms != state.event_ms // interval_ms:
            yield held
        elif held is not None:
            counter[0] += 1
        held = state
    if held is not None:
        yield held


def contract_instrument(market: Market, symbol: str) -> Instrument | None:
    """The instrument whose ``ct_val`` turns a COIN-M capture's contracts into base units (None elsewhere).

    ``InputError`` when a COIN-M symbol is not in ``data/instruments.json`` as an inverse contract: without its
    contract size the sizes cannot be converted, so the capture is refused rather than guessed.
    """
    if market != "cm":
        return None
    try:
        inst = get_instrument(EXCHANGES["cm"], symbol)
    except SimulatorError:
        raise InputError(
            f"unknown COIN-M symbol {symbol.upper()}: add its contract size to data/instruments.json first"
        ) from None
    if inst.ct_type != "inverse" or not inst.sized_in_contracts or inst.ct_val <= 0:
        raise InputError(f"{symbol.upper()} on binance-coinm is not an inverse contract in data/instruments.json")
    return inst


def convert_paths(
    spec: MarketSpec, paths: Sequence[str | Path], out: Path, *, levels: int, dedupe: bool = True
) -> RecordingResult:
    """Rebuild one market's books from ``paths`` into ``out/recordings/`` and its trades into ``out/trades/``."""
    inst = contract_instrument(spec.market, spec.symbol)
    counts = RebuildCounts()
    first_last = [0, 0]
    dropped = raw_bytes = 0
    thinned = [0]
    depth = [float("inf")] * 4  # min bid base, min ask base, min bid reach bps, min ask reach bps

    def messages() -> Iterator[bytes]:
        nonlocal dropped, raw_bytes
        prev: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
        last_ms = -1
        states = iter_binance_books(paths, spec.market, depth=levels, counts=counts, symbol=spec.symbol)
        for state in last_per_interval(states, spec.interval_ms, thinned):
            if dedupe and prev is not None and (state.bids, state.asks) == prev:
                dropped += 1  # the top-N book did not change; a replay would show the same thing
                continue
            if state.event_ms < last_ms:
                raise ParseError("time_went_back", f"{spec.market}: E {state.event_ms} < {last_ms}")
            if not first_last[0]:
                first_last[0] = state.event_ms
            first_last[1] = last_ms = state.event_ms
            prev = (state.bids, state.asks)
            bid_px, bid_sz, ask_px, ask_sz = state.arrays()
            if inst is not None:  # contracts -> base units, for the depth reported in PROVENANCE.md
                bid_sz, ask_sz = inst.to_base(bid_px, bid_sz), inst.to_base(ask_px, ask_sz)
            mid = 0.5 * (bid_px[0] + ask_px[0])
            depth[0] = min(depth[0], float(bid_sz.sum()))
            depth[1] = min(depth[1], float(ask_sz.sum()))
            depth[2] = min(depth[2], float((mid - bid_px[-1]) / mid * 1e4))
            depth[3] = min(depth[3], float((ask_px[-1] - mid) / mid * 1e4))
            msg = state.message(spec.exchange, spec.symbol)
            raw_bytes += len(msg) + 1
            if raw_bytes > MAX_RECORDING_BYTES:
                raise InputError(
                    f"{spec.stem}: the recording would exceed {MAX_RECORDING_BYTES // 2**20} MB uncompressed, more "
                    "than the app loads; use fewer --levels or a longer --interval-ms"
                )
            yield msg

    rec_rel = f"recordings/{spec.stem}.jsonl.gz"
    n = write_recording(out / rec_rel, messages())
    if not n:
        (out / rec_rel).unlink()
        raise ParseError("no_books", f"no usable book in {', '.join(Path(p).name for p in paths)}")
    if counts.crossed:
        print(f"warning: {spec.stem}: {counts.crossed} crossed books skipped", file=sys.stderr)
    trades = read_binance_trades(paths, symbol=spec.symbol, instrument=inst)
    trades_rel = f"trades/{spec.stem}.parquet"
    write_trades(out / trades_rel, trades)
    tcol = trades.column("ts_ms")
    return RecordingResult(
        spec=spec,
        levels=levels,
        messages=n,
        duplicates_dropped=dropped,
        counts=counts,
        raw_bytes=raw_bytes,
        min_depth_base=(depth[0], depth[1]),
        min_reach_bps=(depth[2], depth[3]),
        start_ms=first_last[0],
        end_ms=first_last[1],
        recording=rec_rel,
        trades=trades_rel,
        trade_rows=trades.num_rows,
        trade_start_ms=int(pc.min(tcol).as_py()) if trades.num_rows else 0,
        trade_end_ms=int(pc.max(tcol).as_py()) if trades.num_rows else 0,
        thinned=thinned[0],
        instrument=inst,
    )


def source_path(src: Path, f: UpstreamFile) -> Path:
    """Where an upstream file is read: under ``src``, or under ``data/upstream/`` when the repository ships it."""
    return (UPSTREAM_DIR if f.shipped else src) / f.local


def convert_market(spec: MarketSpec, src: Path, out: Path, *, levels: int, dedupe: bool = True) -> RecordingResult:
    """Rebuild one bundled market from its upstream files under ``src`` (or shipped in ``data/upstream/``)."""
    return convert_paths(spec, [source_path(src, f) for f in spec.files], out, levels=levels, dedupe=dedupe)


def _check_source(src: Path, f: UpstreamFile) -> None:
    got = sha256_file(source_path(src, f))
    if got != f.sha256:
        raise ParseError("source_changed", f"{f.local}: sha256 {got} != expected {f.sha256}")


def convert_all(
    src: str | Path, out: str | Path, *, levels: int = DEFAULT_LEVELS, dedupe: bool = True
) -> list[RecordingResult]:
    """Regenerate everything under ``out`` from the raw sources under ``src``."""
    src, out = Path(src), Path(out)
    for spec in MARKETS:
        for f in spec.files:
            _check_source(src, f)
    _check_source(src, OKX_CAPTURE)
    results = [convert_market(spec, src, out, levels=levels, dedupe=dedupe) for spec in MARKETS]
    copy_verbatim(src / OKX_CAPTURE.local, out / "okx" / "OKX.ws.1.0")
    for up in (HFTBACKTEST, CRYPTOFEED):
        copy_verbatim(src / up.license_file, out / up.license_out)
    (out / "recordings.json").write_bytes(orjson.dumps(manifest(results), option=orjson.OPT_INDENT_2) + b"\n")
    (out / "PROVENANCE.md").write_text(provenance(results, out, levels=levels, dedupe=dedupe), encoding="utf-8")
    return results


def _first_event_ms(paths: Sequence[str | Path]) -> int:
    """Event time ``E`` of the first diff-depth event (names a raw conversion's output by its day)."""
    for _, doc in iter_raw(paths):
        if _stream_kind(doc) == "depth":
            return int(doc["data"]["E"])
    raise ParseError("no_depth", f"no diff-depth event in {', '.join(Path(p).name for p in paths)}")


def raw_spec(market: str, symbol: str, paths: Sequence[str | Path], *, interval_ms: int | None = None) -> MarketSpec:
    """The spec of a capture given on the command line: venue from ``market``, file stem from the first event's day."""
    if market not in EXCHANGES:
        raise InputError(f"unknown market {market!r}: use one of {', '.join(EXCHANGES)}")
    m = cast(Market, market)  # checked just above
    symbol = symbol.strip().upper()
    if not symbol or not symbol.replace("_", "").isalnum():
        raise InputError(f"symbol must be letters, digits and _ (e.g. BTCUSDT), not {symbol!r}")
    for p in paths:
        if not Path(p).is_file():
            raise InputError(f"raw capture not found: {p}")
    contract_instrument(m, symbol)  # refuse an unknown COIN-M symbol before reading anything
    exchange = EXCHANGES[m]
    day = iso_ms(_first_event_ms(paths))[:10].replace("-", "")
    return MarketSpec(
        market=m,
        exchange=exchange,
        label=f"{venue_label(exchange)} {symbol}",
        stem=f"{exchange}_{symbol}_{day}",
        files=(),
        default=False,
        symbol=symbol,
        interval_ms=DEFAULT_INTERVAL_MS[m] if interval_ms is None else interval_ms,
    )


EXIT_REFUSED = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage block) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_REFUSED, f"convert: error: {message}\n")


def convert_raw(args: argparse.Namespace) -> int:
    """``--raw``: one recording and its trades from captures never seen; refusals are one line and exit 2."""
    try:
        spec = raw_spec(args.market, args.symbol, args.raw, interval_ms=args.interval_ms)
        r = convert_paths(spec, args.raw, args.out, levels=args.levels, dedupe=not args.keep_duplicates)
    except (SimulatorError, OSError, EOFError) as exc:  # SequenceGap, no snapshot, unknown market/symbol, bad file
        what = "sequence gap, the book cannot be rebuilt: " if isinstance(exc, SequenceGap) else ""
        sys.stderr.write(f"convert: refused: {what}{' '.join(str(exc).split())}\n")
        return EXIT_REFUSED
    unit = f"contracts of {r.instrument.ct_val:g} {r.instrument.ct_val_ccy}" if r.instrument else "base units"
    print(
        f"{args.out / r.recording}: {r.messages} books ({iso_ms(r.start_ms)} to {iso_ms(r.end_ms)}), sizes in {unit}; "
        f"{args.out / r.trades}: {r.trade_rows} trades"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m core.convert", description=(__doc__ or "").splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--src", type=Path, help="holds hftbacktest-binance/ and cryptofeed-okx/ (the bundled data)")
    source.add_argument("--raw", nargs="+", type=Path, metavar="FILE", help="raw Binance capture(s), in order")
    parser.add_argument("--market", help="with --raw: usdm, spot or cm (COIN-M, sizes in contracts)")
    parser.add_argument("--symbol", help="with --raw: the Binance symbol, e.g. BTCUSDT or BTCUSD_PERP")
    parser.add_argument("--out", required=True, type=Path, help="output directory (the repository's data/)")
    parser.add_argument("--levels", type=int, default=DEFAULT_LEVELS, help=f"levels a side (default {DEFAULT_LEVELS})")
    parser.add_argument(
        "--interval-ms", type=int, default=None, help="with --raw: last book per interval (default: 100 for cm, else 0)"
    )
    parser.add_argument("--keep-duplicates", action="store_true", help="also write unchanged top-N books")
    args = parser.parse_args(argv)
    if args.levels <= 0:
        parser.error("--levels must be positive")
    if args.raw is not None:
        if not args.market or not args.symbol:
            parser.error("--raw needs --market (usdm, spot or cm) and --symbol")
        if args.interval_ms is not None and args.interval_ms < 0:
            parser.error("--interval-ms must be 0 or more")
        return convert_raw(args)
    if args.market or args.symbol or args.interval_ms is not None:
        parser.error("--market, --symbol and --interval-ms go with --raw")
    t0 = time.perf_counter()
    results = convert_all(args.src, args.out, levels=args.levels, dedupe=not args.keep_duplicates)
    for r in results:
        size = (args.out / r.recording).stat().st_size
        print(
            f"{r.recording}: {r.messages} messages, {size / 1e6:.2f} MB ({r.raw_bytes / 1e6:.0f} MB raw), "
            f"{r.duplicates_dropped} duplicates dropped, {r.thinned} thinned, depth >= {min(r.min_depth_base):.1f} "
            f"base, {r.counts.applied} diffs applied, {r.counts.crossed} crossed; {r.trades}: {r.trade_rows} trades"
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

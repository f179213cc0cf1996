"""Turn the raw public captures in ``shared/data`` into the bundled recordings in ``data/``.

Binance publishes depth as one REST snapshot plus diff events, while the app replays full books
(GoQuant format), so the book is rebuilt here once, offline, with Binance's own sequencing rules, and
every rebuilt state is written as a full-snapshot message. Prices and sizes stay the exchange's original
strings (no float or Decimal round trip), so a replayed book is exactly what Binance sent.

Run by developers only; the app never reads ``shared/`` at run time::

    python -m core.convert --src ../shared/data --out data/ [--levels 400]

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
from typing import Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.errors import InputError, ParseError, SequenceGap
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
from core.feed.recording import goquant_message, sha256_file

Market = Literal["usdm", "spot"]
Level = tuple[str, str]  # (price, size) exactly as the exchange sent them


TRADE_SCHEMA = pa.schema(
    [
        ("ts_ms", pa.int64()),  # trade time T, ms since epoch
        ("price", pa.float64()),  # USDT
        ("qty", pa.float64()),  # BTC (base units on both markets)
        ("buyer_is_maker", pa.bool_()),  # Binance `m`: true means the aggressor sold
        ("trade_id", pa.int64()),  # Binance `t`
    ]
)


@dataclass(frozen=True)
class MarketSpec:
    """How one Binance market is named in the app and which raw files (in order) hold it."""

    market: Market
    exchange: str  # GoQuant `exchange` value
    label: str
    stem: str  # output file name without extension
    files: tuple[UpstreamFile, ...]
    default: bool


MARKETS: dict[Market, MarketSpec] = {
    "usdm": MarketSpec(
        market="usdm",
        exchange="binance-futures",
        label="Binance USD-M BTCUSDT perpetual",
        stem="binance-futures_BTCUSDT_20240808",
        files=(
            UpstreamFile(
                local="hftbacktest-binance/usdm/btcusdt_20240808.gz",
                upstream="examples/usdm/btcusdt_20240808.gz",
                blob="a786c69d99a77be6060af5f7714db7393c9a4f5d",
                sha256="0ad7b3a0f5cff220761ea890cfd6e3c15f6899edc7f94637ec915043d7a72251",
            ),
        ),
        default=True,
    ),
    "spot": MarketSpec(
        market="spot",
        exchange="binance",
        label="Binance spot BTCUSDT",
        stem="binance_BTCUSDT_20240808",
        files=(
            UpstreamFile(
                local="hftbacktest-binance/spot/btcusdt_20240808.gz",
                upstream="examples/spot/btcusdt_20240808.gz",
                blob="68bfc259f4e89c3d75238e3d7eb0501e49068084",
                sha256="5d263f4c5379cfc27379ef0e22779aa33804463d1b69c292e9c0714e31f2e1b4",
            ),
            UpstreamFile(
                local="hftbacktest-binance/spot/btcusdt_20240809.gz",
                upstream="examples/spot/btcusdt_20240809.gz",
                blob="32e0413b24b49f3ab3d0bdb2b210b603bb7df567",
                sha256="2981a27474b8903133cc66e25f4da561140dd061c942b84801b9d8c60e4b3599",
            ),
        ),
        default=False,
    ),
}


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
        target = snapshot_id if market == "usdm" else snapshot_id + 1
        if not first <= target <= last:
            raise SequenceGap(
                f"{market}: first diff after snapshot {snapshot_id} has U={first} u={last}; need U <= {target} <= u"
            )
    elif market == "usdm":
        if diff.get("pu") != prev_u:
            raise SequenceGap(f"usdm: diff U={first} u={last} has pu={diff.get('pu')}, previous u={prev_u}")
    elif first != prev_u + 1:
        raise SequenceGap(f"spot: diff U={first} u={last} does not follow previous u={prev_u} (need U = u+1)")


def iter_binance_books(
    paths: Sequence[str | Path],
    market: Market,
    *,
    depth: int | None = DEFAULT_LEVELS,
    counts: RebuildCounts | None = None,
) -> Iterator[BookState]:
    """Rebuild the book from raw Binance captures and yield it after every applied diff.

    Follows Binance's procedure: diffs before the snapshot line are buffered, diffs with
    ``u <= lastUpdateId`` are dropped, the rest must be continuous (``usdm``: first ``U <= id <= u``,
    then ``pu`` == previous ``u``; ``spot``: first ``U <= id+1 <= u``, then ``U`` == previous ``u`` + 1)
    or ``SequenceGap`` is raised. A crossed book is counted in ``counts.crossed`` and not yielded.
    ``depth`` limits each side of the yielded state (``None`` = the whole book).
    """
    if market not in MARKETS:
        raise InputError(f"market must be one of {sorted(MARKETS)}, not {market!r}")
    c = counts if counts is not None else RebuildCounts()
    book: DepthBook | None = None
    pending: list[tuple[int, dict]] = []
    prev_u: int | None = None

    def apply(recv_ns: int, diff: dict) -> BookState | None:
        nonlocal prev_u
        assert book is not None
        if diff["u"] <= c.snapshot_id:
            c.dropped += 1
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
            c.snapshot_id = int(doc["lastUpdateId"])
            book = DepthBook(doc["bids"], doc["asks"])
            for recv_ns_b, diff in pending:
                state = apply(recv_ns_b, diff)
                if state is not None:
                    yield state
            pending.clear()
    if book is None:
        raise ParseError("no_snapshot", f"no REST depth snapshot line in {[Path(p).name for p in paths]}")


def read_binance_trades(paths: Sequence[str | Path]) -> pa.Table:
    """All ``@trade`` events of the raw files as a table (see ``TRADE_SCHEMA``), in file order.

    Futures trades other than ``X == "MARKET"`` (insurance fund, ADL) are not market trades and are
    skipped; the bundled capture has none. Trade ids repeated across files are kept once.
    """
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
        if d.get("X", "MARKET") != "MARKET" or d["t"] in seen:
            continue
        seen.add(d["t"])
        ts.append(int(d["T"]))
        px.append(float(d["p"]))
        qty.append(float(d["q"]))
        maker.append(bool(d["m"]))
        tid.append(int(d["t"]))
    return pa.Table.from_arrays(
        [
            pa.array(ts, type=pa.int64()),
            pa.array(px, type=pa.float64()),
            pa.array(qty, type=pa.float64()),
            pa.array(maker, type=pa.bool_()),
            pa.array(tid, type=pa.int64()),
        ],
        schema=TRADE_SCHEMA,
    )


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
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        for msg in messages:
            gz.write(msg.rstrip(b"\n") + b"\n")
            n += 1
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
    min_depth_btc: tuple[float, float]  # least BTC on the written (bids, asks) over all messages
    min_reach_bps: tuple[float, float]  # least distance from mid to the deepest written level, bps
    start_ms: int
    end_ms: int
    recording: str  # path relative to --out
    trades: str
    trade_rows: int
    trade_start_ms: int
    trade_end_ms: int


def convert_market(spec: MarketSpec, src: Path, out: Path, *, levels: int, dedupe: bool = True) -> RecordingResult:
    """Rebuild one market's books into a recording and its trades into Parquet."""
    paths = [src / f.local for f in spec.files]
    counts = RebuildCounts()
    first_last = [0, 0]
    dropped = raw_bytes = 0
    depth = [float("inf")] * 4  # min bid BTC, min ask BTC, min bid reach bps, min ask reach bps

    def messages() -> Iterator[bytes]:
        nonlocal dropped, raw_bytes
        prev: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None
        last_ms = -1
        for state in iter_binance_books(paths, spec.market, depth=levels, counts=counts):
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
            mid = 0.5 * (bid_px[0] + ask_px[0])
            depth[0] = min(depth[0], float(bid_sz.sum()))
            depth[1] = min(depth[1], float(ask_sz.sum()))
            depth[2] = min(depth[2], float((mid - bid_px[-1]) / mid * 1e4))
            depth[3] = min(depth[3], float((ask_px[-1] - mid) / mid * 1e4))
            msg = state.message(spec.exchange)
            raw_bytes += len(msg) + 1
            yield msg

    rec_rel = f"recordings/{spec.stem}.jsonl.gz"
    n = write_recording(out / rec_rel, messages())
    if counts.crossed:
        print(f"warning: {spec.market}: {counts.crossed} crossed books skipped", file=sys.stderr)
    trades = read_binance_trades(paths)
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
        min_depth_btc=(depth[0], depth[1]),
        min_reach_bps=(depth[2], depth[3]),
        start_ms=first_last[0],
        end_ms=first_last[1],
        recording=rec_rel,
        trades=trades_rel,
        trade_rows=trades.num_rows,
        trade_start_ms=int(pc.min(tcol).as_py()) if trades.num_rows else 0,
        trade_end_ms=int(pc.max(tcol).as_py()) if trades.num_rows else 0,
    )


def _check_source(src: Path, f: UpstreamFile) -> None:
    got = sha256_file(src / f.local)
    if got != f.sha256:
        raise ParseError("source_changed", f"{f.local}: sha256 {got} != expected {f.sha256}")


def convert_all(
    src: str | Path, out: str | Path, *, levels: int = DEFAULT_LEVELS, dedupe: bool = True
) -> list[RecordingResult]:
    """Regenerate everything under ``out`` from the raw sources under ``src``."""
    src, out = Path(src), Path(out)
    for spec in MARKETS.values():
        for f in spec.files:
            _check_source(src, f)
    _check_source(src, OKX_CAPTURE)
    results = [convert_market(spec, src, out, levels=levels, dedupe=dedupe) for spec in MARKETS.values()]
    copy_verbatim(src / OKX_CAPTURE.local, out / "okx" / "OKX.ws.1.0")
    for up in (HFTBACKTEST, CRYPTOFEED):
        copy_verbatim(src / up.license_file, out / up.license_out)
    (out / "recordings.json").write_bytes(orjson.dumps(manifest(results), option=orjson.OPT_INDENT_2) + b"\n")
    (out / "PROVENANCE.md").write_text(provenance(results, out, levels=levels, dedupe=dedupe), encoding="utf-8")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.convert", description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, type=Path, help="holds hftbacktest-binance/ and cryptofeed-okx/")
    parser.add_argument("--out", required=True, type=Path, help="output directory (the repository's data/)")
    parser.add_argument("--levels", type=int, default=DEFAULT_LEVELS, help=f"levels a side (default {DEFAULT_LEVELS})")
    parser.add_argument("--keep-duplicates", action="store_true", help="also write unchanged top-N books")
    args = parser.parse_args(argv)
    if args.levels <= 0:
        parser.error("--levels must be positive")
    t0 = time.perf_counter()
    results = convert_all(args.src, args.out, levels=args.levels, dedupe=not args.keep_duplicates)
    for r in results:
        size = (args.out / r.recording).stat().st_size
        print(
            f"{r.recording}: {r.messages} messages, {size / 1e6:.2f} MB ({r.raw_bytes / 1e6:.0f} MB raw), "
            f"{r.duplicates_dropped} duplicates dropped, depth >= {min(r.min_depth_btc):.1f} BTC, "
            f"{r.counts.applied} diffs applied, {r.counts.crossed} crossed; {r.trades}: {r.trade_rows} trades"
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

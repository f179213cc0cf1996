"""Where the bundled data came from: the upstream files, and ``data/recordings.json`` + ``data/PROVENANCE.md``.

The upstream records (repository, commit, blob, sha256 of every raw input) are data the converter checks its
inputs against (``core.feed.conversion``); ``manifest`` and ``provenance`` turn what a conversion produced into
the manifest the app reads and the provenance document, generated so hashes, counts and ranges can never drift
from the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.feed.recording import iso_ms, sha256_file

if TYPE_CHECKING:  # the converter imports this module; its result type is only named here
    from core.feed.conversion import RecordingResult

DEFAULT_LEVELS = 400  # levels a side the bundled recordings keep (PROVENANCE.md says why)
LEVEL_CHOICES = (400, 200, 100)
SYMBOL = "BTCUSDT"  # the symbol of a recording that names none


@dataclass(frozen=True)
class UpstreamFile:
    """One raw input file and where it came from, checked by sha256 before conversion."""

    local: str  # path under --src
    upstream: str  # path in the upstream repository
    blob: str  # upstream git blob id
    sha256: str
    commit: str = ""  # upstream commit it was taken from, when not the repository's snapshot commit
    #: kept in this repository under ``data/upstream/`` (``UPSTREAM_DIR``) because the shared source set lacks it
    shipped: bool = False


@dataclass(frozen=True)
class Upstream:
    """An upstream repository the bundled data was copied from."""

    name: str
    url: str
    commit: str
    commit_note: str
    license: str
    license_file: str  # under --src
    license_out: str  # under --out


HFTBACKTEST = Upstream(
    name="hftbacktest",
    url="https://github.com/nkaz001/hftbacktest",
    commit="5f3ec40b2afb764e0fea112f941ed85523ef4e88",
    commit_note=(
        "snapshot of the mirror used; the BTCUSDT 2024-08-08/09 files were added in "
        "c4183c646c744222812405fb3618a39ab75a4a8d, 2024-08-09; the 2023-04-04/05 and 2024-07-18/19 files, removed "
        "upstream later, come from the commits named in the source table"
    ),
    license='MIT, "Copyright (c) 2022 nkaz001@protonmail.com"',
    license_file="hftbacktest-binance/LICENSE.hftbacktest",
    license_out="LICENSE.hftbacktest",
)
CRYPTOFEED = Upstream(
    name="cryptofeed",
    url="https://github.com/bmoscon/cryptofeed",
    commit="ce58c2a0015040aa2271e80bac783d74fa2cdcff",
    commit_note=(
        "master of the mirror used; the file was last changed in 3079107d8496f700eb1e6401bb420d5393262ad8, 2022-05-13"
    ),
    license="cryptofeed license (XFree86-1.1 style, permissive), Copyright (C) 2017-2025 Bryant Moscon",
    license_file="cryptofeed-okx/LICENSE.cryptofeed",
    license_out="LICENSE.cryptofeed",
)
OKX_CAPTURE = UpstreamFile(
    local="cryptofeed-okx/OKX.ws.1.0",
    upstream="sample_data/OKX.ws.1.0",
    blob="c62f7421f64096f90fef3ee6466a1c7b49243db3",
    sha256="a9b65fb84bda877ac799d3afe6e3630f0929751b31c6fa1bb4a55e0e6aceac91",
)


#: the "Fee tables" section: where each table in ``fees.json`` comes from (each row also names its source)
FEE_TABLES = (
    "## Fee tables (`fees.json`)",
    "",
    "Transcribed by hand, refreshed 2026-11-30 with no internet access, from stored copies of public pages. Each row "
    "carries its own `source`, `as_of` (publication date, or the day an undated page was read) and `confidence`; a "
    "row marked `assumption` is not a published rate and the app says so.",
    "",
    "* OKX spot, table `okx.com` (primary): the current okx.com/fees wording (counts spreads volume, snapshot "
    "00:00 UTC+8) in the mirror okx-proxy.tokenize-dev.com/fees; the same VIP ladder on casscams.com/2686.html and "
    "in github.com/bravo1goingdark/okx-exec-sim `src/constants/fees.py`. Undated.",
    "* OKX spot, table `older`: an older stored copy of okx.com/fees (OKB tiers Lv1-Lv5, dearer VIP ladder). Undated.",
    "* OKX USDT swap: OKX notice okx.com/vi/help/4417269816845 (published 2021-12-21, updated 2023-03-03) for "
    "Lv1-Lv3; Lv1 also in the loweef Crypto Futures Fee Index of 2026-10-16 (huggingface.co/datasets/loweef/"
    "crypto-futures-fees, CC-BY-4.0), ccxt and a live demo trade-fee reply. No VIP perpetual rates were found.",
    "* Binance spot VIP0-VIP9: binance.com/en/fee/schedule as transcribed by i-binance.com/en/w/binance-vip-level and "
    "zb-binance.com/en/posts/binance-vip-fee-comparison (they agree). BNB discount 25%: Binance announcement "
    "binance.com/en/support/announcement/360007480472 (2018-07-19).",
    "* Binance USDⓈ-M VIP0-VIP9: binance.com/en/fee/futureFee as transcribed by github.com/nautechsystems/"
    "nautilus_trader `crates/adapters/binance/src/common/fees.rs` and zb-binance.com/en/posts/"
    "binance-vip-futures-benefit (VIP0-VIP6 also on babianfox.com/en/kb/binance-futures-fee). BNB discount 10%: "
    "Binance FAQ binance.com/en/support/articles/360033544231 (2020-06-11).",
    "* Binance COIN-M: table `assumed` (primary) is an assumption, the USDⓈ-M VIP0 rates; table `third-party` "
    "(VIP0-VIP2) is from zb-binance.com/en/posts/binance-vip-futures-benefit alone. COIN-M has no BNB discount.",
)


def manifest(results: Sequence[RecordingResult]) -> dict:
    """``data/recordings.json``: the bundled recordings, default first."""
    return {
        "recordings": [
            {
                "file": r.recording,
                "exchange": r.spec.exchange,
                "symbol": r.spec.symbol,
                "label": r.spec.label,
                "date": iso_ms(r.start_ms)[:10],
                "start": iso_ms(r.start_ms),
                "end": iso_ms(r.end_ms),
                "messages": r.messages,
                "levels": r.levels,
                "trades": r.trades,
                "source": "hftbacktest examples (MIT)",
                "default": r.spec.default,
            }
            for r in results
        ]
    }


def _base(r: RecordingResult) -> str:
    """The base currency of a recording's symbol (BTC, ETH)."""
    return r.instrument.base if r.instrument is not None else r.spec.symbol.removesuffix("USDT")


def _size_unit(r: RecordingResult) -> str:
    inst = r.instrument
    if inst is None:
        return f"{_base(r)} (base units)"
    return (
        f"contracts of {inst.ct_val:g} {inst.ct_val_ccy} ({inst.ct_type}: {_base(r)} = contracts x {inst.ct_val:g} / "
        "price; the app converts with `instruments.json`)"
    )


def _md_table(rows: Sequence[Sequence[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def provenance(results: Sequence[RecordingResult], out: Path, *, levels: int, dedupe: bool) -> str:
    """``data/PROVENANCE.md``, generated so the hashes, counts and ranges can never drift from the files."""
    cmd = f"python -m core.convert --src ../shared/data --out data/ --levels {levels}"
    if not dedupe:
        cmd += " --keep-duplicates"

    def out_row(rel: str) -> list[str]:
        p = out / rel
        return [f"`{rel}`", f"{p.stat().st_size:,}", f"`{sha256_file(p)}`"]

    parts: list[str] = [
        "# Provenance of the bundled data",
        "",
        "Generated by `core/convert.py`; do not edit by hand. Regenerate from the repository root with:",
        "",
        "```",
        cmd,
        "```",
        "",
        "`--src` is a directory holding `hftbacktest-binance/` and `cryptofeed-okx/` as copied byte for byte "
        "from upstream (the converter checks each input's sha256 first). The run is deterministic: gzip "
        "headers carry no file name or time (`mtime=0`) and Parquet files have a fixed schema, so two runs "
        "give identical bytes. The app reads only `data/`, never the sources.",
        "",
        "## Upstream",
        "",
        _md_table(
            [
                ["repository", "commit", "license", "license file here"],
                *[
                    [u.url, f"`{u.commit}` ({u.commit_note})", u.license, f"`{u.license_out}` (verbatim copy)"]
                    for u in (HFTBACKTEST, CRYPTOFEED)
                ],
            ]
        ),
        "",
        "This product includes software developed by Bryant Moscon (http://www.bryantmoscon.com/)",
        "",
        "(Required acknowledgment of the cryptofeed license; only its sample data file is bundled, no code.)",
        "",
        "## Source files",
        "",
        _md_table(
            [
                ["source", "upstream repository", "original path", "commit", "git blob", "sha256"],
                *[
                    [
                        f"`{'data/upstream/' if f.shipped else ''}{f.local}`",
                        HFTBACKTEST.url,
                        f"`{f.upstream}`",
                        f"`{f.commit or HFTBACKTEST.commit}`",
                        f"`{f.blob}`",
                        f"`{f.sha256}`",
                    ]
                    for r in results
                    for f in r.spec.files
                ],
                [
                    f"`{OKX_CAPTURE.local}`",
                    CRYPTOFEED.url,
                    f"`{OKX_CAPTURE.upstream}`",
                    f"`{CRYPTOFEED.commit}`",
                    f"`{OKX_CAPTURE.blob}`",
                    f"`{OKX_CAPTURE.sha256}`",
                ],
            ]
        ),
        "",
        "## Recordings (`recordings/`)",
        "",
        "GoQuant-format full books (`{timestamp, exchange, symbol, asks, bids}`), one per line, gzip. Each is "
        "the Binance book rebuilt from the REST depth snapshot plus the diff-depth stream with Binance's "
        "procedure: diffs received before the snapshot line are buffered; diffs with `u <= lastUpdateId` are "
        "dropped; continuity is enforced (futures, USDⓈ-M and COIN-M: first applied diff has "
        "`U <= lastUpdateId <= u`, or, when the snapshot ends exactly on a dropped diff (`u` = `lastUpdateId`), "
        "`pu` = `lastUpdateId`; then `pu` = previous `u`; spot: first has `U <= lastUpdateId+1 <= u`, then "
        "`U` = previous `u` + 1) and a gap aborts the conversion; a quantity of 0 deletes the level. After each "
        "applied diff the book is checked not to cross and written with `timestamp` = the diff's event time `E` "
        "(ISO-8601 UTC, ms). Prices and sizes are Binance's original strings in Binance's own units: sizes are "
        "base units (BTC, ETH) on spot and USDⓈ-M, and **contracts on COIN-M** (`exchange` = `binance-coinm`, "
        "inverse: a contract is worth `ct_val` USD, 100 for BTCUSD_PERP, so base = contracts x 100 / price). "
        "The app converts contracts to base units when it parses a book, with the contract size in "
        "`instruments.json`, as it does for OKX SWAP. bookTicker events are not used.",
        "",
        f"* **Levels kept: {levels} per side** (bids descending, asks ascending). The rebuilt book grows to "
        "thousands of levels a side because diffs add levels outside the snapshot's 1,000-level window, so "
        f"it is cut to the top {levels}"
        + (
            ", the largest of 400/200/100 that keeps each gzip file well under 15 MB (consecutive books "
            "differ little, so gzip packs them tightly)."
            if levels == DEFAULT_LEVELS
            else " (set with `--levels`)."
        )
        + " The depth this covers (in base units, contracts converted) is in "
        "each table below: with Binance spot's 0.01 USDT tick, 400 levels can span under 10 bps, so an order "
        "larger than the BTC shown there walks past the recorded book.",
        "* **Deduplication:** "
        + (
            "a state whose top-N levels are identical to the previous written state (a diff that only "
            "touched levels deeper than N) is not written; the replayed book is the same either way."
            if dedupe
            else "none; every applied diff gives one message."
        ),
        "* **Thinning (COIN-M and the 2023-04-04 BTCUSDT perpetual):** the COIN-M diff stream (`@depth@0ms`) "
        "changes the book about 70 times a second; only the last book of each 100 ms of event time (`E // 100`) "
        "is written, the cadence of spot's `@depth@100ms` stream, which keeps the recording under the app's 200 MB "
        "uncompressed limit. The 2023-04-04/05 BTCUSDT perpetual (about 31 books a second) keeps the last of "
        "each 50 ms for the same reason. Every diff is still applied and checked; the tables count the books "
        "left out.",
        "* **Shipped raw files:** the 2023-04-04/05 BTCUSDT and 2024-07-18/19 ETHUSDT perpetual captures are not "
        "in the shared source set; they were taken byte for byte from hftbacktest's git history (the commits "
        "in the source table; MIT, the same license) and are kept in `data/upstream/hftbacktest-binance/` with "
        "the license text, so `--src` needs only the shared set and the converter still checks their sha256.",
        "",
    ]
    for r in results:
        c = r.counts
        parts += [
            f"### `{r.recording}`",
            "",
            _md_table(
                [
                    ["item", "value"],
                    ["market", f"{r.spec.label} (`exchange` = `{r.spec.exchange}`, `symbol` = `{r.spec.symbol}`)"],
                    ["sizes in the recording", _size_unit(r)],
                    ["from", ", then ".join(f"`{f.local}`" for f in r.spec.files)],
                    [
                        "time range (UTC, event time E)",
                        f"{iso_ms(r.start_ms)} to {iso_ms(r.end_ms)} ({(r.end_ms - r.start_ms) / 1000:.1f} s)",
                    ],
                    ["messages", f"{r.messages:,}"],
                    ["snapshot lastUpdateId", str(c.snapshot_id)],
                    [
                        "diff events",
                        f"{c.diffs:,} ({c.buffered} buffered before the snapshot, "
                        f"{c.dropped} dropped as u <= lastUpdateId, {c.applied:,} applied)",
                    ],
                    ["sequence gaps", "0 (a gap would abort the conversion)"],
                    ["crossed books", f"{c.crossed}"],
                    *(
                        [[f"books thinned (not the last of their {r.spec.interval_ms} ms)", f"{r.thinned:,}"]]
                        if r.spec.interval_ms
                        else []
                    ),
                    ["identical top-N states dropped", f"{r.duplicates_dropped:,}"],
                    ["largest rebuilt book (bids, asks)", f"{c.max_levels[0]:,}, {c.max_levels[1]:,} levels"],
                    ["levels per side written", f"up to {r.levels}"],
                    [
                        f"{_base(r)} within the written levels (least over all messages)",
                        f"bids {r.min_depth_base[0]:,.1f}, asks {r.min_depth_base[1]:,.1f}",
                    ],
                    [
                        "deepest written level from mid (least over all messages)",
                        f"bids {r.min_reach_bps[0]:,.1f} bps, asks {r.min_reach_bps[1]:,.1f} bps",
                    ],
                    ["size", f"{(out / r.recording).stat().st_size:,} bytes gzip, {r.raw_bytes:,} bytes uncompressed"],
                ]
            ),
            "",
        ]
    parts += [
        "## Trades (`trades/`)",
        "",
        "Every `@trade` event of the same raw files, kept beside the books for model training and validation. "
        "Parquet (zstd), columns: `ts_ms` int64 (trade time `T`), `price` float64 (quote: USDT, or USD on "
        "COIN-M), `qty` float64 (**base units**, BTC or ETH, in every file), `buyer_is_maker` bool (Binance `m`; "
        "true means the aggressor sold), `trade_id` int64 (`t`). COIN-M files add `size_contracts` float64, "
        "Binance's `q` (contracts of 100 USD for BTCUSD_PERP); there `qty` = `size_contracts` x 100 / `price`. "
        "In file order (trade ids strictly increasing).",
        "",
        _md_table(
            [
                ["file", "from", "rows", "time range (UTC, T)"],
                *[
                    [
                        f"`{r.trades}`",
                        ", ".join(f"`{f.local}`" for f in r.spec.files),
                        f"{r.trade_rows:,}",
                        f"{iso_ms(r.trade_start_ms)} to {iso_ms(r.trade_end_ms)}",
                    ]
                    for r in results
                ],
            ]
        ),
        "",
        "## OKX capture (`okx/`)",
        "",
        f"`okx/OKX.ws.1.0` is cryptofeed's `{OKX_CAPTURE.upstream}` copied byte for byte (no conversion), for "
        "the OKX adapter tests: a raw OKX v5 public websocket capture recorded on 2022-05-13 from 16:27:05.30 "
        "to 16:27:16.34 UTC (about 11 s), 414 lines. Each line is `<local unix seconds>: <raw OKX JSON>` (plus "
        "connection and subscribe lines). BTC-USDT `books`: 1 snapshot (400 levels a side) + 97 updates, with "
        "CRC32 checksums; also BTC-USD-220527 and UNI-USD-SWAP books, trades and tickers.",
        "",
        "## Other files",
        "",
        "* `LICENSE.hftbacktest`, `LICENSE.cryptofeed`: the upstream license texts, copied byte for byte; they "
        "must stay with the data.",
        "* `recordings.json`: machine-readable manifest of the bundled recordings (generated with this file).",
        "* `instruments.json`: hand-written instrument metadata (tick, lot, contract value) from the project "
        "specs and the exchanges' published instrument filters; not converted from any data file here.",
        "* `fees.json`: hand-written fee tier tables (see the next section); not converted from any data file here.",
        "",
        *FEE_TABLES,
        "",
        "## Output checksums",
        "",
        _md_table(
            [
                ["file", "bytes", "sha256"],
                *[out_row(rel) for r in results for rel in (r.recording, r.trades)],
                out_row("okx/OKX.ws.1.0"),
                out_row(HFTBACKTEST.license_out),
                out_row(CRYPTOFEED.license_out),
                out_row("recordings.json"),
            ]
        ),
        "",
    ]
    return "\n".join(parts)

"""A recording file from a visitor (uploaded, or recorded and downloaded on the Data page), checked, then replayed.

The file is untrusted: its size is checked first (``MAX_UPLOAD_MB``, the same as the server's
``maxUploadSize``), it must be gzip, and it is read as data only by the one recording reader
(``core.feed.recording.load_recording``: orjson, never eval or pickle, with its own limits on the uncompressed
size and the number of messages). Its instrument must be one the app knows, and its first book must parse
as a valid order book with the feed's own parser. Only then is it stored under a name of our making (a hash
and a cleaned file name, in a temporary folder, the newest ``KEEP_FILES`` kept) and replayed as the shared feed.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError, ParseError, SimulatorError
from core.feed.config import FeedConfig, Source
from core.feed.goquant import parse_snapshot
from core.feed.recording import GZIP_MAGIC, MAX_RECORDING_BYTES, iso_ms, load_recording
from core.market.instruments import InstrumentTable
from core.views.catalog import check_speed

#: the largest file accepted (compressed), also the uploader's limit (``.streamlit/config.toml`` maxUploadSize)
MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
#: at most this many books (a 10-minute recording of a busy feed is about 6,000)
MAX_UPLOAD_MESSAGES = 200_000
UPLOAD_DIR = Path(tempfile.gettempdir()) / "tcs-uploads"
KEEP_FILES = 8  # older checked uploads are deleted

UPLOAD_HELP = (
    f"A recording in this app's format: gzip JSON lines, one full order book per line (what 'Download "
    f"recording' gives), at most {MAX_UPLOAD_MB} MB compressed, {MAX_RECORDING_BYTES // 2**20} MB uncompressed "
    f"and {MAX_UPLOAD_MESSAGES:,} books. It is read as data only and replayed, looping, for every session."
)

#: what a reader's refusal means, in words (``ParseError.reason`` -> sentence)
WHY = {
    "recording_too_large": f"it is larger than {MAX_RECORDING_BYTES // 2**20} MB once uncompressed",
    "recording_too_long": f"it holds more than {MAX_UPLOAD_MESSAGES:,} books",
    "malformed_json": "a line is not valid JSON",
    "wrong_shape": "a line is not an order-book message (no timestamp)",
    "bad_timestamp": "a line has a timestamp that is not a date and time",
    "unreadable_recording": "it is not a complete gzip file (truncated or damaged?)",
    "empty_recording": "it holds no books",
}


@dataclass(frozen=True)
class CheckedRecording:
    """An upload that passed every check, stored where the replay reads it."""

    path: Path
    name: str  # as the visitor named it
    exchange: str
    symbol: str
    books: int
    start: str  # ISO-8601 UTC of the first book
    duration_s: float

    def describe(self) -> str:
        return (
            f"{self.name}: {self.books:,} books of {self.symbol} on {self.exchange}, {self.duration_s:,.1f} s "
            f"recorded from {self.start}"
        )


def _clean(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name or "recording").name)[:60].strip("._") or "recording"
    return stem if stem.endswith(".jsonl.gz") else f"{stem.removesuffix('.gz')}.jsonl.gz"


def _prune(directory: Path, keep: Path) -> None:
    files = sorted(directory.glob("*.jsonl.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        if old != keep:
            old.unlink(missing_ok=True)


def check_recording(
    name: str, data: bytes, table: InstrumentTable, *, directory: Path = UPLOAD_DIR
) -> CheckedRecording:
    """Check an uploaded file as described in the module docstring; ``InputError`` with a plain message if bad."""
    size_mb = len(data) / 2**20
    if not data:
        raise InputError(f"{name or 'The file'} is empty: choose a recording (.jsonl.gz).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError(f"{name} is {size_mb:,.1f} MB; the limit is {MAX_UPLOAD_MB} MB (compressed).")
    if data[:2] != GZIP_MAGIC:
        raise InputError(
            f"{name} is not a gzip file: upload a recording as .jsonl.gz (what 'Download recording' gives)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha256(data).hexdigest()[:16]}-{_clean(name)}"
    part = path.with_suffix(".part")
    part.write_bytes(data)
    try:
        rec = load_recording(part, max_messages=MAX_UPLOAD_MESSAGES, max_bytes=MAX_RECORDING_BYTES)
        inst = table.get(rec.exchange, rec.symbol)
        first = next(rec.iter_messages())
        parse_snapshot(first, instrument=inst, source="upload")
    except ParseError as exc:
        part.unlink(missing_ok=True)
        why = WHY.get(exc.reason, f"its first book is not a valid order book ({exc.reason})")
        raise InputError(f"{name} cannot be replayed: {why}.") from None
    except SimulatorError as exc:  # an instrument the app does not know
        part.unlink(missing_ok=True)
        raise InputError(f"{name} cannot be replayed: {str(exc).split('. Known:')[0]}.") from None
    except ValueError:  # JSON the reader's fast path let through (orjson's decode error is a ValueError)
        part.unlink(missing_ok=True)
        raise InputError(f"{name} cannot be replayed: {WHY['malformed_json']}.") from None
    part.replace(path)
    _prune(directory, keep=path)
    return CheckedRecording(
        path=path,
        name=name,
        exchange=inst.exchange,
        symbol=inst.symbol,
        books=len(rec),
        start=iso_ms(rec.start_ms),
        duration_s=rec.duration_s,
    )


def upload_config(checked: CheckedRecording, speed: object) -> FeedConfig:
    """The feed configuration that replays a checked upload at ``speed`` (looping)."""
    return FeedConfig(source=Source.REPLAY, replay_file=str(checked.path), replay_speed=check_speed(speed))

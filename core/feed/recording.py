"""Recordings: gzip JSON lines, one GoQuant-format full-book message per line.

The format is the wire format itself (``{"timestamp","exchange","symbol","asks","bids"}``, prices and
sizes as strings in the venue's own size unit, timestamp ISO-8601 UTC with milliseconds), so the replay
server sends the stored bytes unchanged and anything that reads the live GoQuant feed reads a recording.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson

from core.errors import ParseError

MAX_RECORDING_BYTES = 200 * 1024 * 1024  # uncompressed bytes read from one file (guards uploads)
MAX_RECORDING_MESSAGES = 2_000_000


def sha256_file(path: str | Path) -> str:
    """Hex digest of a file, read in 1 MiB chunks (provenance and model cards)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def iso_ms(ts_ms: int) -> str:
    """Milliseconds since epoch -> ``2024-08-08T23:54:16.299Z``."""
    dt = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts_ms) % 1000:03d}Z"


def parse_timestamp_ms(value: object) -> int:
    """GoQuant ``timestamp`` (ISO-8601, ``Z`` or offset, optional fraction) or epoch ms -> epoch ms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if not np.isfinite(v) or v <= 0:
            raise ParseError("bad_timestamp", repr(value)[:40])
        return int(v if v > 1e11 else v * 1000)  # seconds or ms
    if not isinstance(value, str):
        raise ParseError("bad_timestamp", repr(value)[:40])
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("bad_timestamp", value[:40]) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)


def goquant_message(
    *, ts_ms: int, exchange: str, symbol: str, bids: Iterable[Iterable[str]], asks: Iterable[Iterable[str]]
) -> bytes:
    """Serialise one book as a GoQuant-format message (bytes, no newline)."""
    return orjson.dumps(
        {
            "timestamp": iso_ms(ts_ms),
            "exchange": exchange,
            "symbol": symbol,
            "asks": [[str(p), str(s)] for p, s in asks],
            "bids": [[str(p), str(s)] for p, s in bids],
        }
    )


class RecordingWriter:
    """Append GoQuant messages to a gzip JSON-lines file."""

    def __init__(self, path: str | Path, *, compresslevel: int = 6) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: gzip.GzipFile = gzip.open(self.path, "wb", compresslevel=compresslevel)  # noqa: SIM115 (closed by close())
        self.count = 0

    def write(self, message: bytes | dict) -> None:
        raw = message if isinstance(message, (bytes, bytearray)) else orjson.dumps(message)
        self._fh.write(bytes(raw).rstrip(b"\n") + b"\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TimeSpan:
    """First and last exchange time of anything holding its books' ``ts_ms`` (ms since epoch, ascending)."""

    ts_ms: np.ndarray

    @property
    def start_ms(self) -> int:
        return int(self.ts_ms[0])

    @property
    def end_ms(self) -> int:
        return int(self.ts_ms[-1])


@dataclass(frozen=True, eq=False)
class Recording:
    """A recording ready to replay: the file's (compressed) bytes, its instrument, message count and time range.

    Messages are decompressed while streaming, so a 110 MB recording costs ~2 MB of memory, not 110.
    ``load_recording`` reads every message up front; ``open_recording`` (the bundled recordings, whose count and
    range the manifest states) reads the first line only and builds the per-message index (``ts_ms``) on first
    use, so a replay starts without inflating the whole file.
    """

    path: Path
    blob: bytes  # the file as stored (gzip or plain JSON lines)
    exchange: str
    symbol: str
    start_ms: int  # exchange time of the first message, ms since epoch
    end_ms: int  # of the last message
    count: int  # messages
    _ts: list[np.ndarray] = field(default_factory=list, repr=False)  # the index once built (one array)

    @property
    def ts_ms(self) -> np.ndarray:
        """Exchange timestamp per message, ms since epoch (indexed on first use when opened lazily)."""
        if not self._ts:
            with _INDEX_LOCK:
                if not self._ts:
                    ts, _, _ = _scan(self.path, self.blob, max_messages=MAX_RECORDING_MESSAGES)
                    got = (ts.size, int(ts[0]), int(ts[-1]))
                    if got != (self.count, self.start_ms, self.end_ms):
                        raise ParseError(
                            "recording_mismatch",
                            f"{self.path.name} holds {got[0]} messages from {got[1]} to {got[2]} ms, "
                            f"not {self.count} from {self.start_ms} to {self.end_ms}",
                        )
                    self._ts.append(ts)
        return self._ts[0]

    @property
    def indexed(self) -> bool:
        """Whether ``ts_ms`` is built (``load_recording``: always; ``open_recording``: once something asked)."""
        return bool(self._ts)

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def date(self) -> str:
        return iso_ms(self.start_ms)[:10]

    def __len__(self) -> int:
        return self.count

    def iter_messages(self) -> Iterator[bytes]:
        """The messages in order, decompressed on the fly."""
        return _iter_blob(self.blob)

    def iter_timed(self) -> Iterator[tuple[int, bytes]]:
        """(exchange time ms, message) in order: from the index once it is built, else from each line as it
        streams (a replay never waits for the index; the prefix read costs about a microsecond a line)."""
        if self._ts:
            yield from zip(self._ts[0].tolist(), self.iter_messages(), strict=False)
            return
        for i, line in enumerate(self.iter_messages()):
            yield _line_timestamp(line, f"line {i + 1} of {self.path.name}")[0], line

    @property
    def messages(self) -> tuple[bytes, ...]:
        """Every message in memory at once (tests and small files only)."""
        return tuple(self.iter_messages())


_INDEX_LOCK = threading.Lock()  # one lazy index build at a time (a replay thread and a page may both ask)


GZIP_MAGIC = b"\x1f\x8b"
TS_PREFIX = b'{"timestamp":"'


def iter_lines(path: str | Path, *, max_bytes: int = MAX_RECORDING_BYTES) -> Iterator[bytes]:
    """Yield non-empty lines of a gzip (or plain) JSON-lines file, refusing files over ``max_bytes``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    total = 0
    with opener(path, "rb") as fh:
        for line in fh:
            total += len(line)
            if total > max_bytes:
                raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes")
            line = line.strip()
            if line:
                yield line


def _line_timestamp(line: bytes, where: str) -> tuple[int, dict | None]:
    """Timestamp of one line: a prefix read when the line starts with it, else a full JSON parse."""
    if line.startswith(TS_PREFIX):
        end = line.find(b'"', len(TS_PREFIX))
        if end > 0:
            return parse_timestamp_ms(line[len(TS_PREFIX) : end].decode("ascii", "replace")), None
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise ParseError("malformed_json", where) from None
    if not isinstance(doc, dict) or "timestamp" not in doc:
        raise ParseError("wrong_shape", f"{where} has no timestamp")
    return parse_timestamp_ms(doc["timestamp"]), doc


def _iter_blob(blob: bytes) -> Iterator[bytes]:
    """The non-empty lines of a recording's stored bytes (gzip or plain), decompressed on the fly."""
    fh = gzip.GzipFile(fileobj=io.BytesIO(blob)) if blob[:2] == GZIP_MAGIC else io.BytesIO(blob)
    with fh:
        for line in fh:
            line = line.strip()
            if line:
                yield line


def _scan(
    path: Path, blob: bytes, *, max_messages: int = MAX_RECORDING_MESSAGES, max_bytes: int = MAX_RECORDING_BYTES
) -> tuple[np.ndarray, str, str]:
    """Every message's timestamp and the first message's (exchange, symbol); see ``load_recording``."""
    ts: list[int] = []
    exchange = symbol = ""
    total = 0
    try:
        for i, line in enumerate(_iter_blob(blob)):
            total += len(line)
            if total > max_bytes:
                raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes uncompressed")
            if i >= max_messages:
                raise ParseError("recording_too_long", f"more than {max_messages} messages")
            t, doc = _line_timestamp(line, f"line {i + 1} of {path.name}")
            ts.append(t)
            if not exchange:
                exchange, symbol = _instrument(line, doc)
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # truncated or not gzip at all
        raise ParseError("unreadable_recording", f"{path.name}: {exc}") from None
    if not ts:
        raise ParseError("empty_recording", str(path))
    return np.asarray(ts, dtype=np.int64), exchange, symbol


def _instrument(line: bytes, doc: dict | None) -> tuple[str, str]:
    doc = doc if doc is not None else orjson.loads(line)
    return str(doc.get("exchange", "")).lower(), str(doc.get("symbol", "")).upper()


def _read_blob(path: Path, max_bytes: int) -> bytes:
    blob = path.read_bytes()
    if len(blob) > max_bytes:
        raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes")
    return blob


def load_recording(
    path: str | Path, *, max_messages: int = MAX_RECORDING_MESSAGES, max_bytes: int = MAX_RECORDING_BYTES
) -> Recording:
    """Read a recording as data (orjson only, never eval/pickle); every line must carry a timestamp.

    Refuses files whose uncompressed size exceeds ``max_bytes`` or that hold more than ``max_messages``.
    """
    path = Path(path)
    blob = _read_blob(path, max_bytes)
    ts, exchange, symbol = _scan(path, blob, max_messages=max_messages, max_bytes=max_bytes)
    return Recording(path, blob, exchange, symbol, int(ts[0]), int(ts[-1]), int(ts.size), [ts])


def open_recording(
    path: str | Path, *, messages: int, start_ms: int, end_ms: int, max_bytes: int = MAX_RECORDING_BYTES
) -> Recording:
    """A recording whose message count and time range are known beforehand (a bundled one: the manifest states
    them, and tests check them against the files), read up to its first line only.

    Why: indexing the 2 MB default recording inflates 110 MB of JSON (about 0.3 s on the first page view of the
    app), while a replay plays in real time from its first messages. The first line must carry ``start_ms``
    (else ``ParseError``: the summary is not this file's); ``ts_ms`` is built, and checked against the count
    and range, on first use.
    """
    path = Path(path)
    blob = _read_blob(path, max_bytes)
    try:
        first = next(_iter_blob(blob), None)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ParseError("unreadable_recording", f"{path.name}: {exc}") from None
    if first is None:
        raise ParseError("empty_recording", str(path))
    t, doc = _line_timestamp(first, f"line 1 of {path.name}")
    if t != start_ms or messages < 1 or end_ms < start_ms:
        raise ParseError("recording_mismatch", f"{path.name} starts at {t} ms; expected {messages} from {start_ms} ms")
    exchange, symbol = _instrument(first, doc)
    return Recording(path, blob, exchange, symbol, start_ms, end_ms, messages)

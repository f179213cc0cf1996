"""Recordings: gzip JSON lines, one GoQuant-format full-book message per line.

The format is the wire format itself (``{"timestamp","exchange","symbol","asks","bids"}``, prices and
sizes as strings in the venue's own size unit, timestamp ISO-8601 UTC with milliseconds), so the replay
server sends the stored bytes unchanged and anything that reads the live GoQuant feed reads a recording.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Recording(TimeSpan):
    """A recording ready to replay: the file's (compressed) bytes and each message's exchange time.

    Messages are decompressed while streaming, so a 110 MB recording costs ~2 MB of memory, not 110.
    """

    path: Path
    blob: bytes  # the file as stored (gzip or plain JSON lines)
    ts_ms: np.ndarray  # exchange timestamp per message, ms since epoch
    exchange: str
    symbol: str

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def date(self) -> str:
        return iso_ms(self.start_ms)[:10]

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def iter_messages(self) -> Iterator[bytes]:
        """The messages in order, decompressed on the fly."""
        fh = gzip.GzipFile(fileobj=io.BytesIO(self.blob)) if self.blob[:2] == GZIP_MAGIC else io.BytesIO(self.blob)
        with fh:
            for line in fh:
                line = line.strip()
                if line:
                    yield line

    @property
    def messages(self) -> tuple[bytes, ...]:
        """Every message in memory at once (tests and small files only)."""
        return tuple(self.iter_messages())


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


def load_recording(
    path: str | Path, *, max_messages: int = MAX_RECORDING_MESSAGES, max_bytes: int = MAX_RECORDING_BYTES
) -> Recording:
    """Read a recording as data (orjson only, never eval/pickle); every line must carry a timestamp.

    Refuses files whose uncompressed size exceeds ``max_bytes`` or that hold more than ``max_messages``.
    """
    path = Path(path)
    blob = path.read_bytes()
    if len(blob) > max_bytes:
        raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes")
    ts: list[int] = []
    exchange = symbol = ""
    total = 0
    rec = Recording(path=path, blob=blob, ts_ms=np.empty(0, dtype=np.int64), exchange="", symbol="")
    try:
        for i, line in enumerate(rec.iter_messages()):
            total += len(line)
            if total > max_bytes:
                raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes uncompressed")
            if i >= max_messages:
                raise ParseError("recording_too_long", f"more than {max_messages} messages")
            t, doc = _line_timestamp(line, f"line {i + 1} of {path.name}")
            ts.append(t)
            if not exchange:
                doc = doc if doc is not None else orjson.loads(line)
                exchange = str(doc.get("exchange", "")).lower()
                symbol = str(doc.get("symbol", "")).upper()
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # truncated or not gzip at all
        raise ParseError("unreadable_recording", f"{path.name}: {exc}") from None
    if not ts:
        raise ParseError("empty_recording", str(path))
    return Recording(path=path, blob=blob, ts_ms=np.asarray(ts, dtype=np.int64), exchange=exchange, symbol=symbol)

"""Recordings: gzip JSON lines, one GoQuant-format full-book message per line.

The format is the wire format itself (``{"timestamp","exchange","symbol","asks","bids"}``, prices and
sizes as strings in the venue's own size unit, timestamp ISO-8601 UTC with milliseconds), so the replay
server sends the stored bytes unchanged and anything that reads the live GoQuant feed reads a recording.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterable, Iterator

import numpy as np
import orjson

from core.exceptions import ParseError

MAX_RECORDING_BYTES = 200 * 1024 * 1024  # uncompressed bytes read from one file (guards uploads)
MAX_RECORDING_MESSAGES = 2_000_000


def iso_ms(ts_ms: int) -> str:
    """Milliseconds since epoch -> ``2024-08-08T23:54:16.299Z``."""
    dt = datetime.fromtimestamp(ts_ms / 1000.0, tz=timezone.utc)
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
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] = gzip.open(self.path, "wb", compresslevel=9)
        self.count = 0

    def write(self, message: bytes | dict) -> None:
        raw = message if isinstance(message, (bytes, bytearray)) else orjson.dumps(message)
        self._fh.write(bytes(raw).rstrip(b"\n") + b"\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Recording:
    """A recording loaded in memory: raw message bytes plus their exchange times."""

    path: Path
    messages: tuple[bytes, ...]
    ts_ms: np.ndarray  # exchange timestamp per message, ms since epoch
    exchange: str
    symbol: str

    @property
    def start_ms(self) -> int:
        return int(self.ts_ms[0])

    @property
    def end_ms(self) -> int:
        return int(self.ts_ms[-1])

    @property
    def duration_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def date(self) -> str:
        return iso_ms(self.start_ms)[:10]

    def __len__(self) -> int:
        return len(self.messages)


def iter_lines(path: str | Path, *, max_bytes: int = MAX_RECORDING_BYTES) -> Iterator[bytes]:
    """Yield non-empty lines of a gzip (or plain) JSON-lines file, refusing files over ``max_bytes``."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    total = 0
    with opener(path, "rb") as fh:  # type: ignore[operator]
        for line in fh:
            total += len(line)
            if total > max_bytes:
                raise ParseError("recording_too_large", f"{path.name} exceeds {max_bytes} bytes")
            line = line.strip()
            if line:
                yield line


def load_recording(path: str | Path, *, max_messages: int = MAX_RECORDING_MESSAGES) -> Recording:
    """Read a recording as data (orjson only, never eval/pickle); every line must carry a timestamp."""
    messages: list[bytes] = []
    ts: list[int] = []
    exchange = symbol = ""
    for i, line in enumerate(iter_lines(path)):
        if i >= max_messages:
            raise ParseError("recording_too_long", f"more than {max_messages} messages")
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise ParseError("malformed_json", f"line {i + 1} of {Path(path).name}") from None
        if not isinstance(doc, dict) or "timestamp" not in doc:
            raise ParseError("wrong_shape", f"line {i + 1} of {Path(path).name} has no timestamp")
        ts.append(parse_timestamp_ms(doc["timestamp"]))
        if not exchange:
            exchange = str(doc.get("exchange", "")).lower()
            symbol = str(doc.get("symbol", "")).upper()
        messages.append(bytes(line))
    if not messages:
        raise ParseError("empty_recording", str(path))
    return Recording(
        path=Path(path),
        messages=tuple(messages),
        ts_ms=np.asarray(ts, dtype=np.int64),
        exchange=exchange,
        symbol=symbol,
    )

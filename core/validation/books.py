"""A recording's books, replayed for validation: the touch and mid of every book, full books on demand.

Holding every full book of a recording costs about 25 KB each (400 levels a side with cumulative depth), so
the first pass keeps only times, touches and mids, and ``snapshots`` parses again just the books asked for.
Books are parsed by ``core.feed.goquant.parse_snapshot``, the parser the replay feed uses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from core.errors import SimulatorError
from core.feed.goquant import parse_snapshot
from core.feed.recording import iter_lines
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, get_instrument


@dataclass(frozen=True)
class Books:
    """Every book of a recording by index (time order): exchange time and touches."""

    path: Path
    instrument: Instrument
    ts_ms: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray
    max_lines: int | None = None

    @property
    def mid(self) -> np.ndarray:
        return 0.5 * (self.best_bid + self.best_ask)

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def index_at(self, t_ms: np.ndarray) -> np.ndarray:
        """Index of the last book stamped at or before each time (-1: none yet)."""
        return np.searchsorted(self.ts_ms, t_ms, side="right") - 1

    def snapshots(self, indices: Iterable[int]) -> dict[int, BookSnapshot]:
        """The full books at ``indices`` (one more pass over the file)."""
        want = set(int(i) for i in indices)
        out: dict[int, BookSnapshot] = {}
        if not want:
            return out
        last = max(want)
        for i, line in enumerate(iter_lines(self.path)):
            if i in want:
                out[i] = parse_snapshot(line, instrument=self.instrument, source="recording", seq=i)
            if i >= last:
                break
        return out


def load_books(path: str | Path, *, max_lines: int | None = None) -> Books:
    """First pass over a recording (the first ``max_lines`` books when given)."""
    path = Path(path)
    inst: Instrument | None = None
    ts: list[int] = []
    bid: list[float] = []
    ask: list[float] = []
    for i, line in enumerate(iter_lines(path)):
        if max_lines is not None and i >= max_lines:
            break
        if inst is None:
            head = orjson.loads(line)
            inst = get_instrument(str(head.get("exchange", "")), str(head.get("symbol", "")))
        s = parse_snapshot(line, instrument=inst, source="recording", seq=i)
        ts.append(s.exchange_ts_ms)
        bid.append(float(s.bid_px[0]))
        ask.append(float(s.ask_px[0]))
    if inst is None:
        raise SimulatorError(f"{path.name} holds no books.")
    t = np.asarray(ts, dtype=np.int64)
    if (np.diff(t) < 0).any():
        raise SimulatorError(f"{path.name}: book times go backwards; validation needs them in order.")
    return Books(path, inst, t, np.asarray(bid), np.asarray(ask), max_lines)

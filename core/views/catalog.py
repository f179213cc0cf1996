"""The bundled recordings as a catalog with provenance, and the rules for switching the replay.

The manifest ``data/recordings.json`` (generated with ``data/PROVENANCE.md`` by ``core/feed/conversion.py``) is
read as JSON data only. Switching the replay changes the process-wide feed, so every session sees it; a
deployment's ``SourcePolicy.allow_source_switch = False`` forbids it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError
from core.feed.config import FeedConfig, Source, SourcePolicy
from core.feed.replay import MANIFEST, bundled_recordings

PROVENANCE = MANIFEST.parent / "PROVENANCE.md"
MIN_SPEED = 0.1  # slower than this a replay looks frozen
MAX_SPEED = 100.0  # faster than this the 400-level books outrun the feed thread on a small server

SWITCH_DISABLED = (
    "The operator disabled source switching on this deployment (allow_source_switch = false), so the replay "
    "recording and speed cannot be changed here."
)
SWITCH_SHARED = "Switching changes the feed for every session of this app, not just this browser tab."


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One bundled recording with its provenance."""

    path: Path
    label: str
    exchange: str
    symbol: str
    date: str
    start: str  # ISO-8601 UTC of the first message ("" when the manifest has none)
    end: str
    duration_s: float  # NaN when start or end is missing
    messages: int
    levels: int
    size_bytes: int  # on disk (gzip); 0 when the file is missing
    source: str  # upstream, as the manifest says
    license: str
    default: bool

    @property
    def file(self) -> str:
        return self.path.name


def license_of(source: str) -> str:
    """The license named in the manifest's ``source`` ("hftbacktest examples (MIT)" -> "MIT")."""
    m = re.search(r"\(([^()]+)\)\s*$", source or "")
    return m.group(1).strip() if m else "see PROVENANCE.md"


def _seconds_between(start: str, end: str) -> float:
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return math.nan
    return (b - a).total_seconds()


def catalog(manifest: Path = MANIFEST) -> list[CatalogEntry]:
    """Every recording listed in the manifest (empty when there is no manifest)."""
    return [
        CatalogEntry(
            path=r.path,
            label=r.label,
            exchange=r.exchange,
            symbol=r.symbol,
            date=r.date,
            start=r.start,
            end=r.end,
            duration_s=_seconds_between(r.start, r.end),
            messages=r.messages,
            levels=r.levels,
            size_bytes=r.path.stat().st_size if r.path.exists() else 0,
            source=r.source,
            license=license_of(r.source),
            default=r.default,
        )
        for r in bundled_recordings(manifest)
    ]


def catalog_table(entries: list[CatalogEntry]) -> pd.DataFrame:
    """One row per recording, for display."""
    return pd.DataFrame(
        [
            {
                "recording": e.label,
                "file": e.file,
                "date (UTC)": e.date,
                "venue": e.exchange,
                "symbol": e.symbol,
                "messages": e.messages,
                "duration (s)": e.duration_s,
                "levels per side": e.levels,
                "size (MB)": e.size_bytes / 1e6,
                "source": e.source,
                "license": e.license,
                "default": e.default,
            }
            for e in entries
        ],
        columns=[
            "recording",
            "date (UTC)",
            "messages",
            "duration (s)",
            "license",
            "source",
            "venue",
            "symbol",
            "levels per side",
            "size (MB)",
            "file",
            "default",
        ],
    )


def switch_allowed(policy: SourcePolicy | None) -> bool:
    """Visitors may switch the replay unless the operator's policy forbids source switching."""
    return policy is None or policy.allow_source_switch


def check_speed(value: Any) -> float:
    """A replay speed typed by a user; ``InputError`` with a plain message when it is not usable."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"Replay speed must be a number, got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Replay speed must be a number, got {value!r}.") from None
    if not math.isfinite(v):
        raise InputError(
            f"Replay speed must be a finite number between {MIN_SPEED:g} and {MAX_SPEED:g}, got {value!r}."
        )
    if not MIN_SPEED <= v <= MAX_SPEED:
        raise InputError(f"Replay speed must be between {MIN_SPEED:g}x and {MAX_SPEED:g}x real time, got {v:g}.")
    return v


def replay_config(entry: CatalogEntry, speed: Any) -> FeedConfig:
    """The feed configuration that replays ``entry`` at ``speed`` (looping), after validating the speed."""
    return FeedConfig(source=Source.REPLAY, replay_file=str(entry.path), replay_speed=check_speed(speed))


def current_index(entries: list[CatalogEntry], replay_file: str | None) -> int:
    """Index of the recording being replayed (by file name), else of the default, else 0."""
    for i, e in enumerate(entries):
        if replay_file and e.file == Path(replay_file).name:
            return i
    return next((i for i, e in enumerate(entries) if e.default), 0)

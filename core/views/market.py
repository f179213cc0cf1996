"""What the status line and the Market page show, computed as plain values from a snapshot and status.

Kept out of the pages so it can be tested directly: AppTest never fires ``run_every``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from core.feed.bus import BusInstrument
from core.feed.recording import iso_ms
from core.feed.replay import ReplayInfo
from core.feed.store import FeedState, FeedStatus
from core.market import venues
from core.market.book import BookSnapshot

if TYPE_CHECKING:  # imported where the table is built: the Simulator imports this module, its first view builds none
    import pandas as pd

#: exchange id -> what pages call it (from the venue registry)
EXCHANGE_LABELS = {v.id: v.label for v in venues.VENUES if v.kind is venues.VenueKind.EXCHANGE}
STALE_AFTER_S = 3.0


class SourceBadge(str, Enum):
    """What the status line's first badge says about the prices on screen: a replay, or a live source that is
    LIVE only while fresh books arrive (CONNECTING before the first one, STALE when the last one is old or the
    connection is down, OFFLINE when the feed stopped or failed for good)."""

    REPLAY = "REPLAY"
    LIVE = "LIVE"
    CONNECTING = "CONNECTING"
    STALE = "STALE"
    OFFLINE = "OFFLINE"
    NO_INGEST = "NO INGEST"  # a bus replica that reads no status document from the ingest service

    @property
    def colour(self) -> str:
        return {
            "REPLAY": "violet",
            "LIVE": "green",
            "CONNECTING": "blue",
            "STALE": "orange",
            "OFFLINE": "red",
            "NO INGEST": "gray",
        }[self.value]


def source_badge(replay: bool, has_book: bool, stale: bool, state: FeedState) -> SourceBadge:
    """The badge for a source: never LIVE before a first live book, nor while the data is stale."""
    if replay:
        return SourceBadge.REPLAY
    if state in (FeedState.FAILED, FeedState.STOPPED) and not has_book:
        return SourceBadge.OFFLINE
    if not has_book:
        return SourceBadge.CONNECTING
    return SourceBadge.STALE if stale else SourceBadge.LIVE


@dataclass(frozen=True)
class IngestSummary:
    """On a bus replica: what the ingest service reports, and how old each instrument's book is, in words."""

    counters: str  # "Ingest run 3f2a…: live · 12,345 messages · 0 malformed · 0 reconnects"
    books: str  # "Books: Binance USD-M BTCUSDT 0.1 s old · OKX BTC-USDT-SWAP stale (12 s old)"
    stale: tuple[str, ...]  # the instruments whose book is stale


@dataclass(frozen=True)
class MarketSummary:
    source_label: str  # "REPLAY" or "LIVE": the kind of source (the badge says whether live data is flowing)
    source_detail: str  # e.g. "Binance USD-M BTCUSDT · recorded 2024-08-08 · x1.0"
    state: FeedState
    stale: bool
    tick_age_s: float
    msgs_per_s: float
    best_bid: float
    best_ask: float
    spread: float
    spread_bps: float
    mid: float
    levels: tuple[int, int]
    last_error: str
    ingest: IngestSummary | None = None  # set on a bus replica
    badge: SourceBadge = SourceBadge.CONNECTING

    @property
    def state_text(self) -> str:
        """The connection state in words: a replay whose books are arriving is 'streaming', never 'live' (the
        first badge already says REPLAY; 'live' beside it read as live market data)."""
        if self.state is FeedState.LIVE and self.badge is SourceBadge.REPLAY:
            return "streaming"
        return self.state.value


NO_INGEST = "NO INGEST"  # a bus replica that reads no status document from the ingest service


def summarize(
    snap: BookSnapshot | None,
    status: FeedStatus,
    replay: ReplayInfo | None,
    *,
    msgs_per_s: float,
    now_ns: int,
    stale_after_s: float = STALE_AFTER_S,
    bus: Sequence[BusInstrument] = (),
) -> MarketSummary:
    """The status line's values; ``bus`` (a replica's instruments) makes the ingest's document the source."""
    exchange = snap.exchange if snap else status.exchange
    symbol = snap.symbol if snap else status.symbol
    name = f"{venues.label(exchange)} {symbol}"
    ingest = None
    if bus:
        shown = next((b for b in bus if (b.exchange, b.symbol) == (exchange, symbol)), bus[0])
        label, detail = ingest_source(name, shown.ingest)
        ingest = ingest_summary(shown.ingest, bus)
    elif replay is not None:
        label, detail = "REPLAY", f"{name} · recorded {replay.date} · speed x{replay.speed:g}"
    else:
        label, detail = "LIVE", f"{name} · {status.source}"
    age = snap.age_s(now_ns) if snap else math.inf
    stale = snap is None or age > stale_after_s or status.state is not FeedState.LIVE
    nan = math.nan
    return MarketSummary(
        source_label=label,
        source_detail=detail,
        state=status.state,
        stale=stale,
        tick_age_s=age,
        msgs_per_s=msgs_per_s,
        best_bid=snap.best_bid if snap else nan,
        best_ask=snap.best_ask if snap else nan,
        spread=snap.spread if snap else nan,
        spread_bps=snap.spread_bps if snap else nan,
        mid=snap.mid if snap else nan,
        levels=snap.depth_levels if snap else (0, 0),
        last_error=status.last_error,
        ingest=ingest,
        badge=(
            SourceBadge.NO_INGEST
            if label == NO_INGEST
            else source_badge(label == "REPLAY", snap is not None, stale, status.state)
        ),
    )


def ingest_source(name: str, doc: Mapping[str, Any] | None) -> tuple[str, str]:
    """(badge, detail) of a replica's book from what the ingest says it streams, not from the bus being up."""
    if doc is None:
        return NO_INGEST, f"{name} · no status from the ingest service (stopped, or Redis not reachable)"
    via = f"via the ingest service (run {doc.get('run', '?')})"
    replay = doc.get("replay")
    if doc.get("source") == "replay" and isinstance(replay, Mapping):
        return "REPLAY", f"{name} · recorded {replay.get('date', '?')} · speed x{replay.get('speed', 1):g} · {via}"
    if doc.get("source") == "replay":
        return "REPLAY", f"{name} · {via}"
    return "LIVE", f"{name} · {doc.get('source', '?')} · {via}"


def ingest_summary(doc: Mapping[str, Any] | None, bus: Sequence[BusInstrument]) -> IngestSummary:
    """The ingest's counters for the shown instrument and every instrument's book age, in words."""
    if doc is None:
        counters = "Ingest: no status on the bus (its counters appear once it heartbeats)"
    else:
        errors = doc.get("parse_errors") or {}
        malformed = sum(int(v) for v in errors.values())
        reasons = f" ({', '.join(f'{k} {v}' for k, v in sorted(errors.items()))})" if errors else ""
        counters = (
            f"Ingest run {doc.get('run', '?')}: {doc.get('state', '?')} · {int(doc.get('messages', 0)):,} messages · "
            f"{malformed:,} malformed{reasons} · {int(doc.get('reconnects', 0)):,} reconnects"
        )
    parts, stale = [], []
    for b in bus:
        name = f"{venues.label(b.exchange)} {b.symbol}"
        if math.isinf(b.age_s):
            parts.append(f"{name} none yet")
            stale.append(name)
        elif b.stale:
            parts.append(f"{name} stale ({b.age_s:.0f} s old)")
            stale.append(name)
        else:
            parts.append(f"{name} {b.age_s:.1f} s old")
    return IngestSummary(counters=counters, books="Books: " + " · ".join(parts), stale=tuple(stale))


def top_levels(snap: BookSnapshot, n: int = 10) -> pd.DataFrame:
    """Top ``n`` levels per side, side by side: bid size/price | ask price/size (base units, quote)."""
    import pandas as pd

    nb, na = min(n, snap.bid_px.size), min(n, snap.ask_px.size)
    rows = max(nb, na)

    def col(a, m):
        out = [math.nan] * rows
        out[:m] = a[:m].tolist()
        return out

    return pd.DataFrame(
        {
            "bid size (base)": col(snap.bid_sz, nb),
            "bid price": col(snap.bid_px, nb),
            "ask price": col(snap.ask_px, na),
            "ask size (base)": col(snap.ask_sz, na),
        },
        index=pd.RangeIndex(1, rows + 1, name="level"),
    )


def book_time(ts_ms: int) -> str:
    """Exchange time as ``HH:MM:SS.mmm`` UTC ("n/a" when the feed gives none)."""
    if ts_ms <= 0:
        return "n/a"
    return iso_ms(ts_ms)[11:23]


#: how long after a replay restart the pages say so in words (the charts keep their marker while it is shown)
RESTART_NOTE_S = 120.0


def restart_note(
    restarts_s: tuple[float, ...] | list[float],
    now_s: float,
    *,
    replay: bool,
    volatility_restarting: bool = False,
    default_vol: float | None = None,
) -> str | None:
    """A plain sentence after the feed's clock went backwards (a replay starting over), else None.

    ``volatility_restarting``: the volatility on screen is the default because its history restarted there
    (the mid history restarts at each loop: the end and the start of a recording are not one price path)."""
    if not restarts_s:
        return None
    ago = now_s - restarts_s[-1]
    if ago > RESTART_NOTE_S:
        return None
    at = datetime.fromtimestamp(restarts_s[-1], tz=UTC).strftime("%H:%M:%S")
    what = "The replay restarted" if replay else "The feed's exchange time stepped back"
    text = (
        f"{what} {max(ago, 0.0):.0f} s ago ({at} UTC): the recording started over, so prices jump there; "
        "the charts break their line at the marker, and the online corrections of the p90 and the maker share start "
        "over from the models as trained."
        if replay
        else f"{what} {max(ago, 0.0):.0f} s ago ({at} UTC); the charts break their line at the marker, and the online "
        "corrections (where the feed streams its trades) start over from the models as trained."
    )
    if volatility_restarting:
        default = f" the default {default_vol:.0%} a year" if default_vol is not None else " the default"
        text += (
            f" Volatility restarting after the {'replay looped' if replay else 'clock stepped back'}: its history "
            "starts again at the restart, and"
            f"{default} is used until 30 one-second returns have arrived."
        )
    return text

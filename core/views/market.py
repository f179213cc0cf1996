"""What the status line and the Market page show, computed as plain values from a snapshot and status.

Kept out of the pages so it can be tested directly: AppTest never fires ``run_every``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import pandas as pd

from core.feed.recording import iso_ms
from core.feed.replay import ReplayInfo
from core.feed.store import FeedState, FeedStatus
from core.market import venues
from core.market.book import BookSnapshot

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

    @property
    def colour(self) -> str:
        return {"REPLAY": "violet", "LIVE": "green", "CONNECTING": "blue", "STALE": "orange", "OFFLINE": "red"}[
            self.value
        ]


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
    badge: SourceBadge = SourceBadge.CONNECTING


def summarize(
    snap: BookSnapshot | None,
    status: FeedStatus,
    replay: ReplayInfo | None,
    *,
    msgs_per_s: float,
    now_ns: int,
    stale_after_s: float = STALE_AFTER_S,
) -> MarketSummary:
    exchange = snap.exchange if snap else status.exchange
    symbol = snap.symbol if snap else status.symbol
    name = f"{venues.label(exchange)} {symbol}"
    if replay is not None:
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
        badge=source_badge(replay is not None, snap is not None, stale, status.state),
    )


def top_levels(snap: BookSnapshot, n: int = 10) -> pd.DataFrame:
    """Top ``n`` levels per side, side by side: bid size/price | ask price/size (base units, quote)."""
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

"""The status line's source badge as a function of what has arrived (the real feed: tests/loopback)."""

import pytest

from core.feed.store import FeedState
from core.views.market import SourceBadge, source_badge


@pytest.mark.parametrize(
    "replay,has_book,stale,state,badge",
    [
        (False, False, True, FeedState.LIVE, SourceBadge.CONNECTING),  # never LIVE before a first live book
        (False, False, True, FeedState.RECONNECTING, SourceBadge.CONNECTING),  # unreachable host: retrying
        (False, False, True, FeedState.FAILED, SourceBadge.OFFLINE),
        (False, True, True, FeedState.RECONNECTING, SourceBadge.STALE),  # a last book, but the line is down
        (False, True, False, FeedState.LIVE, SourceBadge.LIVE),
        (True, False, True, FeedState.CONNECTING, SourceBadge.REPLAY),
    ],
)
def test_badge(replay, has_book, stale, state, badge):
    assert source_badge(replay, has_book, stale, state) is badge
    assert badge.colour != "green" or badge is SourceBadge.LIVE


@pytest.mark.parametrize(
    "badge,state,text",
    [
        (SourceBadge.REPLAY, FeedState.LIVE, "streaming"),  # a replay is never called live
        (SourceBadge.REPLAY, FeedState.STALE, "stale"),
        (SourceBadge.LIVE, FeedState.LIVE, "live"),
    ],
)
def test_the_connection_state_of_a_replay_is_never_called_live(badge, state, text):
    import math

    from core.views.market import MarketSummary

    nan = math.nan
    s = MarketSummary("", "", state, False, 0.0, 0.0, nan, nan, nan, nan, nan, (0, 0), "", badge=badge)
    assert s.state_text == text

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

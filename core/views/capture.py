"""What the Data page shows about a recording of the feed, as plain text from a ``CaptureStatus``.

The recording itself is ``core.feed.capture`` (started by ``Runtime.capture``); the page imports the
limits, states and the duration check from here, so it never reaches into the feed package.
"""

from __future__ import annotations

from core.feed.capture import MAX_MESSAGES, Capture, CaptureState, CaptureStatus, check_seconds

__all__ = [
    "MAX_MESSAGES",
    "SECONDS_HELP",
    "Capture",
    "CaptureState",
    "CaptureStatus",
    "check_seconds",
    "done_text",
    "progress_text",
]

SECONDS_HELP = f"How long to record the current feed, 1 to 600 seconds (at most {MAX_MESSAGES:,} books)."


def progress_text(s: CaptureStatus) -> str:
    """The progress bar's label while recording."""
    return f"Recording… {s.elapsed_s:.0f} / {s.seconds:.0f} s, {s.messages:,} books"


def done_text(s: CaptureStatus) -> str:
    """What a finished recording holds and how to replay it."""
    limit = f" (stopped at the {MAX_MESSAGES:,}-book limit)" if s.limit_hit else ""
    return (
        f"Recorded {s.messages:,} books in {s.elapsed_s:.1f} s{limit}: {s.size_bytes / 1e6:.2f} MB, gzip "
        "JSON lines (replay with `python -m core.replay --data FILE`)."
        + (
            f" And the {s.trades:,} public trades the feed streamed meanwhile, as Parquet: score the app's estimates "
            "on them with `python -m core.validate --recording FILE --trades TRADES`."
            if s.trades
            else ""
        )
    )

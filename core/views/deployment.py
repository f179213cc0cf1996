"""What a page says about how this deployment gets its books: one process with its own feed, or an app
replica reading the books an ingest service publishes (``TCS_BUS``).

On a replica the operator decides the sources on the ingest; visitors can neither switch the replay nor
record, and the pages say so in words instead of offering controls that would be refused.
"""

from __future__ import annotations

from core.runtime import Runtime
from core.views.catalog import SWITCH_DISABLED, switch_allowed

BUS_SWITCH_REFUSAL = (
    "This app shows the books its ingest service publishes; the operator chooses the recordings, their speed "
    "and the live sources there, so they cannot be changed from this page."
)


def replay_refusal(rt: Runtime) -> str:
    """Why a visitor cannot switch the replay here (empty when they can)."""
    if rt.bus is not None:
        return BUS_SWITCH_REFUSAL
    return "" if switch_allowed(rt.policy) else SWITCH_DISABLED


def recording_refusal(rt: Runtime) -> str:
    """Why a visitor cannot record the feed here (empty when they can)."""
    return rt.capture_refusal


def now_playing(rt: Runtime) -> str:
    """One sentence naming what feeds this app now."""
    if rt.bus is not None:
        return "The books come from this deployment's ingest service (see the status line on the Market page)."
    replay = rt.replay
    return f"Now replaying **{replay.file}** at **x{replay.speed:g}**." if replay else "The feed is on a live source."

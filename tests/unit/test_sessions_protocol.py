"""How ``benchmarks.sessions.ProtocolSession`` reacts to Streamlit's ForwardMsgs (real protobuf messages, no
socket): auto-rerun timers as the frontend keeps them, the ForwardMsg cache and its aging, refresh gaps."""

from __future__ import annotations

import asyncio

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.sessions import ProtocolSession


def _auto(fid: str, interval: float) -> ForwardMsg:
    m = ForwardMsg()
    m.auto_rerun.fragment_id, m.auto_rerun.interval = fid, interval
    return m


def _new_session(*fragments: str, page_hash: str = "p1") -> ForwardMsg:
    m = ForwardMsg()
    m.new_session.page_script_hash = page_hash
    m.new_session.config.max_cached_message_age = 2
    m.metadata.run.fragment_ids.extend(fragments)
    return m


def _finished(status: int, *fragments: str) -> ForwardMsg:
    m = ForwardMsg()
    m.script_finished = status  # type: ignore[assignment]
    m.metadata.run.fragment_ids.extend(fragments)
    return m


def _cacheable(h: str, fragment: str = "") -> ForwardMsg:
    m = ForwardMsg()
    m.hash = h
    m.metadata.cacheable = True
    m.delta.fragment_id = fragment
    m.delta.new_element.markdown.body = "x"
    return m


def test_auto_rerun_timers_follow_the_frontend() -> None:
    async def run() -> list[str]:
        s = ProtocolSession("http://127.0.0.1:1")
        steps = []
        s._handle(_auto("a", 1.0))
        first = s.auto_reruns["a"][1]
        s._handle(_auto("a", 1.0))  # same interval: the timer is kept
        steps.append("kept" if s.auto_reruns["a"][1] is first else "replaced")
        s._handle(_auto("a", 0.5))  # a new interval replaces it
        steps.append("replaced" if s.auto_reruns["a"][1] is not first else "kept")
        s._handle(_auto("b", 1.0))
        s._handle(_new_session("a"))  # a fragment run keeps every timer
        steps.append(",".join(sorted(s.auto_reruns)))
        stop = ForwardMsg()
        stop.stop_auto_rerun.fragment_ids.append("b")
        s._handle(stop)
        steps.append(",".join(sorted(s.auto_reruns)))
        s._handle(_new_session())  # a full run clears them all (its fragments announce themselves again)
        steps.append(",".join(sorted(s.auto_reruns)) or "none")
        await asyncio.sleep(0)
        return steps

    assert asyncio.run(run()) == ["kept", "replaced", "a,b", "a", "none"]


def test_cache_keeps_messages_for_max_age_runs_and_fragment_runs_age_only_their_own() -> None:
    s = ProtocolSession("http://127.0.0.1:1")
    s._handle(_new_session())
    s._handle(_cacheable("page"))  # from the full run
    s._handle(_cacheable("frag", "f1"))  # from fragment f1
    s._handle(_finished(ForwardMsg.FINISHED_SUCCESSFULLY))
    assert set(s._cache) == {"page", "frag"}
    for _ in range(3):  # three runs of f1: f1's message ages out, the page's does not
        s._handle(_new_session("f1"))
        s._handle(_finished(ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY, "f1"))
    assert set(s._cache) == {"page"}
    assert len(s.fragment_runs) == 3 and len(s.full_runs) == 1
    ref = ForwardMsg()
    ref.ref_hash = "page"
    s._handle(ref)
    ref.ref_hash = "gone"
    s._handle(ref)
    assert s.cache_hits == 1 and s.errors == ["cache miss gone"]


def test_a_run_interrupted_by_a_rerun_does_not_age_the_cache() -> None:
    s = ProtocolSession("http://127.0.0.1:1")
    s._handle(_new_session())
    s._handle(_cacheable("m"))
    for _ in range(4):
        s._handle(_new_session())
        s._handle(_finished(ForwardMsg.FINISHED_EARLY_FOR_RERUN))
    assert "m" in s._cache


def test_exceptions_on_the_page_are_errors() -> None:
    s = ProtocolSession("http://127.0.0.1:1")
    m = ForwardMsg()
    m.delta.new_element.exception.message = "boom"
    s._handle(m)
    assert s.errors == ["exception: boom"]


def test_longest_gap_counts_the_window_edges() -> None:
    s = ProtocolSession("http://127.0.0.1:1")
    s.fragment_runs = [10.5, 11.4, 12.6, 15.0]
    assert s.longest_gap_s(10.0, 16.0) == 15.0 - 12.6
    assert s.longest_gap_s(10.0, 20.0) == 5.0  # nothing after 15 s until the window's end
    assert s.longest_gap_s(16.0, 17.0) == 1.0

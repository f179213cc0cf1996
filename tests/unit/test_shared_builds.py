"""``core.views.shared.SharedBuilds``: one build per period for every session showing the same thing."""

from __future__ import annotations

import threading

from core.views.shared import SharedBuilds


def test_builds_expire_and_stay_bounded():
    shared = SharedBuilds(period_s=2.0, max_keys=2)
    assert shared.fresh("a", 0.0) is None
    shared.put("a", {"n": 1}, 10.0)
    assert shared.fresh("a", 11.9) == {"n": 1} and shared.fresh("a", 12.0) is None
    shared.put("b", {"n": 2}, 11.0)
    shared.put("c", {"n": 3}, 11.0)  # a third key drops the oldest built
    assert shared.fresh("a", 11.0) is None and shared.fresh("b", 11.5) == {"n": 2}


def test_one_session_rebuilds_while_the_others_keep_the_previous_build():
    shared = SharedBuilds(period_s=2.0)
    shared.put("k", "first", 0.0)
    assert shared.fresh("k", 2.5) is None  # expired: this caller claims the next build
    assert shared.fresh("k", 2.6) == "first"  # another session meanwhile: the previous build, not a second one
    assert shared.fresh_entry("k", 2.7) == (0.0, "first")  # with its build time (how old it is)
    shared.put("k", "second", 2.8)
    assert shared.fresh("k", 2.9) == "second"


def test_a_claim_that_never_ends_in_put_lapses():
    shared = SharedBuilds(period_s=2.0)
    shared.put("k", "first", 0.0)
    assert shared.fresh("k", 2.5) is None  # claimed; that run stopped before it built anything
    assert shared.fresh("k", 4.4) == "first"
    assert shared.fresh("k", 4.5) is None  # the claim lapsed after a period: the next session builds


def test_nothing_to_show_yet_means_build_it():
    shared = SharedBuilds(period_s=2.0)
    assert shared.fresh("k", 0.0) is None
    assert shared.fresh("k", 0.1) is None  # a claim with no previous build still lets a session build


def test_a_slower_earlier_build_never_replaces_a_newer_one():
    shared = SharedBuilds(period_s=2.0)
    shared.put("k", "newer", 5.0)
    assert shared.put("k", "older", 4.0) == "older"  # the caller still shows what it built
    assert shared.fresh("k", 5.5) == "newer"


def test_many_threads_at_once_claim_one_build():
    shared = SharedBuilds(period_s=2.0)
    shared.put("k", "old", 0.0)
    claims: list[int] = []
    start = threading.Barrier(16)

    def session(i: int) -> None:
        start.wait()
        if shared.fresh("k", 3.0) is None:
            claims.append(i)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claims) == 1


def test_what_is_made_from_a_shared_view_is_made_once_per_view():
    from core.views.shared import SharedViews

    shared, made = SharedViews(), []

    class View:  # a stand-in for a frozen SimulatorView: derived() only keys on its identity
        pass

    one, two = View(), View()
    for _ in range(3):
        assert shared.derived(one, "text", lambda: made.append(1) or "one") == "one"
    assert shared.derived(two, "text", lambda: made.append(2) or "two") == "two"  # another view: made again
    assert shared.derived(one, "other", lambda: "x") == "x" and made == [1, 2]

"""Freeze and compare, and replay honesty, in a real browser (headless Chromium on a `streamlit run` server).

Pins a book on the Simulator and compares two scenarios that differ only in volatility (same expected cost,
a different p90), then replays a tiny uploaded recording, looping fast, and finds the restart marked on the
Market page's mid chart (replayed at 3x: a loop every second or so). Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import re

from core.feed.recording import RecordingWriter
from tests.browser.test_browser import ARGS, CHROMIUM, SHOTS, _wait, app_url, pytestmark  # noqa: F401 (fixture, skip)


@contextlib.contextmanager
def _simulator(url: str, failure_shot: str):
    """Chromium on the Simulator page, its first cards drawn; yields (page, errors). A failure inside leaves a
    screenshot named ``failure_shot``; the browser is closed whatever happens."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.locator('.sim-card[data-label="Net cost"]').wait_for(timeout=30_000)
            yield page, errors
        except Exception:
            with contextlib.suppress(Exception):  # the screenshot must not hide the failure
                page.screenshot(path=str(SHOTS / failure_shot), full_page=True, timeout=20_000)
            raise
        finally:
            browser.close()


def _moves(page) -> str:
    return " ".join(t.inner_text() for t in page.locator('[data-testid="stMarkdown"]', has_text="differs from A").all())


def test_compare_on_a_pinned_book_and_a_marked_replay_restart(app_url, tmp_path, recorded_messages):  # noqa: F811
    tiny = tmp_path / "tiny.jsonl.gz"
    with RecordingWriter(tiny) as w:
        for m in recorded_messages[:30]:  # about 3 s recorded
            w.write(m)
    with _simulator(app_url, "compare_failure.png") as (page, errors):
        page.locator('[data-testid="stCaptionContainer"]', has_text="median").first.wait_for(timeout=20_000)
        qty = page.get_by_role("textbox", name="Quantity (USD)")
        qty.fill("1000000")
        qty.press("Enter")
        page.wait_for_timeout(1500)

        # 1. Pin the book, make B differ from A only in volatility
        page.get_by_role("button", name="Pin this book").click()
        page.locator('[data-testid="stAlert"]', has_text="Pinned: the").wait_for(timeout=15_000)
        vol = page.get_by_role("spinbutton", name="Volatility, % a year (B)")
        vol.fill("200")
        vol.press("Enter")
        text = _wait(lambda: "differs from A in volatility" in (t := _moves(page)) and t, 20, "the comparison")
        assert "expected cost (net) unchanged" in text, text
        p90 = re.search(r"slippage p90 ([^;]+);", text)
        assert p90 and "unchanged" not in p90.group(1) and "→" in p90.group(1), text
        page.locator('[data-testid="stCaptionContainer"]', has_text="move only the p90 band").wait_for(timeout=5000)
        page.wait_for_timeout(2000)  # the feed moves on; the pinned comparison does not
        assert _moves(page) == text
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "simulator_compare.png"), full_page=True)

        # 2. Replay an uploaded recording, looping fast: the Market page's mid chart marks the restart
        page.locator('[data-testid="stSidebarNav"] a[href$="/data"]').click()
        page.locator("h1", has_text="Data").wait_for(timeout=20_000)
        speed = page.get_by_role("spinbutton", name="Speed (x real time)")
        speed.fill("3")
        speed.press("Enter")
        page.wait_for_timeout(1000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tiny))
        page.get_by_role("button", name="Replay this file").click()
        page.locator('[data-testid="stAlert"]', has_text="Now replaying").wait_for(timeout=20_000)
        page.locator('[data-testid="stSidebarNav"] a[href$="/market"]').click()
        page.locator("h1", has_text="Market").wait_for(timeout=20_000)
        page.locator(".js-plotly-plot text", has_text="replay restarted").first.wait_for(timeout=30_000)
        page.locator('[data-testid="stAlert"]', has_text="The replay restarted").wait_for(timeout=10_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        page.locator(
            '[data-testid="stMain"] button', has_text="Paused"
        ).first.click()  # a still page for the screenshot on a busy machine
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "market_replay_restarted.png"), full_page=True, timeout=60_000)
    assert not errors, errors


def test_the_variants_survive_unpinning_and_pinning_again(app_url):  # noqa: F811
    """The browser walkthrough that found it: four scenarios, a size for B and a latency for D, unpin, pin
    again; the count and both inputs come back (Streamlit drops an undrawn widget's state unless it persists),
    and the inputs table's cells are read whole."""
    with _simulator(app_url, "compare_repin_failure.png") as (page, errors):
        page.get_by_role("button", name="Pin this book").click()
        page.locator('[data-testid="stAlert"]', has_text="Pinned: the").wait_for(timeout=15_000)
        count = page.locator(".st-key-cmp_count")  # the scenario count: a segmented control, 2, 3 or 4
        count.get_by_role("radio", name="4", exact=True).click()
        page.get_by_role("spinbutton", name="Latency, ms (D)").wait_for(timeout=15_000)
        for name, value, moved in (
            ("Size, USD (B)", "25000", "B differs from A in size"),
            ("Latency, ms (D)", "900", "D differs from A in latency"),
        ):
            box = page.get_by_role("spinbutton", name=name)
            box.fill(value)
            box.press("Enter")
            _wait(lambda moved=moved: moved in _moves(page), 20, name)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "simulator_compare_four.png"), full_page=True)

        page.get_by_role("button", name="Unpin (go live again)").click()
        page.get_by_role("button", name="Pin this book").wait_for(timeout=15_000)
        # the variant widgets leave the page (on a loaded machine the rerun that removes them can take seconds),
        # then timed full reruns run without them drawn: the state Streamlit would drop unless it persists
        page.get_by_role("spinbutton", name="Size, USD (B)").wait_for(state="detached", timeout=30_000)
        page.wait_for_timeout(3000)
        assert page.get_by_role("spinbutton", name="Size, USD (B)").count() == 0
        page.get_by_role("button", name="Pin this book").click()
        page.locator('[data-testid="stAlert"]', has_text="Pinned: the").wait_for(timeout=15_000)
        page.get_by_role("spinbutton", name="Latency, ms (D)").wait_for(timeout=15_000)  # four scenarios again
        assert count.get_by_role("radio", name="4", exact=True).get_attribute("aria-checked") == "true"
        assert page.get_by_role("spinbutton", name="Size, USD (B)").input_value() == "25000.00"
        assert page.get_by_role("spinbutton", name="Latency, ms (D)").input_value() == "900.00"
        assert page.get_by_role("spinbutton", name="Size, USD (C)").input_value() == ""
        text = _wait(lambda: "differs from A in latency" in (t := _moves(page)) and t, 20, "the comparison")
        assert "B differs from A in size" in text and "C differs" not in text, text
        assert page.locator('[data-testid="stMarkdown"]', has_text="C is A unchanged").count() == 1
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(SHOTS / "simulator_compare_repinned.png"), full_page=True)
    assert not errors, errors

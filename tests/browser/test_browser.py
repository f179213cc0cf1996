"""The app in a real browser: `streamlit run` on a free port, headless Chromium through Playwright.

AppTest never fires ``run_every``; a browser does. This checks what a user sees: the simulator's numbers
move as the replay ticks, editing the quantity changes the net cost, every page renders without an
exception box, and the browser console stays free of errors. Screenshots go to artifacts/screenshots/
(gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM
from benchmarks.browser import CHROMIUM_ARGS as ARGS
from core.views.market import EXCHANGE_LABELS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
# page path -> (title, has a plotly chart that must render)
PAGES = {
    "market": ("Market", False),
    "venues": ("Venues", False),
    "latency": ("Latency", True),
    "execution": ("Execution", True),
    "models": ("Models", True),
    "validation": ("Validation", True),
    "data": ("Data", False),
    "docs": ("Guide", False),
}

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (`make browser` installs it)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = _free_port()
    env = {**os.environ, "TCS_SOURCE": "replay", "PYTHONUNBUFFERED": "1"}
    for k in ("TCS_FEED_URL", "TCS_REPLAY_FILE", "TCS_EXCHANGE", "TCS_SYMBOL"):
        env.pop(k, None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS.parent / "streamlit_browser_test.log", "w")  # noqa: SIM115  (closed when the server stops)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


#: the Simulator's Net cost card (its cards are one HTML block, ``core.views.preview.cards_html``)
NET_CARD = '.sim-card[data-label="Net cost"]'


def _metrics(page) -> dict[str, str]:
    """The Simulator's cards as shown: label -> value, and label + " delta" -> the grey figure under it."""
    out = {}
    for m in page.locator(".sim-card").all():
        label = m.locator(".sim-card-label").inner_text().strip()
        out[label] = m.locator(".sim-card-value").inner_text().strip()
        delta = m.locator(".sim-card-delta").inner_text().strip()
        if delta:
            out[label + " delta"] = delta
    return out


SIM_METRICS = (
    "Expected slippage",
    "Expected fees",
    "Market impact (in slippage)",
    "Net cost",
    "Order size",
    "Average fill price",
    "Worst fill price",
    "Maker / taker",
)


def _strip(page) -> str:
    """The system strip: the app's own processing time per book (its tick count moves as the replay plays)."""
    return page.locator('[data-testid="stCaptionContainer"]', has_text="processing time per book").first.inner_text()


def _covered_by_sidebar(page, locator) -> bool:
    """Whether the sidebar lies over the centre of ``locator`` (scrolled into view), as a user would see it."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None
    return page.evaluate(
        "([x, y]) => { const e = document.elementFromPoint(x, y);"
        " return !!(e && e.closest('[data-testid=\"stSidebar\"]')); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )


def _dollars(text: str) -> float:
    m = re.search(r"(-?)\$([0-9.,e+-]+)", text)
    assert m, f"no dollar amount in {text!r}"
    return float(m.group(2).replace(",", "")) * (-1 if m.group(1) else 1)


def _select(page, label: str, option: str) -> None:
    """Pick ``option`` in the sidebar selectbox labelled ``label``, as a user does."""
    page.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option).click()


def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = predicate()
        except (KeyError, AssertionError):  # mid-rerun: an element is being redrawn
            value = None
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_app_in_a_real_browser(app_url):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # tall enough that a screenshot shows the whole page (Streamlit scrolls inside the app, not the window)
            page = browser.new_page(viewport={"width": 1500, "height": 2300})
            page.on(
                "console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            )
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(app_url, wait_until="domcontentloaded")

            # 1. The simulator is the default page and its numbers arrive
            page.locator("h1", has_text="Simulator").wait_for(timeout=90_000)
            page.locator(NET_CARD).wait_for(timeout=90_000)
            page.locator(".js-plotly-plot").nth(2).wait_for(
                state="attached", timeout=60_000
            )  # Plotly hides while drawing
            assert page.locator('[data-testid="stException"]').count() == 0
            first = _metrics(page)
            for label in SIM_METRICS:
                assert label in first, f"metric {label!r} missing: {sorted(first)}"
            assert first["Net cost"].startswith("$") and first["Net cost delta"].endswith(" %")
            assert " bps · " in first["Net cost delta"]
            assert re.search(r"last [\d,.]+ (µs|ms)", _strip(page))
            page.screenshot(path=str(SHOTS / "simulator.png"), full_page=True)

            # 2. The replay ticks: the values change without any interaction (run_every fires in a browser)
            ticks0 = _strip(page)
            later = _wait(
                lambda: (m := _metrics(page)) != first and _strip(page) != ticks0 and m,
                20,
                "the simulator's metrics to change as the replay ticks",
            )
            assert later["Net cost"].startswith("$")

            # 3. Editing the quantity changes the net cost: 250x the default $10,000, fees alone scale with it
            before = _dollars(_metrics(page)["Net cost"])
            qty = page.get_by_role("textbox", name="Quantity (USD)")
            qty.fill("2500000")
            qty.press("Enter")
            after = _wait(
                lambda: (v := _dollars(_metrics(page)["Net cost"])) > 100 * max(before, 1e-6) and v,
                20,
                "net cost to follow the new quantity",
            )
            assert after > before
            page.wait_for_timeout(2500)  # a few refreshes later the input still holds what was typed
            assert qty.input_value() == "2500000"
            page.screenshot(path=str(SHOTS / "simulator_2.5M.png"), full_page=True)

            # 4. A bad quantity gets a plain message next to the field, never a traceback
            qty.fill("0")
            qty.press("Enter")
            page.locator('[data-testid="stMain"] [data-testid="stAlert"]', has_text="$0").wait_for(timeout=15_000)
            page.locator(
                '[data-testid="stMain"] [data-testid="stAlert"]', has_text="An order input needs fixing"
            ).wait_for(timeout=15_000)
            page.locator(NET_CARD).wait_for(timeout=15_000)  # last valid numbers stay
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "simulator_bad_quantity.png"), full_page=True)
            qty.fill("100")
            qty.press("Enter")

            # 5. The feed is one per process: a second session switching the recording is followed by the first
            other = browser.new_page(viewport={"width": 1500, "height": 1200})
            other.goto(app_url, wait_until="domcontentloaded")
            other.locator(NET_CARD).wait_for(timeout=90_000)
            spot = EXCHANGE_LABELS["binance"]
            _select(other, "Exchange", spot)
            page.locator('[data-testid="stMarkdown"]', has_text=f"{spot} BTCUSDT").first.wait_for(timeout=20_000)
            _wait(
                lambda: page.get_by_role("combobox", name="Exchange").input_value() == spot,
                10,
                "the first session's sidebar to show the new recording",
            )
            page.screenshot(path=str(SHOTS / "simulator_followed_switch.png"), full_page=True)
            futures = EXCHANGE_LABELS["binance-futures"]
            _select(other, "Exchange", futures)
            page.locator('[data-testid="stMarkdown"]', has_text=f"{futures} BTCUSDT").first.wait_for(timeout=20_000)
            other.close()

            # 6. Every page renders from the sidebar navigation
            for path, (title, has_chart) in PAGES.items():
                page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').click()
                page.wait_for_url(re.compile(f"/{path}(\\?.*)?$"), timeout=15_000)
                page.locator("h1", has_text=title).wait_for(timeout=20_000)
                if has_chart:
                    page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
                page.wait_for_timeout(1500)  # let the first fragment run finish
                assert page.locator('[data-testid="stException"]').count() == 0, f"exception on /{path}"
                page.screenshot(path=str(SHOTS / f"{path}.png"), full_page=True)

            # back to the simulator: the inputs kept their values across the page switches
            page.locator('[data-testid="stSidebarNav"] a').first.click()
            page.locator(NET_CARD).wait_for(timeout=20_000)
            assert page.get_by_role("textbox", name="Quantity (USD)").input_value() == "100"
        except Exception:
            page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, "browser console errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("width", [1400, 800, 390])
def test_simulator_at_desktop_and_phone_width(app_url, width):
    """The Simulator at 1400 px, at 800 px with the sidebar open and on a 390 px phone: results and inputs without
    an exception or a browser error; the ticket is in the main column and the sidebar lies over neither it nor the
    results, before or after a change; every card's figure is read whole (the cards go to two a row by the width
    the page leaves them); a below-minimum size gets the venue's message."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 2400 if width > 500 else 3200})
            page.on(
                "console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            )
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator(NET_CARD).wait_for(timeout=90_000)
            # attached, not "visible": Plotly hides a chart while it redraws, which on a loaded machine is most
            # of each refresh
            page.locator(".js-plotly-plot").nth(3).wait_for(state="attached", timeout=60_000)
            page.wait_for_timeout(1500)
            assert page.locator('[data-testid="stException"]').count() == 0
            m = _metrics(page)
            assert all(label in m for label in SIM_METRICS), sorted(m)
            assert page.get_by_text("What would this order cost if you sent it now?").is_visible()
            qty = page.get_by_role("textbox", name="Quantity (USD)")
            assert qty.is_visible()  # in the main column: reachable without opening the sidebar
            net = page.locator(NET_CARD).first
            assert not _covered_by_sidebar(page, net) and not _covered_by_sidebar(page, qty)
            cut = page.eval_on_selector_all(
                ".sim-card-value", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
            )
            assert cut == [], f"card figures cut at {width} px: {cut}"
            # the ticket's buttons and boxes lie inside their columns (at 800 px with the sidebar open, Sell and the
            # size unit's second button once ran past theirs: the row now wraps)
            outside = page.eval_on_selector_all(
                '.st-key-sim_ticket [data-testid="stColumn"]',
                """cols => cols.flatMap(c => { const r = c.getBoundingClientRect();
                    return [...c.querySelectorAll('button, input')].filter(e => { const k = e.getBoundingClientRect();
                        return k.width > 0 && (k.right > r.right + 1 || k.left < r.left - 1); })
                    .map(e => e.innerText || e.getAttribute('aria-label') || e.type); })""",
            )
            assert page.locator(".st-key-sim_ticket").count() == 1 and outside == [], f"cut at {width} px: {outside}"
            tip = net.locator(".sim-tip-text")  # the card's definition, on hover (or a tap: focus) of its "?"
            assert not tip.is_visible()
            net.locator(".sim-tip").hover()
            tip.wait_for(state="visible", timeout=5_000)
            assert "Everything this order is expected to cost" in tip.inner_text()
            assert tip.locator("a", has_text="Guide").get_attribute("href") == "/docs?doc=guide"
            page.screenshot(path=str(SHOTS / f"sim_{width}.png"), full_page=True)
            qty.fill("50")
            qty.press("Enter")
            page.locator('[data-testid="stAlert"]', has_text="Below the venue minimum of").first.wait_for(
                timeout=15_000
            )
            assert not _covered_by_sidebar(page, net)  # the change left the results in view
            page.screenshot(path=str(SHOTS / f"sim_{width}_below_minimum.png"), full_page=True)
            qty.fill("100")
            qty.press("Enter")
            page.wait_for_timeout(1000)
            assert page.locator('[data-testid="stException"]').count() == 0
        except Exception:
            page.screenshot(path=str(SHOTS / f"failure_{width}.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, "browser console errors:\n" + "\n".join(errors)

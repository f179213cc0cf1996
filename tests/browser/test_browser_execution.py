"""The Execution page in a real browser (headless Chromium, `streamlit run` on a free port; the server fixture is
tests/browser/test_browser.py's): the Simulator's order is planned in 10 slices over 600 s with fees included, an
impossible slice count gets a message with valid counts, and no traceback or browser error at 1400 and 390 px.
Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re

from tests.browser.test_browser import ARGS, CHROMIUM, SHOTS, _wait, app_url, pytestmark  # noqa: F401  (fixture)

SCHEDULE = "This schedule, fees included"


def _open_execution(page) -> None:
    page.locator('[data-testid="stSidebarNav"] a[href$="/execution"]').click()
    page.wait_for_url(re.compile(r"/execution(\?.*)?$"), timeout=15_000)
    page.locator("h1", has_text="Execution").wait_for(timeout=20_000)


def test_execution_page_plans_the_simulators_order_with_fees(app_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 2600})
        try:
            page.on(
                "console", lambda msg: errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
            )
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator('.sim-card[data-label="Net cost"]').wait_for(timeout=90_000)  # a busy machine
            # the order is set on the Simulator, as a user does
            page.locator('[data-testid="stMain"] button', has_text="Sell").first.click(timeout=60_000)
            qty = page.get_by_role("textbox", name="Quantity (USD)")
            qty.fill("250000")
            qty.press("Enter")
            _wait(lambda: qty.input_value() == "250000", 10, "the quantity to be taken")
            page.wait_for_timeout(1500)

            _open_execution(page)
            page.locator('[data-testid="stMetric"]', has_text=SCHEDULE).wait_for(timeout=30_000)
            # the Simulator's $250,000 sell, on the venue's lot: "Sell 4.045 BTC ($249,9xx.xx) of BTCUSDT ..."
            page.get_by_text(re.compile(r"Sell [\d.,]+ BTC \(\$2(49|50),\d{3}\.\d\d\) of")).first.wait_for(
                timeout=10_000
            )
            assert page.get_by_role("spinbutton", name="Slices").input_value() == "10"
            assert page.get_by_role("spinbutton", name="Horizon (s)").input_value() == "600"
            metric = page.locator('[data-testid="stMetric"]', has_text=SCHEDULE)
            assert metric.locator('[data-testid="stMetricValue"]').inner_text().startswith("$")
            delta = metric.locator('[data-testid="stMetricDelta"]').inner_text().strip()
            assert re.fullmatch(r"[0-9.,]+ bps · [0-9.]+ %", delta), delta
            page.locator('[data-testid="stMain"] button', has_text="Paused").click(timeout=60_000)  # hold one book
            page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
            assert page.locator('[data-testid="stAlert"]', has_text="slices").count() == 0  # no refusal
            assert page.locator('[data-testid="stException"]').count() == 0
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SHOTS / "execution_1400.png"), full_page=True)

            # an impossible slice count: a plain message with valid counts, not a blank page
            slices = page.get_by_role("spinbutton", name="Slices")
            slices.fill("0")
            slices.press("Enter")
            page.locator('[data-testid="stAlert"]', has_text="Try 1, 2, 10, 60, 600").wait_for(timeout=15_000)
            assert page.locator('[data-testid="stException"]').count() == 0
            slices.fill("10")
            slices.press("Enter")
            page.locator('[data-testid="stMetric"]', has_text=SCHEDULE).wait_for(timeout=20_000)

            # a phone: the same page at 390 px
            page.set_viewport_size({"width": 390, "height": 3200})
            # (no reload: reloading a deep link makes Streamlit's own frontend probe /execution/_stcore/health, a 404)
            page.locator('[data-testid="stMetric"]', has_text=SCHEDULE).wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            assert page.locator('[data-testid="stException"]').count() == 0
            page.screenshot(path=str(SHOTS / "execution_390.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SHOTS / "execution_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not errors, errors

"""A deep link as the very first request of a fresh app process (a shared URL to the Market page, opened after a
restart) routes through app.py's ``st.navigation`` like any other visit: the sidebar lists the app's nine titled
pages, not every file of ``pages/`` (Streamlit's legacy pages-directory mode). The server-start warm-up imports
``pages.common`` before any session exists, so this is checked against a fresh ``streamlit run app.py`` (headless
Chromium, loopback), after the warm-up has had time to finish."""

from __future__ import annotations

import time

from benchmarks.browser import App
from tests.browser.test_browser import ARGS, CHROMIUM, pytestmark  # noqa: F401

PAGES = ("Simulator", "Market", "Venues", "Latency", "Execution", "Models", "Validation", "Data", "Docs")


def test_a_deep_link_as_a_fresh_process_first_request_routes_through_navigation():
    from playwright.sync_api import sync_playwright

    app = App().start(timeout=90)
    try:
        time.sleep(3.0)  # the warm-up (imports, runtime) runs at server start; let it finish before the first visit
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1200})
                page.goto(f"{app.url}/market", wait_until="domcontentloaded")
                page.get_by_text("Book time (UTC)").first.wait_for(timeout=90_000)
                links = page.locator('[data-testid="stSidebarNav"] a')
                links.first.wait_for(timeout=30_000)
                names = [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]  # after the icon name
                assert tuple(names) == PAGES, names
            finally:
                browser.close()
    finally:
        app.stop()

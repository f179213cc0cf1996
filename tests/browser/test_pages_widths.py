"""Every page at a desktop (1400 px) and a phone (390 px) width in a real browser: it renders its title, shows no
traceback and logs no browser error. Screenshots go to artifacts/screenshots/<page>_<width>.png, the pictures
README's "What you see" describes."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_browser import ARGS, CHROMIUM, PAGES, SHOTS, app_url, pytestmark  # noqa: F401  (fixture, skip)

WIDTHS = (1400, 390)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_at_desktop_and_phone_width(app_url, width):  # noqa: F811
    from playwright.sync_api import sync_playwright

    pages = {"": ("Simulator", True), **PAGES}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": width, "height": 1800})
        page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        try:
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("h1", has_text="Simulator").wait_for(timeout=90_000)  # a busy machine starts slowly
            for path, (title, _chart) in pages.items():
                if path:  # opened by its address, as a shared link is (each load is a new session)
                    page.goto(f"{app_url}/{path}", wait_until="domcontentloaded")
                    page.wait_for_url(re.compile(f"/{path}(\\?.*)?$"), timeout=15_000)
                page.locator("h1", has_text=title).wait_for(timeout=60_000)
                page.wait_for_timeout(2000)  # let the first fragment run finish
                assert page.locator('[data-testid="stException"]').count() == 0, f"traceback on /{path} at {width}px"
                page.screenshot(path=str(SHOTS / f"{path or 'simulator'}_{width}.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(SHOTS / f"failure_{width}.png"), full_page=True)
            raise
        finally:
            browser.close()
    # a page loaded by URL makes Streamlit's frontend ask /<page>/_stcore/... once (a 404 it logs); not ours
    errors = [e for e in errors if "_stcore" not in e and "404" not in e]
    assert not errors, "browser console errors:\n" + "\n".join(errors)

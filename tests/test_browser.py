"""The real app in a real browser: every page, offline, no exception box, no console error.

Starts ``streamlit run app.py`` on a free localhost port and drives Debian's Chromium with
Playwright (``.ci/run`` installs both). Screenshots go to ``$CGVIZ_ARTIFACTS`` (default: a
temporary directory).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, PAGES, streamlit_server, visit

pytestmark = pytest.mark.slow
LOCAL = {"127.0.0.1", "localhost", ""}
#: Streamlit's frontend probes these under a page's own path when a page URL is opened
#: directly (base-path detection); the 404s it gets there are expected.
STREAMLIT_PROBES = ("/_stcore/health", "/_stcore/host-config")


def _is_error(message) -> bool:
    if message.type != "error":
        return False
    source = (message.location or {}).get("url", "")
    return not (message.text.startswith("Failed to load resource")
                and source.endswith(STREAMLIT_PROBES))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        handle = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield handle
        handle.close()


def test_every_page_renders_offline_without_errors(browser, tmp_path):
    shots = Path(os.environ.get("CGVIZ_ARTIFACTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with streamlit_server(env={"CGVIZ_RUNS_DIR": str(tmp_path / "runs")}) as url:
        for name in PAGES:
            errors, foreign = [], []
            original_new_page = browser.new_page

            def new_page(**kwargs):
                page = original_new_page(**kwargs)
                page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("request", lambda r: foreign.append(r.url)
                        if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
                        and urlparse(r.url).hostname not in LOCAL else None)
                return page

            browser.new_page = new_page
            try:
                page, _ = visit(browser, url, name, screenshot=shots / f"{name}.png")
            finally:
                browser.new_page = original_new_page
            try:
                boxes = page.locator("[data-testid='stException']").all_inner_texts()
                alerts = page.locator("[data-testid='stAlertContentError']").all_inner_texts()
                assert not boxes, f"{name}: exception box {boxes}"
                assert not alerts, f"{name}: st.error shown {alerts}"
                assert not errors, f"{name}: console errors {errors}"
                assert not foreign, f"{name}: requests leave the machine {foreign}"
                assert page.locator("h1").first.inner_text()
            finally:
                page.close()

"""Start `streamlit run app.py` on a free localhost port and screenshot every page.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` Python package;
it never downloads a browser. Writes PNGs to docs/screenshots/.

    python docs/take_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, PAGES, streamlit_server, visit  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name in PAGES:
            page, _ = visit(browser, url, name, screenshot=OUT / f"{name}.png")
            page.close()
            print(f"saved {OUT / f'{name}.png'}")
        browser.close()


if __name__ == "__main__":
    main()

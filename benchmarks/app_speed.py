"""How fast the app answers: server start to a ready home page, and each page switch.

Starts ``streamlit run app.py`` on a free localhost port and opens the pages in headless
Chromium (Debian's). Prints one table; targets on 2 cores: home page < 3 s from server
start, < 1.5 s per page switch (pages import torch & co. only where they need them).

"Ready" means the page's script has finished *and* every plotly chart on it has drawn, so
a page's drawing time is charged to that page, not to the next switch.

    python benchmarks/app_speed.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, PAGES, streamlit_server  # noqa: E402

#: the script is idle and every plotly chart has drawn (its SVG layer exists)
READY = (f"({IDLE}) && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
         ".every(c => c.querySelector('.main-svg'))")


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {"server start -> home ready": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.repeats):
            started = time.perf_counter()
            with streamlit_server() as url:
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("[data-testid='stApp']")
                page.get_by_text("Bundled demo data").first.wait_for()
                page.wait_for_function(READY, timeout=120_000)
                rows["server start -> home ready"].append(time.perf_counter() - started)
                for name, (path, _button, _text) in list(PAGES.items())[1:]:
                    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='{path}']")
                    t0 = time.perf_counter()
                    link.click()
                    page.wait_for_url(f"**{path}")
                    page.locator("h1").first.wait_for()
                    page.wait_for_function(READY, timeout=120_000)
                    rows.setdefault(f"switch to {name}", []).append(time.perf_counter() - t0)
                page.close()
        browser.close()
    print(f"{'measure':32s} {'median s':>9s} {'min s':>7s} {'max s':>7s}  (n = {args.repeats})")
    for name, values in rows.items():
        print(f"{name:32s} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")


if __name__ == "__main__":
    main()

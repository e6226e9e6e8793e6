"""How fast the app answers: server start to a ready home page, and each page switch.

Starts ``streamlit run app.py`` on a free localhost port and opens the pages in headless
Chromium (Debian's). Prints one table; targets on 2 cores: home page < 3 s from server
start, < 1.5 s per page switch (pages import torch & co. only where they need them).

"Ready" is the moment the page reached its final look: its own title is shown, and after
that nothing more changes (no element added, every plotly chart drawn) for a quiet period
of 2 s, which is not counted. Waiting for the new title matters: right after a click the
previous page's elements are still in the DOM and would look "ready" at once.

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

from browser_support import (CHROMIUM, CHROMIUM_ARGS, PAGES, page_title,  # noqa: E402
                             streamlit_server, wait_until_settled)


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
                rows["server start -> home ready"].append(
                    wait_until_settled(page, started, page_title("home")))
                for name, (path, _button, _text) in list(PAGES.items())[1:]:
                    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='{path}']")
                    t0 = time.perf_counter()
                    link.click()
                    rows.setdefault(f"switch to {name}", []).append(
                        wait_until_settled(page, t0, page_title(name)))
                page.close()
        browser.close()
    print(f"{'measure':32s} {'median s':>9s} {'min s':>7s} {'max s':>7s}  (n = {args.repeats})")
    for name, values in rows.items():
        print(f"{name:32s} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")


if __name__ == "__main__":
    main()

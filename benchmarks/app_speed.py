"""How fast the app answers: server start to a ready home page, and each page switch.

Starts ``streamlit run app.py`` on a localhost port and opens the pages in headless
Chromium (Debian's). Prints one table; targets on 2 cores: home page < 3 s from server
start, < 1.5 s per page switch (pages import torch & co. only where they need them).

"Ready" is the moment the page reached its final look: its own title is shown, and after
that nothing more changes (no element added, every plotly chart drawn, every image
decoded) for a quiet period of 2 s, which is not counted. The page itself notes the time
of each change (a MutationObserver, ``browser_support.CHANGE_CLOCK``). Waiting for the new
title matters: right after a click the previous page's elements are still in the DOM.

The clock starts when the server process is started; the browser tab is open already, as
a user's is. Two home rows: a first visit (a new browser profile, nothing cached: the
browser fetches and compiles all of Streamlit's JavaScript, and plotly's 4.7 MB once the
home page is drawn, see ``cgviz.warmup``) and a returning visitor (same profile and port as
an earlier visit, so the browser has that code cached). A third home row is when the
browser's main thread last had a task of 50 ms or more on a first visit (running plotly.js
included), within the quiet period: until then a click may wait. Page switches are
measured in the first-visit sessions. The server gets an empty runs folder
(``CGVIZ_RUNS_DIR``), so the Training page does not depend on local runs.

    python benchmarks/app_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import (CHROMIUM, CHROMIUM_ARGS, PAGES, free_port,  # noqa: E402
                             new_app_page, page_title, streamlit_server, wait_until_settled)

FIRST = "server start -> home ready, first visit"
RETURNING = "server start -> home ready, returning"
BUSY = "server start -> home idle, first visit"
#: notes the wall-clock end (ms) of the page's last main-thread task longer than 50 ms
LONG_TASKS = """new PerformanceObserver(list => list.getEntries().forEach(e => {
  window.__cgvizBusyUntil = Math.max(window.__cgvizBusyUntil || 0,
                                     performance.timeOrigin + e.startTime + e.duration);
})).observe({type: 'longtask', buffered: true});"""


def checked(page, name: str, seconds: float) -> float:
    """``seconds``, unless the page shows an exception (an error page is fast, not ready)."""
    shown = page.locator("[data-testid='stException']").all_inner_texts()
    if shown:
        raise RuntimeError(f"{name}: the page shows an exception: {shown[0][:300]}")
    return seconds


@contextlib.contextmanager
def home_ready(context, port: int | None = None):
    """Start the server and open home in a new tab of ``context`` (the tab before the
    clock starts); yields (seconds to ready, seconds to the end of the last long task, page)
    while the server runs."""
    page = new_app_page(context)
    page.add_init_script(LONG_TASKS)
    started = time.time()
    with tempfile.TemporaryDirectory() as runs, \
            streamlit_server(env={"CGVIZ_RUNS_DIR": runs}, port=port) as url:
        page.goto(url)
        ready = checked(page, "home", wait_until_settled(page, started, page_title("home")))
        yield ready, page.evaluate("window.__cgvizBusyUntil || 0") / 1000 - started, page


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {FIRST: [], BUSY: [], RETURNING: []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(args.repeats):
            context = browser.new_context()  # a new profile: empty cache
            with home_ready(context) as (seconds, busy, page):
                rows[FIRST].append(seconds)
                rows[BUSY].append(busy)
                for name, (path, _button, _text) in list(PAGES.items())[1:]:
                    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='{path}']")
                    t0 = time.time()
                    link.click()
                    rows.setdefault(f"switch to {name}", []).append(
                        checked(page, name, wait_until_settled(page, t0, page_title(name))))
            context.close()
        context, port = browser.new_context(), free_port()
        for visit in range(args.repeats + 1):  # the first visit fills the cache
            with home_ready(context, port) as (seconds, _busy, page):
                if visit:
                    rows[RETURNING].append(seconds)
            page.close()
        context.close()
        browser.close()
    print(f"{'measure':40s} {'median s':>9s} {'min s':>7s} {'max s':>7s}  (n = {args.repeats})")
    for name, values in rows.items():
        print(f"{name:40s} {statistics.median(values):9.2f} {min(values):7.2f} "
              f"{max(values):7.2f}")


if __name__ == "__main__":
    main()

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

from browser_support import CHROMIUM, CHROMIUM_ARGS, IDLE, PAGES, streamlit_server  # noqa: E402

#: what the page looks like: title, element count, charts, charts drawn, script running
STATE = """() => {
  const h1 = document.querySelector('h1');
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  return [h1 ? h1.innerText : '',
          document.querySelectorAll('[data-testid="stElementContainer"]').length,
          charts.length, charts.filter(c => c.querySelector('.main-svg')).length,
          !(%s)];
}""" % IDLE
QUIET_S = 2.0


def seconds_to_ready(page, started: float, title: str, timeout_s: float = 120.0) -> float:
    """Seconds from ``started`` to the last change of the page's state, once its h1 reads
    ``title``, every chart has drawn, and the state has then stayed the same for QUIET_S."""
    last_state, last_change = None, None
    while time.perf_counter() - started < timeout_s:
        state = page.evaluate(STATE)
        now = time.perf_counter()
        if state != last_state:
            last_state, last_change = state, now
        settled = (title in state[0] and state[2] == state[3] and not state[4])
        if settled and now - last_change >= QUIET_S:
            return last_change - started
        page.wait_for_timeout(15)
    raise TimeoutError(f"page {title!r} not ready after {timeout_s} s (last state {last_state})")


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
                    seconds_to_ready(page, started, "cgviz"))
                for number, (name, (path, _button, _text)) in enumerate(
                        list(PAGES.items())[1:], start=1):
                    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='{path}']")
                    t0 = time.perf_counter()
                    link.click()
                    rows.setdefault(f"switch to {name}", []).append(
                        seconds_to_ready(page, t0, f"{number} ·"))
                page.close()
        browser.close()
    print(f"{'measure':32s} {'median s':>9s} {'min s':>7s} {'max s':>7s}  (n = {args.repeats})")
    for name, values in rows.items():
        print(f"{name:32s} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")


if __name__ == "__main__":
    main()

"""Run the real app and drive it with headless Chromium (Debian's, never a downloaded one).

Shared by tests/test_browser.py and docs/take_screenshots.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
#: name -> (url path, button to press first or None, text to wait for after it)
PAGES = {
    "home": ("/", None, None),
    "trajectory": ("/Trajectory", None, None),
    "coarse_graining": ("/Coarse_Graining", None, None),
    "training": ("/Training", None, None),
    "rollout": ("/Rollout", "Run rollout", "steps done"),
    "memnets": ("/MEMnets", "Train MEMnets here", "Linked view"),
}
#: No script running: the app says so in its own state (``data-test-script-state`` of
#: ``stApp``: "initial" before the first run, then "running" / "notRunning") and shows no
#: running indicator (the status widget's running icon, beside its Stop button: the
#: config's ``client.toolbarMode`` must not be "minimal", which hides the widget). The
#: widget also shows other notices ("File change. Rerun"), which are not a run. Right
#: after a click the app is still idle, its rerun not started yet: wait for that run with
#: :class:`ScriptRuns`.
RUNNING_ICON = "[data-testid='stStatusWidgetRunningIcon']"
IDLE = ("(() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return !!app && app.dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]'); })()")
#: a page's look: title, element count, plotly charts, charts drawn, script running, the
#: number of SVG nodes the charts hold (so a chart redrawn with other data counts), images,
#: images decoded
STATE = """() => {
  const h1 = document.querySelector('h1');
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  const images = [...document.querySelectorAll('[data-testid="stImage"] img')];
  return [h1 ? h1.innerText : '',
          document.querySelectorAll('[data-testid="stElementContainer"]').length,
          charts.length, charts.filter(c => c.querySelector('.main-svg')).length,
          !(%s),
          charts.reduce((n, c) => n + c.querySelectorAll('.main-svg *').length, 0),
          images.length, images.filter(i => i.complete && i.naturalWidth > 0).length];
}""" % IDLE


#: Installs (once per document) a clock in the page: ``window.__cgvizChanged`` is the wall
#: time (ms) at which the page's look (STATE) last changed, noted by a MutationObserver the
#: moment it happens. Cheaper and more exact than asking the page every few ms.
CHANGE_CLOCK = """() => {
  if (window.__cgvizChanged !== undefined) return;
  const look = %s;
  let last = null;
  const note = () => {
    const now = JSON.stringify(look());
    if (now !== last) { last = now; window.__cgvizChanged = Date.now(); }
  };
  new MutationObserver(note).observe(document, {childList: true, subtree: true,
                                                characterData: true});
  document.addEventListener('load', note, true);  // an image decoded (no DOM change)
  note();
}""" % STATE


class ScriptRuns:
    """The script runs a page's app finished, counted from the server's own messages on the
    page's websocket (Streamlit's ``ForwardMsg``: ``new_session`` starts a run,
    ``script_finished`` ends one; a run stopped early for a rerun is not counted). Attach
    before ``goto``. :meth:`after` does something and waits for the run it started."""

    def __init__(self, page):
        self.page, self.finished, self.running = page, 0, False
        page.on("websocket", self._socket)

    def _socket(self, socket) -> None:
        if socket.url.endswith("/_stcore/stream"):
            socket.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        message = ForwardMsg.FromString(payload)
        kind = message.WhichOneof("type")
        if kind == "new_session":
            self.running = True
        elif kind == "script_finished" and (
                message.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN):
            self.running = False
            self.finished += 1

    def wait(self, more_than: int, timeout_s: float = 120.0) -> None:
        """Wait until more than ``more_than`` runs finished and none is running."""
        deadline = time.time() + timeout_s
        while self.finished <= more_than or self.running:
            if time.time() > deadline:
                raise TimeoutError(f"no script run finished in {timeout_s} s "
                                   f"({self.finished} finished, running: {self.running})")
            self.page.wait_for_timeout(50)  # lets Playwright deliver the frames

    def after(self, action, timeout_s: float = 120.0):
        """``action()``, then wait for the script run it started to finish."""
        before = self.finished
        result = action()
        self.wait(before, timeout_s)
        return result


def page_title(name: str) -> str:
    """The start of a page's h1: "cgviz" for home, "N ·" for page N."""
    return "cgviz" if name == "home" else f"{list(PAGES).index(name)} ·"


def new_app_page(browser_or_context, **kwargs):
    """A new page that carries the change clock from its first document on."""
    page = browser_or_context.new_page(**kwargs)
    page.add_init_script(f"({CHANGE_CLOCK})()")
    return page


def wait_until_settled(page, started: float, title: str, quiet_s: float = 2.0,
                       timeout_s: float = 120.0) -> float:
    """Wait until the page shows ``title``, every plotly chart and image on it has drawn,
    and then nothing changes for ``quiet_s``; return the seconds from ``started`` (wall clock,
    ``time.time()``) to the last change. Right after a click the previous page's elements
    are still there, so "no script running, charts drawn" alone is true too early."""
    page.evaluate(CHANGE_CLOCK)  # no-op where new_app_page installed it already
    last_state = None
    while time.time() - started < timeout_s:
        state, changed_ms, now_ms = page.evaluate(
            "() => [(%s)(), window.__cgvizChanged, Date.now()]" % STATE)
        last_state = state
        settled = (title in state[0] and state[2] == state[3] and not state[4]
                   and state[6] == state[7])
        if settled and now_ms - changed_ms >= quiet_s * 1000:
            return changed_ms / 1000 - started
        page.wait_for_timeout(50)
    raise TimeoutError(f"page {title!r} did not settle in {timeout_s} s (last: {last_state})")


def decode_png(data: bytes):
    """(height, width, channels) uint8 pixels of a PNG screenshot."""
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def drawn_fraction(pixels, background=(255, 255, 255)) -> float:
    """Fraction of pixels that differ clearly from the background colour."""
    import numpy as np

    diff = np.abs(pixels[..., :3].astype(int) - np.asarray(background)).max(axis=-1)
    return float((diff > 30).mean())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict[str, str] | None = None, timeout_s: float = 90.0,
                     port: int | None = None):
    """``streamlit run app.py`` on ``port`` (default: a free one); yields the base URL.

    Source files are not watched: an edit elsewhere in the checkout during a test would
    put a "File change. Rerun" notice on every page."""
    port = port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    with serving(server, f"http://127.0.0.1:{port}", "/_stcore/health", timeout_s,
                 "streamlit did not start") as url:
        yield url


@contextlib.contextmanager
def serving(server: subprocess.Popen, base_url: str, probe: str, timeout_s: float,
            failure: str):
    """Wait until ``base_url + probe`` answers, yield ``base_url``, stop the server after."""
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                urllib.request.urlopen(base_url + probe, timeout=1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(failure)
                time.sleep(0.02)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def visit(browser, base_url: str, name: str, height: int = 2300, screenshot: Path | None = None):
    """Open one page (press its button, wait for its result); returns (page, seconds until
    it settled, see :func:`wait_until_settled`).

    The caller closes the page. Streamlit scrolls inside its own container, so a tall window
    shows a page whole in a screenshot.
    """
    path, button, wait_text = PAGES[name]
    page = new_app_page(browser, viewport={"width": 1280,
                                           "height": 1000 if name == "home" else height})
    started = time.time()
    page.goto(base_url + path)
    page.wait_for_selector("[data-testid='stApp']")
    ready = wait_until_settled(page, started, page_title(name))
    if button:
        page.get_by_role("button", name=button).click()
        page.get_by_text(wait_text).first.wait_for(timeout=300_000)
        wait_until_settled(page, time.time(), page_title(name), timeout_s=300)
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
    return page, ready

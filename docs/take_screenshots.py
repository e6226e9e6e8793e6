"""Start `streamlit run app.py` on a free localhost port and screenshot its pages.

Needs Debian's chromium (`apt-get install -y chromium`) and the `playwright` Python package;
it never downloads a browser. Writes PNGs to docs/screenshots/.

    python docs/take_screenshots.py
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, (path, button, wait_text) in PAGES.items():
                # Streamlit scrolls inside its own container, so a tall window shows a page whole.
                height = 1000 if name == "home" else 2300
                page = browser.new_page(viewport={"width": 1280, "height": height})
                page.goto(f"http://127.0.0.1:{port}{path}")
                page.wait_for_selector("[data-testid='stApp']")
                idle = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
                page.wait_for_function(idle, timeout=120_000)
                if button:
                    page.get_by_role("button", name=button).click()
                    page.get_by_text(wait_text).first.wait_for(timeout=300_000)
                    page.wait_for_function(idle, timeout=300_000)
                page.wait_for_timeout(2500)
                page.screenshot(path=str(OUT / f"{name}.png"))
                page.close()
                print(f"saved {OUT / f'{name}.png'}")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()

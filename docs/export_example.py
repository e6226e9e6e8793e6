"""Export a 3D view and a plot of the bundled alanine dipeptide demo, then screenshot the file.

Builds an ordinary nglview view (ball+stick, 200 frames) beside a plotly FigureWidget of the
backbone dihedrals with a "frame marker", writes them with ``cgviz.widgets.export_html`` and
opens the file in Debian's headless chromium with every network request blocked. Writes
``docs/screenshots/export_html.png``; the HTML file goes to ``--out`` (default: a temporary
directory; it is about 10 MB, so it is not kept in the repository).

    python docs/export_example.py [--out alanine.html]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

SCREENSHOT = ROOT / "docs" / "screenshots" / "export_html.png"
N_FRAMES = 200
STEP = 50  # demo frames (1 ps each) between exported frames


def build_layout():
    """An HBox: the 3D view with its frames, and a VBox of a caption and a dihedral plot."""
    import ipywidgets as widgets
    import mdtraj as md
    import nglview
    import numpy as np
    import plotly.graph_objects as go

    from cgviz import datasets

    demo = datasets.load_demo("alanine-dipeptide")
    traj = demo.trajectories[0][::STEP][:N_FRAMES]
    view = nglview.NGLWidget()
    view.add_trajectory(traj, default_representation=False)
    view.add_representation("ball+stick", "all")
    view.layout.height = "420px"
    view.frame = N_FRAMES // 2

    time_ns = np.arange(traj.n_frames) * STEP * demo.info.frame_time_ps / 1000.0
    phi = np.degrees(md.compute_phi(traj)[1][:, 0])
    psi = np.degrees(md.compute_psi(traj)[1][:, 0])
    figure = go.FigureWidget()
    figure.add_scatter(x=time_ns, y=phi, mode="lines", name="phi")
    figure.add_scatter(x=time_ns, y=psi, mode="lines", name="psi")
    figure.add_shape(type="line", x0=0, x1=0, y0=0, y1=1, yref="paper", name="frame marker",
                     line=dict(color="black", width=1, dash="dot"))
    figure.update_layout(height=380, margin=dict(l=50, r=10, t=30, b=40),
                         xaxis_title="time (ns)", yaxis_title="dihedral (degrees)",
                         title="Backbone dihedrals")
    caption = widgets.HTML(
        "<b>Alanine dipeptide</b>, bundled demo: "
        f"{traj.n_frames} frames, every {STEP} ps. The dotted line follows the frame slider.")
    return widgets.HBox([view, widgets.VBox([caption, figure])])


def main() -> None:
    from playwright.sync_api import sync_playwright

    from cgviz.widgets import export_html

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where to write the HTML file")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="cgviz-export-")) / "alanine.html"
    path = export_html(build_layout(), out, title="cgviz export: alanine dipeptide")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 640})
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:", "blob:"))
                   else route.abort())
        page.goto(path.as_uri())
        page.wait_for_function("window.cgvizExportReady === true", timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    print(f"saved {SCREENSHOT}")


if __name__ == "__main__":
    main()

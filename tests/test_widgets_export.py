"""cgviz.widgets.export_html: one offline HTML file of nglview views and plotly plots.

Real nglview views of the bundled alanine dipeptide demo and real plotly FigureWidgets, no
mocks. The browser test opens the file in Debian's headless Chromium with every request
that is not file:, data: or blob: aborted, and checks that the WebGL canvas drew the
molecule, that the frame slider moves it, and that the plot rendered.
"""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from browser_support import decode_png, drawn_fraction
from cgviz.errors import CgvizError

N_FRAMES = 20
FRAME_STEP = 250  # frames of the demo between exported frames: visible motion


# --------------------------------------------------------------------------------------
# helpers


def _payload(text: str) -> dict:
    """The JSON data block that export_html embeds in the page."""
    match = re.search(r'<script type="application/json" id="cgviz-data">(.*?)</script>',
                      text, flags=re.DOTALL)
    assert match, "no cgviz-data block in the page"
    return json.loads(match.group(1))


class _Tags(HTMLParser):
    """Every start tag of the page with its attributes (script bodies are not tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def traj():
    from cgviz import datasets

    demo = datasets.load_demo("alanine-dipeptide")
    return demo.trajectories[0][::FRAME_STEP][:N_FRAMES]


def _view(traj):
    import nglview

    view = nglview.NGLWidget()
    view.add_trajectory(traj, default_representation=False)
    view.add_representation("ball+stick", "all")
    return view


def _figure(n_frames: int):
    import plotly.graph_objects as go

    t = np.arange(n_frames) * 0.5  # ns
    figure = go.FigureWidget(go.Scatter(x=t, y=np.cos(t), mode="lines", name="signal"))
    figure.add_scatter(x=[t[0]], y=[1.0], mode="markers", name="frame marker")
    figure.update_layout(height=300, xaxis_title="time (ns)")
    return figure


@pytest.fixture(scope="module")
def exported(tmp_path_factory, traj):
    """A real layout (HBox of a view and a VBox of HTML, a plot and a slider), exported."""
    import ipywidgets as widgets

    from cgviz.widgets import export_html

    layout = widgets.HBox([
        _view(traj),
        widgets.VBox([widgets.HTML("<b>Alanine dipeptide</b>"), _figure(len(traj)),
                      widgets.IntSlider()]),
    ])
    folder = tmp_path_factory.mktemp("export") / "nested" / "dir"
    path = export_html(layout, folder / "alanine", title="Alanine <dipeptide>")
    return path


# --------------------------------------------------------------------------------------
# the file


def test_writes_one_html_file_with_suffix(exported):
    assert isinstance(exported, Path)
    assert exported.suffix == ".html" and exported.name == "alanine.html"
    assert exported.is_file()
    assert [p.name for p in exported.parent.iterdir()] == ["alanine.html"]  # no temp left
    text = exported.read_text(encoding="utf-8")
    assert "<title>Alanine &lt;dipeptide&gt;</title>" in text
    assert "<b>Alanine dipeptide</b>" in text  # the HTML widget, as it is


def test_nothing_is_fetched_from_the_network(exported):
    text = exported.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    external = [(tag, attrs) for tag, attrs in parser.tags
                for name, value in attrs.items()
                if name in ("src", "href", "data", "action", "poster")
                and value and re.match(r"\s*(https?:)?//", value)]
    assert external == []
    assert not [tag for tag, attrs in parser.tags if tag == "script" and "src" in attrs]
    assert not [tag for tag, _ in parser.tags if tag == "link"]
    markup = re.sub(r"<script\b.*?</script>", "", text, flags=re.DOTALL | re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", markup, re.IGNORECASE)
    # NGL and plotly.js are inside the file.
    assert 'define(["@jupyter-widgets/base"]' in text and "plotly.js v" in text


def test_pdb_atoms_and_every_frame_are_embedded(exported, traj):
    payload = _payload(exported.read_text(encoding="utf-8"))
    assert len(payload["views"]) == 1 and len(payload["figures"]) == 1
    view = payload["views"][0]
    load = [m for m in view["messages"] if m["methodName"] == "loadFile"]
    assert len(load) == 1 and load[0]["kwargs"]["defaultRepresentation"] is False
    pdb = load[0]["args"][0]["data"]
    atoms = [line for line in pdb.splitlines() if line.startswith(("ATOM", "HETATM"))]
    assert len(atoms) == traj.n_atoms == 22
    assert [m["methodName"] for m in view["messages"]][-1] == "addRepresentation"

    frames = view["frames"]
    assert frames["n_frames"] == N_FRAMES and frames["stride"] == 1
    assert frames["frames"] == list(range(N_FRAMES))
    (coords,) = frames["trajectories"]
    assert coords["count"] == N_FRAMES and coords["n_atoms"] == traj.n_atoms
    xyz = np.frombuffer(base64.b64decode(coords["data"]), dtype="<f4")
    xyz = xyz.reshape(N_FRAMES, traj.n_atoms, 3)
    np.testing.assert_allclose(xyz, traj.xyz * 10.0, rtol=1e-6)  # nm -> Angstrom


def test_frame_marker_follows_the_first_view(exported):
    figure = _payload(exported.read_text(encoding="utf-8"))["figures"][0]
    markers = figure["markers"]
    assert markers["traces"] == [{"index": 1, "kind": "point"}]
    np.testing.assert_allclose(markers["x"], np.arange(N_FRAMES) * 0.5)
    np.testing.assert_allclose(markers["y"], np.cos(np.arange(N_FRAMES) * 0.5))


def test_long_trajectories_are_strided_to_the_size_cap(tmp_path, traj):
    from cgviz.widgets import export_html

    # 20 frames x 22 atoms x 12 bytes = 5280 bytes; a 2 kB cap keeps every 3rd frame.
    path = export_html(_view(traj), tmp_path / "small.html", max_frame_mb=0.002)
    frames = _payload(path.read_text(encoding="utf-8"))["views"][0]["frames"]
    assert frames["stride"] == 3
    assert frames["frames"] == list(range(0, N_FRAMES, 3))
    assert frames["trajectories"][0]["count"] == len(range(0, N_FRAMES, 3))
    assert "plotly.js v" not in path.read_text(encoding="utf-8")  # no figure, no plotly.js


def test_a_vertical_line_marker_follows_strided_frames(tmp_path, traj):
    import ipywidgets as widgets
    import plotly.graph_objects as go

    from cgviz.widgets import export_html

    figure = go.FigureWidget(go.Scatter(x=np.arange(N_FRAMES) * 2.0, y=np.zeros(N_FRAMES)))
    figure.add_vline(x=0.0, name="frame marker")
    view = _view(traj)
    view.frame = 10
    path = export_html(widgets.VBox([view, figure]), tmp_path / "vline.html",
                       max_frame_mb=0.002)
    payload = _payload(path.read_text(encoding="utf-8"))
    assert payload["views"][0]["frames"]["initial"] == 3  # frame 10 -> the 4th kept frame (9)
    markers = payload["figures"][0]["markers"]
    assert markers["shapes"] == [0] and markers["traces"] == []
    assert markers["x"] == [2.0 * f for f in range(0, N_FRAMES, 3)]


def test_a_bare_figure_exports_without_ngl(tmp_path):
    from cgviz.widgets import export_html

    path = export_html(_figure(5), tmp_path / "plot.html")
    text = path.read_text(encoding="utf-8")
    payload = _payload(text)
    assert payload["views"] == [] and payload["figures"][0]["markers"] is None
    assert "<title>cgviz export</title>" in text
    assert 'define(["@jupyter-widgets/base"]' not in text


def test_an_empty_view_exports_an_empty_stage(tmp_path):
    import nglview

    from cgviz.widgets import export_html

    path = export_html(nglview.NGLWidget(), tmp_path / "empty")
    view = _payload(path.read_text(encoding="utf-8"))["views"][0]
    assert view["frames"] is None
    assert not [m for m in view["messages"] if m["methodName"] == "loadFile"]


# --------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("thing", ["a string", 42, None])
def test_unsupported_objects_are_refused(tmp_path, thing):
    from cgviz.widgets import export_html

    with pytest.raises(CgvizError, match=type(thing).__name__):
        export_html(thing, tmp_path / "x.html")
    assert not list(tmp_path.iterdir())


def test_a_lone_control_or_trajectory_is_refused(tmp_path, traj):
    import ipywidgets as widgets

    from cgviz.widgets import export_html

    with pytest.raises(CgvizError, match="IntSlider"):
        export_html(widgets.IntSlider(), tmp_path / "x.html")
    with pytest.raises(CgvizError, match="Trajectory"):
        export_html(traj, tmp_path / "x.html")


def test_a_layout_without_views_or_plots_is_refused(tmp_path):
    import ipywidgets as widgets

    from cgviz.widgets import export_html

    with pytest.raises(CgvizError, match="no 3D view and no plot"):
        export_html(widgets.VBox([widgets.Label("hi"), widgets.IntSlider()]), tmp_path / "x")


def test_a_missing_ngl_bundle_says_how_to_fix_it(tmp_path, monkeypatch, traj):
    from cgviz.widgets import export as export_module

    monkeypatch.setattr(export_module, "_nbextension_dirs", lambda: [tmp_path])
    with pytest.raises(CgvizError, match="nglview-js-widgets") as info:
        export_module.export_html(_view(traj), tmp_path / "x.html")
    assert "Reinstall nglview" in (info.value.hint or "")


# --------------------------------------------------------------------------------------
# the browser


def _open(browser, path: Path):
    """Open an exported file offline; returns (page, problems) where problems collects
    network requests, console errors and page errors."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []

    def route(route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            problems.append(f"network request: {url}")
            route.abort()

    page.route("**/*", route)  # every request passes here: it is recorded and refused
    page.on("console", lambda m: problems.append(f"console error: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(path.as_uri())
    page.wait_for_function("window.cgvizExportReady === true || !!window.cgvizExportFailed",
                           timeout=60_000)
    assert page.evaluate("window.cgvizExportFailed || null") is None
    return page, problems


def _canvas_pixels(page, view_id: str = "cgviz-view-0") -> np.ndarray:
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return decode_png(page.locator(f"#{view_id} canvas").first.screenshot())


def test_the_file_draws_the_molecule_offline_and_the_slider_moves_it(browser, exported):
    page, problems = _open(browser, exported)
    try:
        version = page.evaluate("""() => {
            const gl = window.cgvizExport.views[0].stage.viewer.renderer.getContext();
            return gl.getParameter(gl.VERSION); }""")
        assert "WebGL" in version

        first = _canvas_pixels(page)
        assert first.shape[0] > 300 and first.shape[1] > 300
        fraction = drawn_fraction(first)
        assert 0.005 < fraction < 0.8, f"{fraction:.4f} of the canvas differs from white"
        assert page.locator("#cgviz-view-0 .cgviz-frame-label").inner_text() \
            == f"frame 0 / {N_FRAMES - 1}"

        slider = page.locator("#cgviz-view-0 input.cgviz-frame-slider")
        assert slider.get_attribute("max") == str(N_FRAMES - 1)
        slider.evaluate("el => { el.value = el.max; "
                        "el.dispatchEvent(new Event('input', {bubbles: true})); }")
        last = _canvas_pixels(page)
        changed = float((np.abs(last.astype(int) - first.astype(int)).max(axis=-1) > 30).mean())
        assert changed > 0.002, f"only {changed:.4f} of the canvas changed with the frame"
        assert drawn_fraction(last) > 0.005
        assert page.locator("#cgviz-view-0 .cgviz-frame-label").inner_text() \
            == f"frame {N_FRAMES - 1} / {N_FRAMES - 1}"

        # The plot rendered, and its frame marker followed the slider.
        assert page.locator("#cgviz-fig-0.js-plotly-plot .main-svg").count() >= 1
        assert page.locator("#cgviz-fig-0 .scatterlayer .trace").count() == 2
        marker_x = page.evaluate("document.getElementById('cgviz-fig-0').data[1].x[0]")
        assert marker_x == pytest.approx((N_FRAMES - 1) * 0.5)
        assert page.evaluate("window.cgvizExport.notes") == []
        assert problems == []
    finally:
        page.close()


def test_an_empty_view_opens_without_errors(browser, tmp_path):
    import ipywidgets as widgets
    import nglview

    from cgviz.widgets import export_html

    path = export_html(widgets.VBox([nglview.NGLWidget(), widgets.HTML("<i>empty</i>")]),
                       tmp_path / "empty.html")
    page, problems = _open(browser, path)
    try:
        assert "no components" in page.locator("#cgviz-view-0").inner_text()
        assert page.locator("#cgviz-view-0 .cgviz-frame-slider").count() == 0
        assert drawn_fraction(_canvas_pixels(page)) < 0.001  # only the background
        assert problems == []
    finally:
        page.close()

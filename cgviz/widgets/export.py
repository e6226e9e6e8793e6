"""One self-contained, offline HTML file of an nglview 3D view or a layout of views and plots.

:func:`export_html` walks an ipywidgets layout (HBox, VBox, Box, GridBox, Tab/Accordion, or
subclasses of them) and writes a single HTML file that needs no network and no Jupyter:

- every :class:`nglview.NGLWidget` becomes an NGL stage that replays the view's message archive
  (``view._ngl_msg_archive``: loadFile, addRepresentation with its colour schemes, shapes,
  stage parameters...) and carries the frames of its trajectories (Angstrom, float32, base64)
  with its own frame slider and play button;
- every plotly figure (``go.Figure`` or ``go.FigureWidget``) becomes a plotly.js plot; a trace
  or a layout shape named ``"frame marker"`` follows the frame slider of the first 3D view;
- ``HTML``/``HTMLMath`` widgets are copied as they are, ``Label`` as text, ``Image`` as an
  inline image; sliders, buttons, Play and other controls are left out (the page has its own
  frame controls).

The JavaScript is embedded: NGL comes from nglview's own notebook bundle (loaded through a
small AMD shim, so exactly the NGL version the notebook uses) and plotly.js from the plotly
package. Nothing is fetched from a CDN. Units: the frames are the Angstrom coordinates that
the nglview adaptors hand to NGL; cgviz's nm never reach this module.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cgviz.errors import CgvizError

#: Embedded frame data (raw float32 megabytes, before base64) above which frames are strided:
#: 30 MB of frames are 40 MB of base64, which with NGL and plotly.js (~10 MB) keeps a file
#: at about 50 MB at most.
DEFAULT_MAX_FRAME_MB = 30.0
#: The name that makes a plotly trace or layout shape follow the frame slider.
FRAME_MARKER_NAME = "frame marker"
_DEFAULT_VIEW_HEIGHT = "400px"
_NGL_BUNDLE = Path("nglview-js-widgets") / "index.js"

# Methods of nglview's JS widget ("Widget" target) that the page knows how to replay.
_WIDGET_METHODS = {
    "addShape", "addBuffer", "removeRepresentation", "removeRepresentationsByName",
    "updateRepresentationsByName", "setParameters", "set_camera_orientation",
}


# --------------------------------------------------------------------------------------
# The JavaScript libraries


def _nbextension_dirs() -> list[Path]:
    """Where Jupyter looks for classic-notebook extensions, plus this interpreter's prefix."""
    dirs: list[Path] = []
    try:
        from jupyter_core.paths import jupyter_path

        dirs += [Path(p) for p in jupyter_path("nbextensions")]
    except ImportError:  # pragma: no cover - jupyter_core comes with ipywidgets
        pass
    for prefix in (sys.prefix, sys.base_prefix):
        dirs.append(Path(prefix) / "share" / "jupyter" / "nbextensions")
    unique: list[Path] = []
    for directory in dirs:
        if directory not in unique:
            unique.append(directory)
    return unique


def find_ngl_bundle() -> Path:
    """The path of nglview's notebook bundle (``nglview-js-widgets/index.js``), which holds NGL.

    Raises CgvizError when nglview's JavaScript is not installed.
    """
    searched = _nbextension_dirs()
    for directory in searched:
        candidate = directory / _NGL_BUNDLE
        if candidate.is_file():
            return candidate
    raise CgvizError(
        "nglview's JavaScript bundle (nglview-js-widgets/index.js) was not found in "
        + ", ".join(str(d) for d in searched) + ".",
        hint="Reinstall nglview in this environment (pip install --force-reinstall "
             "--no-deps nglview==<your version>); it installs the bundle under "
             "share/jupyter/nbextensions.")


def _script_safe(source: str) -> str:
    """JavaScript source that can sit inside <script>...</script> unchanged in meaning.

    ``</script`` would end the element and ``<!--`` would switch the HTML parser into its
    escaped script state; both only occur inside string or regex literals, where ``\\x3C``
    means the same ``<``.
    """
    source = re.sub(r"</(script)", r"\\x3C/\1", source, flags=re.IGNORECASE)
    return source.replace("<!--", "\\x3C!--")


@functools.lru_cache(maxsize=4)
def _ngl_script(bundle_path: str, mtime: float) -> str:
    """nglview's AMD bundle wrapped so that it defines nothing global and yields NGL.

    The bundle is ``define(["@jupyter-widgets/base"], factory)``. A local ``define`` hands
    the factory a stand-in for ``@jupyter-widgets/base`` (every name is an empty class, as the
    widget classes only extend them) and keeps the factory's ``NGL`` export. Webpack works out
    the bundle's own URL from ``document.currentScript.src``, which is empty for an inline
    script; the page's own address is given for the duration of the call.
    """
    del mtime  # part of the cache key only
    source = Path(bundle_path).read_text(encoding="utf-8")
    source = re.sub(r"^//# sourceMappingURL=.*$", "", source, flags=re.MULTILINE)
    if not re.search(r"""define\(\s*\[\s*["']@jupyter-widgets/base["']""", source[:4000]):
        raise CgvizError(f"{bundle_path} is not the AMD bundle this exporter knows how to load.",
                         hint="Use the nglview version pinned in requirements.txt.")
    head = r"""
window.__cgvizNGL = (function () {
  var exported = null;
  var stubs = {};
  var widgetsBase = new Proxy({}, {
    get: function (target, name) {
      if (typeof name !== "string" || name === "__esModule" || name === "then") return undefined;
      if (!stubs[name]) stubs[name] = (function () { return class {}; })();
      return stubs[name];
    }
  });
  function define(deps, factory) {
    if (!Array.isArray(deps) || typeof factory !== "function") return;
    if (deps.indexOf("@jupyter-widgets/base") < 0) return;
    var fakeScript = {tagName: "SCRIPT", src: window.location.href};
    Object.defineProperty(document, "currentScript",
                          {configurable: true, get: function () { return fakeScript; }});
    try {
      exported = factory.apply(null, deps.map(function (d) {
        return d === "@jupyter-widgets/base" ? widgetsBase : undefined;
      }));
    } finally {
      delete document.currentScript;
    }
  }
"""
    tail = "\n;return exported && exported.NGL ? exported.NGL : null;\n})();\n"
    return _script_safe(head + source + tail)


def _plotly_script() -> str:
    """plotly.js, as shipped inside the plotly Python package."""
    from plotly.offline import get_plotlyjs

    return ("window.PlotlyConfig = {MathJaxConfig: 'local'};\n"
            + _script_safe(get_plotlyjs()))


# --------------------------------------------------------------------------------------
# Walking the widget tree


@dataclass
class _ViewEntry:
    """One NGLWidget found in the layout, and its place in the page."""

    view: Any
    dom_id: str


@dataclass
class _FigureEntry:
    """One plotly figure found in the layout, and its place in the page."""

    figure: Any
    dom_id: str


@dataclass
class _Collected:
    """What the walk over the layout found."""

    views: list[_ViewEntry] = field(default_factory=list)
    figures: list[_FigureEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _is_ngl(obj: Any) -> bool:
    try:
        import nglview
    except ImportError:  # pragma: no cover - cgviz requires nglview
        return False
    return isinstance(obj, nglview.NGLWidget)


def _is_figure(obj: Any) -> bool:
    from plotly.basedatatypes import BaseFigure

    return isinstance(obj, BaseFigure)


def _layout_value(widget: Any, name: str) -> str | None:
    """A CSS value from ``widget.layout`` (None when unset or when there is no layout)."""
    layout = getattr(widget, "layout", None)
    value = getattr(layout, name, None) if layout is not None else None
    if value is None or not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


_CSS_VALUE = re.compile(r"^[\w\s.%#(),/'\"+-]*$")


def _css(props: dict[str, str | None]) -> str:
    """An inline style attribute from CSS properties (unset or odd values are dropped)."""
    parts = [f"{key}: {value}" for key, value in props.items()
             if value is not None and _CSS_VALUE.match(value)]
    return f' style="{html.escape("; ".join(parts))}"' if parts else ""


def _size_style(widget: Any) -> dict[str, str | None]:
    width = _layout_value(widget, "width")
    return {"width": width, "flex": "0 0 auto" if width else None,
            "grid-area": _layout_value(widget, "grid_area")}


def _render(obj: Any, found: _Collected, depth: int = 0) -> str:
    """HTML for one widget of the layout; views and figures are collected into ``found``."""
    import ipywidgets as widgets

    if depth > 64:
        raise CgvizError("The layout is nested more than 64 levels deep.",
                         hint="Export a smaller part of it.")
    if _is_ngl(obj):
        dom_id = f"cgviz-view-{len(found.views)}"
        found.views.append(_ViewEntry(obj, dom_id))
        height = _layout_value(obj, "height")
        if height in (None, "auto"):
            height = getattr(obj, "_view_height", None) or _DEFAULT_VIEW_HEIGHT
        style = _size_style(obj)
        return (f'<div class="cgviz-view" id="{dom_id}"{_css(style)}>'
                f'<div class="cgviz-stage"{_css({"height": height})}></div></div>')
    if _is_figure(obj):
        dom_id = f"cgviz-fig-{len(found.figures)}"
        found.figures.append(_FigureEntry(obj, dom_id))
        return f'<div class="cgviz-plot" id="{dom_id}"{_css(_size_style(obj))}></div>'
    if isinstance(obj, (widgets.HTML, widgets.HTMLMath)):
        return f'<div class="cgviz-html"{_css(_size_style(obj))}>{obj.value}</div>'
    if isinstance(obj, widgets.Label):
        return f'<div class="cgviz-label">{html.escape(str(obj.value))}</div>'
    if isinstance(obj, widgets.Image):
        value = bytes(obj.value or b"")
        if not value:
            return ""
        mime = "image/svg+xml" if obj.format == "svg+xml" else f"image/{obj.format or 'png'}"
        uri = f"data:{mime};base64,{base64.b64encode(value).decode('ascii')}"
        return f'<img class="cgviz-image" alt="" src="{uri}"{_css(_size_style(obj))}>'
    if isinstance(obj, widgets.Box):
        children = list(getattr(obj, "children", ()) or ())
        titles: list[str] = []
        if isinstance(obj, (widgets.Tab, widgets.Accordion, widgets.Stack)):
            titles = [str(t) for t in (getattr(obj, "titles", ()) or ())]
            parts = []
            for index, child in enumerate(children):
                title = titles[index] if index < len(titles) and titles[index] else ""
                header = f'<div class="cgviz-section-title">{html.escape(title)}</div>' \
                    if title else ""
                parts.append(f"<section>{header}{_render(child, found, depth + 1)}</section>")
            return f'<div class="cgviz-col">{"".join(parts)}</div>'
        inner = "".join(_render(child, found, depth + 1) for child in children)
        style = _size_style(obj)
        if isinstance(obj, widgets.GridBox):
            columns = _layout_value(obj, "grid_template_columns")
            rows = _layout_value(obj, "grid_template_rows")
            areas = _layout_value(obj, "grid_template_areas")
            if columns or rows or areas:
                style.update({"grid-template-columns": columns, "grid-template-rows": rows,
                              "grid-template-areas": areas})
                return f'<div class="cgviz-grid"{_css(style)}>{inner}</div>'
            return f'<div class="cgviz-col"{_css(style)}>{inner}</div>'
        flow = (_layout_value(obj, "flex_flow") or "").split()
        if isinstance(obj, widgets.HBox):
            kind = "cgviz-row"
        elif isinstance(obj, widgets.VBox):
            kind = "cgviz-col"
        else:
            kind = "cgviz-row" if flow and flow[0] in ("row", "row-reverse") else "cgviz-col"
        return f'<div class="{kind}"{_css(style)}>{inner}</div>'
    if isinstance(obj, widgets.Widget):
        # Sliders, buttons, Play, text inputs, Output...: the page has its own controls.
        found.skipped.append(type(obj).__name__)
        return ""
    raise CgvizError(f"export_html cannot show a {type(obj).__module__}.{type(obj).__name__} "
                     "inside a layout.",
                     hint="Layouts may hold nglview views, plotly figures, ipywidgets boxes "
                          "and HTML/Label widgets.")


# --------------------------------------------------------------------------------------
# The data of each 3D view


def _plain(obj: Any) -> Any:
    """JSON-safe copy of a message (numpy scalars and arrays become numbers and lists)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, bytes):
        return base64.b64encode(obj).decode("ascii")
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


def _view_messages(view: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The replayable messages of a view's archive, and a note for each one left out."""
    messages: list[dict[str, Any]] = []
    notes: list[str] = []
    for message in list(getattr(view, "_ngl_msg_archive", []) or []):
        if not isinstance(message, dict) or message.get("type", "call_method") != "call_method":
            continue
        method = str(message.get("methodName", ""))
        target = str(message.get("target", ""))
        if target == "Stage" and method == "loadFile":
            spec = (message.get("args") or [{}])[0]
            if not isinstance(spec, dict) or spec.get("type") != "blob":
                # A URL or a file name: it would need the network or a notebook server. The
                # page keeps an empty slot so later component indices still match.
                notes.append(f"a component loaded from {str(spec.get('data', '?'))[:80]!r} "
                             "(not embedded: only in-memory data can be exported)")
                messages.append({"target": "Stage", "methodName": "loadFile", "skip": True})
                continue
        elif target == "Widget" and method not in _WIDGET_METHODS:
            continue  # notebook-only calls: sizes, syncing, GUI requests, executeCode
        messages.append(_plain(message))
    return messages, notes


def _view_frames(view: Any, stride: int) -> dict[str, Any] | None:
    """Every ``stride``-th frame (0..view.max_frame) of each trajectory, as base64 float32."""
    trajlist = list(getattr(view, "_trajlist", []) or [])
    component_ids = list(getattr(view, "_ngl_component_ids", []) or [])
    max_frame = int(getattr(view, "max_frame", 0) or 0)
    if not trajlist or max_frame < 1:
        return None
    frames = list(range(0, max_frame + 1, stride))
    trajectories = []
    for traj in trajlist:
        if getattr(traj, "id", None) not in component_ids or not getattr(traj, "shown", True):
            continue
        n_frames = int(getattr(traj, "n_frames", 0) or 0)
        wanted = [f for f in frames if f < n_frames]
        if not wanted:
            continue
        coords = []
        n_atoms = None
        for f in wanted:
            xyz = np.asarray(traj.get_coordinates(f), dtype="<f4").reshape(-1, 3)
            if n_atoms is None:
                n_atoms = xyz.shape[0]
            elif xyz.shape[0] != n_atoms:
                raise CgvizError(f"Frame {f} of a trajectory in the 3D view has {xyz.shape[0]} "
                                 f"atoms, frame {wanted[0]} has {n_atoms}.")
            coords.append(xyz)
        block = np.ascontiguousarray(np.stack(coords), dtype="<f4")
        trajectories.append({
            "component": component_ids.index(traj.id),
            "count": len(wanted),
            "n_atoms": int(n_atoms or 0),
            "data": base64.b64encode(block.tobytes()).decode("ascii"),
        })
    if not trajectories:
        return None
    initial_frame = min(max(int(getattr(view, "frame", 0) or 0), 0), max_frame)
    return {"frames": frames, "stride": stride, "n_frames": max_frame + 1,
            "initial": initial_frame // stride, "trajectories": trajectories}


def _frame_bytes(view: Any) -> int:
    """Bytes of float32 coordinates that all frames of a view's trajectories take."""
    total = 0
    component_ids = list(getattr(view, "_ngl_component_ids", []) or [])
    max_frame = int(getattr(view, "max_frame", 0) or 0)
    if max_frame < 1:
        return 0
    for traj in getattr(view, "_trajlist", []) or []:
        if getattr(traj, "id", None) not in component_ids:
            continue
        n_frames = min(int(getattr(traj, "n_frames", 0) or 0), max_frame + 1)
        if n_frames:
            n_atoms = np.asarray(traj.get_coordinates(0)).size // 3
            total += n_frames * n_atoms * 3 * 4
    return total


def _view_data(entry: _ViewEntry, stride: int) -> dict[str, Any]:
    view = entry.view
    messages, notes = _view_messages(view)
    camera = [float(v) for v in (getattr(view, "_camera_orientation", None) or [])]
    stage_params = _plain(dict(getattr(view, "_ngl_full_stage_parameters", {}) or {}))
    stage_params.pop("backgroundColor", None)
    stage_params["backgroundColor"] = str(getattr(view, "background", "white") or "white")
    camera_type = getattr(view, "_camera_str", None)
    if camera_type in ("perspective", "orthographic"):
        stage_params["cameraType"] = camera_type
    return {
        "id": entry.dom_id,
        "messages": messages,
        "notes": notes,
        "stageParameters": stage_params,
        "camera": camera if len(camera) == 16 else None,
        "frames": _view_frames(view, stride),
    }


# --------------------------------------------------------------------------------------
# Figures and their frame markers


def _values(seq: Any) -> list[Any] | None:
    if seq is None:
        return None
    try:
        return list(np.asarray(seq).tolist())
    except (TypeError, ValueError):
        return None


def _reference_points(figure: Any) -> tuple[list[Any], list[Any]] | None:
    """x and y of the first trace that is not a frame marker (x defaults to 0, 1, 2...)."""
    for trace in figure.data:
        if getattr(trace, "name", None) == FRAME_MARKER_NAME:
            continue
        y = _values(getattr(trace, "y", None))
        x = _values(getattr(trace, "x", None))
        if y is None and x is None:
            continue
        if x is None:
            x = list(range(len(y or [])))
        if y is None:
            y = [None] * len(x)
        if len(x) > 1 and len(x) == len(y):
            return x, y
    return None


def _figure_markers(figure: Any, frames: list[int] | None, n_frames: int) -> dict[str, Any] | None:
    """Where the figure's frame markers go at each slider position of the first 3D view.

    A marker trace with one point moves to the reference trace's point for the frame; one
    whose points share an x (a vertical line) and a layout line shape with x0 == x1 move to
    the reference trace's x. The reference trace is the first other trace; its points are
    taken as spread evenly over the view's frames.
    """
    if not frames:
        return None
    traces = []
    for index, trace in enumerate(figure.data):
        if getattr(trace, "name", None) != FRAME_MARKER_NAME:
            continue
        x = _values(getattr(trace, "x", None)) or []
        if len(x) == 1:
            traces.append({"index": index, "kind": "point"})
        elif len(x) > 1 and all(v == x[0] for v in x):
            traces.append({"index": index, "kind": "vline", "n": len(x)})
    shapes = []
    for index, shape in enumerate(getattr(figure.layout, "shapes", ()) or ()):
        if getattr(shape, "name", None) == FRAME_MARKER_NAME and shape.x0 == shape.x1:
            shapes.append(index)
    if not traces and not shapes:
        return None
    reference = _reference_points(figure)
    if reference is None:
        xs: list[Any] = list(frames)
        ys: list[Any] = [None] * len(frames)
    else:
        ref_x, ref_y = reference
        last = len(ref_x) - 1
        span = max(n_frames - 1, 1)
        picks = [f if len(ref_x) == n_frames else int(round(f * last / span)) for f in frames]
        picks = [min(max(p, 0), last) for p in picks]
        xs = [ref_x[p] for p in picks]
        ys = [ref_y[p] for p in picks]
    return {"traces": traces, "shapes": shapes, "x": _plain(xs), "y": _plain(ys)}


def _figure_data(entry: _FigureEntry, driver: dict[str, Any] | None) -> dict[str, Any]:
    import plotly.io as pio

    figure_json = json.loads(pio.to_json(entry.figure, validate=False))
    markers = None
    if driver is not None:
        markers = _figure_markers(entry.figure, driver["frames"], driver["n_frames"])
    return {"id": entry.dom_id, "figure": figure_json, "markers": markers}


# --------------------------------------------------------------------------------------
# The page

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px;
       color: #222; background: #fff; }
h1.cgviz-title { font-size: 20px; font-weight: 600; margin: 0 0 12px 0; }
.cgviz-row { display: flex; flex-direction: row; gap: 12px; align-items: flex-start; }
.cgviz-row > * { flex: 1 1 0; min-width: 0; }
.cgviz-col { display: flex; flex-direction: column; gap: 12px; }
.cgviz-grid { display: grid; gap: 12px; }
.cgviz-view { width: 100%; }
.cgviz-stage { position: relative; width: 100%; outline: 1px solid #ddd; }
.cgviz-controls { display: flex; align-items: center; gap: 8px; margin-top: 4px;
                  font-size: 13px; }
.cgviz-controls input[type=range] { flex: 1 1 auto; }
.cgviz-controls button { min-width: 2.5em; }
.cgviz-frame-label { font-variant-numeric: tabular-nums; white-space: nowrap; }
.cgviz-note { font-size: 12px; color: #666; margin-top: 2px; }
.cgviz-plot { width: 100%; }
.cgviz-section-title { font-weight: 600; margin: 4px 0; }
.cgviz-footer { font-size: 11px; color: #888; margin-top: 16px; }
"""

def _runtime_js() -> str:
    """The exported page's runtime (``export_runtime.js``, shipped with the package)."""
    from importlib import resources

    return resources.files("cgviz.widgets").joinpath("export_runtime.js").read_text()




def _json_for_script(payload: Any) -> str:
    """JSON text that is safe inside <script type="application/json">."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _collect(view_or_layout: Any) -> tuple[str, _Collected]:
    """The body HTML and what was found, with the top-level type checked."""
    import ipywidgets as widgets

    if not (_is_ngl(view_or_layout) or _is_figure(view_or_layout)
            or isinstance(view_or_layout, widgets.Box)):
        kind = type(view_or_layout)
        raise CgvizError(
            f"export_html cannot export a {kind.__module__}.{kind.__name__}.",
            hint="Pass an nglview.NGLWidget, a plotly figure (go.Figure or go.FigureWidget) "
                 "or an ipywidgets box (HBox, VBox, GridBox...) holding them.")
    found = _Collected()
    body = _render(view_or_layout, found)
    if not found.views and not found.figures:
        raise CgvizError("There is no 3D view and no plot in this layout to export.",
                         hint="Put an nglview view or a plotly figure into the box.")
    return body, found


def _choose_stride(views: list[_ViewEntry], max_frame_mb: float) -> int:
    total = sum(_frame_bytes(entry.view) for entry in views)
    budget = max(float(max_frame_mb), 0.001) * 1e6
    return max(1, math.ceil(total / budget)) if total else 1


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise
    try:
        os.chmod(path, 0o644)
    except OSError:  # pragma: no cover - e.g. a file system without modes
        pass


def export_html(view_or_layout: Any, path: str | os.PathLike[str], title: str | None = None,
                *, max_frame_mb: float = DEFAULT_MAX_FRAME_MB) -> Path:
    """Write one offline HTML file that shows a 3D view (with its frames) and plots.

    Parameters
    ----------
    view_or_layout
        An ``nglview.NGLWidget``, a plotly ``go.Figure``/``go.FigureWidget``, or an ipywidgets
        box (HBox, VBox, Box, GridBox, Tab, Accordion, or a subclass) holding them, nested as
        deep as you like. HTML and Label widgets are copied; sliders, buttons, Play and other
        controls are left out: every 3D view with more than one frame gets its own frame slider
        and play button in the page.
    path
        Where to write; ``.html`` is added when it has no suffix, parent folders are created,
        and the file is replaced atomically.
    title
        The page title (default ``"cgviz export"``); when given it is also shown as a heading.
    max_frame_mb
        Coordinates of all frames are embedded as float32; when they would take more than this
        many megabytes (default 30, a file of about 50 MB at most), only every n-th frame is
        kept, the same n for every view (the page says so).

    Returns
    -------
    pathlib.Path
        The path of the written file.

    Raises
    ------
    CgvizError
        For an object that is not a view, a figure or a box, a layout without any view or
        figure, or when nglview's JavaScript bundle is not installed.
    """
    target = Path(os.fspath(path)).expanduser()
    if not target.suffix:
        target = target.with_suffix(".html")
    body, found = _collect(view_or_layout)
    ngl_js = ""
    if found.views:
        bundle = find_ngl_bundle()
        ngl_js = _ngl_script(str(bundle), bundle.stat().st_mtime)
    stride = _choose_stride(found.views, max_frame_mb)
    views = [_view_data(entry, stride) for entry in found.views]
    driver = next((v["frames"] for v in views
                   if v["frames"] and len(v["frames"]["frames"]) > 1), None)
    figures = [_figure_data(entry, driver) for entry in found.figures]
    payload = {"version": 1, "views": views, "figures": figures}

    page_title = title if title else "cgviz export"
    heading = f'<h1 class="cgviz-title">{html.escape(title)}</h1>\n' if title else ""
    scripts = []
    if found.figures:
        scripts.append(f"<script>{_plotly_script()}</script>")
    if found.views:
        scripts.append(f"<script>{ngl_js}</script>")
    scripts.append('<script type="application/json" id="cgviz-data">'
                   f"{_json_for_script(payload)}</script>")
    scripts.append(f"<script>{_runtime_js()}</script>")
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(page_title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{heading}<div id=\"cgviz-root\">{body}</div>\n"
        "<div class=\"cgviz-footer\">Exported by cgviz: works offline, no network needed. "
        "Drag to rotate, scroll to zoom.</div>\n"
        + "\n".join(scripts) + "\n</body>\n</html>\n"
    )
    _atomic_write(target, document)
    return target

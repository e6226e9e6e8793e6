"""Let the browser load plotly.js while a person reads the home page.

Streamlit's browser code loads its plotly chart code (plotly.js inside, 4.7 MB) only when a
page first shows a plotly chart. Running it takes about 0.7 s of the browser's main thread
on 2 cores, plus its download. The home page shows no plotly chart (its pictures are SVG,
:mod:`cgviz.pictures`), so it does not wait for that; instead it adds
:func:`plotly_warmup_html`, a small script that imports the same file once the page is
idle. The browser keeps one copy of each module per address, so when the Trajectory page
then asks for its first plotly chart, the code is already there.

The file name carries a content hash chosen by Streamlit's build, so it is looked up in the
installed Streamlit, never written down here. If it cannot be found (a Streamlit that
packs its files differently), no script is added: the pages work as before, and the first
plotly page pays for plotly.js. ``tests/test_app.py`` checks that the pinned Streamlit has
the file, and the browser test that the home page really loads it.
"""

from __future__ import annotations

import json
from pathlib import Path


def plotly_chunk_name(js_dir: Path | None = None) -> str | None:
    """The file name of Streamlit's plotly chart code (``PlotlyChart.<hash>.js``) in
    ``js_dir`` (default: the installed Streamlit's), or None unless there is exactly one."""
    if js_dir is None:
        import streamlit

        js_dir = Path(streamlit.__file__).parent / "static" / "static" / "js"
    found = sorted(Path(js_dir).glob("PlotlyChart.*.js"))
    return found[0].name if len(found) == 1 else None


def plotly_warmup_html() -> str:
    """A ``<script>`` for ``st.html(..., unsafe_allow_javascript=True)`` that imports
    Streamlit's plotly chart code when the browser is idle (empty if it is not found).

    The address is resolved against Streamlit's own entry script, as Streamlit resolves it,
    so it is the same module (also under a ``server.baseUrlPath``).
    """
    name = plotly_chunk_name()
    if name is None:
        return ""
    return (
        "<script type='module'>"
        f"const chunk = {json.dumps(name)};"
        "const entry = document.querySelector(\"script[type='module'][src*='static/js/index.']\");"
        "if (entry && !window.cgvizPlotlyWarmup) {"
        "  const load = () => import(new URL(chunk, entry.src).href).catch(() => {});"
        "  window.cgvizPlotlyWarmup = true;"
        "  (window.requestIdleCallback || ((f) => setTimeout(f, 100)))(load, {timeout: 1500});"
        "}"
        "</script>"
    )

"""Let the browser load the other pages' code while a person reads the home page.

Streamlit's browser code loads the code of each kind of element (a radio, a slider, a
plotly chart, a data table ...) only when a page first shows one. On 2 cores that is felt:
plotly's (plotly.js inside, 4.7 MB) takes about 0.7 s of the browser's main thread to run,
and the Trajectory page's widgets pull in some 35 small files. The home page shows none of
these (its pictures are SVG, :mod:`cgviz.pictures`), so it does not wait for them; instead
it adds :func:`warmup_html`, a small script that imports the same files, one at a time,
whenever the browser is idle. The browser keeps one copy of each module per address, so
when a page then shows such an element, its code is already there.

The file names carry content hashes chosen by Streamlit's build, so they are read from the
installed Streamlit's entry script, never written down here. An element whose file cannot
be found (a Streamlit that packs its files differently) is left out: the pages work as
before, and the first page that shows it loads it. ``tests/test_warmup.py`` checks that
the pinned Streamlit has every one, and the browser test that the home page loads them.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

#: The Streamlit elements the pages use, in the order a visitor meets them: the Trajectory
#: page first (most people go there next), then Coarse-Graining, Training and MEMnets.
ELEMENTS = ("Radio", "Selectbox", "Button", "Metric", "Slider", "PlotlyChart",
            "DataFrame", "DownloadButton", "NumberInput", "TextInput", "Checkbox")


def streamlit_static_dir() -> Path:
    """The installed Streamlit's browser files (``index.html``, ``static/js/...``)."""
    import streamlit

    return Path(streamlit.__file__).parent / "static"


@functools.cache
def chunk_names(elements: tuple[str, ...] = ELEMENTS, static_dir: Path | None = None) -> tuple:
    """The file names (``Name.<hash>.js``, in ``static/js``) of the given elements' code, as
    Streamlit's entry script loads them. ``static_dir``: Streamlit's browser files (default:
    the installed Streamlit's). Elements it does not load on demand are left out."""
    static_dir = Path(static_dir or streamlit_static_dir())
    try:
        page = (static_dir / "index.html").read_text(encoding="utf-8")
        (script,) = set(re.findall(r"src=\"\./static/js/(index\.[\w-]+\.js)\"", page))
        entry = (static_dir / "static" / "js" / script).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):  # ValueError: not exactly one entry
        return ()
    found = []
    for element in elements:
        names = set(re.findall(r"import\(`\./(%s\.[\w-]+\.js)`\)" % re.escape(element), entry))
        if len(names) == 1:
            found.append(names.pop())
    return tuple(found)


def warmup_html(elements: tuple[str, ...] = ELEMENTS) -> str:
    """A ``<script>`` for ``st.html(..., unsafe_allow_javascript=True)`` that imports the
    elements' code one file at a time when the browser is idle (empty if none is found).

    Each address is resolved against Streamlit's entry script, as Streamlit resolves it, so
    it is the same module (also under a ``server.baseUrlPath``). Between two files the
    browser is free to answer clicks.
    """
    names = chunk_names(tuple(elements))
    if not names:
        return ""
    return (
        "<script type='module'>"
        f"const chunks = {json.dumps(list(names))};"
        "const entry = document.querySelector(\"script[type='module'][src*='static/js/index.']\");"
        "const idle = (f) => (window.requestIdleCallback || ((g) => setTimeout(g, 50)))"
        "(f, {timeout: 1500});"
        "const next = (i) => { if (i < chunks.length) idle(() => "
        "import(new URL(chunks[i], entry.src).href).catch(() => {}).finally(() => next(i + 1))); };"
        "if (entry && !window.cgvizWarmup) { window.cgvizWarmup = true; next(0); }"
        "</script>"
    )

"""cgviz: see, train and question machine-learned coarse-grained molecular dynamics.

Importing ``cgviz`` is cheap: it loads neither torch_geometric, lightning, deeptime,
streamlit, nglview nor ipywidgets. Submodules (``cgviz.io``, ``cgviz.datasets``,
``cgviz.analysis``) are imported on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

from cgviz.errors import CgvizError

__version__ = "0.1.0"

_SUBMODULES = ("io", "datasets", "analysis", "figures", "mapping", "graph", "simulator", "widgets",
               "memnets", "training", "jobs", "cli")

__all__ = ["CgvizError", "__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cgviz.{name}")
    raise AttributeError(f"module 'cgviz' has no attribute {name!r}")

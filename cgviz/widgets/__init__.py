"""Jupyter views over cgviz: nglview 3D views and ipywidgets controls (imported lazily).

``import cgviz`` never imports this package; ``import cgviz.widgets`` imports neither
nglview nor ipywidgets until one of the names below is used.

- :func:`show_mapping` atoms coloured by bead, bead centres and CG bonds, one frame slider.
- :class:`RolloutPlayer` reference MD and a rollout side by side, one slider, Rg with a marker.
- :class:`RunMonitor` live curves, progress, cancel and resume for a background run.
- :class:`ProjectionExplorer` click or select points in a CV projection, see those frames.
- :func:`export_html` one offline HTML file of a view or a layout of views and plots.

Units: cgviz works in nm; coordinates become Angstrom only where they are handed to nglview.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "show_mapping": "views",
    "RolloutPlayer": "views",
    "RunMonitor": "monitor",
    "ProjectionExplorer": "views",
    "export_html": "export",
}
__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

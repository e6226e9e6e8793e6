"""The multi-scale GNN coarse-grained simulator (docs/science.md section 1).

Submodules are imported on first use, so ``import cgviz.simulator`` stays cheap and does
not load torch or torch_geometric: ``networks`` (the graph networks), ``data`` (bead systems,
history windows), ``model`` (CGSimulator: loss, one model step, checkpoints), ``rollout``.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("networks", "data", "model", "rollout")

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cgviz.simulator.{name}")
    raise AttributeError(f"module 'cgviz.simulator' has no attribute {name!r}")

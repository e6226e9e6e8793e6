"""MEMnets: slow collective variables by minimising IGME memory kernels (docs/science.md 2).

``MEMnets(MEMnetsConfig(...)).fit(features).fetch_model()`` trains an encoder; the model's
``transform`` gives encoder outputs, ``cvs`` the post-processed CVs and ``estimate`` the
float64 time scales and memory terms. :mod:`cgviz.memnets.igme` analyses any CVs (MEMnets
or a Markovian baseline: TICA, VAMPnets) over a range of lag times.

Importing this package is light: torch, deeptime and plotly load only when one of the
names below is first used.

Submodules: ``config`` (MEMnetsConfig), ``lobe``, ``loss`` (the maths), ``data``
(multi-lag samples), ``estimator``, ``cvs`` (post-processing), ``igme`` (analysis and
baselines), ``figures`` (plotly), ``export`` (CVs as .npy/CSV files, numpy only), ``cli`` (``python -m cgviz train-memnets``), ``task``
(the ``memnets`` task of :mod:`cgviz.jobs`: runs on disk with exact resume).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MEMnetsConfig": "config",
    "MEMnetsLobe": "lobe",
    "MultiLagData": "data",
    "MEMnets": "estimator",
    "MEMnetsModel": "estimator",
    "History": "estimator",
    "EpochRecord": "estimator",
    "IGMEEstimate": "estimator",
    "TrainingProgress": "estimator",
    "CVProjection": "cvs",
    "fit_cv_projection": "cvs",
    "IGMEAnalysis": "igme",
    "WindowScan": "igme",
    "igme_analysis": "igme",
    "igme_window_scan": "igme",
    "tica_baseline": "igme",
    "vampnet_baseline": "igme",
    "compare_cvs": "igme",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"cgviz.memnets.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'cgviz.memnets' has no attribute {name!r}")

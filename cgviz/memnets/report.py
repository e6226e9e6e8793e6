"""One call for what the MEMnets screen shows: a trained model's CVs beside TICA (and
VAMPnets) with the same IGME analysis, and the CV projection coloured by state or frame.

:func:`cv_report` returns a frozen :class:`CVReport`; :func:`cv_projection` turns it into a
:class:`CVProjection`, the points of the linked view. The figure builders of
``cgviz.memnets.figures`` and ``cgviz.figures`` take these results; the MEMnets page and
notebook 04 use them, so both show the same numbers (docs/science.md section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError

#: The most points the linked view plots (every ``stride``-th frame beyond it).
MAX_POINTS = 8000


@dataclass(frozen=True)
class CVReport:
    """MEMnets CVs of one system beside the baselines, analysed alike.

    Attributes
    ----------
    label: the system's label (what the page shows as "in use").
    cvs: MEMnets CVs, one (n_frames, n_cvs) array per trajectory.
    cv_sets: name -> CVs per trajectory ("MEMnets", "TICA", and "VAMPnets" if asked).
    analyses: one ``cgviz.memnets.igme.IGMEAnalysis`` per set, in the order of cv_sets.
    lagtimes: the model's lag times (frames): tau_0, then the IGME fit lags.
    dt_ps: ps per frame (None: time in frames).
    history: the training history (``MEMnets.history``, or a run's metrics DataFrame).
    """

    label: str
    cvs: tuple
    cv_sets: dict
    analyses: tuple
    lagtimes: tuple[int, ...]
    dt_ps: float | None
    history: Any = None

    @property
    def msm_lag(self) -> int:
        """A default MSM lag: the longest IGME lag (frames)."""
        return int(self.lagtimes[-1])


def cv_report(model, features: Sequence[np.ndarray], dt_ps: float | None, label: str = "",
              vampnets: bool = False, history: Any = None,
              analysis_lagtimes: Sequence[int] | None = None) -> CVReport:
    """The CVs of a fitted ``MEMnetsModel`` on ``features`` and TICA (and VAMPnets) with
    as many CVs at the longest lag, all through ``igme.compare_cvs``: ln λ(τ) at
    ``analysis_lagtimes`` (default: the model's lags), the IGME line fitted on the model's
    fit lags, m0 at its tau_0 (the same lags as training)."""
    from cgviz.memnets import igme

    lagtimes = tuple(int(x) for x in model.config.lagtimes)
    n_cvs = int(model.config.encoder_sizes[-1])
    cvs = tuple(model.cvs(list(features)))
    sets: dict[str, Any] = {"MEMnets": list(cvs),
                            "TICA": igme.tica_baseline(features, lagtimes[-1], n_cvs)}
    if vampnets:
        sets["VAMPnets"] = igme.vampnet_baseline(features, lagtimes[-1], n_cvs)
    shown = lagtimes if analysis_lagtimes is None else tuple(int(x) for x in analysis_lagtimes)
    analyses = igme.compare_cvs(sets, shown, fit_lagtimes=lagtimes[1:], tau_0=lagtimes[0],
                                dt=dt_ps)
    cv_sets = {name: tuple(value.cvs if isinstance(value, igme.BaselineCVs) else value)
               for name, value in sets.items()}
    return CVReport(label, cvs, cv_sets, tuple(analyses), lagtimes, dt_ps, history)


@dataclass(frozen=True)
class CVProjection:
    """The linked view's points: CV 1 against CV 2 (or CV 1 along the frames for a single
    CV), every ``stride``-th frame of the trajectories in turn, coloured by a named state
    (alanine dipeptide's phi/psi basins) or by frame index."""

    x: np.ndarray
    y: np.ndarray
    color: np.ndarray
    color_label: str
    category_names: tuple[str, ...] | None
    x_label: str
    y_label: str
    stride: int
    lengths: tuple[int, ...]


def cv_projection(report: CVReport, trajectories: Sequence, topology=None,
                  max_points: int = MAX_POINTS) -> CVProjection:
    """Points of the linked view of ``report`` on the system's ``trajectories``."""
    cvs = report.cvs
    lengths = tuple(len(c) for c in cvs)
    if len(trajectories) != len(cvs) or any(
            t.n_frames != n for t, n in zip(trajectories, lengths)):
        raise CgvizError("The CVs do not match the trajectories of the system in use.",
                         hint="Train MEMnets again on this system.")
    values = np.concatenate(cvs)
    stride = max(1, len(values) // int(max_points))
    color = np.concatenate([np.arange(n) for n in lengths])[::stride].astype(float)
    color_label, names = "frame", None
    from cgviz import analysis

    if topology is not None and analysis.is_alanine_dipeptide(topology):
        import mdtraj as md

        from cgviz.datasets.alanine import STATE_NAMES, conformational_states

        phi = np.concatenate([md.compute_phi(t)[1][:, 0] for t in trajectories])
        psi = np.concatenate([md.compute_psi(t)[1][:, 0] for t in trajectories])
        color, names, color_label = conformational_states(phi, psi)[::stride], STATE_NAMES, \
            "state"
    if values.shape[1] >= 2:
        x, y, x_label, y_label = values[::stride, 0], values[::stride, 1], "CV 1", "CV 2"
    else:
        x, y = np.arange(len(values))[::stride], values[::stride, 0]
        x_label, y_label = "frame (runs in turn)", "CV 1"
    return CVProjection(np.asarray(x), np.asarray(y), np.asarray(color), color_label,
                        None if names is None else tuple(names), x_label, y_label, stride,
                        lengths)

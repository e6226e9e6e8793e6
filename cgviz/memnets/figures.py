"""Plotly figure builders for MEMnets (docs/science.md 2.3). Results in, ``go.Figure`` out.

Time axes are in ps when a frame interval ``dt`` (ps) is known, in frames otherwise.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError

__all__ = ["training_curves", "cv_free_energy", "cv_scatter", "log_lambda_figure",
           "memory_term_figure", "timescales_figure", "window_scan_figure"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _go():
    import plotly.graph_objects as go

    return go


def _time(values: np.ndarray, dt: float | None) -> tuple[np.ndarray, str]:
    values = np.asarray(values, dtype=np.float64)
    return (values * dt, "ps") if dt else (values, "frames")


def training_curves(history: Any, quantity: str = "loss", title: str = "") -> Any:
    """Training and validation curves of a :class:`~cgviz.memnets.estimator.History`.

    Parameters
    ----------
    quantity : "loss" (one line per split), or a per-mode field ("lm", "m0",
        "log_lambda_hat", "rmse", "timescales_frames": one line per mode and split),
        or "gamma"
    """
    go = _go()
    figure = go.Figure()
    for split, dash in (("train", "solid"), ("validation", "dash")):
        records = history.train if split == "train" else history.validation
        if not records:
            continue
        if not hasattr(records[0], quantity):
            raise CgvizError(f"Unknown training quantity {quantity!r}.",
                             hint="Use loss, lm, m0, log_lambda_hat, rmse, gamma or "
                             "timescales_frames.")
        epochs = [r.epoch for r in records]
        values = np.asarray([getattr(r, quantity) for r in records], dtype=np.float64)
        columns = values.reshape(len(records), -1)
        for mode in range(columns.shape[1]):
            name = split if columns.shape[1] == 1 else f"{split} mode {mode + 1}"
            figure.add_trace(go.Scatter(x=epochs, y=columns[:, mode], name=name, mode="lines",
                                        line=dict(dash=dash, color=_COLORS[mode % len(_COLORS)])))
    figure.update_layout(title=title or f"MEMnets training: {quantity}", xaxis_title="epoch",
                         yaxis_title=quantity, margin=dict(l=0, r=0, t=40, b=0))
    return figure


def _stack(cvs: Any, columns: Sequence[int]) -> np.ndarray:
    arrays = cvs if isinstance(cvs, (list, tuple)) else [cvs]
    stacked = np.concatenate([np.asarray(a, dtype=np.float64) for a in arrays])
    if stacked.ndim != 2 or max(columns) >= stacked.shape[1]:
        raise CgvizError(f"CV columns {list(columns)} requested from an array of shape "
                         f"{stacked.shape}.", hint="Pick columns that exist (0-based).")
    return stacked[:, list(columns)]


def cv_free_energy(cvs: Any, columns: tuple[int, int] = (0, 1), bins: int = 60,
                   temperature_K: float | None = 300.0, title: str = "") -> Any:
    """2-D free-energy surface ``-kT ln p`` of two CVs (all trajectories pooled); for CVs
    of one column (a model with one CV) and the default ``columns``, the 1-D profile along
    it (:func:`cv_free_energy_profile`)."""
    from cgviz.analysis import compute_free_energy_surface
    from cgviz.figures import free_energy_surface

    if tuple(columns) == (0, 1) and _n_columns(cvs) == 1:
        return cv_free_energy_profile(cvs, 0, bins=bins, temperature_K=temperature_K,
                                      title=title)
    values = _stack(cvs, columns)
    surface = compute_free_energy_surface(values[:, 0], values[:, 1], bins=bins,
                                          temperature_K=temperature_K)
    return free_energy_surface(surface, f"CV{columns[0] + 1}", f"CV{columns[1] + 1}",
                               title=title or "Free energy along the CVs")


def _n_columns(cvs: Any) -> int:
    arrays = cvs if isinstance(cvs, (list, tuple)) else [cvs]
    shapes = {np.shape(a)[1] if np.ndim(a) == 2 else None for a in arrays}
    if len(shapes) != 1 or None in shapes:
        raise CgvizError(f"CVs must be 2-D arrays with the same columns, got shapes "
                         f"{[np.shape(a) for a in arrays]}.",
                         hint="Give (n_frames, n_cvs) arrays, one per trajectory.")
    return int(shapes.pop())


def cv_free_energy_profile(cvs: Any, column: int = 0, bins: int = 60,
                           temperature_K: float | None = 300.0, title: str = "") -> Any:
    """Free energy ``-kT ln(p / p_max)`` along one CV (all trajectories pooled): a line,
    with empty bins left out. kJ/mol at ``temperature_K``, or kT for None."""
    go = _go()
    values = _stack(cvs, (column,))[:, 0]
    if not np.all(np.isfinite(values)):
        raise CgvizError("The CV values contain NaN or infinity.",
                         hint="Check the model and its features.")
    counts, edges = np.histogram(values, bins=int(bins))
    centers = 0.5 * (edges[1:] + edges[:-1])
    kt, units = ((0.0083144626 * temperature_K, "kJ/mol") if temperature_K is not None
                 else (1.0, "kT"))
    with np.errstate(divide="ignore"):
        energy = -kt * np.log(counts / counts.max())
    energy[counts == 0] = np.nan
    figure = go.Figure(go.Scatter(x=centers, y=energy, mode="lines", connectgaps=False,
                                  line=dict(color=_COLORS[0]), name=f"CV{column + 1}"))
    figure.update_layout(title=title or f"Free energy along CV{column + 1}",
                         xaxis_title=f"CV{column + 1}", yaxis_title=f"F ({units})",
                         margin=dict(l=0, r=0, t=40, b=0))
    return figure


def cv_scatter(cvs: Any, color: Any = None, columns: tuple[int, int] = (0, 1),
               color_label: str = "frame", max_points: int = 20000, title: str = "") -> Any:
    """Scatter of two CVs coloured by ``color`` (time, or a state label per frame).

    ``color``: None (frame index), a numeric array (continuous colour) or an array of
    strings (one trace per state). Subsampled evenly to ``max_points``.
    """
    go = _go()
    values = _stack(cvs, columns)
    if color is None:
        colour = np.arange(values.shape[0], dtype=np.float64)
    else:
        colour = np.concatenate([np.asarray(c) for c in color]) \
            if isinstance(color, (list, tuple)) else np.asarray(color)
        if colour.shape[0] != values.shape[0]:
            raise CgvizError(f"{colour.shape[0]} colour values for {values.shape[0]} frames.",
                             hint="Give one colour value (time or state) per frame.")
    keep = np.unique(np.linspace(0, values.shape[0] - 1, min(max_points, values.shape[0]))
                     .astype(np.int64))
    values, colour = values[keep], colour[keep]
    figure = go.Figure()
    if colour.dtype.kind in "biuf":
        figure.add_trace(go.Scattergl(x=values[:, 0], y=values[:, 1], mode="markers",
                                      marker=dict(size=3, color=colour, colorscale="Viridis",
                                                  colorbar=dict(title=color_label))))
    else:
        for index, state in enumerate(np.unique(colour)):
            mask = colour == state
            figure.add_trace(go.Scattergl(x=values[mask, 0], y=values[mask, 1], mode="markers",
                                          name=str(state), marker=dict(
                                              size=3, color=_COLORS[index % len(_COLORS)])))
    figure.update_layout(title=title or "CV projection", xaxis_title=f"CV{columns[0] + 1}",
                         yaxis_title=f"CV{columns[1] + 1}", margin=dict(l=0, r=0, t=40, b=0))
    return figure


#: Legends of many entries go below the plot, in rows, so a half-width chart keeps its width.
_LEGEND_BELOW = dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top")


def _analyses(analyses: Any) -> list:
    return list(analyses) if isinstance(analyses, (list, tuple)) else [analyses]


def log_lambda_figure(analyses: Any, title: str = "") -> Any:
    """Observed ``ln lambda(tau)`` (markers), the IGME fit (line) and the ``tau_0`` point,
    per mode, for one or several :class:`~cgviz.memnets.igme.IGMEAnalysis`."""
    go = _go()
    figure = go.Figure()
    for analysis_index, analysis in enumerate(_analyses(analyses)):
        lags, unit = _time(analysis.lagtimes, analysis.dt)
        for mode in range(analysis.n_modes):
            color = _COLORS[(analysis_index * analysis.n_modes + mode) % len(_COLORS)]
            name = f"{analysis.label} mode {mode + 1}"
            figure.add_trace(go.Scatter(x=lags, y=analysis.log_lambda[:, mode], mode="markers",
                                        name=f"{name} observed", marker=dict(color=color)))
            figure.add_trace(go.Scatter(x=lags, y=analysis.log_lambda_fit[:, mode], mode="lines",
                                        name=f"{name} IGME fit (RMSE "
                                        f"{analysis.rmse[mode]:.2g})", line=dict(color=color)))
            tau0 = analysis.lagtimes == analysis.tau_0
            figure.add_trace(go.Scatter(x=lags[tau0], y=analysis.log_lambda[tau0, mode],
                                        mode="markers", showlegend=False,
                                        marker=dict(color=color, size=12, symbol="star")))
    figure.update_layout(title=title or "ln lambda(tau) and the IGME fit",
                         xaxis_title=f"tau ({unit})", yaxis_title="ln lambda",
                         margin=dict(l=0, r=0, t=40, b=0), legend=_LEGEND_BELOW)
    return figure


def memory_term_figure(analyses: Any, title: str = "") -> Any:
    """Memory term ``ln lambda(tau)/tau - log_lambda_hat`` against tau, per mode (1/frame
    or 1/ps); near zero means Markovian at that lag."""
    go = _go()
    figure = go.Figure()
    for analysis_index, analysis in enumerate(_analyses(analyses)):
        lags, unit = _time(analysis.lagtimes, analysis.dt)
        scale = 1.0 / analysis.dt if analysis.dt else 1.0
        for mode in range(analysis.n_modes):
            figure.add_trace(go.Scatter(
                x=lags, y=analysis.memory_term[:, mode] * scale, mode="lines+markers",
                name=f"{analysis.label} mode {mode + 1}",
                line=dict(color=_COLORS[analysis_index % len(_COLORS)],
                          dash=("solid", "dash", "dot", "dashdot")[mode % 4])))
    figure.add_hline(y=0.0, line=dict(color="grey", width=1))
    figure.update_layout(title=title or "Memory term", xaxis_title=f"tau ({unit})",
                         yaxis_title=f"ln lambda/tau - log_lambda_hat (1/{unit[:-1] if unit == 'frames' else unit})",
                         margin=dict(l=0, r=0, t=40, b=0), legend=_LEGEND_BELOW)
    return figure


def timescales_figure(analyses: Any, log_y: bool = True, title: str = "") -> Any:
    """Markovian implied time scales ``-tau/ln lambda(tau)`` (markers + lines) against tau,
    with the lag-independent IGME time scale ``1/|log_lambda_hat|`` (dotted), per method
    and mode: MEMnets vs TICA/VAMPnets side by side."""
    go = _go()
    figure = go.Figure()
    for analysis_index, analysis in enumerate(_analyses(analyses)):
        lags, unit = _time(analysis.lagtimes, analysis.dt)
        factor = analysis.dt or 1.0
        color = _COLORS[analysis_index % len(_COLORS)]
        for mode in range(analysis.n_modes):
            dash = ("solid", "dash", "dot", "dashdot")[mode % 4]
            figure.add_trace(go.Scatter(
                x=lags, y=analysis.implied_timescales[:, mode] * factor, mode="lines+markers",
                name=f"{analysis.label} mode {mode + 1} implied", line=dict(color=color, dash=dash)))
            figure.add_trace(go.Scatter(
                x=[lags.min(), lags.max()], y=[analysis.igme_timescales[mode] * factor] * 2,
                mode="lines", name=f"{analysis.label} mode {mode + 1} IGME",
                line=dict(color=color, dash="dot", width=3)))
    figure.update_layout(title=title or "Time scales: Markovian (implied) vs IGME",
                         xaxis_title=f"tau ({unit})", yaxis_title=f"time scale ({unit})",
                         yaxis_type="log" if log_y else "linear",
                         margin=dict(l=0, r=0, t=40, b=0))
    return figure


def window_scan_figure(scan: Any, dt: float | None = None, title: str = "") -> Any:
    """Heat map of the IGME fit RMSE over (tau_K, L), the best window marked."""
    go = _go()
    x, unit = _time(scan.window_lengths, dt)
    y, _ = _time(scan.tau_k, dt)
    figure = go.Figure(go.Heatmap(x=x, y=y, z=np.log10(scan.rmse), colorscale="Viridis",
                                  colorbar=dict(title="log10 RMSE")))
    bx, _ = _time(np.array([scan.best[1]]), dt)
    by, _ = _time(np.array([scan.best[0]]), dt)
    figure.add_trace(go.Scatter(x=bx, y=by, mode="markers", name="best",
                                marker=dict(symbol="x", size=14, color="red")))
    figure.update_layout(title=title or "IGME window scan", xaxis_title=f"L ({unit})",
                         yaxis_title=f"tau_K ({unit})", margin=dict(l=0, r=0, t=40, b=0))
    return figure


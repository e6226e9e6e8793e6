"""Plotly figure builders shared by the app and the notebooks.

Each builder takes arrays or cgviz results and returns a ``plotly.graph_objects.Figure``;
none of them computes science (that is ``cgviz.analysis``). Plotly is imported inside the
builders, so ``import cgviz.figures`` stays cheap.
"""

from __future__ import annotations

import numpy as np

#: Colours per bead/atom type name: the copolymer's four bead types and common elements.
TYPE_COLORS = {
    "B1": "#4C78A8", "B2": "#72B7B2", "S1": "#E45756", "S2": "#F2CF5B",
    "C": "#7F7F7F", "N": "#3B6FD8", "O": "#D62728", "H": "#DDDDDD", "S": "#E8C547",
}
_FALLBACK_COLORS = ("#9467BD", "#8C564B", "#E377C2", "#17BECF", "#BCBD22")


def color_for_type(type_name: str) -> str:
    """A stable colour for a type name (known types fixed, others by a stable hash)."""
    if type_name in TYPE_COLORS:
        return TYPE_COLORS[type_name]
    return _FALLBACK_COLORS[sum(map(ord, type_name)) % len(_FALLBACK_COLORS)]


def molecule_3d(xyz: np.ndarray, bonds: np.ndarray, type_names, title: str = "",
                marker_size: float = 6.0):
    """A 3-D ball-and-stick picture of one frame.

    Parameters
    ----------
    xyz: (n_atoms, 3) positions, nm.
    bonds: (n_bonds, 2) atom index pairs.
    type_names: per-atom type names (colour and legend group).
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz, dtype=float)
    bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
    type_names = list(type_names)
    # One line trace for all bonds: segments separated by None.
    segments = np.full((len(bonds) * 3, 3), np.nan)
    segments[0::3] = xyz[bonds[:, 0]]
    segments[1::3] = xyz[bonds[:, 1]]
    figure = go.Figure()
    figure.add_trace(go.Scatter3d(
        x=segments[:, 0], y=segments[:, 1], z=segments[:, 2], mode="lines",
        line=dict(color="#888888", width=4), hoverinfo="skip", showlegend=False,
    ))
    for type_name in dict.fromkeys(type_names):
        index = [i for i, t in enumerate(type_names) if t == type_name]
        figure.add_trace(go.Scatter3d(
            x=xyz[index, 0], y=xyz[index, 1], z=xyz[index, 2], mode="markers",
            name=type_name, marker=dict(size=marker_size, color=color_for_type(type_name),
                                        line=dict(width=0)),
            text=[f"{type_name} #{i}" for i in index], hoverinfo="text",
        ))
    figure.update_layout(
        title=title, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
        scene=dict(xaxis_title="x (nm)", yaxis_title="y (nm)", zaxis_title="z (nm)",
                   aspectmode="data"),
        legend=dict(itemsizing="constant"),
    )
    return figure


def free_energy_surface(surface, x_label: str, y_label: str, title: str = ""):
    """A heat map of a ``cgviz.analysis.FreeEnergySurface`` (empty bins left blank)."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Heatmap(
        x=surface.x_centers, y=surface.y_centers, z=surface.free_energy.T,
        colorscale="Viridis", colorbar=dict(title=f"F ({surface.units})"),
        hovertemplate=f"{x_label}=%{{x:.2f}}<br>{y_label}=%{{y:.2f}}<br>F=%{{z:.2f}}<extra></extra>",
    ))
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label,
                         margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return figure


def ramachandran(phi: np.ndarray, psi: np.ndarray, bins: int = 72, title: str = ""):
    """Free-energy surface over backbone dihedrals (radians in, degrees on the axes)."""
    from cgviz.analysis import compute_free_energy_surface

    surface = compute_free_energy_surface(
        np.degrees(np.ravel(phi)), np.degrees(np.ravel(psi)), bins=bins,
        range=((-180.0, 180.0), (-180.0, 180.0)),
    )
    figure = free_energy_surface(surface, "phi (deg)", "psi (deg)", title=title)
    figure.update_xaxes(range=[-180, 180], dtick=90)
    figure.update_yaxes(range=[-180, 180], dtick=90, scaleanchor="x")
    return figure

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


#: ``st.plotly_chart(..., config=GL_CONFIG)`` for 3-D figures: plotly draws WebGL scenes at
#: twice the screen resolution by default (``plotGlPixelRatio`` 2), four times the pixels;
#: at 1 a scene is drawn at the screen's resolution, which a software renderer (a browser
#: without a GPU) finishes several times sooner.
GL_CONFIG = {"plotGlPixelRatio": 1}


def _bond_segments(xyz: np.ndarray, bonds) -> np.ndarray:
    """Line vertices for all bonds in one trace: start, end, NaN gap per bond.

    xyz: (..., n_atoms, d), e.g. one frame (n_atoms, 3) or many (n_frames, n_atoms, 3);
    returns (..., 3 * n_bonds, d).
    """
    xyz = np.asarray(xyz, dtype=float)
    bonds = np.asarray(bonds, dtype=int).reshape(-1, 2)
    out = np.full(xyz.shape[:-2] + (3 * len(bonds), xyz.shape[-1]), np.nan)
    out[..., 0::3, :] = xyz[..., bonds[:, 0], :]
    out[..., 1::3, :] = xyz[..., bonds[:, 1], :]
    return out


def _type_groups(type_names) -> dict[str, list[int]]:
    """Atom indices per type name, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(type_names):
        groups.setdefault(name, []).append(i)
    return groups


#: The most types the colour key of a 3-D view lists.
KEY_ROWS = 12


def _type_key(type_names) -> dict:
    """The colour key of :func:`_atoms_trace`: an annotation in the scene's top right corner,
    one coloured dot and name per type, in order of first appearance."""
    names = list(_type_groups(type_names))
    rows = [f"<span style='color:{color_for_type(name)}'>\u25cf</span> {name}"
            for name in names[:KEY_ROWS]]
    if len(names) > KEY_ROWS:
        # Beads of a big system's METIS mapping each have their own composition: a key of
        # a hundred rows would cover the molecule. Hovering shows every bead's type.
        rows.append(f"... and {len(names) - KEY_ROWS} more types (hover for each)")
    return dict(text="<br>".join(rows), x=1.0, y=1.0, xref="paper", yref="paper",
                xanchor="right", yanchor="top", align="left", showarrow=False,
                font=dict(size=13))


def _atoms_trace(xyz: np.ndarray, type_names, marker_size: float) -> dict:
    """All atoms in one 3-D marker trace, coloured by type (key: :func:`_type_key`).

    One trace, not one per type: each WebGL trace costs the browser its own shader programs
    and buffers, about 45 ms per trace on a software renderer (the alanine player, measured:
    0.46 s with four type traces, 0.32 s with one).
    """
    type_names = list(type_names)
    return dict(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode="markers",
                name="atoms", showlegend=False, hoverinfo="text",
                marker=dict(size=marker_size, color=[color_for_type(t) for t in type_names],
                            line=dict(width=0)),
                text=[f"{t} #{i}" for i, t in enumerate(type_names)])


def _molecule_scene(ranges=None) -> dict:
    """A 3-D scene for molecules: no axes (as in molecular viewers, and about a third less
    WebGL work to draw, which a software renderer feels), true proportions.

    The axes are on but with every part switched off, no tick and no title, rather than
    ``visible=False``: plotly's 3-D axes turn each tick label and title, hidden or not,
    into triangles by drawing it on an 8192 x 1024 canvas (then cached for the page), and
    hidden axes keep default titles and ticks ("x", "-0.5" ...): eight such texts for the
    first molecule a page shows, one here. Measured on the alanine player (standalone
    plotly.js, software WebGL, median of 8): first draw 0.62 s -> 0.52 s, each played
    frame 52 -> 47 ms.

    ``ranges``: optional fixed (low, high) nm per axis, e.g. for a player whose frames move.
    """
    bare = dict(visible=True, title=dict(text=""), tickmode="array", tickvals=[], ticks="",
                showticklabels=False, showgrid=False, zeroline=False, showline=False,
                showbackground=False, showspikes=False)
    axes = [dict(bare) if ranges is None else dict(bare, range=list(r))
            for r in (ranges or [None] * 3)]
    scene = dict(xaxis=axes[0], yaxis=axes[1], zaxis=axes[2],
                 aspectmode="data" if ranges is None else "cube")
    if ranges is not None:
        # the fixed box holds every frame's pose, so one frame fills only part of it:
        # a closer camera than plotly's default (1.25, 1.25, 1.25) shows it larger
        scene["camera"] = dict(eye=dict(x=0.85, y=0.85, z=0.85))
    return scene


def molecule_3d(xyz: np.ndarray, bonds: np.ndarray, type_names, title: str = "",
                marker_size: float = 6.0):
    """A 3-D ball-and-stick picture of one frame.

    Parameters
    ----------
    xyz: (n_atoms, 3) positions, nm.
    bonds: (n_bonds, 2) atom index pairs.
    type_names: per-atom type names (colour, and the key in the top right corner).
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz, dtype=float)
    type_names = list(type_names)
    segments = _bond_segments(xyz, bonds)
    figure = go.Figure()
    figure.add_trace(go.Scatter3d(
        x=segments[:, 0], y=segments[:, 1], z=segments[:, 2], mode="lines",
        line=dict(color="#888888", width=4), hoverinfo="skip", showlegend=False,
    ))
    figure.add_trace(go.Scatter3d(**_atoms_trace(xyz, type_names, marker_size)))
    figure.update_layout(
        title=title, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
        scene=_molecule_scene(), annotations=[_type_key(type_names)],
    )
    return figure


def flat_projection(xyz: np.ndarray, dims: int = 2) -> np.ndarray:
    """(n_atoms, dims) centred positions along their ``dims`` longest principal axes: the
    first two give the molecule's widest face, the third its depth."""
    centred = np.asarray(xyz, dtype=float) - np.mean(xyz, axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:dims].T


def molecule_2d(xyz: np.ndarray, bonds: np.ndarray, type_names, title: str = "",
                marker_size: float = 8.0):
    """A flat ball-and-stick picture of one frame, seen along its shortest principal axis.

    The positions are projected on their two longest principal axes, so the picture shows
    the molecule's widest face. Drawn without WebGL, which makes it a cheap preview;
    :func:`molecule_3d` is the one to rotate, :func:`cgviz.pictures.molecule_svg` the same
    view as a static picture. Arguments as there.
    """
    import plotly.graph_objects as go

    type_names = list(type_names)
    flat = flat_projection(xyz)
    segments = _bond_segments(flat, bonds)
    figure = go.Figure([go.Scatter(x=segments[:, 0], y=segments[:, 1], mode="lines",
                                   line=dict(color="#888888", width=3), hoverinfo="skip",
                                   showlegend=False)])
    for rank, (type_name, index) in enumerate(_type_groups(type_names).items()):
        figure.add_trace(go.Scatter(
            x=flat[index, 0], y=flat[index, 1], mode="markers", name=type_name,
            showlegend=rank < KEY_ROWS,
            marker=dict(size=marker_size, color=color_for_type(type_name),
                        line=dict(width=0.5, color="#333333")),
            text=[f"{type_name} #{i}" for i in index], hoverinfo="text"))
    hidden = dict(visible=False)
    figure.update_layout(title=title, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
                         xaxis=hidden, yaxis=dict(visible=False, scaleanchor="x"),
                         plot_bgcolor="rgba(0,0,0,0)", legend=dict(itemsizing="constant"))
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
    from cgviz.analysis import compute_ramachandran_surface

    return ramachandran_surface(compute_ramachandran_surface(phi, psi, bins=bins), title=title)


def ramachandran_surface(surface, title: str = ""):
    """:func:`ramachandran` from a surface already computed over (phi, psi) in degrees
    (e.g. a demo's stored preview, ``cgviz.datasets.preview``)."""
    figure = free_energy_surface(surface, "phi (deg)", "psi (deg)", title=title)
    figure.update_xaxes(range=[-180, 180], dtick=90, constrain="domain")
    figure.update_yaxes(range=[-180, 180], dtick=90, scaleanchor="x")
    # a square map: a figure about as wide as high keeps its colour bar beside it
    figure.update_layout(width=560, height=480)
    return figure


def player_stride(n_frames: int, n_atoms: int, budget_points: int = 200_000,
                  max_frames: int = 200) -> int:
    """The frame stride that keeps a 3-D player's payload within ``budget_points`` atom
    positions (and at most ``max_frames`` frames); at least 1."""
    if n_frames <= 0 or n_atoms <= 0:
        return 1
    by_budget = max(1, budget_points // max(1, n_atoms))
    shown = max(1, min(n_frames, max_frames, by_budget))
    return max(1, -(-n_frames // shown))


def trajectory_player(xyz: np.ndarray, bonds: np.ndarray, type_names, time_ps: np.ndarray,
                      title: str = "", marker_size: float = 5.0, highlight=None,
                      center: bool = True):
    """A 3-D ball-and-stick player: one plotly frame per trajectory frame, slider + play.

    Parameters
    ----------
    xyz: (n_frames, n_atoms, 3) positions in nm (already strided to the frames to show).
    bonds: (n_bonds, 2) atom index pairs.
    type_names: per-atom type names (colour, and the key in the top right corner).
    time_ps: (n_frames,) times, shown in the scene's corner for the frame on view.
    highlight: optional per-frame labels appended to that time.
    center: put every frame's centre of geometry at the origin, as molecular viewers do,
        so a molecule that diffuses stays in view at a readable size (the axes span only
        its own motions, not its drift).

    Positions are rounded to 0.001 nm, which keeps the figure's JSON small.
    """
    import plotly.graph_objects as go

    xyz = np.asarray(xyz, dtype=float)
    if xyz.ndim != 3 or xyz.shape[0] == 0:
        raise ValueError("xyz must be (n_frames >= 1, n_atoms, 3)")
    if center:
        xyz = xyz - xyz.mean(axis=1, keepdims=True)
    # 0.001 nm is far below what a picture shows; the JSON is less than half as long
    xyz = np.round(xyz, 3)
    base = molecule_3d(xyz[0], bonds, type_names, title=title, marker_size=marker_size)
    # The time is an annotation each frame rewrites, not the slider's labels: plotly
    # measures every slider label when it draws the slider (0.1 s for 100 frames here).
    # plotly updates the figure's annotations from a frame's one by one, so a frame holds
    # only the clock (first) and molecule_3d's colour key (second) stays as it is.
    labels = [f"t = {t:.1f} ps" + (f" {highlight[i]}" if highlight is not None else "")
              for i, t in enumerate(np.asarray(time_ps, dtype=float))]

    def clock(f: int) -> dict:
        return dict(text=labels[f], x=0.0, y=1.0, xref="paper", yref="paper",
                    xanchor="left", yanchor="top", showarrow=False, font=dict(size=13))

    # Frames as plain dicts of lists: plotly checks lists several times faster than numpy
    # arrays (the whole player, to_dict included: 0.28 s instead of 0.74 s for 200 frames
    # of alanine dipeptide). Segments are (frame, axis, point); their NaN gaps between
    # bonds become null in the JSON. Bonds first, then all atoms (as in molecule_3d).
    segments = _bond_segments(xyz, bonds).transpose(0, 2, 1).tolist()
    atoms = xyz.transpose(0, 2, 1).tolist()
    frames = []
    for f in range(xyz.shape[0]):
        traces = [dict(type="scatter3d", x=segments[f][0], y=segments[f][1],
                       z=segments[f][2]),
                  dict(type="scatter3d", x=atoms[f][0], y=atoms[f][1], z=atoms[f][2])]
        frames.append(dict(data=traces, name=str(f), layout=dict(annotations=[clock(f)])))
    base = go.Figure(data=base.data, layout=base.layout, frames=frames)
    lo, hi = xyz.reshape(-1, 3).min(0), xyz.reshape(-1, 3).max(0)
    pad = 0.05 * float(max(hi - lo)) + 0.1
    base.layout.annotations = [clock(0), *base.layout.annotations]  # then the key
    base.update_layout(
        scene=_molecule_scene([(lo[i] - pad, hi[i] + pad) for i in range(3)]),
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, y=0.0,
                          xanchor="left", pad=dict(t=30),
                          yanchor="top", buttons=[
                              dict(label="▶ Play", method="animate",
                                   args=[None, dict(frame=dict(duration=80, redraw=True),
                                                    fromcurrent=True, transition=dict(duration=0))]),
                              dict(label="❚❚ Pause", method="animate",
                                   args=[[None], dict(mode="immediate",
                                                      frame=dict(duration=0, redraw=False))]),
                          ])],
        sliders=[dict(active=0, x=0.34, len=0.66, y=0.0, pad=dict(t=30),
                      currentvalue=dict(visible=False),
                      steps=[dict(method="animate", label="",
                                  args=[[str(f)], dict(mode="immediate",
                                                       frame=dict(duration=0, redraw=True))])
                             for f in range(xyz.shape[0])])],
        margin=dict(l=0, r=0, t=40 if title else 0, b=40),
    )
    return base


def envelope(x, y, max_points: int = 2000):
    """A long line thinned for drawing without losing its extremes: ``x``, ``y`` unchanged
    up to ``max_points``, else per bin of consecutive points its minimum and maximum, in
    time order (about ``max_points`` points)."""
    x, y = np.asarray(x), np.asarray(y)
    if len(y) <= max_points:
        return x, y
    width = -(-len(y) // (max_points // 2))
    keep = []
    for start in range(0, len(y), width):
        block = y[start : start + width]
        low, high = start + int(np.argmin(block)), start + int(np.argmax(block))
        keep += sorted({low, high})
    keep = np.asarray(keep)
    return x[keep], y[keep]


def _add_line(figure, x, y, name: str, color: str, window: int = 0, unit: str = "") -> bool:
    """Add one line, thinned by :func:`envelope`. With a ``window`` above 1 (points, at most
    the line's length) it is drawn faint under its centred running mean in bold
    (``analysis.compute_running_mean``), named with the span the window covers in ``x``
    (``unit`` after the number). Returns whether it was smoothed."""
    import plotly.graph_objects as go

    from cgviz.analysis import compute_running_mean

    x, y = np.asarray(x), np.asarray(y, dtype=float)
    window = min(int(window), len(y))
    thin_x, thin_y = envelope(x, y)
    if window <= 1:
        figure.add_trace(go.Scatter(x=thin_x, y=thin_y, mode="lines", name=str(name),
                                    line=dict(color=color)))
        return False
    figure.add_trace(go.Scatter(x=thin_x, y=thin_y, mode="lines", name=str(name), opacity=0.35,
                                line=dict(color=color, width=1)))
    span = window * float(np.median(np.diff(x))) if len(x) > 1 else 0.0
    # smooth over ``window`` points: five points per window draw it well
    mean_x, mean_y = envelope(x, compute_running_mean(y, window),
                              max_points=min(2000, max(100, 5 * len(y) // window)))
    figure.add_trace(go.Scatter(x=mean_x, y=mean_y, mode="lines",
                                line=dict(color=color, width=2.5),
                                name=f"{name}, running mean ({span:.3g}{unit})"))
    return True


def _smoothed_legend(figure) -> None:
    figure.update_layout(showlegend=True,
                         legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"))


def time_series(time_ps: np.ndarray, series: dict, y_label: str, title: str = "",
                x_label: str = "time (ps)", running_mean: int = 0):
    """Lines over time: ``series`` maps a legend name to a (n_frames,) array.

    running_mean: a window in frames; above 1, each series is drawn faint with its centred
    running mean (``analysis.compute_running_mean``) in bold on top, for series whose fast
    fluctuations would fill the plot (Rg, RMSD over many frames). Not for angles, which
    wrap around.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    smoothed = [_add_line(figure, time_ps, values, name, BEAD_PALETTE[i % len(BEAD_PALETTE)],
                          running_mean, " ps") for i, (name, values) in enumerate(series.items())]
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label,
                         margin=dict(l=0, r=0, t=40 if title else 10, b=0),
                         showlegend=len(series) > 1)
    if any(smoothed):
        _smoothed_legend(figure)
    return figure


#: A long qualitative palette for colouring many beads (cycled).
BEAD_PALETTE = (
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F",
    "#BCBD22", "#17BECF", "#393B79", "#E6550D", "#31A354", "#843C39", "#7B4173", "#3182BD",
    "#FDAE6B", "#74C476", "#FD8D3C", "#9E9AC8",
)


def mapping_3d(atom_xyz: np.ndarray, atom_bonds: np.ndarray, assignment: np.ndarray,
               bead_xyz: np.ndarray, bead_bonds: np.ndarray, title: str = "",
               bead_labels=None):
    """Atoms coloured by their bead, bead centres as large translucent spheres, CG bonds.

    Parameters
    ----------
    atom_xyz: (n_atoms, 3) nm. atom_bonds: (n_bonds, 2). assignment: (n_atoms,) bead index.
    bead_xyz: (n_beads, 3) nm (mass-weighted centres). bead_bonds: (n_cg_bonds, 2).
    bead_labels: optional per-bead hover text (e.g. composition and mass).
    """
    import plotly.graph_objects as go

    atom_xyz = np.asarray(atom_xyz, float)
    bead_xyz = np.asarray(bead_xyz, float)
    assignment = np.asarray(assignment, int)
    colors = [BEAD_PALETTE[b % len(BEAD_PALETTE)] for b in assignment]
    bead_colors = [BEAD_PALETTE[b % len(BEAD_PALETTE)] for b in range(len(bead_xyz))]

    fine = _bond_segments(atom_xyz, atom_bonds)
    coarse = _bond_segments(bead_xyz, bead_bonds)
    labels = bead_labels if bead_labels is not None else [f"bead {b}" for b in range(len(bead_xyz))]
    figure = go.Figure([
        go.Scatter3d(x=fine[:, 0], y=fine[:, 1], z=fine[:, 2], mode="lines", name="bonds",
                     line=dict(color="#AAAAAA", width=3), hoverinfo="skip"),
        go.Scatter3d(x=atom_xyz[:, 0], y=atom_xyz[:, 1], z=atom_xyz[:, 2], mode="markers",
                     name="atoms", marker=dict(size=4, color=colors),
                     text=[f"atom {i} -> bead {b}" for i, b in enumerate(assignment)],
                     hoverinfo="text"),
        go.Scatter3d(x=coarse[:, 0], y=coarse[:, 1], z=coarse[:, 2], mode="lines",
                     name="CG bonds", line=dict(color="#333333", width=8)),
        go.Scatter3d(x=bead_xyz[:, 0], y=bead_xyz[:, 1], z=bead_xyz[:, 2], mode="markers",
                     name="bead centres", marker=dict(size=14, color=bead_colors, opacity=0.45),
                     text=list(labels), hoverinfo="text"),
    ])
    figure.update_layout(title=title, margin=dict(l=0, r=0, t=40 if title else 0, b=0),
                         scene=_molecule_scene())
    return figure


def overlay_lines(curves: dict, x_label: str, y_label: str, title: str = "", log_x: bool = False,
                  running_mean: int = 0, unit: str = ""):
    """Several lines on one plot: ``curves`` maps a name to (x, y).

    running_mean: a window in points; each line of at least four windows is drawn faint
    under its running mean (as in :func:`time_series`; ``unit`` names the span in x), e.g.
    per-step training losses, while a short one (validation every N steps) stays as it is.
    """
    import plotly.graph_objects as go

    if running_mean <= 1:
        figure = go.Figure([go.Scatter(x=np.asarray(x), y=np.asarray(y), mode="lines",
                                       name=str(n)) for n, (x, y) in curves.items()])
    else:
        figure = go.Figure()
        smoothed = [_add_line(figure, x, y, name, BEAD_PALETTE[i % len(BEAD_PALETTE)],
                              running_mean if len(y) >= 4 * running_mean else 0, unit)
                    for i, (name, (x, y)) in enumerate(curves.items())]
        if any(smoothed):
            _smoothed_legend(figure)
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label,
                         margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    if log_x:
        figure.update_xaxes(type="log")
    return figure


def loss_curves(metrics) -> dict:
    """The loss columns of a run's metrics table as ``{column: (step, value)}``.

    ``metrics`` is :func:`cgviz.jobs.metrics`'s DataFrame; rows where a column is empty
    (e.g. validation losses logged less often) are dropped for that column.
    """
    if metrics is None or not len(metrics) or "step" not in metrics.columns:
        return {}
    curves = {}
    for column in metrics.columns:
        if "loss" in column:
            rows = metrics.dropna(subset=[column])
            curves[column] = (rows["step"].to_numpy(), rows[column].to_numpy())
    return curves


def overlay_histograms(samples: dict, x_label: str, title: str = "", bins: int = 40):
    """Normalised histograms of several sample sets on shared bins (probability density)."""
    import plotly.graph_objects as go

    values = [np.ravel(v) for v in samples.values() if np.size(v)]
    if not values:
        return go.Figure()
    edges = np.histogram_bin_edges(np.concatenate(values), bins=bins)
    centers = 0.5 * (edges[1:] + edges[:-1])
    figure = go.Figure()
    for name, v in samples.items():
        density, _ = np.histogram(np.ravel(v), bins=edges, density=True)
        figure.add_trace(go.Scatter(x=centers, y=density, mode="lines", name=str(name),
                                    line=dict(shape="hvh")))
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title="probability density",
                         margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return figure


def side_by_side_heatmaps(maps: dict, title: str = "", z_label: str = "", zmin=None, zmax=None):
    """Heat maps next to each other with one shared colour scale (e.g. contact maps)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    names = list(maps)
    figure = make_subplots(rows=1, cols=len(names), subplot_titles=names,
                           horizontal_spacing=0.08)
    values = [np.asarray(m, float) for m in maps.values()]
    lo = zmin if zmin is not None else min(float(np.nanmin(v)) for v in values)
    hi = zmax if zmax is not None else max(float(np.nanmax(v)) for v in values)
    for i, v in enumerate(values):
        figure.add_trace(go.Heatmap(z=v, zmin=lo, zmax=hi, colorscale="Viridis",
                                    showscale=i == len(values) - 1,
                                    colorbar=dict(title=z_label)), row=1, col=i + 1)
        figure.update_yaxes(autorange="reversed", row=1, col=i + 1)
    figure.update_layout(title=title, margin=dict(l=0, r=0, t=60, b=0))
    return figure


def projection_scatter(x: np.ndarray, y: np.ndarray, color: np.ndarray, color_label: str,
                       x_label: str = "CV 1", y_label: str = "CV 2", category_names=None,
                       title: str = ""):
    """One scatter trace (so a selected point's index is its row), for linked views.

    ``color``: numeric per point; with ``category_names`` it holds category indices and
    gets a discrete colour bar.
    """
    import plotly.graph_objects as go

    marker = dict(size=4, color=np.asarray(color), colorbar=dict(title=color_label))
    if category_names is not None:
        n = len(category_names)
        palette = BEAD_PALETTE[:n]
        scale = []
        for i, c in enumerate(palette):
            scale += [(i / n, c), ((i + 1) / n, c)]
        marker.update(colorscale=scale, cmin=-0.5, cmax=n - 0.5,
                      colorbar=dict(title=color_label, tickvals=list(range(n)),
                                    ticktext=list(category_names)))
    else:
        marker.update(colorscale="Viridis")
    figure = go.Figure(go.Scattergl(x=np.asarray(x), y=np.asarray(y), mode="markers",
                                    marker=marker, hoverinfo="skip"))
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label,
                         dragmode="lasso", margin=dict(l=0, r=0, t=40 if title else 10, b=0))
    return figure


#: One palette for every comparison: the reference MD always in dark grey, the learned
#: simulator always in orange, on every page and in every notebook.
REFERENCE_COLOR = "#3B3B3B"
MODEL_COLOR = "#E8710A"
COMPARISON_COLORS = {"reference MD": REFERENCE_COLOR, "learned simulator": MODEL_COLOR}


def _compare_lines(curves: dict, x_label: str, y_label: str, title: str = "", shape=None):
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, (x, y) in curves.items():
        figure.add_trace(go.Scatter(x=np.asarray(x), y=np.asarray(y), mode="lines",
                                    name=name, line=dict(
                                        color=COMPARISON_COLORS.get(name, MODEL_COLOR),
                                        width=2, **({"shape": shape} if shape else {}))))
    figure.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label,
                         margin=dict(l=0, r=0, t=40 if title else 10, b=0),
                         legend=dict(orientation="h", y=-0.25))
    return figure


def rollout_views(comparison, step: int) -> dict:
    """The Rollout page's figures for a ``cgviz.simulator.compare.RolloutComparison``.

    ``step`` is the model step shown in 3-D (0 = the last MD frame the model started from).
    Keys: "reference_3d" (None once the reference MD has ended), "model_3d", "rg", "rg_hist",
    "acf", "contacts". Reference and model keep their colours on every plot; both cover the
    same time window; the contact maps are square."""
    import plotly.graph_objects as go

    c = comparison
    frame = c.n_history - 1 + int(step)
    time_ns = c.time_ps / 1000.0
    n_ref = c.n_reference
    reference = c.reference_frame(frame)
    views = {
        "reference_3d": None if reference is None else molecule_3d(
            reference, c.bead_bonds, c.bead_types, title="reference MD (beads)"),
        "model_3d": molecule_3d(c.model_positions[frame], c.bead_bonds, c.bead_types,
                                title="learned simulator"),
    }
    rg = _compare_lines({"reference MD": (time_ns[:n_ref], c.rg_reference),
                         "learned simulator": (time_ns, c.rg_model)},
                        "time (ns)", "Rg (nm)", "Radius of gyration, same window")
    rg.add_vline(x=float(time_ns[frame]), line=dict(color="#999999", dash="dot"))
    views["rg"] = rg
    edges = np.histogram_bin_edges(np.concatenate([c.rg_reference, c.rg_model]), bins=40)
    centres = 0.5 * (edges[1:] + edges[:-1])
    views["rg_hist"] = _compare_lines(
        {name: (centres, np.histogram(values, bins=edges, density=True)[0])
         for name, values in (("reference MD", c.rg_reference),
                              ("learned simulator", c.rg_model))},
        "Rg (nm)", "probability density", "Rg distribution", shape="hvh")
    views["acf"] = _compare_lines({"reference MD": (c.acf_lag_ps / 1000, c.acf_reference),
                                   "learned simulator": (c.acf_lag_ps / 1000, c.acf_model)},
                                  "lag (ns)", "C(lag)", "Rg² autocorrelation")
    from plotly.subplots import make_subplots

    contacts = make_subplots(rows=1, cols=2, subplot_titles=list(COMPARISON_COLORS),
                             horizontal_spacing=0.1)
    for i, values in enumerate((c.contact_reference, c.contact_model)):
        contacts.add_trace(go.Heatmap(z=values, zmin=0, zmax=1, colorscale="Viridis",
                                      showscale=i == 1, colorbar=dict(title="p")),
                           row=1, col=i + 1)
        contacts.update_yaxes(autorange="reversed", scaleanchor=f"x{i + 1 if i else ''}",
                              constrain="domain", row=1, col=i + 1)
        contacts.update_xaxes(constrain="domain", row=1, col=i + 1)
    contacts.update_layout(title=f"Contact probability (< {c.contact_cutoff_nm:.2f} nm, "
                           "bonded pairs left out)", height=420,
                           margin=dict(l=0, r=0, t=60, b=0))
    views["contacts"] = contacts
    return views


def log_ticks(values) -> dict:
    """Axis settings for a readable log axis over ``values``: ticks at 1, 2, 5 x 10^k
    written out in full (no stacked "2, 3" minor labels next to "10")."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return dict(type="log")
    low, high = np.floor(np.log10(finite.min())), np.ceil(np.log10(finite.max()))
    ticks = [m * 10.0 ** e for e in range(int(low), int(high) + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if finite.min() / 2.5 <= t <= finite.max() * 2.5]
    return dict(type="log", tickmode="array", tickvals=ticks,
                ticktext=[f"{t:g}" for t in ticks], minor=dict(showgrid=False))


def _series_color(name: str, index: int) -> str:
    return COMPARISON_COLORS.get(name, BEAD_PALETTE[index % len(BEAD_PALETTE)])


def msm_timescales(curves: dict, n_processes: int = 2, title: str = ""):
    """MSM implied time scales against lag with their 95 % intervals (shaded), per model.

    ``curves`` maps a name to a ``cgviz.analysis.TimescaleCurve`` ("reference MD" and
    "learned simulator" take the comparison palette). Processes are told apart by dash;
    the grey area is where a time scale is shorter than the lag and cannot be resolved.
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    everything = []
    unit = "frames"
    for index, (name, curve) in enumerate(curves.items()):
        color, unit = _series_color(name, index), curve.unit
        lags = curve.scaled(curve.lagtimes.astype(float))
        for process in range(min(n_processes, curve.timescales.shape[1])):
            dash = ("solid", "dash", "dot", "dashdot")[process % 4]
            value = curve.scaled(curve.timescales[:, process])
            low = curve.scaled(curve.lower[:, process])
            high = curve.scaled(curve.upper[:, process])
            everything += [value, low, high]
            group = f"{name} {process}"
            figure.add_trace(go.Scatter(x=np.concatenate([lags, lags[::-1]]),
                                        y=np.concatenate([high, low[::-1]]), fill="toself",
                                        mode="lines", fillcolor=color, opacity=0.18, line=dict(width=0),
                                        hoverinfo="skip", showlegend=False, legendgroup=group))
            figure.add_trace(go.Scatter(x=lags, y=value, mode="lines+markers",
                                        name=f"{name}, process {process + 1}",
                                        legendgroup=group, line=dict(color=color, dash=dash)))
    if curves:
        lags = np.concatenate([c.scaled(c.lagtimes.astype(float)) for c in curves.values()])
        figure.add_trace(go.Scatter(x=np.sort(lags), y=np.sort(lags), fill="tozeroy",
                                    mode="lines", line=dict(color="#999999", width=1),
                                    fillcolor="rgba(150,150,150,0.25)",
                                    name="time scale < lag (not resolved)"))
        everything.append(lags)
    figure.update_layout(title=title or "MSM implied time scales (95 % bootstrap intervals)",
                         xaxis_title=f"lag ({unit})", yaxis_title=f"implied time scale ({unit})",
                         margin=dict(l=0, r=0, t=40, b=0), legend=dict(orientation="h", y=-0.2))
    figure.update_yaxes(**log_ticks(np.concatenate([np.ravel(v) for v in everything])
                                    if everything else []))
    return figure


def ck_test(tests: dict, title: str = ""):
    """Chapman-Kolmogorov test, a panel per pair of metastable sets (from i to j):
    ``T(tau)^k`` predicted (line, shaded 95 % interval) against MSMs estimated at
    ``k tau`` (markers with error bars), per model in ``tests`` (name -> CKTest)."""
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    n = max(t.n_sets for t in tests.values())
    figure = make_subplots(rows=n, cols=n, shared_xaxes=True, shared_yaxes=True,
                           subplot_titles=[f"set {i + 1} → set {j + 1}" for i in range(n)
                                           for j in range(n)],
                           horizontal_spacing=0.04, vertical_spacing=0.08)
    unit = "frames"
    for index, (name, test) in enumerate(tests.items()):
        color = _series_color(name, index)
        unit = "frames" if test.dt_ps is None else "ps"
        lags = test.lagtimes * (1.0 if test.dt_ps is None else test.dt_ps)
        for i in range(test.n_sets):
            for j in range(test.n_sets):
                first = i == 0 and j == 0
                low, high = test.predicted_lower[:, i, j], test.predicted_upper[:, i, j]
                figure.add_trace(go.Scatter(
                    x=np.concatenate([lags, lags[::-1]]), y=np.concatenate([high, low[::-1]]),
                    fill="toself", mode="lines", fillcolor=color, opacity=0.18,
                    line=dict(width=0), hoverinfo="skip", showlegend=False),
                    row=i + 1, col=j + 1)
                figure.add_trace(go.Scatter(
                    x=lags, y=test.predicted[:, i, j], mode="lines", line=dict(color=color),
                    name=f"{name}: predicted T(τ)^k", legendgroup=f"{name} p",
                    showlegend=first), row=i + 1, col=j + 1)
                estimated = test.estimated[:, i, j]
                figure.add_trace(go.Scatter(
                    x=lags, y=estimated, mode="markers", marker=dict(color=color, size=7,
                                                                    symbol="diamond-open"),
                    error_y=dict(type="data", symmetric=False,
                                 array=test.estimated_upper[:, i, j] - estimated,
                                 arrayminus=estimated - test.estimated_lower[:, i, j]),
                    name=f"{name}: estimated at kτ", legendgroup=f"{name} e",
                    showlegend=first), row=i + 1, col=j + 1)
    figure.update_yaxes(range=[-0.02, 1.02])
    figure.update_xaxes(title_text=f"lag ({unit})", row=n)
    figure.update_layout(title=title or "Chapman-Kolmogorov test",
                         margin=dict(l=0, r=0, t=60, b=0), legend=dict(orientation="h", y=-0.15),
                         height=max(320, 230 * n))
    return figure

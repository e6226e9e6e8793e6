"""nglview + ipywidgets views: a bead mapping, a rollout beside its reference, a CV projection.

Each view is a thin layer over cgviz: the science (mapping, Rg, CVs) comes from the library,
the widgets only show it. Frames are held in nm; :mod:`cgviz.widgets._ngl` converts them to
Angstrom for nglview.
"""

from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np

from cgviz import io
from cgviz.errors import CgvizError
from cgviz.widgets import _ngl

__all__ = ["show_mapping", "RolloutPlayer", "ProjectionExplorer"]

#: the name of the vertical line that follows the frame slider in a plot (export_html uses it)
FRAME_MARKER = "frame marker"


def _trajectory(traj: Any, what: str):
    import mdtraj as md

    if isinstance(traj, (list, tuple)) and traj and all(isinstance(t, md.Trajectory) for t in traj):
        if len({t.n_atoms for t in traj}) != 1:
            raise CgvizError(f"The trajectories in {what} have different atom counts.")
        return md.join(list(traj), check_topology=False, discard_overlapping_frames=False)
    if not isinstance(traj, md.Trajectory):
        raise CgvizError(f"{what} must be an md.Trajectory, got {type(traj).__name__}.",
                         hint="Load one with cgviz.io.load_trajectory or cgviz.datasets.load_demo.")
    return traj


def show_mapping(traj: Any, mapping: Any, stride: int = 1, max_frames: int = 500,
                 bead_opacity: float = 0.45, height: str = "450px"):
    """An nglview view of a trajectory with its coarse-graining.

    Atoms are drawn as balls and sticks coloured by bead; the bead centres (mass-weighted,
    from ``mapping.apply``) as larger translucent spheres in the same colours, joined by
    the CG bonds as cylinders. Both are trajectories of one view, so the frame slider
    moves atoms and beads together. ``stride`` and ``max_frames`` thin the frames shown.

    Returns the ``nglview.NGLWidget``; ``view.cgviz_frames`` holds the indices of the
    trajectory's frames that it shows.
    """
    from cgviz.mapping import CGMapping

    traj = _trajectory(traj, "show_mapping's trajectory")
    if not isinstance(mapping, CGMapping):
        raise CgvizError(f"show_mapping needs a CGMapping, got {type(mapping).__name__}.",
                         hint="Build one with cgviz.mapping.metis_mapping(traj.topology, 4).")
    if mapping.n_atoms != traj.n_atoms:
        raise CgvizError(f"The mapping is for {mapping.n_atoms} atoms, the trajectory has "
                         f"{traj.n_atoms}.", hint="Build the mapping from this topology.")
    indices = _ngl.frame_indices(traj.n_frames, stride, max_frames)
    frames = traj[indices]
    _ngl.check_frames(frames.xyz, "The trajectory")
    beads = mapping.apply(frames)

    view = _ngl.new_view(height)
    _ngl.add_frames(view, frames.xyz, frames.topology, mapping.atom_bonds)
    _ngl.add_frames(view, beads.xyz, beads.topology, mapping.bead_bonds)
    atom_scheme = _ngl.colour_scheme(mapping.bead_atoms, "atoms")
    bead_scheme = _ngl.colour_scheme([np.array([k]) for k in range(mapping.n_beads)], "beads")
    stick = 0.18 * _median_bond_angstrom(frames.xyz[0], mapping.atom_bonds)
    view.add_representation("ball+stick", selection="all", color=atom_scheme,
                            radiusType="size", radiusSize=stick, aspectRatio=2.0, component=0)
    radius = _bead_radius_angstrom(frames.xyz[0], beads.xyz[0], mapping)
    view.add_representation("ball+stick", selection="all", color=bead_scheme,
                            radiusType="size", radiusSize=0.35 * radius / 2.0,
                            aspectRatio=2.0 / 0.35, opacity=bead_opacity, component=1)
    view.center()
    view.cgviz_frames = indices
    return view


def _median_bond_angstrom(xyz_nm: np.ndarray, bonds: np.ndarray) -> float:
    """The median bond length (A), so sticks suit atoms (1.5 A) and polymer beads (5 A) alike."""
    if len(bonds) == 0:
        return 1.5
    lengths = np.linalg.norm(xyz_nm[bonds[:, 0]] - xyz_nm[bonds[:, 1]], axis=1)
    return max(0.5, float(np.median(lengths)) * _ngl.NM_TO_ANGSTROM)


def _bead_radius_angstrom(xyz_nm: np.ndarray, centres: np.ndarray, mapping: Any) -> float:
    """A display radius for bead spheres: the median bead radius of gyration, at least 1.5 A."""
    spread = np.linalg.norm(xyz_nm - centres[mapping.assignment], axis=1) ** 2
    per_bead = np.sqrt(np.bincount(mapping.assignment, spread) / np.bincount(mapping.assignment))
    return max(1.5, float(np.median(per_bead)) * _ngl.NM_TO_ANGSTROM * 1.5)


def _bead_frames(source: Any, what: str, system: int, bonds: Any = None):
    """(xyz nm, bonds, masses, frame time ps or None) from a Rollout, md.Trajectory or array."""
    import mdtraj as md

    from cgviz.simulator.rollout import Rollout

    if isinstance(source, Rollout):
        if not 0 <= system < source.n_systems:
            raise CgvizError(f"The rollout has {source.n_systems} systems; there is no system "
                             f"{system}.")
        return (source.positions[system], source.bead_bonds[system],
                source.bead_masses[system], source.frame_time_ps)
    if isinstance(source, md.Trajectory):
        topology_bonds = io.topology_bonds(source.topology)
        dt = float(source.timestep) if source.n_frames > 1 and source.timestep > 0 else None
        return source.xyz, topology_bonds, np.ones(source.n_atoms), dt
    xyz = _ngl.check_frames(source, what)
    return xyz, (np.zeros((0, 2), np.int64) if bonds is None else bonds), np.ones(xyz.shape[1]), None


class RolloutPlayer(widgets.VBox):
    """Reference MD and a rollout side by side, one frame slider and play control, and Rg.

    ``reference``: the reference bead frames (md.Trajectory or an (n_frames, n_beads, 3)
    nm array), starting at the rollout's first frame. ``rollout``: a
    :class:`cgviz.simulator.rollout.Rollout` (system ``system`` is shown), an md.Trajectory
    or an array. Frame ``i`` of each is shown together, so the slider runs over the frames
    both have. The Rg plot (both full series) carries a vertical line at the current frame.
    """

    def __init__(self, reference: Any, rollout: Any, system: int = 0,
                 frame_time_ps: float | None = None, height: str = "380px"):
        from cgviz.analysis import compute_rg
        from cgviz.simulator.rollout import bead_chain_topology

        model_xyz, bonds, masses, dt = _bead_frames(rollout, "The rollout", system)
        ref_xyz, ref_bonds, _, ref_dt = _bead_frames(reference, "The reference", system,
                                                     bonds=bonds)
        model_xyz = _ngl.check_frames(model_xyz, "The rollout")
        ref_xyz = _ngl.check_frames(ref_xyz, "The reference")
        if model_xyz.shape[1] != ref_xyz.shape[1]:
            raise CgvizError(f"The reference has {ref_xyz.shape[1]} beads, the rollout "
                             f"{model_xyz.shape[1]}.", hint="Compare the same system.")
        self.frame_time_ps = float(frame_time_ps or dt or ref_dt or 1.0)
        self.n_frames = min(len(model_xyz), len(ref_xyz))
        topology = bead_chain_topology(model_xyz.shape[1], bonds)

        self.reference_view = _ngl.new_view(height)
        self.rollout_view = _ngl.new_view(height)
        for view, xyz in ((self.reference_view, ref_xyz), (self.rollout_view, model_xyz)):
            _ngl.add_frames(view, xyz[: self.n_frames], topology, bonds)
            view.add_representation("ball+stick", selection="all", color="#1F77B4",
                                    radiusType="size", radiusSize=0.9, aspectRatio=2.5)
            view.center()

        self.rg_reference = compute_rg(ref_xyz, masses)
        self.rg_rollout = compute_rg(model_xyz, masses)
        self.rg_figure = self._rg_figure()
        self.play = widgets.Play(value=0, min=0, max=self.n_frames - 1, interval=120,
                                 description="play")
        self.slider = widgets.IntSlider(value=0, min=0, max=self.n_frames - 1,
                                        description="frame", continuous_update=True,
                                        layout=widgets.Layout(width="60%"))
        widgets.jslink((self.play, "value"), (self.slider, "value"))
        self.time_label = widgets.HTML()
        self.slider.observe(self._on_frame, names="value")
        titles = [widgets.HTML("<b>reference MD</b>"), widgets.HTML("<b>learned simulator</b>")]
        views = widgets.HBox([widgets.VBox([titles[0], self.reference_view],
                                           layout=widgets.Layout(width="50%")),
                              widgets.VBox([titles[1], self.rollout_view],
                                           layout=widgets.Layout(width="50%"))])
        super().__init__([views, widgets.HBox([self.play, self.slider, self.time_label]),
                          self.rg_figure])
        self._show(0)

    def _rg_figure(self):
        import plotly.graph_objects as go

        t_ref = np.arange(len(self.rg_reference)) * self.frame_time_ps
        t_model = np.arange(len(self.rg_rollout)) * self.frame_time_ps
        low = float(min(self.rg_reference.min(), self.rg_rollout.min()))
        high = float(max(self.rg_reference.max(), self.rg_rollout.max()))
        figure = go.FigureWidget([
            go.Scatter(x=t_ref, y=self.rg_reference, mode="lines", name="reference MD"),
            go.Scatter(x=t_model, y=self.rg_rollout, mode="lines", name="learned simulator"),
            go.Scatter(x=[0, 0], y=[low, high], mode="lines", name=FRAME_MARKER,
                       line=dict(color="black", dash="dot"), showlegend=False),
        ])
        figure.update_layout(height=280, xaxis_title="time (ps)", yaxis_title="Rg (nm)",
                             margin=dict(l=10, r=10, t=30, b=10), title="Radius of gyration")
        return figure

    @property
    def frame(self) -> int:
        return int(self.slider.value)

    @frame.setter
    def frame(self, value: int) -> None:
        self.slider.value = int(np.clip(value, 0, self.n_frames - 1))

    def _on_frame(self, change: dict) -> None:
        self._show(int(change["new"]))

    def _show(self, frame: int) -> None:
        self.reference_view.frame = frame
        self.rollout_view.frame = frame
        t = frame * self.frame_time_ps
        self.rg_figure.data[2].x = [t, t]
        self.time_label.value = (f"t = {t:,.0f} ps &nbsp; Rg: reference "
                                 f"{self.rg_reference[frame]:.3f} nm, model "
                                 f"{self.rg_rollout[frame]:.3f} nm")


class ProjectionExplorer(widgets.VBox):
    """A CV projection linked to a 3D view: click or select points, see those frames.

    ``cvs``: (n_frames, n_cvs >= 2) array, or one array per trajectory (concatenated in
    order); ``traj``: the matching md.Trajectory or list of them. Points are coloured by
    ``color`` (default: the frame's time). A click shows that frame; a box or lasso
    selection gives :attr:`selected` (frame indices) and a slider that steps through them.
    ``stride`` thins the plotted points (the view keeps every frame).
    """

    def __init__(self, cvs: Any, traj: Any, color: Any = None, color_label: str = "time (ps)",
                 stride: int = 1, cv_labels: Sequence[str] = ("CV 1", "CV 2"),
                 height: str = "420px"):
        import plotly.graph_objects as go

        from cgviz import figures

        values = np.concatenate([np.asarray(c, float) for c in cvs]) \
            if isinstance(cvs, (list, tuple)) else np.asarray(cvs, dtype=float)
        if values.ndim != 2 or values.shape[1] < 2:
            raise CgvizError(f"The CVs must have shape (n_frames, 2 or more), got {values.shape}.",
                             hint="Fit at least two CVs (MEMnetsConfig output size >= 2).")
        self.trajectory = _trajectory(traj, "ProjectionExplorer's trajectory")
        if len(values) != self.trajectory.n_frames:
            raise CgvizError(f"There are {len(values)} CV rows but {self.trajectory.n_frames} "
                             "frames.", hint="Compute the CVs from the same trajectories.")
        if not np.isfinite(values[:, :2]).all():
            raise CgvizError("The CVs contain NaN or infinite values.")
        self.cvs = values
        self.point_frames = _ngl.frame_indices(len(values), stride)
        colour = (self.trajectory.time if color is None else np.asarray(color))
        if len(colour) != len(values):
            raise CgvizError(f"color has {len(colour)} values for {len(values)} frames.")
        base = figures.projection_scatter(values[self.point_frames, 0],
                                          values[self.point_frames, 1],
                                          colour[self.point_frames], color_label,
                                          cv_labels[0], cv_labels[1])
        self.figure = go.FigureWidget(base)
        # hover and click need hover info (the page's figure skips it: it only box-selects)
        self.figure.data[0].update(
            hoverinfo=None, customdata=self.point_frames, showlegend=False,
            hovertemplate=f"frame %{{customdata}}<br>{cv_labels[0]} %{{x:.3g}}<br>"
                          f"{cv_labels[1]} %{{y:.3g}}<extra></extra>")
        self.figure.add_trace(go.Scatter(x=[], y=[], mode="markers", name="shown frame",
                                         marker=dict(size=16, color="rgba(0,0,0,0)",
                                                     line=dict(color="red", width=3)),
                                         showlegend=False, hoverinfo="skip"))
        self.figure.update_layout(dragmode="lasso", width=540, height=420,
                                  clickmode="event+select", margin=dict(l=10, r=10, t=30, b=10))
        points = self.figure.data[0]
        points.on_click(self._on_points)
        points.on_selection(self._on_points)
        points.on_deselect(lambda trace, pts: self.select([]))

        self.view = _ngl.new_view(height)
        _ngl.add_frames(self.view, self.trajectory.xyz, self.trajectory.topology,
                        io.topology_bonds(self.trajectory.topology))
        self.view.add_representation("ball+stick", selection="all")
        self.view.center()
        self.selected: list[int] = []
        self.selection_slider = widgets.IntSlider(value=0, min=0, max=0, disabled=True,
                                                  description="selected")
        self.selection_slider.observe(lambda change: self._show(int(change["new"])), "value")
        self.label = widgets.HTML("Click a point, or select points with the box or lasso tool.")
        self.view.layout.flex = "1 1 auto"
        self.view.layout.width = "auto"
        self.view.layout.min_width = "320px"
        super().__init__([widgets.HBox([self.figure, self.view]),
                          widgets.HBox([self.selection_slider, self.label])])

    def _on_points(self, trace: Any, points: Any, _state: Any = None) -> None:
        self.select(self.point_frames[np.asarray(points.point_inds, dtype=int)].tolist())

    def select(self, frames: Sequence[int]) -> None:
        """Show these frames (indices into the joined trajectory), as a click or selection does."""
        frames = [int(f) for f in frames]
        bad = [f for f in frames if not 0 <= f < len(self.cvs)]
        if bad:
            raise CgvizError(f"Frame {bad[0]} is out of range (0 to {len(self.cvs) - 1}).")
        self.selected = frames
        self.selection_slider.unobserve_all("value")
        self.selection_slider.max = max(0, len(frames) - 1)
        self.selection_slider.value = 0
        self.selection_slider.disabled = len(frames) < 2
        self.selection_slider.observe(lambda change: self._show(int(change["new"])), "value")
        if frames:
            self._show(0)
        else:
            self.figure.data[1].update(x=[], y=[])
            self.label.value = "Nothing selected."

    def _show(self, position: int) -> None:
        frame = self.selected[position]
        self.view.frame = frame
        self.figure.data[1].update(x=[self.cvs[frame, 0]], y=[self.cvs[frame, 1]])
        self.label.value = (f"frame {frame} (t = {self.trajectory.time[frame]:,.0f} ps), "
                            f"{position + 1} of {len(self.selected)} selected")

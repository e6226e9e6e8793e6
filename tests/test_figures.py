"""Plotly figure builders: the pictures show what the data hold."""

from __future__ import annotations

import numpy as np
import pytest

from cgviz import figures


def test_molecule_3d_draws_every_atom_and_bond_once():
    xyz = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0.1, 0], [0.3, 0.1, 0.1]], dtype=float)
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    types = ["B1", "S1", "B1", "S2"]
    fig = figures.molecule_3d(xyz, bonds, types)
    bond_trace, atom_trace = fig.data  # all atoms in one WebGL trace: one set of shaders
    # Bond segments: start, end, gap per bond.
    assert len(bond_trace.x) == 3 * len(bonds)
    np.testing.assert_allclose(bond_trace.x[0::3], xyz[bonds[:, 0], 0])
    np.testing.assert_allclose(bond_trace.x[1::3], xyz[bonds[:, 1], 0])
    np.testing.assert_allclose(np.c_[atom_trace.x, atom_trace.y, atom_trace.z], xyz)
    assert list(atom_trace.marker.color) == [figures.color_for_type(t) for t in types]
    assert atom_trace.marker.color[0] == figures.TYPE_COLORS["B1"]
    assert list(atom_trace.text) == ["B1 #0", "S1 #1", "B1 #2", "S2 #3"]
    # the colour key: each type once, in order of first appearance, in its colour
    (key,) = fig.layout.annotations
    rows = key.text.split("<br>")
    assert [row.rsplit(" ", 1)[1] for row in rows] == ["B1", "S1", "S2"]
    assert figures.color_for_type("S2") in rows[2]


def test_molecule_scenes_have_no_axis_text_to_draw():
    """plotly turns every 3-D tick label and axis title, shown or not, into triangles (on
    an 8192 x 1024 canvas, slow on a software renderer): the molecule scenes have none."""
    xyz = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0.1, 0]], dtype=float)
    bonds = np.array([[0, 1], [1, 2]])
    scenes = [figures.molecule_3d(xyz, bonds, ["C", "N", "O"]).layout.scene,
              figures.trajectory_player(np.stack([xyz, xyz + 0.1]), bonds, ["C", "N", "O"],
                                        np.arange(2.0)).layout.scene,
              figures.mapping_3d(xyz, bonds, np.array([0, 0, 1]), xyz[[0, 2]],
                                 np.array([[0, 1]])).layout.scene]
    for scene in scenes:
        for axis in (scene.xaxis, scene.yaxis, scene.zaxis):
            assert axis.tickmode == "array" and tuple(axis.tickvals) == ()
            assert axis.title.text == ""  # a hidden axis (visible=False) would say "x"
            assert not (axis.showticklabels or axis.showgrid or axis.showline
                        or axis.showbackground or axis.zeroline or axis.showspikes)


def test_unknown_types_get_stable_distinct_colours():
    assert figures.color_for_type("XYZ") == figures.color_for_type("XYZ")
    assert figures.color_for_type("B1") != figures.color_for_type("S1")


def test_ramachandran_minimum_is_where_the_samples_are():
    rng = np.random.default_rng(0)
    phi = np.radians(rng.normal(-70, 10, 5000))
    psi = np.radians(rng.normal(140, 10, 5000))
    fig = figures.ramachandran(phi, psi, bins=36)
    heat = fig.data[0]
    z = np.array(heat.z, dtype=float)  # (psi bins, phi bins)
    iy, ix = np.unravel_index(np.nanargmin(z), z.shape)
    assert abs(heat.x[ix] - (-70)) < 15 and abs(heat.y[iy] - 140) < 15
    assert np.nanmin(z) == 0.0
    assert np.isnan(z).any(), "empty bins stay blank"


def test_molecule_2d_keeps_the_widest_face_and_true_distances_in_that_plane():
    # A flat zig-zag in the x-z plane, then rotated: the picture must show it undistorted.
    flat = np.array([[0, 0, 0], [0.3, 0, 0.2], [0.6, 0, 0], [0.9, 0, 0.2]], dtype=float)
    angle = 0.7
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)],
                         [0, np.sin(angle), np.cos(angle)]])
    xyz = flat @ rotation.T
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    fig = figures.molecule_2d(xyz, bonds, ["B1", "S1", "B1", "S1"])
    bond_trace, *atom_traces = fig.data
    assert all(t.type == "scatter" for t in fig.data), "no WebGL trace"
    points = np.full((4, 2), np.nan)
    for trace in atom_traces:
        for label, x, y in zip(trace.text, trace.x, trace.y):
            points[int(label.split("#")[1])] = (x, y)
    # in-plane distances survive the projection exactly
    for i in range(4):
        for j in range(4):
            assert np.isclose(np.linalg.norm(points[i] - points[j]),
                              np.linalg.norm(flat[i] - flat[j]))
    assert len(bond_trace.x) == 3 * len(bonds)
    assert fig.layout.yaxis.scaleanchor == "x"


def test_envelope_thins_long_lines_but_keeps_every_extreme():
    rng = np.random.default_rng(1)
    t = np.arange(50_000) * 1.0
    y = rng.normal(size=t.size)
    y[12_345], y[40_000] = 9.0, -9.0
    x_thin, y_thin = figures.envelope(t, y, max_points=2000)
    assert len(y_thin) <= 2100
    assert y_thin.max() == 9.0 and y_thin.min() == -9.0
    assert np.all(np.diff(x_thin) > 0), "points stay in time order"
    short = np.arange(10.0)
    assert figures.envelope(short, short)[1].tolist() == short.tolist()
    line = figures.time_series(t, {"Rg": y}, "Rg (nm)").data[0]
    assert len(line.y) <= 2100 and max(line.y) == 9.0
    raw, mean = figures.time_series(t, {"Rg": y}, "Rg (nm)", running_mean=500).data
    assert max(raw.y) == 9.0 and raw.opacity < 1 and mean.line.color == raw.line.color
    assert mean.name == "Rg, running mean (500 ps)" and max(mean.y) < 1.0  # mean of N(0, 1)
    assert len(figures.time_series(t[:3], {"Rg": y[:3]}, "Rg", running_mean=500).data) == 2


def test_trajectory_player_frames_follow_the_molecule_centred():
    rng = np.random.default_rng(2)
    shape = rng.normal(scale=0.2, size=(4, 3))
    drift = np.arange(5)[:, None, None] * np.array([3.0, 0.0, 0.0])  # 3 nm per frame
    xyz = shape[None] + drift
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    types = ["C", "N", "C", "O"]
    fig = figures.trajectory_player(xyz, bonds, types, np.arange(5) * 10.0)
    assert len(fig.frames) == 5 and len(fig.layout.sliders[0].steps) == 5
    # the time is shown by an annotation each frame rewrites (slider labels stay empty)
    assert [f.layout.annotations[0].text for f in fig.frames] == [
        f"t = {t:.1f} ps" for t in np.arange(5) * 10.0]
    assert fig.layout.annotations[0].text == "t = 0.0 ps"
    # the colour key follows the clock; frames rewrite only the clock, plotly keeps the key
    # (tests/test_browser.py checks that the key is still shown while the player plays)
    key = fig.layout.annotations[1].text
    assert key.count("<br>") == 2 and {len(f.layout.annotations) for f in fig.frames} == {1}
    assert {step.label for step in fig.layout.sliders[0].steps} == {""}
    centred = shape - shape.mean(0)
    for frame in fig.frames:
        bond_trace, atom_trace = frame.data  # bonds first, then all atoms
        np.testing.assert_allclose(np.c_[atom_trace.x, atom_trace.y, atom_trace.z], centred,
                                   atol=5e-4)  # to 0.001 nm
    milli = np.asarray(fig.frames[2].data[0].x, dtype=float) * 1000  # bonds, NaN gaps
    assert np.allclose(milli[~np.isnan(milli)], np.round(milli[~np.isnan(milli)]))
    span = fig.layout.scene.xaxis.range
    assert span[1] - span[0] < 2.0, "the axes span the molecule, not its 12 nm drift"
    raw = figures.trajectory_player(xyz, bonds, types, np.arange(5) * 10.0, center=False)
    np.testing.assert_allclose(raw.frames[4].data[1].x, xyz[4, :, 0], atol=5e-4)


def test_overlay_lines_smooth_the_long_noisy_curves_only():
    rng = np.random.default_rng(3)
    steps, val_steps = np.arange(0, 3000, 10), np.arange(0, 3000, 500)
    loss = 2.0 - steps / 3000 + rng.normal(scale=0.3, size=steps.size)  # per-step noise
    curves = {"loss": (steps, loss), "val_loss": (val_steps, 2.0 - val_steps / 3000)}
    fig = figures.overlay_lines(curves, "step", "loss", running_mean=15, unit=" steps")
    raw, mean, val = fig.data
    assert [raw.name, mean.name, val.name] == [
        "loss", "loss, running mean (150 steps)", "val_loss"]  # 6 validation points: as is
    assert raw.opacity < 1 and mean.line.color == raw.line.color
    x, y = np.asarray(mean.x), np.asarray(mean.y)
    inner = (x > 200) & (x < 2800)  # away from the shrinking windows at both ends
    trend = 2.0 - steps / 3000
    assert np.abs(y - (2.0 - x / 3000))[inner].max() < 0.3 < np.abs(loss - trend).max()
    plain = figures.overlay_lines(curves, "step", "loss")
    assert [t.name for t in plain.data] == ["loss", "val_loss"]


def test_log_ticks_are_written_out_at_1_2_5():
    axis = figures.log_ticks([3.0, 140.0])
    assert axis["type"] == "log" and axis["ticktext"] == ["2", "5", "10", "20", "50", "100",
                                                          "200"]
    assert figures.log_ticks([]) == {"type": "log"}


def _msm_results():
    from cgviz.analysis import TimescaleCurve
    from cgviz.analysis.markov import CKTest

    lags = np.array([1, 2, 4])
    scales = np.array([[30.0, 10.0], [31.0, 10.5], [31.5, 10.8]])
    curve = TimescaleCurve(lags, scales, scales * 0.9, scales * 1.1, dt_ps=2.0)
    p = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.9, 0.1], [0.2, 0.8]]])
    ck = CKTest(np.array([0, 4]), p, p - 0.05, p + 0.05, p + 0.01, p - 0.04, p + 0.06, 2.0)
    return curve, ck


def test_msm_timescales_bands_hold_each_line_in_the_comparison_palette():
    curve, _ = _msm_results()
    figure = figures.msm_timescales({"reference MD": curve, "learned simulator": curve})
    lines = [t for t in figure.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["reference MD, process 1", "reference MD, process 2",
                                       "learned simulator, process 1",
                                       "learned simulator, process 2"]
    assert lines[0].line.color == figures.REFERENCE_COLOR
    assert lines[2].line.color == figures.MODEL_COLOR and lines[3].line.dash == "dash"
    np.testing.assert_allclose(lines[0].x, [2.0, 4.0, 8.0])  # ps
    band = figure.data[0]
    assert band.fill == "toself" and max(band.y) == pytest.approx(31.5 * 1.1 * 2.0)
    assert figure.layout.yaxis.type == "log" and "10" in figure.layout.yaxis.ticktext
    assert figure.layout.xaxis.title.text == "lag (ps)"


def test_ck_test_has_a_panel_per_pair_of_sets_with_predictions_and_estimates():
    _, ck = _msm_results()
    figure = figures.ck_test({"reference MD": ck})
    titles = [a.text for a in figure.layout.annotations]
    assert titles == ["set 1 → set 1", "set 1 → set 2", "set 2 → set 1", "set 2 → set 2"]
    estimated = [t for t in figure.data if t.mode == "markers"]
    assert len(estimated) == 4 and estimated[1].y.tolist() == [0.01, 0.11]
    np.testing.assert_allclose(estimated[1].error_y.array, [0.05, 0.05])
    assert [t.name for t in figure.data if t.showlegend] == [
        "reference MD: predicted T(τ)^k", "reference MD: estimated at kτ"]


def test_the_colour_key_of_a_big_mapping_stays_short():
    """A METIS mapping of a protein gives nearly every bead its own composition: the key
    lists the first types and counts the rest instead of covering the molecule."""
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(92, 3))
    types = [f"C*{i}+H*{i + 5}" for i in range(92)]
    bonds = np.array([[i, i + 1] for i in range(91)])
    key = figures.molecule_3d(xyz, bonds, types).layout.annotations[0].text
    assert key.count("<br>") == figures.KEY_ROWS and "80 more types" in key
    flat = figures.molecule_2d(xyz, bonds, types)
    assert sum(1 for t in flat.data if t.showlegend is not False and t.name) == figures.KEY_ROWS
    few = figures.molecule_3d(xyz[:4], bonds[:3], ["C", "N", "C", "O"]).layout.annotations[0]
    assert few.text.count("<br>") == 2 and "more" not in few.text

"""Plotly figure builders: the pictures show what the data hold."""

from __future__ import annotations

import numpy as np

from cgviz import figures


def test_molecule_3d_draws_every_atom_and_bond_once():
    xyz = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0.1, 0], [0.3, 0.1, 0.1]], dtype=float)
    bonds = np.array([[0, 1], [1, 2], [2, 3]])
    fig = figures.molecule_3d(xyz, bonds, ["B1", "S1", "B1", "S2"])
    bond_trace, *atom_traces = fig.data
    # Bond segments: start, end, gap per bond.
    assert len(bond_trace.x) == 3 * len(bonds)
    np.testing.assert_allclose(bond_trace.x[0::3], xyz[bonds[:, 0], 0])
    np.testing.assert_allclose(bond_trace.x[1::3], xyz[bonds[:, 1], 0])
    assert [t.name for t in atom_traces] == ["B1", "S1", "S2"]
    assert sum(len(t.x) for t in atom_traces) == len(xyz)
    assert atom_traces[0].marker.color == figures.TYPE_COLORS["B1"]


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

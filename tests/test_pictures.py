"""cgviz.pictures: static SVG pictures, checked pixel for pixel."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from cgviz import analysis, figures, pictures

SVG = "{http://www.w3.org/2000/svg}"


def _png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))


def _embedded_png(image: ET.Element) -> np.ndarray:
    href = image.get("href")
    assert href.startswith("data:image/png;base64,")
    return _png_pixels(base64.b64decode(href.split(",", 1)[1]))


def test_png_bytes_is_a_png_that_decodes_to_the_same_pixels():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(7, 13, 4), dtype=np.uint8)
    assert np.array_equal(_png_pixels(pictures.png_bytes(rgba)), rgba)
    with pytest.raises(ValueError, match="height, width, 4"):
        pictures.png_bytes(np.zeros((3, 3, 3), np.uint8))


def test_colormap_runs_from_the_first_to_the_last_colour_and_leaves_nan_transparent():
    rgba = pictures.colormap(np.array([0.0, 10.0, 20.0, np.nan, -5.0]), 0.0, 10.0)
    first = [0x44, 0x01, 0x54, 255]
    last = [0xFD, 0xE7, 0x25, 255]
    assert rgba[0].tolist() == first and rgba[4].tolist() == first  # clipped below
    assert rgba[1].tolist() == last and rgba[2].tolist() == last  # clipped above
    assert rgba[3, 3] == 0
    middle = pictures.colormap(np.array([5.0]), 0.0, 10.0)[0, :3].astype(int)
    assert not np.array_equal(middle, first[:3]) and not np.array_equal(middle, last[:3])


def test_molecule_svg_draws_every_atom_and_bond_in_the_flat_view_at_true_proportions():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(12, 3)) * [3.0, 1.5, 0.2]
    bonds = np.array([[i, i + 1] for i in range(11)])
    types = ["B1", "S1", "B2", "S2"] * 3
    svg = pictures.molecule_svg(xyz, bonds, types, title="a chain <1>")
    root = ET.fromstring(svg)
    assert root.find(f"{SVG}title").text == "a chain <1>"
    lines = root.findall(f".//{SVG}line")
    circles = root.findall(f".//{SVG}circle")
    assert len(lines) == len(bonds)
    assert len(circles) == len(xyz) + 4  # atoms, then one legend mark per type
    atoms = circles[:len(xyz)]
    assert {c.get("fill") for c in atoms} == {figures.color_for_type(t) for t in set(types)}
    # drawn back to front, each atom where the flat projection puts it, one scale for all
    flat = figures.flat_projection(xyz, dims=3)
    order = np.argsort(flat[:, 2])
    drawn = np.array([[float(c.get("cx")), float(c.get("cy"))] for c in atoms])
    expected = flat[order, :2] * [1, -1]  # SVG's y points down
    scale = np.linalg.norm(drawn - drawn.mean(0)) / np.linalg.norm(expected - expected.mean(0))
    assert np.allclose(drawn - drawn.mean(0), scale * (expected - expected.mean(0)), atol=0.1)
    with pytest.raises(ValueError, match="one type per atom"):
        pictures.molecule_svg(xyz, bonds, types[:-1])


def test_free_energy_svg_shows_the_surface_bin_for_bin_with_empty_bins_blank():
    rng = np.random.default_rng(2)
    phi, psi = rng.normal(-1.4, 0.3, 4000), rng.normal(2.6, 0.3, 4000)
    surface = analysis.compute_ramachandran_surface(phi, psi, bins=36)
    svg = pictures.ramachandran_svg(surface, title="F")
    root = ET.fromstring(svg)
    heat, bar = root.findall(f".//{SVG}image")
    pixels = _embedded_png(heat)
    assert pixels.shape == (36, 36, 4)
    top_row_first = surface.free_energy.T[::-1]  # the picture's rows run from high psi down
    assert np.array_equal(pixels[..., 3] == 0, np.isnan(top_row_first))
    high = np.nanmax(surface.free_energy)
    assert np.array_equal(pixels, pictures.colormap(top_row_first, 0.0, high))
    assert _embedded_png(bar).shape[1] == 1
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert {"phi (deg)", "psi (deg)", "F (kJ/mol)"} <= set(labels)
    ticks = ["\u2212180", "\u221290", "0", "90", "180"]
    assert [t for t in labels if t in ticks][:10] == ticks + ticks  # phi, then psi axis

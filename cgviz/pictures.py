"""Static pictures as SVG text: no JavaScript to run, so a page shows them at once.

The home page uses these for its two previews: a plotly chart there would make a first
visit wait for plotly.js (4.7 MB) to be fetched and run (about 0.9 s on 2 cores) before the
page is complete. The interactive figures are in :mod:`cgviz.figures`. Only numpy and the
standard library are imported here.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib

import numpy as np

from cgviz.figures import color_for_type, flat_projection

#: Anchor colours of the viridis colour map (evenly spaced from low to high), the map the
#: plotly free-energy figures use, so a preview and its interactive figure look alike.
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e",
           "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")

_FONT = "font-family='sans-serif' fill='#31333f'"


def _rgb(hex_colors) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in hex_colors], float)


def colormap(values: np.ndarray, low: float, high: float, colors=VIRIDIS) -> np.ndarray:
    """(..., 4) uint8 RGBA for ``values`` on a linear map from ``low`` to ``high``
    (clipped), interpolated between ``colors``; NaN becomes transparent."""
    values = np.asarray(values, dtype=float)
    anchors = _rgb(colors)
    span = high - low if high > low else 1.0
    t = np.clip((np.nan_to_num(values, nan=low) - low) / span, 0.0, 1.0) * (len(anchors) - 1)
    below = np.minimum(t.astype(int), len(anchors) - 2)
    frac = (t - below)[..., None]
    rgb = anchors[below] * (1 - frac) + anchors[below + 1] * frac
    alpha = np.where(np.isnan(values), 0, 255)[..., None]
    return np.concatenate([np.rint(rgb), alpha], axis=-1).astype(np.uint8)


def png_bytes(rgba: np.ndarray) -> bytes:
    """A PNG file of an (height, width, 4) uint8 image, top row first (no Pillow needed)."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    if rgba.shape != (height, width, 4) or height == 0 or width == 0:
        raise ValueError(f"expected a non-empty (height, width, 4) image, got {rgba.shape}")
    rows = np.concatenate([np.zeros((height, 1), np.uint8), rgba.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width:g} {height:g}' "
            f"width='{width:g}' height='{height:g}' role='img' "
            f"aria-label='{html.escape(label, quote=True)}'>"
            f"<title>{html.escape(label)}</title>" + "".join(body) + "</svg>")


def _png_image(rgba: np.ndarray, x: float, y: float, width: float, height: float,
               style: str = "") -> str:
    """An SVG <image> of ``rgba`` (a PNG inside), stretched over the given box."""
    data = base64.b64encode(png_bytes(rgba)).decode()
    return (f"<image x='{x:g}' y='{y:g}' width='{width:g}' height='{height:g}' "
            f"preserveAspectRatio='none' style='{style}' href='data:image/png;base64,{data}'/>")


def _text(x: float, y: float, text: str, size: float = 13, anchor: str = "middle",
          extra: str = "") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size:g}' text-anchor='{anchor}' "
            f"{_FONT} {extra}>{html.escape(text)}</text>")


def molecule_svg(xyz: np.ndarray, bonds: np.ndarray, type_names, title: str = "",
                 size: float = 460.0) -> str:
    """A flat ball-and-stick picture of one frame as SVG text.

    The same view as :func:`cgviz.figures.molecule_2d` (the molecule's widest face); atoms
    are drawn from back to front so nearer ones cover farther ones, with a legend of types.
    xyz: (n_atoms, 3) positions; bonds: (n_bonds, 2) atom index pairs; type_names: one
    per atom.
    """
    type_names = list(type_names)
    xyz = np.asarray(xyz, dtype=float)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or len(xyz) == 0 or len(type_names) != len(xyz):
        raise ValueError("molecule_svg needs (n_atoms, 3) positions and one type per atom")
    flat = flat_projection(xyz, dims=3)
    lo, hi = flat[:, :2].min(0), flat[:, :2].max(0)
    extent = float(max(hi - lo)) or 1.0
    top = 34.0 if title else 8.0
    legend = 26.0
    scale = (size - 16) / extent
    width = size
    height = top + legend + (hi[1] - lo[1]) * scale + 16
    px = 8 + (flat[:, 0] - lo[0]) * scale + (size - 16 - (hi[0] - lo[0]) * scale) / 2
    py = top + legend + (hi[1] - flat[:, 1]) * scale + 8  # y up, as in the plotly view
    radius = float(np.clip(0.09 * (size - 16) / len(xyz) ** 0.5, 3.0, 9.0))
    body = [_text(width / 2, 22, title, 15)] if title else []
    body.append("<g stroke='#888888' stroke-width='3' stroke-linecap='round'>")
    body += [f"<line x1='{px[a]:.1f}' y1='{py[a]:.1f}' x2='{px[b]:.1f}' y2='{py[b]:.1f}'/>"
             for a, b in np.asarray(bonds, dtype=int).reshape(-1, 2)]
    body.append("</g><g stroke='#333333' stroke-width='0.6'>")
    for i in np.argsort(flat[:, 2]):  # back to front
        body.append(f"<circle cx='{px[i]:.1f}' cy='{py[i]:.1f}' r='{radius:.1f}' "
                    f"fill='{color_for_type(type_names[i])}'/>")
    body.append("</g>")
    x = 8.0
    for name in dict.fromkeys(type_names):  # legend, in order of first appearance
        body.append(f"<circle cx='{x + 6:.1f}' cy='{top + 8:.1f}' r='6' stroke='#333333' "
                    f"stroke-width='0.6' fill='{color_for_type(name)}'/>")
        body.append(_text(x + 16, top + 13, name, 13, "start"))
        x += 30 + 8 * len(name)
    return _svg(width, height, body, title or "molecule")


def _ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    """Round tick values within [low, high] (about ``count`` of them)."""
    raw = (high - low) / max(count, 1) or 1.0
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    return np.arange(np.ceil(low / step) * step, high + 1e-9 * step, step)


def _number(value: float) -> str:
    return f"{value:.4g}".replace("-", "\u2212")


def free_energy_svg(surface, x_label: str, y_label: str, title: str = "",
                    x_ticks=None, y_ticks=None, size: float = 360.0) -> str:
    """A heat map of a ``cgviz.analysis.FreeEnergySurface`` as SVG text: bins as square
    pixels (empty bins left blank), axes with ticks, and a colour bar in the surface's units.
    ``x_ticks``/``y_ticks``: tick values (default: round numbers over the range)."""
    free = np.asarray(surface.free_energy, dtype=float)
    finite = free[np.isfinite(free)]
    high = float(finite.max()) if finite.size else 1.0
    image = colormap(free.T[::-1], 0.0, high)  # rows: y from top to bottom
    x0, x1 = float(surface.x_edges[0]), float(surface.x_edges[-1])
    y0, y1 = float(surface.y_edges[0]), float(surface.y_edges[-1])
    left, top = 58.0, (34.0 if title else 10.0)
    plot_w = size
    plot_h = size * (y1 - y0) / (x1 - x0) if x1 > x0 else size
    bar_x = left + plot_w + 18
    width, height = bar_x + 70, top + plot_h + 48
    body = [_text(width / 2, 22, title, 15)] if title else []
    body.append(_png_image(image, left, top, plot_w, plot_h, "image-rendering:pixelated"))
    body.append(f"<rect x='{left}' y='{top}' width='{plot_w:g}' height='{plot_h:g}' "
                f"fill='none' stroke='#8a8f98' stroke-width='1'/>")
    for value in (_ticks(x0, x1) if x_ticks is None else x_ticks):
        x = left + (value - x0) / (x1 - x0) * plot_w
        body.append(f"<line x1='{x:.1f}' y1='{top + plot_h}' x2='{x:.1f}' "
                    f"y2='{top + plot_h + 5}' stroke='#8a8f98'/>")
        body.append(_text(x, top + plot_h + 19, _number(value), 12))
    for value in (_ticks(y0, y1) if y_ticks is None else y_ticks):
        y = top + (y1 - value) / (y1 - y0) * plot_h
        body.append(f"<line x1='{left - 5}' y1='{y:.1f}' x2='{left}' y2='{y:.1f}' "
                    f"stroke='#8a8f98'/>")
        body.append(_text(left - 8, y + 4, _number(value), 12, "end"))
    body.append(_text(left + plot_w / 2, top + plot_h + 40, x_label, 13))
    body.append(_text(16, top + plot_h / 2, y_label, 13,
                      extra=f"transform='rotate(-90 16 {top + plot_h / 2:.1f})'"))
    # colour bar: a vertical strip of the map, low at the bottom
    strip = colormap(np.linspace(high, 0.0, 128)[:, None], 0.0, high)
    body.append(_png_image(strip, bar_x, top, 14, plot_h))
    for value in _ticks(0.0, high, 4):
        y = top + (high - value) / high * plot_h if high > 0 else top + plot_h
        body.append(_text(bar_x + 20, y + 4, _number(value), 12, "start"))
    label_x = bar_x + 62
    body.append(_text(label_x, top + plot_h / 2, f"F ({surface.units})", 13,
                      extra=f"transform='rotate(90 {label_x:g} {top + plot_h / 2:.1f})'"))
    return _svg(width, height, body, title or "free energy surface")


def ramachandran_svg(surface, title: str = "") -> str:
    """:func:`free_energy_svg` of a surface over (phi, psi) in degrees, ticks every 90
    degrees: the static twin of :func:`cgviz.figures.ramachandran_surface`."""
    degrees = range(-180, 181, 90)
    return free_energy_svg(surface, "phi (deg)", "psi (deg)", title=title,
                           x_ticks=degrees, y_ticks=degrees)

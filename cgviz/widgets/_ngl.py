"""The nglview boundary: frames in nm in, PDB text and Angstrom coordinates out.

Everything in cgviz is in nm. nglview (and NGL behind it) works in Angstrom, so the only
place cgviz multiplies by 10 is here, in :class:`FramesAdaptor`.
"""

from __future__ import annotations

import functools
import json
import sys
import types
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError

NGL_MODULE = "nglview-js-widgets"


@functools.lru_cache(maxsize=1)
def installed_frontend_version() -> str | None:
    """The version of nglview's JupyterLab extension on disk (None if there is none).

    nglview 4.0.1 asks the front end for module version "4.0" but ships its extension as
    3.1.5, so JupyterLab and Notebook 7 refuse to draw its views ("Module
    nglview-js-widgets, version 4.0 is not registered, however, 3.1.5 is"; nglview issue
    #1172). cgviz asks for the version that is actually installed.
    """
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        package = Path(base) / NGL_MODULE / "package.json"
        try:
            return str(json.loads(package.read_text())["version"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def _import_nglview():
    """Import nglview so that its widgets name the front-end version that is installed.

    nglview creates a colour-registry widget while it is imported, so the version has to be
    right before the import: cgviz provides ``nglview._frontend`` (one constant) first.
    """
    version = installed_frontend_version()
    if "nglview" not in sys.modules and version:
        shim = types.ModuleType("nglview._frontend")
        shim.__frontend_version__ = version  # type: ignore[attr-defined]
        sys.modules["nglview._frontend"] = shim
    import nglview

    return nglview


nv = _import_nglview()


def match_frontend(widget: Any) -> Any:
    """Make an nglview widget name the installed front-end version (if nglview came first)."""
    version = installed_frontend_version()
    if version and getattr(widget, "_view_module", None) == NGL_MODULE:
        widget._view_module_version = version
        widget._model_module_version = version
    return widget

NM_TO_ANGSTROM = 10.0
_MAX_PDB_ATOMS = 99_999  # fixed-column PDB serial numbers


def frame_indices(n_frames: int, stride: int = 1, max_frames: int | None = None) -> np.ndarray:
    """Every ``stride``-th frame, thinned evenly further to at most ``max_frames``."""
    if int(stride) < 1:
        raise CgvizError(f"stride must be at least 1, got {stride}.")
    if max_frames is not None and int(max_frames) < 1:
        raise CgvizError(f"max_frames must be at least 1, got {max_frames}.")
    indices = np.arange(0, int(n_frames), int(stride))
    if max_frames is not None and len(indices) > max_frames:
        keep = np.unique(np.linspace(0, len(indices) - 1, int(max_frames)).round().astype(int))
        indices = indices[keep]
    return indices


def check_frames(xyz: Any, what: str) -> np.ndarray:
    """(n_frames, n_atoms, 3) finite float32 nm coordinates, or a CgvizError."""
    array = np.asarray(xyz, dtype=np.float32)
    if array.ndim == 2 and array.shape[1] == 3:
        array = array[None]
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise CgvizError(f"{what} must have shape (n_frames, n_atoms, 3), got {array.shape}.")
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array).all(axis=(1, 2)))
        raise CgvizError(f"{what} has NaN or infinite coordinates in {len(bad)} frame(s), "
                         f"first at frame {int(bad[0])}.",
                         hint="Drop those frames (a rollout that blew up stops at the last "
                              "finite frame) before showing it.")
    if array.shape[1] > _MAX_PDB_ATOMS:
        raise CgvizError(f"{what} has {array.shape[1]} atoms; the 3D view shows at most "
                         f"{_MAX_PDB_ATOMS}.", hint="Show a subset (traj.atom_slice).")
    return array


def _element(atom: Any) -> str:
    symbol = getattr(getattr(atom, "element", None), "symbol", "") or ""
    return symbol if 0 < len(symbol) <= 2 and symbol.upper() != "VS" else ""


def pdb_text(xyz_nm: np.ndarray, topology: Any, bonds: Sequence[Sequence[int]]) -> str:
    """One frame as PDB text in Angstrom, with a CONECT line for every bond.

    ``topology`` is an md.Topology (names, residues, chains, elements); writing CONECT for
    every bond keeps bead bonds and virtual-site bonds, which NGL cannot guess.
    """
    lines = []
    chain_letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    for atom, position in zip(topology.atoms, np.asarray(xyz_nm) * NM_TO_ANGSTROM):
        residue = atom.residue
        chain = chain_letters[residue.chain.index % len(chain_letters)]
        x, y, z = (float(v) for v in position)
        lines.append(
            f"HETATM{atom.index + 1:5d} {atom.name[:4]:<4s} {residue.name[:3]:>3s} {chain}"
            f"{residue.resSeq % 10000:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00"
            f"          {_element(atom):>2s}")
    for first, second in np.asarray(bonds, dtype=np.int64).reshape(-1, 2).tolist():
        lines.append(f"CONECT{first + 1:5d}{second + 1:5d}")
    lines.append("END")
    return "\n".join(lines) + "\n"


class FramesAdaptor(nv.Trajectory, nv.Structure):
    """An nglview Structure + Trajectory over frames held in nm.

    ``get_structure_string`` gives frame 0 as PDB text (CONECT for every bond) and
    ``get_coordinates(i)`` frame ``i`` in Angstrom: the one nm -> Angstrom conversion.
    """

    ext = "pdb"

    def __init__(self, xyz_nm: np.ndarray, topology: Any, bonds: Sequence[Sequence[int]]):
        self.xyz_nm = check_frames(xyz_nm, "The frames")
        if topology.n_atoms != self.xyz_nm.shape[1]:
            raise CgvizError(f"The topology has {topology.n_atoms} atoms, the frames have "
                             f"{self.xyz_nm.shape[1]}.")
        self.topology = topology
        self.bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        self.params: dict[str, Any] = {}
        self.id = str(uuid.uuid4())
        self.shown = True

    @property
    def n_frames(self) -> int:
        return int(self.xyz_nm.shape[0])

    def get_structure_string(self) -> str:
        return pdb_text(self.xyz_nm[0], self.topology, self.bonds)

    def get_coordinates(self, index: int) -> np.ndarray:
        return (self.xyz_nm[int(index)] * NM_TO_ANGSTROM).astype(np.float32)


def bead_colour(bead: int) -> str:
    from cgviz.figures import BEAD_PALETTE

    return BEAD_PALETTE[int(bead) % len(BEAD_PALETTE)]


def colour_scheme(groups: Sequence[np.ndarray], label: str):
    """An nglview selection colour scheme: group k (atom indices) gets bead colour k."""
    from nglview.color import _ColorScheme

    entries = [[bead_colour(k), "@" + ",".join(str(int(i)) for i in atoms)]
               for k, atoms in enumerate(groups) if len(atoms)]
    return _ColorScheme(entries, f"cgviz_{label}_{uuid.uuid4().hex[:8]}")


def new_view(height: str = "400px"):
    """An empty NGLWidget of a given height (white background, orthographic camera)."""
    match_frontend(nv.color.ColormakerRegistry)
    view = match_frontend(nv.NGLWidget())
    view.layout.height = height
    view.layout.width = "100%"
    view.background = "white"
    view.camera = "orthographic"
    return view


def add_frames(view, xyz_nm: np.ndarray, topology: Any, bonds: Sequence[Sequence[int]]
               ) -> FramesAdaptor:
    """Add frames (nm) as a trajectory component without NGL's default representation."""
    adaptor = FramesAdaptor(xyz_nm, topology, bonds)
    view.add_trajectory(adaptor, default_representation=False)
    return adaptor

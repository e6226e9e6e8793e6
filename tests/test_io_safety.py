"""No file a user gives cgviz can run code: crafted HDF5 files and every accepted format.

Each crafted file carries a pickle that, if unpickled, creates a sentinel file. The tests
assert the loader refuses the file with a CgvizError *and* that the sentinel never appears,
through the library, the upload path of the app and the CLI.
"""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import mdtraj as md
import numpy as np
import pytest
import tables

from cgviz import CgvizError, datasets, io
from cgviz.app import ui
from cgviz.io import safety

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this creates ``self.sentinel``: the proof that a file ran code."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (exec, (f"open({str(self.sentinel)!r}, 'w').close()",))


def payload(sentinel: Path, protocol: int = 0) -> bytes:
    data = pickle.dumps(_Payload(sentinel), protocol=protocol)
    assert data.endswith(b".")
    return data


@pytest.fixture(scope="module")
def frames() -> md.Trajectory:
    paths = datasets.demo_paths("alanine-dipeptide")
    return md.load(str(paths["trajectories"][0]), top=str(paths["topology"]))[:5]


@pytest.fixture
def clean_h5(tmp_path, frames) -> Path:
    path = tmp_path / "clean.h5"
    frames.save_hdf5(str(path))
    return path


def _copy(src: Path, dst: Path) -> Path:
    shutil.copy(src, dst)
    return dst


def _set_attr(path: Path, node: str, name: str, value) -> None:
    with h5py.File(path, "a") as f:
        f[node].attrs[name] = value


def _craft(kind: str, clean: Path, tmp: Path, sentinel: Path, ext: str = ".h5") -> Path:
    """One crafted file of each kind the HDF5 check must refuse."""
    path = _copy(clean, tmp / f"evil_{kind}{ext}")
    if kind == "root-title":  # mdtraj reads root.title: PyTables unpickles it
        _set_attr(path, "/", "title", np.bytes_(payload(sentinel)))
    elif kind == "root-title-binary":
        _set_attr(path, "/", "title", np.bytes_(payload(sentinel, protocol=4)))
    elif kind == "root-system-attr":  # read by PyTables itself inside open_file
        _set_attr(path, "/", "PYTABLES_FORMAT_VERSION", np.bytes_(payload(sentinel, 2)))
    elif kind == "coordinate-units":
        _set_attr(path, "/coordinates", "units", np.bytes_(payload(sentinel)))
    elif kind == "time-units":
        _set_attr(path, "/time", "units", np.bytes_(payload(sentinel, protocol=5)))
    elif kind == "nested-group-attr":
        with h5py.File(path, "a") as f:
            f.create_group("extra/deeper").attrs["note"] = np.bytes_(payload(sentinel))
    elif kind == "object-vlarray":  # the topology node rewritten as pickled rows
        with tables.open_file(str(path), "a") as f:
            f.remove_node("/topology")
            array = f.create_vlarray("/", "topology", tables.ObjectAtom())
            array.append(_Payload(sentinel))
        assert not sentinel.exists()
    elif kind == "external-link":
        other = tmp / "other.h5"
        with h5py.File(other, "w") as f:
            f["data"] = np.zeros(3)
        with h5py.File(path, "a") as f:
            f["elsewhere"] = h5py.ExternalLink(str(other), "/data")
    elif kind == "external-storage":  # the server's own file read as "coordinates"
        secret = tmp / "secret.txt"
        secret.write_bytes(b"server secret " * 100)
        with h5py.File(path, "a") as f:
            f.create_dataset("leak", shape=(10,), dtype="f4",
                             external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    elif kind == "virtual-dataset":
        other = tmp / "source.h5"
        with h5py.File(other, "w") as f:
            f["data"] = np.arange(4.0)
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(4,))
        with h5py.File(path, "a") as f:
            f.create_virtual_dataset("virtual", layout)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


KINDS = ["root-title", "root-title-binary", "root-system-attr", "coordinate-units",
         "time-units", "nested-group-attr", "object-vlarray", "external-link",
         "external-storage", "virtual-dataset"]


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_hdf5_is_refused_as_trajectory_and_as_topology(kind, clean_h5, tmp_path,
                                                               frames):
    sentinel = tmp_path / "RAN_CODE"
    evil = _craft(kind, clean_h5, tmp_path, sentinel)
    with pytest.raises(CgvizError, match="refused"):
        io.load_trajectory(str(evil))
    xtc = tmp_path / "frames.xtc"
    frames.save_xtc(str(xtc))
    with pytest.raises(CgvizError, match="refused"):
        io.load_trajectory(str(xtc), topology=str(evil))
    with pytest.raises(CgvizError, match="refused"):
        io.load_system([str(evil)])
    assert not sentinel.exists()


@pytest.mark.parametrize("ext", [".hdf5", ".lh5", ".pdb", ".nc"])
def test_hdf5_content_is_checked_whatever_the_extension(ext, clean_h5, tmp_path):
    sentinel = tmp_path / "RAN_CODE"
    # .lh5 is MSMBuilder's HDF5 layout, also read by PyTables (mdtraj can no longer write
    # it with pandas 3); the check runs before any reader, whatever the layout.
    evil = _craft("root-title", clean_h5, tmp_path, sentinel, ext=ext)
    top = tmp_path / "top.pdb"
    md.load(str(clean_h5))[0].save_pdb(str(top))
    with pytest.raises(CgvizError, match="refused"):
        io.load_trajectory(str(evil), topology=str(top) if ext == ".nc" else None)
    assert not sentinel.exists()


def test_uploads_and_the_cli_refuse_a_crafted_file(clean_h5, tmp_path):
    sentinel = tmp_path / "RAN_CODE"
    evil = _craft("root-title", clean_h5, tmp_path, sentinel)
    with pytest.raises(CgvizError, match="refused"):
        ui._system_from_files([evil])  # the app's upload path
    done = subprocess.run([sys.executable, "-m", "cgviz", "info", str(evil)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "refused" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not sentinel.exists()


def test_the_unpickling_guard_alone_stops_a_file_the_check_missed(clean_h5, tmp_path,
                                                                  monkeypatch):
    """Second layer: with the h5py inspection switched off, PyTables does unpickle the
    title, and the audit-hook guard stops it before any global is looked up."""
    sentinel = tmp_path / "RAN_CODE"
    evil = _craft("root-title", clean_h5, tmp_path, sentinel)
    monkeypatch.setattr(safety, "check_hdf5", lambda path, label=None: None)
    with pytest.raises(CgvizError, match="unpickle"):
        io.load_trajectory(str(evil))
    assert not sentinel.exists()
    # Outside cgviz's loaders nothing is changed: pickle still works for the caller.
    assert pickle.loads(pickle.dumps(Path("x"))) == Path("x")


def test_forbid_unpickling_blocks_globals_and_keeps_plain_data(tmp_path):
    sentinel = tmp_path / "RAN_CODE"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(safety.UnsafeFileError), safety.forbid_unpickling():
            pickle.loads(payload(sentinel, protocol))
        with safety.forbid_unpickling():
            assert pickle.loads(pickle.dumps({"a": [1, 2.5, "x"]}, protocol)) == {
                "a": [1, 2.5, "x"]}
    assert not sentinel.exists()


def test_pickle_scan_finds_code_without_running_it(tmp_path):
    sentinel = tmp_path / "RAN_CODE"
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert safety.pickle_can_run_code(payload(sentinel, protocol))
        assert not safety.pickle_can_run_code(pickle.dumps([1, "two", 3.0], protocol))
    for text in [b"Alanine dipeptide at 300 K.", b"nanometers", b"", b"cgviz demo."]:
        assert not safety.pickle_can_run_code(text)
    assert not sentinel.exists()


def test_benign_hdf5_files_still_load(clean_h5, tmp_path):
    """A title that ends in a full stop, or a pickle of plain data, is not a threat."""
    for i, title in enumerate([b"Alanine dipeptide at 300 K.",
                               pickle.dumps(["plain", "data"], protocol=0)]):
        path = _copy(clean_h5, tmp_path / f"ok{i}.h5")
        _set_attr(path, "/", "title", np.bytes_(title))
        assert io.load_trajectory(str(path)).n_frames == 5
    assert io.load_trajectory(str(clean_h5)).n_frames == 5


_EVENTS: list[tuple] = []


def _record(event: str, args: tuple) -> None:
    if event == "pickle.find_class":
        _EVENTS.append(args)


def _unpickled_globals() -> list[tuple]:
    """A list that collects every global unpickled from now on (one audit hook per run)."""
    if not getattr(_record, "installed", False):
        sys.addaudithook(_record)
        _record.installed = True
    _EVENTS.clear()
    return _EVENTS


# Every format mdtraj can write that cgviz accepts, with a pickle planted in it.
_FORMATS = [".pdb", ".pdb.gz", ".cif", ".pdbx", ".gro", ".xtc", ".trr", ".dcd", ".nc",
            ".netcdf", ".lammpstrj", ".mdcrd", ".xyz", ".h5"]


@pytest.mark.parametrize("ext", _FORMATS)
def test_every_format_loads_without_unpickling_and_planted_pickles_do_nothing(
        ext, frames, tmp_path):
    sentinel = tmp_path / "RAN_CODE"
    top = tmp_path / "top.pdb"
    frames[0].save_pdb(str(top))
    path = tmp_path / f"frames{ext}"
    if ext == ".lammpstrj":  # the format needs a box
        frames = md.Trajectory(frames.xyz, frames.topology, time=frames.time,
                               unitcell_lengths=np.full((frames.n_frames, 3), 3.0),
                               unitcell_angles=np.full((frames.n_frames, 3), 90.0))
    frames.save(str(path))
    needs_top = ext not in io.SELF_TOPOLOGY_EXTENSIONS
    events = _unpickled_globals()
    loaded = io.load_trajectory(str(path), topology=str(top) if needs_top else None)
    assert loaded.n_atoms == frames.n_atoms and not events
    # The same file with the payload appended (binary formats) or put in a comment line
    # (text formats): it loads or is refused, and never runs the payload.
    planted = tmp_path / f"planted{ext}"
    raw = path.read_bytes()
    if ext in (".pdb", ".gro", ".xyz", ".lammpstrj", ".mdcrd", ".cif", ".pdbx"):
        planted.write_bytes(payload(sentinel) + b"\n" + raw)
    else:
        planted.write_bytes(raw + payload(sentinel, protocol=4))
    try:
        io.load_trajectory(str(planted), topology=str(top) if needs_top else None)
    except CgvizError:
        pass
    assert not sentinel.exists() and not events


def test_indirection_formats_are_not_accepted():
    """`.stk` files list other paths of the server for mdtraj to read: not accepted."""
    assert ".stk" not in io.SUPPORTED_EXTENSIONS
    assert ".stk" not in io.TRAJECTORY_EXTENSIONS


def test_no_pickle_in_cgviz_sources():
    """cgviz itself never unpickles: no pickle import, no allow_pickle=True, and every
    torch.load is weights_only=True."""
    offenders = []
    for source in (ROOT / "cgviz").rglob("*.py"):
        text = source.read_text()
        if re.search(r"^\s*(import pickle\b|from pickle import)", text, re.M) or (
                "allow_pickle=True" in text):
            offenders.append(str(source))
        for line in text.splitlines():
            if "torch.load(" in line and "weights_only=True" not in line:
                offenders.append(f"{source}: {line.strip()}")
    assert not offenders, offenders

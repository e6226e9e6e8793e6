"""Tests for cgviz.io: loading, validation of bad files, featurizers, atom properties."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from cgviz import io as cio
from cgviz.errors import CgvizError

from conftest import build_peptide_topology, random_coil

pytestmark = [
    # mdtraj's own writers (used here to make test files) nag about the optional netCDF4
    pytest.mark.filterwarnings("ignore:.*netCDF4.*:UserWarning"),
    # scipy's netcdf reader complains when a truncated file it failed to read is collected
    pytest.mark.filterwarnings("ignore:Cannot close a netcdf_file:RuntimeWarning"),
]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def user_error(call, *names: str, **kwargs) -> CgvizError:
    """Run call, expect a CgvizError whose message names every `names` and has a hint."""
    with pytest.raises(CgvizError) as caught:
        call(**kwargs) if kwargs else call()
    error = caught.value
    message = str(error)
    for name in names:
        assert name in message, f"{name!r} not in {message!r}"
    assert error.hint, f"no hint in {message!r}"
    assert "Traceback" not in message
    return error


def save(traj: md.Trajectory, path: Path) -> Path:
    traj.save(str(path))
    return path


def corrupt_copy(source: Path, target: Path, keep: int | None = None, seed: int = 3) -> Path:
    """Write target as the first `keep` bytes of source, or as random bytes of its size."""
    data = source.read_bytes()
    if keep is None:
        target.write_bytes(np.random.default_rng(seed).bytes(len(data)))
    else:
        target.write_bytes(data[:keep])
    return target


@pytest.fixture
def topology_pdb(peptide_traj: md.Trajectory, tmp_path: Path) -> Path:
    return save(peptide_traj[0], tmp_path / "peptide.pdb")


def numpy_dihedral(xyz: np.ndarray, quartet: list[int]) -> np.ndarray:
    p0, p1, p2, p3 = (xyz[:, i].astype(np.float64) for i in quartet)
    b0, b1, b2 = p1 - p0, p2 - p1, p3 - p2
    # IUPAC: atan2(|b1| b0 . (b1 x b2), (b0 x b1) . (b1 x b2))
    b1_x_b2 = np.cross(b1, b2)
    y = np.linalg.norm(b1, axis=1) * (b0 * b1_x_b2).sum(1)
    return np.arctan2(y, (np.cross(b0, b1) * b1_x_b2).sum(1))


# ---------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------

TIME_FORMATS = {"xtc", "trr", "h5", "nc", "netcdf", "gro"}
PRECISION_NM = {"pdb": 2e-4, "gro": 1e-3, "xtc": 1e-3, "lammpstrj": 2e-4, "xyz": 2e-4,
                "mdcrd": 2e-4}  # fmt: skip


@pytest.mark.parametrize(
    "ext", ["pdb", "xtc", "dcd", "h5", "nc", "netcdf", "trr", "gro", "lammpstrj", "xyz", "mdcrd"]
)
def test_round_trip(ext, peptide_traj, topology_pdb, tmp_path):
    path = tmp_path / f"traj.{ext}"
    try:
        save(peptide_traj, path)
    except OSError as error:  # pragma: no cover - depends on the mdtraj build
        pytest.skip(f"mdtraj cannot write .{ext} here: {error}")
    needs_topology = f".{ext}" not in cio.SELF_TOPOLOGY_EXTENSIONS
    traj = cio.load_trajectory(path, topology=topology_pdb if needs_topology else None)
    assert isinstance(traj, md.Trajectory)
    assert traj.n_frames == 20 and traj.n_atoms == 23
    np.testing.assert_allclose(traj.xyz, peptide_traj.xyz, atol=PRECISION_NM.get(ext, 1e-5))
    expected_time = np.arange(20) * (2.0 if ext in TIME_FORMATS else 1.0)
    np.testing.assert_allclose(traj.time, expected_time, atol=1e-6)
    assert [a.name for a in traj.topology.atoms] == [a.name for a in peptide_traj.topology.atoms]


def test_topology_objects_and_replacement(peptide_traj, tmp_path):
    xtc = save(peptide_traj, tmp_path / "traj.xtc")
    from_topology = cio.load_trajectory(xtc, topology=peptide_traj.topology)
    from_trajectory = cio.load_trajectory(xtc, topology=peptide_traj)
    np.testing.assert_array_equal(from_topology.xyz, from_trajectory.xyz)
    # a self-describing file with an explicit topology uses the given one
    h5 = save(peptide_traj, tmp_path / "traj.h5")
    renamed = build_peptide_topology(3)
    for atom in renamed.atoms:
        atom.name = atom.name.lower()
    traj = cio.load_trajectory(h5, topology=renamed)
    assert traj.topology.atom(0).name == "ch3"


def test_supported_extensions():
    for ext in (".pdb", ".xtc", ".dcd", ".h5", ".nc", ".trr", ".gro", ".lammpstrj", ".npy",
                ".npz", ".netcdf", ".mdcrd", ".xyz", ".arc"):  # fmt: skip
        assert ext in cio.SUPPORTED_EXTENSIONS
    assert ".xtc" not in cio.SELF_TOPOLOGY_EXTENSIONS
    assert {".pdb", ".gro", ".h5"} <= set(cio.SELF_TOPOLOGY_EXTENSIONS)


# ---------------------------------------------------------------------------------------
# several files, time axis, stride, selection
# ---------------------------------------------------------------------------------------


def test_concatenate_and_separate(peptide_traj, topology_pdb, tmp_path):
    parts = [peptide_traj[0:8], peptide_traj[8:14], peptide_traj[14:20]]
    paths = []
    for number, part in enumerate(parts):
        part = part[:]
        part.time = 500.0 + np.arange(part.n_frames) * 2.0  # each run restarts its clock
        paths.append(save(part, tmp_path / f"run{number}.xtc"))
    joined = cio.load_trajectory(paths, topology=topology_pdb)
    assert joined.n_frames == 20
    np.testing.assert_allclose(joined.time, 500.0 + np.arange(20) * 2.0)
    np.testing.assert_allclose(joined.xyz, peptide_traj.xyz, atol=1e-3)
    assert joined.unitcell_lengths is not None and joined.unitcell_lengths.shape == (20, 3)

    separate = cio.load_trajectory(paths, topology=topology_pdb, concatenate=False)
    assert isinstance(separate, list) and [t.n_frames for t in separate] == [8, 6, 6]
    for traj in separate:
        np.testing.assert_allclose(traj.time, 500.0 + np.arange(traj.n_frames) * 2.0)

    single = cio.load_trajectory(paths[0], topology=topology_pdb, concatenate=False)
    assert isinstance(single, list) and len(single) == 1


def test_stride_and_time(peptide_traj, topology_pdb, tmp_path):
    first = save(peptide_traj[:10], tmp_path / "a.xtc")
    second_part = peptide_traj[10:]
    second = save(second_part, tmp_path / "b.xtc")
    traj = cio.load_trajectory([first, second], topology=topology_pdb, stride=3)
    assert traj.n_frames == 4 + 4
    np.testing.assert_allclose(traj.time, np.arange(8) * 6.0)
    np.testing.assert_allclose(traj.xyz[4], peptide_traj.xyz[10], atol=1e-3)
    summary = cio.trajectory_summary(traj)
    assert summary.frame_time_ps == pytest.approx(6.0)
    assert summary.total_time_ps == pytest.approx(42.0)


def test_frame_time_override(peptide_traj, topology_pdb, tmp_path):
    dcd = save(peptide_traj, tmp_path / "traj.dcd")
    traj = cio.load_trajectory(dcd, topology=topology_pdb, frame_time_ps=0.5, stride=2)
    np.testing.assert_allclose(traj.time, np.arange(10) * 1.0)
    with pytest.raises(CgvizError):
        cio.load_trajectory(dcd, topology=topology_pdb, frame_time_ps=-1.0)


def test_atom_selection(peptide_traj, topology_pdb, tmp_path):
    xtc = save(peptide_traj, tmp_path / "traj.xtc")
    calpha = cio.load_trajectory(xtc, topology=topology_pdb, atom_selection="name CA")
    assert calpha.n_atoms == 3 and {a.name for a in calpha.topology.atoms} == {"CA"}
    heavy = cio.load_trajectory(xtc, topology=topology_pdb, atom_selection="not element H")
    assert heavy.n_atoms == 20
    np.testing.assert_allclose(
        heavy.xyz, peptide_traj.xyz[:, peptide_traj.topology.select("not element H")], atol=1e-3
    )
    error = user_error(
        lambda: cio.load_trajectory(xtc, topology=topology_pdb, atom_selection="name ZZ"),
        "name ZZ",
    )
    assert "CA" in error.hint  # lists the atom names that exist
    user_error(lambda: cio.load_trajectory(xtc, topology=topology_pdb, atom_selection="name ("))


def test_time_float32_rounding_is_tolerated(peptide_traj, topology_pdb, tmp_path):
    traj = peptide_traj[:]
    traj.time = 100000.0 + np.arange(20) * 0.02  # float32 spacing at 1e5 ps is 0.0078 ps
    xtc = save(traj, tmp_path / "late.xtc")
    stored = md.load(str(xtc), top=str(topology_pdb)).time
    assert not np.allclose(np.diff(stored), 0.02, atol=1e-4)  # the file really is rounded
    loaded = cio.load_trajectory(xtc, topology=topology_pdb)
    assert np.ptp(np.diff(loaded.time)) < 1e-9  # uniform again
    assert np.diff(loaded.time)[0] == pytest.approx(0.02, abs=2e-3)


def test_non_uniform_time_step(peptide_traj, topology_pdb, tmp_path):
    traj = peptide_traj[:]
    traj.time = np.concatenate([np.arange(10) * 2.0, 30.0 + np.arange(10) * 2.0])
    xtc = save(traj, tmp_path / "gappy.xtc")
    error = user_error(
        lambda: cio.load_trajectory(xtc, topology=topology_pdb), "gappy.xtc", "frames 9 and 10"
    )
    assert "check_time_steps=False" in str(error)
    loaded = cio.load_trajectory(xtc, topology=topology_pdb, check_time_steps=False)
    np.testing.assert_allclose(np.diff(loaded.time), 2.0)


def test_different_time_steps_between_files(peptide_traj, topology_pdb, tmp_path):
    slow = peptide_traj[:10]
    fast = peptide_traj[10:]
    fast.time = np.arange(10) * 1.0
    paths = [save(slow, tmp_path / "slow.xtc"), save(fast, tmp_path / "fast.xtc")]
    user_error(lambda: cio.load_trajectory(paths, topology=topology_pdb), "slow.xtc", "fast.xtc")
    joined = cio.load_trajectory(paths, topology=topology_pdb, check_time_steps=False)
    np.testing.assert_allclose(joined.time, np.arange(20) * 2.0)


# ---------------------------------------------------------------------------------------
# feature arrays
# ---------------------------------------------------------------------------------------


def test_load_features(tmp_path):
    rng = np.random.default_rng(0)
    one_d = rng.normal(size=30)
    two_d = rng.normal(size=(25, 4)).astype(np.float32)
    three_d = rng.normal(size=(12, 5, 3))
    np.save(tmp_path / "a.npy", one_d)
    np.save(tmp_path / "b.npy", two_d)
    np.save(tmp_path / "c.npy", three_d)
    np.save(tmp_path / "ints.npy", np.arange(10))
    (a,) = cio.load_features(tmp_path / "a.npy")
    assert a.shape == (30, 1) and a.dtype == np.float64
    (b,) = cio.load_features(tmp_path / "b.npy")
    assert b.dtype == np.float32 and b.shape == (25, 4)
    (c,) = cio.load_features(tmp_path / "c.npy")
    assert c.shape == (12, 15)
    (ints,) = cio.load_features(tmp_path / "ints.npy")
    assert ints.dtype == np.float64
    (strided,) = cio.load_features(tmp_path / "b.npy", stride=2)
    np.testing.assert_array_equal(strided, two_d[::2])

    np.savez(tmp_path / "runs.npz", zeta=rng.normal(size=(10, 3)), alpha=rng.normal(size=(7, 3)))
    runs = cio.load_features(tmp_path / "runs.npz")
    assert [r.shape[0] for r in runs] == [10, 7]  # stored order, not alphabetical
    (alpha,) = cio.load_features(tmp_path / "runs.npz", key="alpha")
    assert alpha.shape == (7, 3)
    joined = cio.load_features(tmp_path / "runs.npz", concatenate=True)
    assert isinstance(joined, np.ndarray) and joined.shape == (17, 3)
    user_error(lambda: cio.load_features(tmp_path / "runs.npz", key="beta"), "runs.npz", "beta")
    user_error(
        lambda: cio.load_features([tmp_path / "runs.npz", tmp_path / "b.npy"], concatenate=True),
        "runs.npz",
        "b.npy",
    )


def test_load_trajectory_delegates_to_features(tmp_path, peptide_traj):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "f1.npy", rng.normal(size=(10, 2)))
    np.save(tmp_path / "f2.npy", rng.normal(size=(6, 2)))
    paths = [tmp_path / "f1.npy", tmp_path / "f2.npy"]
    joined = cio.load_trajectory(paths)
    assert isinstance(joined, np.ndarray) and joined.shape == (16, 2)
    separate = cio.load_trajectory(paths, concatenate=False)
    assert [s.shape for s in separate] == [(10, 2), (6, 2)]
    pdb = save(peptide_traj, tmp_path / "coords.pdb")
    user_error(lambda: cio.load_trajectory([pdb, paths[0]]), "coords.pdb", "f1.npy")
    user_error(lambda: cio.load_trajectory(paths, atom_selection="all"), "f1.npy")


def test_feature_file_errors(tmp_path):
    bad = np.arange(20, dtype=np.float64).reshape(10, 2)
    bad[[2, 7], 1] = [np.nan, np.inf]
    np.save(tmp_path / "nan.npy", bad)
    user_error(lambda: cio.load_features(tmp_path / "nan.npy"), "nan.npy", "2, 7")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    user_error(lambda: cio.load_features(tmp_path / "objects.npy"), "objects.npy", "pickle")
    np.save(tmp_path / "good.npy", np.ones((50, 3)))
    corrupt_copy(tmp_path / "good.npy", tmp_path / "random.npy")
    user_error(lambda: cio.load_features(tmp_path / "random.npy"), "random.npy")
    size = (tmp_path / "good.npy").stat().st_size
    corrupt_copy(tmp_path / "good.npy", tmp_path / "cut.npy", keep=size // 2)
    user_error(lambda: cio.load_features(tmp_path / "cut.npy"), "cut.npy")
    np.savez(tmp_path / "good.npz", x=np.ones((50, 3)))
    corrupt_copy(tmp_path / "good.npz", tmp_path / "cut.npz", keep=100)
    user_error(lambda: cio.load_features(tmp_path / "cut.npz"), "cut.npz")
    (tmp_path / "empty.npy").write_bytes(b"")
    user_error(lambda: cio.load_features(tmp_path / "empty.npy"), "empty.npy", "0 bytes")
    user_error(lambda: cio.load_features(tmp_path / "good.npy", min_frames=60), "good.npy", "60")
    np.save(tmp_path / "scalar.npy", np.float64(3.0))
    user_error(lambda: cio.load_features(tmp_path / "scalar.npy"), "scalar.npy")


# ---------------------------------------------------------------------------------------
# error paths with real bad files
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["xtc", "dcd", "trr", "nc"])
def test_missing_topology(ext, peptide_traj, tmp_path):
    path = save(peptide_traj, tmp_path / f"coords.{ext}")
    error = user_error(lambda: cio.load_trajectory(path), f"coords.{ext}", "topology")
    assert "topology=" in error.hint


def test_bad_topology_files(peptide_traj, topology_pdb, tmp_path):
    xtc = save(peptide_traj, tmp_path / "traj.xtc")
    user_error(
        lambda: cio.load_trajectory(xtc, topology=tmp_path / "nowhere.pdb"), "nowhere.pdb"
    )
    user_error(lambda: cio.load_trajectory(xtc, topology=xtc), "traj.xtc", ".pdb")
    corrupt_copy(topology_pdb, tmp_path / "garbage.pdb")
    user_error(lambda: cio.load_trajectory(xtc, topology=tmp_path / "garbage.pdb"), "garbage.pdb")
    h5 = save(peptide_traj, tmp_path / "top.h5")
    corrupt_copy(h5, tmp_path / "cut_top.h5", keep=h5.stat().st_size // 2)
    user_error(lambda: cio.load_trajectory(xtc, topology=tmp_path / "cut_top.h5"), "cut_top.h5")
    (tmp_path / "empty.pdb").write_bytes(b"")
    user_error(lambda: cio.load_trajectory(xtc, topology=tmp_path / "empty.pdb"), "empty.pdb")
    (tmp_path / "text.pdb").write_text("this is not a protein\n")
    user_error(lambda: cio.load_trajectory(xtc, topology=tmp_path / "text.pdb"), "text.pdb")
    user_error(lambda: cio.load_trajectory(xtc, topology=42), "topology")


def test_file_not_found(topology_pdb, tmp_path):
    user_error(
        lambda: cio.load_trajectory(tmp_path / "missing.xtc", topology=topology_pdb),
        "missing.xtc",
        "does not exist",
    )
    user_error(lambda: cio.load_trajectory([]))


@pytest.mark.parametrize("ext", ["xtc", "dcd", "trr", "nc"])
def test_atom_count_mismatch_with_topology(ext, peptide_traj, tmp_path):
    path = save(peptide_traj, tmp_path / f"traj.{ext}")
    small = tmp_path / "small.pdb"
    md.Trajectory(random_coil(1, 17), build_peptide_topology(2)).save(str(small))
    user_error(
        lambda: cio.load_trajectory(path, topology=small), f"traj.{ext}", "small.pdb", "23", "17"
    )


def test_atom_count_mismatch_self_topology_and_between_files(peptide_traj, tmp_path):
    big = save(peptide_traj, tmp_path / "big.pdb")
    small_traj = md.Trajectory(random_coil(5, 17), build_peptide_topology(2))
    small = save(small_traj, tmp_path / "small.pdb")
    user_error(lambda: cio.load_trajectory(big, topology=small), "big.pdb", "small.pdb")
    user_error(lambda: cio.load_trajectory([big, small]), "big.pdb", "small.pdb")
    separate = cio.load_trajectory([big, small], concatenate=False, check_time_steps=False)
    assert [t.n_atoms for t in separate] == [23, 17]
    # same count, different atoms
    renamed_topology = build_peptide_topology(3)
    for atom in renamed_topology.atoms:
        atom.name = "X" + atom.name
    same = save(peptide_traj, tmp_path / "same.h5")
    other = save(md.Trajectory(peptide_traj.xyz, renamed_topology), tmp_path / "other.h5")
    user_error(lambda: cio.load_trajectory([same, other]), "same.h5", "other.h5")


@pytest.mark.parametrize("ext", ["xtc", "dcd", "trr", "h5", "nc", "pdb", "gro"])
def test_empty_file(ext, topology_pdb, tmp_path):
    path = tmp_path / f"empty.{ext}"
    path.write_bytes(b"")
    user_error(lambda: cio.load_trajectory(path, topology=topology_pdb), "empty.", "0 bytes")


@pytest.mark.parametrize(
    "ext, cut",
    [
        ("xtc", 0.5),  # mdtraj silently returns the complete frames only
        ("xtc", -7),  # mdtraj raises
        ("dcd", 0.5),  # mdtraj silently returns fewer frames
        ("dcd", -1),
        ("trr", 0.53),  # (0.5 would cut exactly between two frames: undetectable)
        ("trr", -5),
        ("h5", 0.5),
        ("nc", 0.5),
        ("nc", -3),
        ("pdb", 0.5),
        ("lammpstrj", -40),
    ],
)
def test_truncated_file(ext, cut, peptide_traj, topology_pdb, tmp_path):
    good = save(peptide_traj, tmp_path / f"good.{ext}")
    size = good.stat().st_size
    keep = int(size * cut) if isinstance(cut, float) else size + cut
    bad = corrupt_copy(good, tmp_path / f"cut.{ext}", keep=keep)
    error = user_error(lambda: cio.load_trajectory(bad, topology=topology_pdb), f"cut.{ext}")
    assert "truncated" in str(error) or "corrupt" in str(error)


def test_dcd_cut_at_a_frame_boundary(peptide_traj, topology_pdb, tmp_path):
    good = save(peptide_traj, tmp_path / "good.dcd")
    frame_size = 56 + 3 * (8 + 4 * peptide_traj.n_atoms)
    bad = corrupt_copy(good, tmp_path / "short.dcd", keep=good.stat().st_size - 3 * frame_size)
    error = user_error(lambda: cio.load_trajectory(bad, topology=topology_pdb), "short.dcd")
    assert "20 frames" in str(error) and "17" in str(error)


@pytest.mark.parametrize("ext", ["xtc", "dcd", "trr"])
def test_small_boxless_bead_files(ext, bead_traj, tmp_path):
    """<= 9 atoms (uncompressed XTC frames) and no unit cell (shorter DCD frames)."""
    topology = save(bead_traj[0], tmp_path / "chain.pdb")
    good = save(bead_traj, tmp_path / f"chain.{ext}")
    traj = cio.load_trajectory(good, topology=topology)
    assert traj.n_frames == 15 and traj.unitcell_lengths is None
    np.testing.assert_allclose(traj.xyz, bead_traj.xyz, atol=1e-3)
    bad = corrupt_copy(good, tmp_path / f"cut.{ext}", keep=good.stat().st_size - 10)
    user_error(lambda: cio.load_trajectory(bad, topology=topology), f"cut.{ext}", "truncated")


def test_errors_are_chained(peptide_traj, topology_pdb, tmp_path):
    good = save(peptide_traj, tmp_path / "good.h5")
    bad = corrupt_copy(good, tmp_path / "bad.h5")
    with pytest.raises(CgvizError) as caught:
        cio.load_trajectory(bad)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("ext", ["xtc", "dcd", "trr", "h5", "nc", "pdb", "gro", "lammpstrj"])
def test_corrupt_file(ext, peptide_traj, topology_pdb, tmp_path):
    good = save(peptide_traj, tmp_path / f"good.{ext}")
    bad = corrupt_copy(good, tmp_path / f"noise.{ext}")
    error = user_error(lambda: cio.load_trajectory(bad, topology=topology_pdb), f"noise.{ext}")
    assert "corrupt" in str(error)


@pytest.mark.parametrize("name", ["traj.foo", "traj.binpos", "traj"])
def test_unsupported_extension(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(b"\x00" * 64)
    error = user_error(lambda: cio.load_trajectory(path), name, "unsupported")
    assert ".xtc" in error.hint and ".pdb" in error.hint


@pytest.mark.parametrize("ext", ["dcd", "h5", "trr", "nc"])
def test_nan_coordinates(ext, peptide_traj, topology_pdb, tmp_path):
    broken = peptide_traj[:]
    broken.xyz = broken.xyz.copy()
    broken.xyz[4, 2, 0] = np.nan
    broken.xyz[11, 0, 2] = np.inf
    path = save(broken, tmp_path / f"blowup.{ext}")
    error = user_error(
        lambda: cio.load_trajectory(path, topology=topology_pdb), f"blowup.{ext}", "4, 11"
    )
    assert "NaN" in str(error)
    strided = user_error(
        lambda: cio.load_trajectory(path, topology=topology_pdb, stride=2), "frames 4"
    )
    assert "11" not in strided.problem.split("frames")[1]  # frame 11 is skipped by stride 2


def test_min_frames(peptide_traj, topology_pdb, tmp_path):
    xtc = save(peptide_traj, tmp_path / "short.xtc")
    error = user_error(
        lambda: cio.load_trajectory(xtc, topology=topology_pdb, min_frames=30), "short.xtc", "30"
    )
    assert "20 frames" in str(error)
    user_error(
        lambda: cio.load_trajectory(xtc, topology=topology_pdb, min_frames=8, stride=3),
        "short.xtc",
        "stride=3",
    )
    paths = [
        save(peptide_traj[:5], tmp_path / "p1.xtc"),
        save(peptide_traj[5:], tmp_path / "p2.xtc"),
    ]
    assert cio.load_trajectory(paths, topology=topology_pdb, min_frames=20).n_frames == 20
    user_error(
        lambda: cio.load_trajectory(paths, topology=topology_pdb, min_frames=6, concatenate=False),
        "p1.xtc",
    )
    user_error(lambda: cio.load_trajectory(xtc, topology=topology_pdb, stride=0), "stride")


# ---------------------------------------------------------------------------------------
# featurizers
# ---------------------------------------------------------------------------------------


def test_backbone_dihedral_features(peptide_traj):
    features = cio.backbone_dihedral_features(peptide_traj)
    labels = cio.backbone_dihedral_labels(peptide_traj.topology)
    assert features.dtype == np.float32
    assert features.shape == (20, 2 * (3 + 3)) == (20, len(labels))
    assert labels[:4] == ["sin(phi ALA2)", "cos(phi ALA2)", "sin(phi ALA3)", "cos(phi ALA3)"]
    assert labels[6] == "sin(psi ALA2)"
    names = {(a.residue.index, a.name): a.index for a in peptide_traj.topology.atoms}
    column = 0
    for kind in ("phi", "psi"):
        for residue in (1, 2, 3):
            if kind == "phi":
                quartet = [names[residue - 1, "C"], names[residue, "N"], names[residue, "CA"],
                           names[residue, "C"]]  # fmt: skip
            else:
                quartet = [names[residue, "N"], names[residue, "CA"], names[residue, "C"],
                           names[residue + 1, "N"]]  # fmt: skip
            angle = numpy_dihedral(peptide_traj.xyz, quartet)
            np.testing.assert_allclose(features[:, column], np.sin(angle), atol=1e-5)
            np.testing.assert_allclose(features[:, column + 1], np.cos(angle), atol=1e-5)
            column += 2


def test_backbone_dihedrals_need_a_backbone(bead_traj):
    user_error(lambda: cio.backbone_dihedral_features(bead_traj), "backbone dihedrals")
    user_error(lambda: cio.backbone_dihedral_labels(bead_traj), "backbone dihedrals")


def test_pairwise_distance_features(peptide_traj, bead_traj):
    distances = cio.pairwise_distance_features(peptide_traj)  # CA atoms: 3 pairs
    calpha = peptide_traj.topology.select("name CA")
    assert distances.shape == (20, 3) and distances.dtype == np.float32
    expected = np.empty((20, 3))
    column = 0
    for i in range(3):
        for j in range(i + 1, 3):
            for frame in range(20):
                delta = peptide_traj.xyz[frame, calpha[i]] - peptide_traj.xyz[frame, calpha[j]]
                expected[frame, column] = np.sqrt(np.sum(delta.astype(np.float64) ** 2))
            column += 1
    np.testing.assert_allclose(distances, expected, atol=1e-5)
    assert cio.pairwise_distance_labels(peptide_traj)[0] == "d(ALA2-CA, ALA3-CA)"

    beads = cio.pairwise_distance_features(bead_traj, selection="all", exclude_neighbors=1)
    assert beads.shape == (15, 8 * 7 // 2 - 7)
    pairs = cio.pairwise_distance_pairs(bead_traj, selection="all", exclude_neighbors=1)
    assert not np.any(np.abs(pairs[:, 0] - pairs[:, 1]) <= 1)
    given = cio.pairwise_distance_features(bead_traj, pairs=[[0, 5], [7, 2]])
    np.testing.assert_allclose(
        given[:, 1], np.linalg.norm(bead_traj.xyz[:, 7] - bead_traj.xyz[:, 2], axis=1), atol=1e-5
    )
    user_error(lambda: cio.pairwise_distance_features(peptide_traj, selection="name CH3"), "1 atom")
    user_error(lambda: cio.pairwise_distance_features(bead_traj, pairs=[[0, 99]]), "outside")
    user_error(lambda: cio.pairwise_distance_features(bead_traj, selection="name CA"), "name CA")


def test_aligned_cartesian_features(peptide_traj):
    rng = np.random.default_rng(5)
    moved = peptide_traj[:]
    moved.xyz = moved.xyz.copy()
    for frame in range(moved.n_frames):  # rotate and shift every frame at random
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        moved.xyz[frame] = moved.xyz[frame] @ q.T.astype(np.float32) + rng.normal(size=3)
    before = moved.xyz.copy()
    features = cio.aligned_cartesian_features(moved)
    np.testing.assert_array_equal(moved.xyz, before)  # the caller's trajectory is unchanged
    heavy = moved.topology.select("not element H")
    assert features.shape == (20, 3 * len(heavy)) and features.dtype == np.float32
    aligned = features.reshape(20, len(heavy), 3)
    reference = before[0, heavy]
    rmsd_after = np.sqrt(((aligned - reference) ** 2).sum(-1).mean(-1))
    rmsd_before = np.sqrt(((before[:, heavy] - reference) ** 2).sum(-1).mean(-1))
    assert np.all(rmsd_after <= rmsd_before + 1e-6)
    optimal = md.rmsd(moved, moved, 0, atom_indices=heavy)
    np.testing.assert_allclose(rmsd_after, optimal, atol=1e-4)
    # an explicit reference: the undisturbed original
    to_original = cio.aligned_cartesian_features(moved, reference=peptide_traj)
    np.testing.assert_allclose(to_original[0], peptide_traj.xyz[0, heavy].ravel(), atol=1e-4)
    labels = cio.aligned_cartesian_labels(moved)
    assert len(labels) == features.shape[1] and labels[:2] == ["x(ACE1-CH3)", "y(ACE1-CH3)"]
    user_error(
        lambda: cio.aligned_cartesian_features(moved, reference=moved.atom_slice(heavy)),
        "reference",
    )
    user_error(lambda: cio.aligned_cartesian_features(moved, selection="name CA and resid 1"))


# ---------------------------------------------------------------------------------------
# atom properties and sidecars
# ---------------------------------------------------------------------------------------


def test_atom_properties_from_elements(peptide_traj):
    props = cio.atom_properties(peptide_traj.topology)
    assert props.n_atoms == 23 and props.type_names[:3] == ("C", "C", "O")
    assert props.masses[0] == pytest.approx(12.01, abs=0.01)
    assert props.type_vocabulary() == ("C", "H", "N", "O")
    assert props.type_indices()[:3].tolist() == [0, 0, 3]
    with pytest.raises(ValueError):
        props.masses[0] = 1.0  # read-only


def test_bead_model_needs_a_sidecar(bead_traj, tmp_path):
    error = user_error(lambda: cio.atom_properties(bead_traj), "write_atom_properties")
    assert "B1" in str(error)
    props = cio.AtomProperties(
        tuple(atom.name for atom in bead_traj.topology.atoms), np.full(8, 100.0)
    )
    path = cio.write_atom_properties(tmp_path / "chain.atoms.json", props)
    document = json.loads(path.read_text())
    assert document["format"] == "cgviz-atom-properties" and document["version"] == 1
    assert document["type_names"][:2] == ["B1", "S1"] and document["masses_amu"][0] == 100.0
    again = cio.read_atom_properties(path)
    assert again == props
    assert cio.atom_properties(bead_traj, sidecar=path) == props
    assert cio.atom_properties(bead_traj.topology, sidecar=props) == props
    # length mismatch
    short = cio.write_atom_properties(
        tmp_path / "short.atoms.json", cio.AtomProperties(("B1",) * 6, np.full(6, 100.0))
    )
    user_error(lambda: cio.atom_properties(bead_traj, sidecar=short), "short.atoms.json", "6", "8")


def test_sidecar_validation(tmp_path):
    def write(name, document):
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return path

    good = {"format": "cgviz-atom-properties", "version": 1, "type_names": ["A", "B"],
            "masses_amu": [10.0, 20.0]}  # fmt: skip
    assert cio.read_atom_properties(write("good.json", good)).n_atoms == 2
    for name, document in {
        "notjson.json": "{ not json",
        "wrongformat.json": {**good, "format": "something-else"},
        "version.json": {**good, "version": 2},
        "lengths.json": {**good, "masses_amu": [10.0]},
        "zeromass.json": {**good, "masses_amu": [10.0, 0.0]},
        "textmass.json": {**good, "masses_amu": [10.0, "heavy"]},
        "emptyname.json": {**good, "type_names": ["A", ""]},
    }.items():
        path = write(name, document)
        user_error(lambda: cio.read_atom_properties(path), name)
    user_error(lambda: cio.read_atom_properties(tmp_path / "absent.json"), "absent.json")


def test_sidecar_path_for():
    assert cio.sidecar_path_for("data/poly.pdb") == Path("data/poly.atoms.json")
    assert cio.sidecar_path_for(Path("x/sys.pdb.gz")) == Path("x/sys.atoms.json")
    assert cio.sidecar_path_for("top.prmtop") == Path("top.atoms.json")


def test_load_system(bead_traj, peptide_traj, tmp_path):
    pdb = save(bead_traj, tmp_path / "chain.pdb")
    with pytest.raises(CgvizError):
        cio.load_system(pdb)  # no sidecar yet: virtual sites have no mass
    types = ("B1", "S1", "B2", "S2") * 2
    props = cio.AtomProperties(types, np.array([100.0, 50.0] * 4))
    cio.write_atom_properties(cio.sidecar_path_for(pdb), props)
    traj, found = cio.load_system(pdb)
    assert traj.n_atoms == 8 and found == props
    # sidecar next to the topology file, with a coordinate-only trajectory and a selection
    xtc = save(bead_traj, tmp_path / "chain.xtc")
    traj, found = cio.load_system(xtc, topology=pdb, atom_selection="name B1 B2", stride=2)
    assert traj.n_atoms == 4 and traj.n_frames == 8
    assert found.type_names == ("B1", "B2", "B1", "B2") and np.all(found.masses == 100.0)
    trajs, _ = cio.load_system([xtc, xtc], topology=pdb, concatenate=False)
    assert len(trajs) == 2
    # a topology object: the sidecar next to the trajectory file is used
    _, found = cio.load_system(xtc, topology=bead_traj.topology)
    assert found == props
    explicit = cio.AtomProperties(("X",) * 8, np.full(8, 7.0))
    assert cio.load_system(xtc, topology=pdb, sidecar=explicit)[1] == explicit
    # all-atom: no sidecar needed
    peptide_pdb = save(peptide_traj, tmp_path / "peptide.pdb")
    traj, found = cio.load_system(peptide_pdb, atom_selection="not element H")
    assert found.n_atoms == traj.n_atoms == 20 and "H" not in found.type_names
    with pytest.raises(TypeError):
        cio.load_system(pdb, strid=2)


# ---------------------------------------------------------------------------------------
# summary, import weight
# ---------------------------------------------------------------------------------------


def test_trajectory_summary(peptide_traj, bead_traj):
    summary = cio.trajectory_summary(peptide_traj)
    assert (summary.n_atoms, summary.n_residues, summary.n_chains, summary.n_frames) == (
        23, 5, 1, 20,
    )  # fmt: skip
    assert summary.n_bonds == 22 and summary.has_backbone_dihedrals
    assert summary.frame_time_ps == 2.0 and summary.total_time_ps == 38.0
    beads = cio.trajectory_summary(bead_traj[:1])
    assert not beads.has_backbone_dihedrals and beads.frame_time_ps is None
    assert beads.total_time_ps == 0.0 and beads.n_bonds == 7


def test_import_is_light():
    code = (
        "import sys, cgviz.io; heavy = [m for m in ('torch', 'deeptime', 'torch_geometric', "
        "'lightning', 'streamlit') if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_topology_bonds_lists_every_bond_as_an_index_pair():
    topology = md.Topology()
    chain = topology.add_chain()
    atoms = [topology.add_atom(f"C{i}", md.element.carbon, topology.add_residue("X", chain))
             for i in range(4)]
    topology.add_bond(atoms[0], atoms[1])
    topology.add_bond(atoms[2], atoms[3])
    bonds = cio.topology_bonds(topology)
    assert bonds.dtype == np.int64 and bonds.tolist() == [[0, 1], [2, 3]]
    assert cio.topology_bonds(md.Topology()).shape == (0, 2)

"""Peak memory of simulator training against cgviz's pre-launch estimate.

A protein trajectory that cgviz did not make (nglview's md_1u19: 5,547 atoms, 51 frames)
is trained for a few steps of the cpu-demo preset through the real CLI, each
run in its own process, at several METIS mappings, batch sizes and history lengths. The peak resident
memory of the process (``ru_maxrss``) is printed beside
``cgviz.training.memory.estimate_training_memory``: the estimate must not fall below the
measurement by much (a run it lets through must fit), nor be so high that it refuses runs
that fit. ``--fit`` prints the least-squares constants for ``cgviz/training/memory.py``.

    python benchmarks/training_memory.py [--markdown docs/performance.md] [--fit]

About 3-5 minutes on 2 cores; needs ~8 GB free for the finest mapping.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402

#: (atoms per bead, batch size, history length) of each measured run.
GRID = [(60, 16, 3), (60, 16, 12), (40, 4, 3), (40, 16, 3), (40, 16, 12), (20, 4, 3),
        (20, 16, 3), (20, 8, 12), (10, 8, 3)]

_CHILD = """
import json, resource, subprocess, sys
run = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": run.returncode, "peak": peak, "tail": run.stderr[-600:]}))
"""


def protein_files(folder: Path) -> tuple[Path, Path]:
    """md_1u19's topology, and its 51 frames written 4 times over (204 frames) so that
    the validation block holds a history of 12 (a memory benchmark, not physics)."""
    import mdtraj as md
    import nglview

    source = Path(nglview.__file__).parent / "datafiles"
    traj = md.load(str(source / "md_1u19.xtc"), top=str(source / "md_1u19.gro"))
    longer = md.join([traj] * 4, check_topology=False)
    longer.time = traj.time[0] + np.arange(longer.n_frames) * traj.timestep
    longer.save_xtc(str(folder / "md_1u19x4.xtc"))
    return source / "md_1u19.gro", folder / "md_1u19x4.xtc"


def measure(topology: Path, trajectory: Path, atoms_per_bead: int, batch: int,
            history: int, runs_dir: Path) -> float:
    """Peak RSS (bytes) of a 3-step CLI training run in a fresh process."""
    command = [sys.executable, "-m", "cgviz", "train-simulator", "--topology", str(topology),
               "--trajectory", str(trajectory), "--atoms-per-bead", str(atoms_per_bead),
               "--batch-size", str(batch), "--history-length", str(history),
               "--max-steps", "3", "--runs-dir", str(runs_dir),
               "--name", f"mem-{atoms_per_bead}-{batch}-{history}",
               "--ignore-memory-estimate"]
    out = subprocess.run([sys.executable, "-c", _CHILD, *command], capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"training failed ({result['rc']}): {result['tail']}")
    return float(result["peak"])


def estimate(system, atoms_per_bead: int, batch: int, history: int):
    from cgviz import mapping
    from cgviz.training.config import preset
    from cgviz.training.memory import estimate_training_memory

    cg = mapping.metis_mapping(system.topology, atoms_per_bead, properties=system.properties)
    config = preset("cpu-demo")
    config = type(config).from_dict(config.to_dict() | {
        "batch_size": batch, "model": {**config.model, "history_length": history}})
    return estimate_training_memory(system, cg, config, available_bytes=None), config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", help="write the table into this markdown file")
    parser.add_argument("--fit", action="store_true", help="print fitted constants")
    args = parser.parse_args()

    from cgviz import system as cg_system
    from cgviz.training import memory

    rows, fit_rows = [], []
    with tempfile.TemporaryDirectory() as runs:
        topology, trajectory = protein_files(Path(runs))
        system = cg_system.load([trajectory], topology)
        for atoms_per_bead, batch, history in GRID:
            est, config = estimate(system, atoms_per_bead, batch, history)
            peak = measure(topology, trajectory, atoms_per_bead, batch, history, Path(runs))
            rows.append([atoms_per_bead, est.n_beads, f"{est.edges_per_window:,}", batch,
                         history,
                         f"{peak / 1e9:.2f}", f"{est.peak_bytes / 1e9:.2f}",
                         f"{est.peak_bytes / peak:.2f}"])
            model = config.model_config(("X",))
            fit_rows.append((peak, batch * est.edges_per_window * memory._edge_units(model),
                             batch * est.n_beads * history))
            print(rows[-1], flush=True)
    header = ["atoms/bead", "beads", "edges/window", "batch", "history", "measured GB", "estimate GB",
              "estimate/measured"]
    text = table(header, rows)
    print(text)
    if args.fit:
        y = np.array([r[0] for r in fit_rows])
        a = np.array([[1.0, r[1], r[2]] for r in fit_rows])
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        print(f"fit: BASE_BYTES={coef[0]:.3g} BYTES_PER_EDGE_UNIT={coef[1]:.3g} "
              f"BYTES_PER_BEAD_FRAME={coef[2]:.3g}")
    if args.markdown:
        body = (f"{machine()}. md_1u19 (5,547 atoms, its 51 frames 4 times over), cpu-demo preset, "
                "3 training steps through `python -m cgviz train-simulator`, each in its own "
                "process; measured = peak resident memory (`ru_maxrss`). The estimate is what "
                "the Training page and the CLI check against the free memory before a run "
                "starts (`cgviz.training.memory`); it should sit at or a little above the "
                "measurement. A run may take 80 % of the free memory, a margin for where the "
                f"estimate falls short.\n\n{text}\n")
        write_section(args.markdown, "training_memory", "Training memory: estimate against "
                      "measurement", body)


if __name__ == "__main__":
    main()

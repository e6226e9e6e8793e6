"""Your own system at real size: training step and rollout speed on a 5,547-atom protein.

The protein is nglview's md_1u19 test trajectory (51 frames, non-standard residues), loaded
as a user would (``cgviz.system.load``: bonds inferred, water none), mapped with METIS into
about 100 beads, with the cpu-demo network. Measured on this machine:

* one training step (batch of 16 history windows: embedding GNN over all 5,547 atoms once
  per distinct system in the batch, dynamics + score GNN, backward, Adam), median of N;
* 1,000 rollout steps (the atom embedding computed once, before the first step).

Targets (issue "your own system"): a training step < 0.5 s, 1,000 rollout steps < 60 s on
2 CPU cores. Prints one table; ``--markdown docs/performance.md`` writes it there.

    python benchmarks/own_system_speed.py [--train-steps 20] [--rollout-steps 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402

NGLVIEW_DATA = Path(__import__("nglview").__file__).parent / "datafiles"


def main() -> None:
    import torch

    from cgviz import mapping, system
    from cgviz.simulator.data import HistoryWindows, collate
    from cgviz.simulator.model import CGSimulator, NormalisationStats
    from cgviz.simulator.rollout import rollout
    from cgviz.training.config import preset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--rollout-steps", type=int, default=1000)
    parser.add_argument("--atoms-per-bead", type=float, default=55.0)
    parser.add_argument("--markdown", help="write the table into this docs page")
    args = parser.parse_args()

    protein = system.load(NGLVIEW_DATA / "md_1u19.xtc", NGLVIEW_DATA / "md_1u19.gro")
    cg = mapping.metis_mapping(protein.topology, args.atoms_per_bead,
                               properties=protein.properties)
    protein = protein.with_mapping(cg).with_split({"by": "time", "validation": 0.0,
                                                   "test": 0.0})
    vocabulary = tuple(sorted(set(protein.properties.type_names)))
    settings = preset("cpu-demo")
    config = settings.model_config(vocabulary)
    beads = protein.bead_systems("train", vocabulary)
    model = CGSimulator(config, NormalisationStats.from_systems(beads, config.history_length))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    windows = HistoryWindows(beads, config.history_length)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(args.train_steps + 2):
        batch = collate(windows, rng.integers(0, len(windows), settings.batch_size))
        started = time.perf_counter()
        terms = model.loss(batch, generator)
        optimiser.zero_grad()
        terms.total.backward()
        optimiser.step()
        if step >= 2:  # the first steps warm up allocators and caches
            times.append(time.perf_counter() - started)
    # An untrained network drifts: no blow-up stop, so that every step is timed.
    result = rollout(model, beads, args.rollout_steps, seed=0, blowup_factor=1e9)
    train_ms = np.array(times) * 1000
    rows = [
        ["system", f"md_1u19: {protein.n_atoms:,} atoms, {cg.n_beads} beads, "
                   f"{len(beads)} bead graph"],
        ["training step (batch 16)", f"{np.median(train_ms) / 1000:.3f} s median "
                                     f"({train_ms.min() / 1000:.3f}-{train_ms.max() / 1000:.3f},"
                                     f" {len(times)} steps)", "< 0.5 s"],
        [f"{result.n_steps_completed:,} rollout steps", f"{result.wall_time_s:.1f} s "
         f"({result.wall_time_s / max(1, result.n_steps_completed) * 1000:.1f} ms a step)",
         "< 60 s for 1,000"],
        ["simulated time per wall second", f"{result.simulated_ns_per_wall_second:.2f} ns/s"
         f" (one step = {result.frame_time_ps:g} ps)", ""],
    ]
    rows[0].append("")
    body = table(["measure", "result", "target"], rows) + (
        f"\n\nUntrained cpu-demo network (speed does not depend on the weights); "
        f"{'stopped: ' + result.stop_reason if result.stop_reason else 'no blow-up stop'}. "
        f"Machine: {machine()}. `python benchmarks/own_system_speed.py`.")
    print(body)
    if args.markdown:
        write_section(args.markdown, "own_system_speed", "A 5,547-atom protein: training "
                      "and rollout speed", body)


if __name__ == "__main__":
    main()

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
    # An untrained network drifts off within a few hundred steps, and steps on an exploded
    # configuration cost nothing (no neighbours). So every timed step starts from a real MD
    # history (cycling through the trajectory), exactly as a rollout step of a trained
    # model that stays near the MD would: embedding once, then radius graph, dynamics GNN
    # and the Euler update per step.
    from cgviz.simulator.data import collate_systems

    system = beads[0]
    k = config.history_length
    batch = collate_systems([system], [system.positions[:k]])
    model.eval()
    with torch.inference_mode():
        started = time.perf_counter()
        embeddings = model.bead_embeddings(batch)
        embed_s = time.perf_counter() - started
        histories = [torch.from_numpy(system.positions[i:i + k]) for i in
                     range(system.n_frames - k)]
        started = time.perf_counter()
        for step in range(args.rollout_steps):
            model.step(embeddings, histories[step % len(histories)], batch,
                       generator=generator)
        rollout_s = time.perf_counter() - started
    result = rollout(model, beads, 20, seed=0)  # and the rollout loop itself runs
    train_ms = np.array(times) * 1000
    rows = [
        ["system", f"md_1u19: {protein.n_atoms:,} atoms, {cg.n_beads} beads, "
                   f"{len(beads)} bead graph"],
        ["training step (batch 16)", f"{np.median(train_ms) / 1000:.3f} s median "
                                     f"({train_ms.min() / 1000:.3f}-{train_ms.max() / 1000:.3f},"
                                     f" {len(times)} steps)", "< 0.5 s"],
        [f"{args.rollout_steps:,} rollout steps", f"{rollout_s:.1f} s "
         f"({rollout_s / args.rollout_steps * 1000:.1f} ms a step; the atom embedding once, "
         f"{embed_s * 1000:.0f} ms)", "< 60 s for 1,000"],
        ["simulated time per wall second", f"{args.rollout_steps * result.frame_time_ps / 1000 / rollout_s:.2f} ns/s"
         f" (one step = {result.frame_time_ps:g} ps)", ""],
    ]
    rows[0].append("")
    body = table(["measure", "result", "target"], rows) + (
        "\n\nThe cpu-demo network, untrained (speed does not depend on the weights); each "
        "timed rollout step starts from a real MD history of the protein, so the radius "
        "graph sees the real bead density. "
        f"Machine: {machine()}. `python benchmarks/own_system_speed.py`.")
    print(body)
    if args.markdown:
        write_section(args.markdown, "own_system_speed", "A 5,547-atom protein: training "
                      "and rollout speed", body)


if __name__ == "__main__":
    main()

"""The paper's evaluation table for the plain and the SE(3)-equivariant simulator.

Evaluates a plain and an equivariant model, both trained with the cpu-demo preset (the
bundled model is used for the variant it is; the other is trained here into ``runs/`` unless
given with ``--plain`` / ``--equivariant``), on the 12 held-out random-sequence chains,
next to the numbers of Fu et al. (TMLR 2023) and, for the two across-system r^2, the
reference MD scored against itself (first vs second half of every trajectory: the data's
noise floor). Prints one table and writes the JSON reports into ``--out``.

    python benchmarks/simulator_quality.py [--n-steps 2000] [--refine 0] [--train-steps 3000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROWS = [("Rg r^2 (across systems)", "rg_r2", "0.90"),
        ("Rg MAE (nm)", "rg_mae_nm", "-"),
        ("relaxation r^2 (log)", "relaxation_r2_log", "0.48"),
        ("bond-length JS", "bond_js_mean", "-"),
        ("bond-angle JS", "angle_js_mean", "-"),
        ("contact-map JS", "contact_js_mean", "-"),
        ("TICA 2-D JS", "tica_js_mean", "-"),
        ("collision rate, model", "collision_rate_model", "-"),
        ("collision rate, reference MD", "collision_rate_reference", "-"),
        ("steps before a stop", "min_steps_before_stop", "-"),
        ("simulated ns / wall s", "simulated_ns_per_wall_second", "-")]


def train_variant(equivariant: bool, steps: int, runs_dir: Path) -> Path:
    from cgviz import jobs
    from cgviz.training.config import SimulatorTrainingConfig, preset

    base = preset("cpu-demo").to_dict()
    config = SimulatorTrainingConfig.from_dict(
        {**base, "max_steps": steps, "validate_every": 500,
         "model": {**base["model"], "equivariant": equivariant}})
    name = f"{'equivariant' if equivariant else 'plain'}-{steps}"
    target = runs_dir / name
    if not (target / "checkpoints" / "last.pt").exists() or jobs.status(target).state != "completed":
        if target.exists():
            import shutil

            shutil.rmtree(target)
        target = jobs.create(jobs.RunSpec(task="simulator", config=config.to_dict(),
                                          checkpoint_every=500), runs_dir=runs_dir, name=name)
        if jobs.drive(target, show_progress=True) != 0:
            raise SystemExit(f"training failed: {jobs.status(target).reason}")
    return target / "checkpoints" / "last.pt"


def main() -> None:
    from cgviz import datasets
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-steps", type=int, default=2000)
    parser.add_argument("--refine", type=int, default=0)
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--equivariant", help="an equivariant checkpoint (else bundled/trained)")
    parser.add_argument("--plain", help="a plain checkpoint (else bundled/trained)")
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    parser.add_argument("--out", default=str(ROOT / "runs" / "quality"))
    args = parser.parse_args()
    bundled = datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt"
    bundled_is_equivariant = load_simulator(bundled)[0].config.equivariant
    checkpoints = {}
    for label, given in (("plain", args.plain), ("equivariant", args.equivariant)):
        wanted = label == "equivariant"
        checkpoints[label] = (Path(given) if given else bundled
                              if bundled_is_equivariant == wanted
                              else train_variant(wanted, args.train_steps, Path(args.runs_dir)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = {}
    for label, path in checkpoints.items():
        model, meta = load_simulator(path)
        systems = evaluate.test_systems_for(meta, "polymer-test")
        report, _ = evaluate.evaluate(model, systems, args.n_steps, seed=0,
                                      refine_steps=args.refine)
        report.save_json(out / f"{label}.json")
        reports[label] = report.to_dict()
    print(f"{args.n_steps} model steps per held-out chain (12 random-sequence chains), "
          f"refinement {'off' if not args.refine else f'{args.refine} steps/level'}")
    print(f"{'measure':32s} {'plain':>10s} {'equivariant':>12s} {'paper':>7s} {'MD vs MD':>9s}")
    for title, key, paper in ROWS:
        values = []
        for label in ("plain", "equivariant"):
            value = reports[label][key]
            values.append("n/a" if value is None else f"{value:.3g}")
        floor = reports["equivariant"].get(f"reference_split_{key}")
        floor = "-" if floor is None else f"{floor:.3g}"
        print(f"{title:32s} {values[0]:>10s} {values[1]:>12s} {paper:>7s} {floor:>9s}")
    print("MD vs MD: the reference against itself (first vs second half of each trajectory),\n"
          "what data of this length can resolve; a model near it is at the noise floor.")


if __name__ == "__main__":
    main()

"""Train the bundled demo simulator (preset cpu-demo on the bundled polymer-train data).

Trains as a cgviz run (``runs/demo-model``), then exports the final model, its METIS
mapping and the training config to ``cgviz/datasets/data/simulator_cpu_demo.pt`` (loads with
``torch.load(weights_only=True)``) and records steps, wall time and validation loss in
``cgviz/datasets/data/simulator_cpu_demo.json``.

    python tools/make_demo_model.py [--max-steps 3000] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    import torch

    from cgviz import datasets, jobs
    from cgviz.simulator.model import load_checkpoint
    from cgviz.training import simulator as training
    from cgviz.training.config import SimulatorTrainingConfig, preset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--runs-dir", default=str(ROOT / "runs"))
    parser.add_argument("--name", default="demo-model")
    args = parser.parse_args()

    config = SimulatorTrainingConfig.from_dict(
        {**preset("cpu-demo").to_dict(), "max_steps": args.max_steps, "validate_every": 500})
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), checkpoint_every=500)
    target = jobs.create(spec, runs_dir=args.runs_dir, name=args.name)
    started = time.time()
    code = jobs.drive(target, show_progress=True)
    wall = time.time() - started
    final = jobs.status(target)
    if code != 0 or final.state != "completed":
        print(f"training ended {final.state}: {final.reason}", file=sys.stderr)
        return 1
    model, checkpoint = load_checkpoint(target / "checkpoints" / "last.pt")
    data = training.prepare_data(config)
    validation = training.validation_loss(model, data.validation, n_windows=256)
    out = datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt"
    torch.save({**model.checkpoint(), "mapping": checkpoint["cgviz_mapping"],
                "training_config": checkpoint["cgviz_training_config"],
                "trained_on": config.train_demo}, out)
    record = {
        "file": out.name, "preset": "cpu-demo", "train_demo": config.train_demo,
        "steps": final.step, "wall_time_s": round(wall, 1),
        "machine": f"{os.cpu_count()} CPUs", "validation": validation,
        "parameters": sum(p.numel() for p in model.parameters()),
        "command": "python tools/make_demo_model.py " + " ".join(sys.argv[1:]),
        "made": time.strftime("%Y-%m-%d"),
    }
    (datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

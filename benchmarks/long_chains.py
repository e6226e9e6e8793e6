"""The bundled simulator on long held-out chains: can relaxation be judged at all?

The bundled test chains hold 1,000 frames each, too few to pin down an Rg^2 relaxation
time (the MD does not agree with itself). This script judges the bundled model on chains
made the same way but 10x longer, which are not shipped (hours to simulate on CPU):

    python -m cgviz demo-data polymer --n-chains 12 --n-frames 10000 --sequence random \\
        --seed 7 --out DATA --name polymer-long
    python benchmarks/long_chains.py --data-dir DATA [--markdown docs/evaluation.md]

(seed 7: neither the training chains' seed nor the bundled test chains'). For each rollout
length it runs ``cgviz.simulator.evaluate.evaluate`` (unrefined rollouts from each chain's
first history window, compared with the MD over the same frames; the MD against itself over
two consecutive windows of the same length), and prints the across-chain measures with
their 95 % bootstrap intervals beside the paper's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402


def _cell(row) -> str:
    if row["value"] is None:
        return "n/a"
    text = f"{row['value']:.3g}"
    if row["ci95_low"] is not None:
        text += f" ({row['ci95_low']:.2g} to {row['ci95_high']:.2g})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="where demo-data wrote polymer-long")
    parser.add_argument("--demo", default="polymer-long")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1000, 4992, 9984],
                        help="rollout lengths in model steps")
    parser.add_argument("--markdown", help="write the table into this markdown file")
    args = parser.parse_args()

    from tqdm import tqdm

    from cgviz import datasets
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator

    model, meta = load_simulator(datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt")
    systems = evaluate.test_systems_for(meta, args.demo, args.data_dir)
    frames = min(s.n_frames for s in systems)
    reports = {}
    for n_steps in args.lengths:
        n_steps = min(n_steps, frames - model.config.history_length)
        bar = tqdm(total=n_steps, desc=f"{n_steps} steps", unit="step")
        report, _ = evaluate.evaluate(
            model, systems, n_steps, seed=0,
            progress=lambda done, total: bar.update(done - bar.n))
        bar.close()
        reports[n_steps] = {row["key"]: row for row in report.summary_rows()}
    keys = ["rg_r2", "relaxation_r2_log", "rg_mae_nm", "collision_rate_model"]
    header = ["measure"] + [f"{n:,} steps ({n * systems[0].frame_time_ps / 1000:.0f} ns)"
                            for n in reports] + ["paper"]
    rows = []
    for key in keys:
        first = next(iter(reports.values()))[key]
        rows.append([first["measure"]] + [_cell(r[key]) for r in reports.values()]
                    + ["-" if first["paper"] is None else f"{first['paper']:g}"])
        if key in ("rg_r2", "relaxation_r2_log"):
            rows.append([f"{first['measure']}: MD vs MD, same window"]
                        + ["n/a" if r[key]["md_vs_md"] is None else f"{r[key]['md_vs_md']:.3g}"
                           for r in reports.values()] + ["-"])
    text = table(header, rows)
    print(f"{len(systems)} held-out chains of {frames:,} frames")
    print(text)
    if args.markdown:
        body = (f"{machine()}. The bundled model, unrefined, on {len(systems)} random-sequence "
                f"chains of {frames:,} frames ({frames * systems[0].frame_time_ps / 1000:.0f} "
                "ns) made with `demo-data` (seed 7, not shipped), rolled out from each chain's "
                "first history window and compared with the MD over the same frames; "
                "in brackets the 95 % bootstrap interval over chains. `MD vs MD` compares "
                "each chain's first window of that length with the next one (the two halves "
                "where two windows do not fit). "
                "`python benchmarks/long_chains.py --data-dir DATA`.\n\n" + text + "\n")
        write_section(args.markdown, "long_chains", "Long held-out chains (10,000 frames)", body)


if __name__ == "__main__":
    main()

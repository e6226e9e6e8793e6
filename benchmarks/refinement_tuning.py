"""Refinement as a sampler: noise levels and step factor chosen on validation frames.

After each model step, annealed Langevin dynamics with the score network
(``CGSimulator.refine``, docs/science.md 1.4) runs ``m`` steps per noise level,
``x <- x + eta_i score(x) + sqrt(2 eta_i) z`` with ``eta_i = epsilon * s_i^2``, from the
largest used level to the smallest. This script rolls out the bundled model on the
validation part of its training demo (the last 10 % of each of the 24 polymer-train chains,
never trained on, and not the test chains) for every combination of the levels used (all
10 trained levels, or only the smallest ones) and the step factor ``epsilon`` (from the
usual annealed-Langevin range, ~0.1-1, up to the old heuristic's 30), and reports:

* the fraction of frames with a collision (two non-bonded beads closer than half a bond);
* the mean-Rg bias (model minus MD, same frames, averaged over chains) with a bootstrap
  95 % interval over chains;
* the cost: score-network evaluations per model step (levels x steps per level; the
  dynamics network is one evaluation), a count rather than a time on a shared machine.

The goal of the issue: collisions < 0.5 % of frames AND |mean-Rg bias| < 0.05 nm. The
chosen setting is the one that meets both with the fewest score evaluations, else the one
nearest to both goals (the summed relative excess over the two goals); ``--markdown`` writes the table to docs/evaluation.md.

    python benchmarks/refinement_tuning.py [--markdown docs/evaluation.md] [--steps-per-level 3]

About 30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402

COLLISION_GOAL = 0.005
RG_GOAL_NM = 0.05


def validation_systems(meta):
    """The bundled model's validation frames: the last 10 % of each training chain."""
    from cgviz import system as cg_system
    from cgviz.mapping import CGMapping

    record = meta["training_config"]
    split = cg_system.Split(by="time", validation=float(record["validation_fraction"]),
                            test=0.0)
    chosen = cg_system.from_demo(meta["trained_on"], split=split)
    chosen = chosen.with_mapping(CGMapping.from_dict(meta["mapping"]))
    k = int(meta["config"]["history_length"])
    return chosen.bead_systems("validation", tuple(meta["config"]["type_vocabulary"]),
                               min_frames=k + 2)


def judge(result, systems, seed: int = 0) -> dict:
    from cgviz.simulator.compare import compare_rollout

    collided, frames, bias = 0.0, 0, []
    for index, reference in enumerate(systems):
        comparison = compare_rollout(result, index, reference)
        n = len(comparison.model_positions) - comparison.n_history
        collided += comparison.collision_rate_model * len(comparison.model_positions)
        frames += len(comparison.model_positions)
        model = comparison.rg_model[comparison.n_history:]
        md = comparison.rg_reference[comparison.n_history:comparison.n_history + n]
        bias.append(float(np.mean(model[: len(md)]) - np.mean(md)))
    bias = np.asarray(bias)
    rng = np.random.default_rng(seed)
    boots = [np.mean(rng.choice(bias, size=len(bias))) for _ in range(2000)]
    return {"collisions": collided / frames, "rg_bias": float(np.mean(bias)),
            "rg_low": float(np.percentile(boots, 2.5)),
            "rg_high": float(np.percentile(boots, 97.5))}


def test_chains(model, meta, args) -> None:
    """The chosen setting on the held-out test chains (never used for the choice)."""
    from cgviz.simulator import evaluate
    from cgviz.simulator.rollout import rollout

    levels, eps, steps = args.test.split(":")
    systems = evaluate.test_systems_for(meta, "polymer-test")
    n_steps = min(args.test_steps, min(s.n_frames for s in systems) - model.config.history_length)
    rows = []
    for label, setting in (("off", (0, 0.0, 0)), (f"{levels} levels, epsilon {eps}, {steps} "
                                                  "steps per level",
                                                  (int(levels), float(eps), int(steps)))):
        result = rollout(model, systems, n_steps, seed=0, refine_steps=setting[2],
                         refine_epsilon=setting[1], refine_levels=setting[0] or None)
        verdict = judge(result, systems)
        rows.append([label, f"{100 * verdict['collisions']:.2f} %",
                     f"{verdict['rg_bias']:+.3f} ({verdict['rg_low']:+.3f} to "
                     f"{verdict['rg_high']:+.3f})", setting[0] * setting[2]])
        print(rows[-1], flush=True)
    text = table(["refinement", "frames with a collision", "mean-Rg bias, nm (95 % CI)",
                  "score evaluations per step"], rows)
    print(text)
    if args.markdown:
        body = (f"{machine()}. The setting chosen on validation, on the {len(systems)} held-out "
                f"test chains (polymer-test), {n_steps} model steps from each chain's start. "
                f"Goals: collisions < {100 * COLLISION_GOAL:g} % and |mean-Rg bias| < "
                f"{RG_GOAL_NM} nm. `python benchmarks/refinement_tuning.py --test {args.test}`."
                f"\n\n{text}\n")
        write_section(args.markdown, "refinement_test_chains",
                      "Refinement on the held-out test chains", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", help="write the table into this markdown file")
    parser.add_argument("--test", metavar="LEVELS:EPSILON:STEPS",
                        help="instead of the grid: judge this one setting (chosen on "
                        "validation) on the 12 held-out test chains, beside no refinement")
    parser.add_argument("--test-steps", type=int, default=300,
                        help="model steps per test chain with --test")
    parser.add_argument("--section", default="refinement_tuning",
                        help="the markdown section to write (a second grid gets its own)")
    parser.add_argument("--steps-per-level", type=int, default=3)
    parser.add_argument("--epsilons", type=float, nargs="+",
                        default=[0.3, 1.0, 3.0, 30.0])
    parser.add_argument("--levels", type=int, nargs="*", default=[10, 7, 6, 5])
    parser.add_argument("--extra", nargs="*", default=["7:1:10", "7:3:10", "6:3:10", "5:3:10"],
                        help="more settings as LEVELS:EPSILON:STEPS_PER_LEVEL (longer chains "
                        "of Langevin steps at the promising factors)")
    args = parser.parse_args()

    from cgviz import datasets
    from cgviz.simulator.model import load_simulator
    from cgviz.simulator.rollout import rollout

    model, meta = load_simulator(datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt")
    if args.test:
        test_chains(model, meta, args)
        return
    systems = validation_systems(meta)
    k = model.config.history_length
    n_steps = min(s.n_frames for s in systems) - k
    ladder = model.score_noise.tolist()
    m = args.steps_per_level
    settings = [(0, 0.0, 0)] + [(levels, eps, m) for levels in args.levels
                                for eps in args.epsilons]
    for extra in args.extra:
        levels, eps, steps = extra.split(":")
        settings.append((int(levels), float(eps), int(steps)))
    rows, results = [], []
    for levels, eps, steps in settings:
        result = rollout(model, systems, n_steps, seed=0, refine_steps=steps,
                         refine_epsilon=eps, refine_levels=levels or None)
        evaluations = levels * steps
        if result.stop_reason is not None:
            verdict = {"collisions": float("nan"), "rg_bias": float("nan"),
                       "rg_low": float("nan"), "rg_high": float("nan")}
        else:
            verdict = judge(result, systems)
        verdict.update(levels=levels, epsilon=eps, steps=steps, cost=evaluations,
                       stop=result.stop_reason)
        results.append(verdict)
        used = "off" if not levels else (f"all {levels} ({ladder[0]:.3g}-{ladder[-1]:.1g} nm)"
                                         if levels == len(ladder) else
                                         f"lowest {levels} ({ladder[-levels]:.3g}-"
                                         f"{ladder[-1]:.1g} nm)")
        rows.append([used, "-" if not levels else f"{eps:g}", steps or "-",
                     "blow-up" if result.stop_reason else f"{100 * verdict['collisions']:.2f} %",
                     "-" if result.stop_reason else
                     f"{verdict['rg_bias']:+.3f} ({verdict['rg_low']:+.3f} to "
                     f"{verdict['rg_high']:+.3f})", evaluations])
        print(rows[-1], flush=True)

    def miss(r):
        if not np.isfinite(r["collisions"]):
            return np.inf
        return (max(0.0, r["collisions"] / COLLISION_GOAL - 1)
                + max(0.0, abs(r["rg_bias"]) / RG_GOAL_NM - 1))

    refined = [r for r in results if r["levels"]]
    meeting = [r for r in refined if miss(r) == 0]
    best = min(meeting, key=lambda r: (r["levels"], r["cost"])) if meeting else min(
        refined, key=miss)
    header = ["noise levels used", "epsilon", "steps per level", "frames with a collision",
              "mean-Rg bias, nm (95 % CI)", "score evaluations per step"]
    text = table(header, rows)
    verdict = (f"Chosen: {best['levels']} levels, epsilon {best['epsilon']:g}, "
               f"{best['steps']} steps per level "
               f"({'meets both goals' if meeting else 'nearest to the goals; none met both'}).")
    print(text)
    print(verdict)
    if args.markdown:
        body = (f"{machine()}. The bundled model rolled out {n_steps} steps from the start of "
                f"the validation part of each of its {len(systems)} training chains (the last "
                f"10 % of polymer-train, not trained on; not the test chains), "
                "Langevin steps per noise level as given, eta_i = epsilon x "
                f"s_i^2. Goals: collisions < {100 * COLLISION_GOAL:g} % of frames and "
                f"|mean-Rg bias| < {RG_GOAL_NM} nm. "
                f"`python benchmarks/refinement_tuning.py`.\n\n{text}\n\n{verdict}\n")
        title = ("Refinement tuned on validation" if args.section == "refinement_tuning"
                 else f"Refinement tuned on validation ({args.section.replace('_', ' ')})")
        write_section(args.markdown, args.section, title, body)


if __name__ == "__main__":
    main()

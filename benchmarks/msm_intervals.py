"""Do the MSM time-scale intervals hold the truth? cgviz's block bootstrap against
deeptime's Bayesian MSM, on a chain whose time scales are known exactly.

A three-state Markov chain (the one of tests/test_analysis_msm.py), seen through 2-D CVs
with noise and cut into 12 k-means clusters; ``--realisations`` independent data sets of 3
trajectories x 15,000 frames. For each lag: how often each method's 95 % interval holds
the exact slowest time scale (a calibrated interval: about 95 %), its mean half-width,
and the spread of the estimates between realisations (what the half-width should match,
x 1.96).

    python benchmarks/msm_intervals.py [--realisations 12] [--markdown docs/evaluation.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _report import machine, table, write_section  # noqa: E402
from test_analysis_msm import EXACT, chain  # noqa: E402

from cgviz.analysis import estimate_msm  # noqa: E402


def bayesian_interval(dtrajs, lag: int, n_samples: int) -> tuple[float, float, float]:
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import BayesianMSM

    counts = TransitionCountEstimator(lag, "effective").fit_fetch(dtrajs).submodel_largest()
    posterior = BayesianMSM(n_samples=n_samples).fit_fetch(counts)
    samples = [s.timescales(1)[0] for s in posterior.samples]
    low, high = np.percentile(samples, (2.5, 97.5))
    return float(posterior.prior.timescales(1)[0]), float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realisations", type=int, default=12)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--markdown", help="write the table into this docs page")
    args = parser.parse_args()
    truth = EXACT[0]
    rows = []
    for lag in (1, 5):
        found = {"block bootstrap (cgviz)": [], "Bayesian MSM, effective counts (deeptime)": []}
        for k in range(args.realisations):
            data = [chain(15_000, 1000 * k + s) for s in range(3)]
            msm = estimate_msm(data, lag, n_clusters=12, lagtimes=[lag], n_sets=None,
                               n_samples=args.samples, seed=k)
            found["block bootstrap (cgviz)"].append(
                (msm.timescales[0], msm.its.lower[0, 0], msm.its.upper[0, 0]))
            found["Bayesian MSM, effective counts (deeptime)"].append(
                bayesian_interval(msm.dtrajs, lag, args.samples))
        for method, values in found.items():
            values = np.array(values)
            held = np.mean((values[:, 1] <= truth) & (truth <= values[:, 2]))
            rows.append([lag, method, f"{held:.0%} ({int(round(held * len(values)))} of "
                         f"{len(values)})", f"{np.mean(values[:, 2] - values[:, 1]) / 2:.2f}",
                         f"{1.96 * np.std(values[:, 0]):.2f}"])
            print(rows[-1], flush=True)
    body = table(["lag (frames)", "interval", "holds the exact time scale",
                  "mean half-width (frames)", "1.96 x spread between realisations"], rows)
    body += (f"\n\nExact slowest time scale {truth:.2f} frames. Machine: {machine()}. "
             f"`python benchmarks/msm_intervals.py --realisations {args.realisations}`.")
    print(body)
    if args.markdown:
        write_section(args.markdown, "msm_intervals",
                      "Markov state models: do the intervals hold the truth?", body)


if __name__ == "__main__":
    main()

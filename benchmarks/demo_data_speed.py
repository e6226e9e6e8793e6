"""How fast OpenMM makes cgviz's demo data on this machine, per system and platform.

Prints one table: the copolymer model with 1, 8 and 32 chains packed per OpenMM system,
and alanine dipeptide with native OBC2 implicit water, in vacuum and with amber14's GBn2, on
the CPU and Reference
platforms; plus the time the bundled and paper-scale presets would take at the best rate.

    python benchmarks/demo_data_speed.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _time_steps(integrator, context, seconds: float, chunk: int) -> float:
    """Steps per second, stepping in chunks and reading positions as the generator does."""
    integrator.step(chunk)  # warm up (kernels, neighbour lists)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        integrator.step(chunk)
        context.getState(getPositions=True)
        steps += chunk
    return steps / (time.perf_counter() - start)


def polymer_rate(n_chains: int, platform: str, seconds: float) -> float:
    import openmm
    from openmm import unit

    from cgviz.datasets import polymer

    rng = np.random.default_rng(0)
    sequences = [polymer.blocky_sequence(50, rng) for _ in range(n_chains)]
    system, *_ = polymer.build_system(sequences)
    coils = [polymer._random_coil(50, rng) + 40.0 * i for i in range(n_chains)]
    integrator = openmm.LangevinMiddleIntegrator(
        polymer.TEMPERATURE_K, 1 / polymer.TAU_PS, polymer.TIME_STEP_TAU * polymer.TAU_PS)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions(np.concatenate(coils) * polymer.SIGMA_NM * unit.nanometer)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 500)
    return _time_steps(integrator, context, seconds, 500)


def alanine_rate(solvent: str, platform: str, seconds: float) -> float:
    import openmm
    from openmm import unit

    from cgviz.datasets import alanine

    topology, positions = alanine.build_structure()
    system = alanine._create_system(topology, solvent)
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond,
                                                 alanine.TIME_STEP_FS * unit.femtosecond)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions * unit.nanometer)
    return _time_steps(integrator, context, seconds, 500)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per row")
    args = parser.parse_args()

    from cgviz.datasets import PRESETS, alanine, polymer

    rows = []
    for platform in ("CPU", "Reference"):
        for n_chains in (1, 8, 32):
            if platform == "Reference" and n_chains == 32:
                continue  # minutes per row, and never the faster choice
            rate = polymer_rate(n_chains, platform, args.seconds)
            rows.append(("copolymer, 100 beads/chain", f"{n_chains} chains", platform,
                         rate, rate * n_chains, "chain-steps/s"))
    for solvent in ("obc2", "vacuum", "gbn2"):
        for platform in ("Reference", "CPU"):
            rate = alanine_rate(solvent, platform, args.seconds)
            ns_per_day = rate * alanine.TIME_STEP_FS * 1e-6 * 86400
            rows.append(("alanine dipeptide", solvent, platform, rate, ns_per_day, "ns/day"))

    print(f"{'system':28s} {'setting':10s} {'platform':10s} {'steps/s':>10s} {'throughput':>12s}")
    for system, setting, platform, rate, throughput, unit in rows:
        print(f"{system:28s} {setting:10s} {platform:10s} {rate:10.0f} {throughput:12.0f} {unit}")

    best_chain_rate = max(r[4] for r in rows if r[0].startswith("copolymer"))
    best_ns_day = max(r[4] for r in rows if r[1] == "obc2")
    steps_per_frame = polymer.PolymerSimulationSettings().steps_per_frame
    print("\nEstimated generation time at the best rates above:")
    for preset in ("bundle", "paper"):
        chain_steps = ns = 0.0
        for spec in PRESETS[preset].values():
            if spec["kind"] == "polymer":
                equil = spec.get("equilibration_tau", 1500.0) / polymer.TIME_STEP_TAU
                chain_steps += spec["n_chains"] * (spec["n_frames"] * steps_per_frame + equil)
            else:
                ns += spec["n_trajectories"] * spec["n_frames"] * 1e-3
        hours = chain_steps / best_chain_rate / 3600 + ns / best_ns_day * 24
        print(f"  preset {preset:7s}: {hours:6.2f} h")


if __name__ == "__main__":
    main()

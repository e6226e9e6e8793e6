"""Analysis of trajectories, atom or bead level, reference MD or learned rollout alike.

numpy arrays in, numpy arrays (or small frozen dataclasses) out, one observable per
function, mdtraj-style ``compute_*`` names. Units: positions nm, time ps, masses amu,
angles radians, free energies kJ/mol (or kT), divergences nats.

- :mod:`~cgviz.analysis.backbone`: phi and psi paired per residue (Ramachandran plots).
- :mod:`~cgviz.analysis.structure`: radius of gyration (mass-weighted, about the centre
  of mass), distances, bond lengths and angles, contact maps, collisions.
- :mod:`~cgviz.analysis.dynamics`: normalised autocorrelation, relaxation times, running
  means.
- :mod:`~cgviz.analysis.distributions`: shared-bin histograms, Jensen-Shannon divergence.
- :mod:`~cgviz.analysis.fes`: 2-D free energy surfaces.
- :mod:`~cgviz.analysis.markov`: TICA and implied time scales; Markov state models with
  bootstrap intervals and a Chapman-Kolmogorov test (deeptime, imported lazily).

Importing this package loads numpy only (no deeptime, torch or plotting libraries).
"""

from __future__ import annotations

from cgviz.analysis.backbone import compute_phi_psi, is_alanine_dipeptide
from cgviz.analysis.distributions import (
    HistogramPair,
    distribution_js,
    histogram_2d_js,
    histogram_pair,
    jensen_shannon_divergence,
)
from cgviz.analysis.dynamics import (
    compute_autocorrelation,
    compute_relaxation_time,
    compute_rg2_relaxation_time,
    compute_running_mean,
)
from cgviz.analysis.fes import (FreeEnergySurface, compute_free_energy_surface,
                                compute_ramachandran_surface)
from cgviz.analysis.markov import (
    CKTest,
    ImpliedTimescales,
    MSMAnalysis,
    MSMComparison,
    TICAResult,
    TimescaleCurve,
    compare_msms,
    compute_implied_timescales,
    compute_tica,
    estimate_msm,
)
from cgviz.analysis.structure import (
    angle_triples_from_bonds,
    atom_pairs,
    compute_bond_angles,
    compute_bond_lengths,
    compute_collision_rate,
    compute_contact_map,
    compute_min_nonbonded_distance,
    compute_rg,
    compute_rg_per_molecule,
    pairwise_distances,
)

__all__ = [
    "FreeEnergySurface",
    "HistogramPair",
    "ImpliedTimescales",
    "TICAResult",
    "CKTest",
    "MSMAnalysis",
    "MSMComparison",
    "TimescaleCurve",
    "angle_triples_from_bonds",
    "compare_msms",
    "estimate_msm",
    "atom_pairs",
    "compute_autocorrelation",
    "compute_bond_angles",
    "compute_bond_lengths",
    "compute_collision_rate",
    "compute_contact_map",
    "compute_free_energy_surface",
    "compute_ramachandran_surface",
    "compute_implied_timescales",
    "compute_min_nonbonded_distance",
    "compute_phi_psi",
    "compute_relaxation_time",
    "compute_rg",
    "compute_rg2_relaxation_time",
    "compute_running_mean",
    "compute_rg_per_molecule",
    "compute_tica",
    "distribution_js",
    "histogram_2d_js",
    "histogram_pair",
    "is_alanine_dipeptide",
    "jensen_shannon_divergence",
    "pairwise_distances",
]

"""One rollout against its reference MD: the numbers and curves a screen shows.

:func:`compare_rollout` is the one call behind the Rollout page, notebook 03 and the
per-system part of ``evaluate-simulator``: a frozen :class:`RolloutComparison` with the
model's frames beside a reference window of the same length starting at the same frame,
so time ranges, distributions and autocorrelations are compared like with like. The
thresholds (contact cutoff, collision distance) are defined here once, relative to the
mean CG bond length of the reference (``docs/science.md``, "Judging a rollout").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cgviz import analysis
from cgviz.errors import CgvizError

#: Beads closer than this many mean bond lengths form a contact (contact maps).
CONTACT_CUTOFF_BONDS = 1.5
#: A non-bonded pair closer than this many mean bond lengths is a collision.
COLLISION_DISTANCE_BONDS = 0.5


def mean_bond_length(positions: np.ndarray, bonds: np.ndarray, default: float = 0.5) -> float:
    """Mean CG bond length (nm) of ``positions`` (n, n_beads, 3); ``default`` without bonds."""
    bonds = np.asarray(bonds).reshape(-1, 2)
    if not len(bonds):
        return default
    return float(analysis.compute_bond_lengths(positions, bonds).mean())


def contact_map(positions: np.ndarray, bonds: np.ndarray, cutoff: float) -> np.ndarray:
    """Contact probabilities with the bonded pairs left out (they are always in contact)."""
    return analysis.compute_contact_map(positions, cutoff,
                                        exclude_pairs=np.asarray(bonds).reshape(-1, 2))


@dataclass(frozen=True)
class RolloutComparison:
    """Model frames and the reference MD window they are compared with (nm, ps).

    Attributes
    ----------
    name: the system's name.
    frame_time_ps: one model step.
    start_frame: the reference frame the first rollout frame corresponds to.
    time_ps: (n,) time of each compared frame, from ``start_frame``.
    model_positions, reference_positions: (n, n_beads, 3); the reference is the MD window
        of the same length starting at the same frame (shorter only when the MD ends
        first: ``n_reference`` says how many reference frames there are).
    n_history: the first frames are the MD history the rollout started from.
    rg_model, rg_reference: radius of gyration per frame (mass-weighted).
    acf_lag_ps, acf_model, acf_reference: Rg^2 autocorrelation of both, same lags.
    contact_cutoff_nm, contact_model, contact_reference: bead contact probabilities
        (bonded pairs excluded).
    collision_rate_model, collision_rate_reference: fraction of frames with a non-bonded
        pair closer than ``COLLISION_DISTANCE_BONDS`` mean bond lengths.
    bond_length_nm: mean CG bond length of the reference.
    bead_bonds, bead_masses: the system's CG bonds and bead masses.
    bead_types: the mapping's bead types (or "bead").
    n_steps_completed, stop_reason: from the rollout.
    """

    name: str
    frame_time_ps: float
    start_frame: int
    time_ps: np.ndarray
    model_positions: np.ndarray
    reference_positions: np.ndarray
    n_reference: int
    n_history: int
    rg_model: np.ndarray
    rg_reference: np.ndarray
    acf_lag_ps: np.ndarray
    acf_model: np.ndarray
    acf_reference: np.ndarray
    contact_cutoff_nm: float
    contact_model: np.ndarray
    contact_reference: np.ndarray
    collision_rate_model: float
    collision_rate_reference: float
    bond_length_nm: float
    bead_bonds: np.ndarray
    bead_masses: np.ndarray
    bead_types: tuple[str, ...]
    n_steps_completed: int
    stop_reason: str | None

    def markov(self, lag: int, n_clusters: int = 30, n_sets: int | None = None,
               seed: int = 0) -> "analysis.MSMComparison":
        """Markov models of this rollout and its MD window (after the MD history, over
        the frames both have): :func:`rollout_msm`."""
        h, n = self.n_history, self.n_reference
        return rollout_msm(self.reference_positions[h:n], self.model_positions[h:n], lag,
                           self.frame_time_ps, n_clusters=n_clusters, n_sets=n_sets,
                           seed=seed)

    @property
    def n_frames(self) -> int:
        return int(len(self.model_positions))

    def reference_frame(self, frame: int) -> np.ndarray | None:
        """The reference positions at compared frame ``frame`` (None past the MD's end)."""
        return self.reference_positions[frame] if frame < self.n_reference else None


def compare_rollout(result, index: int, reference, start_frame: int | None = None
                    ) -> RolloutComparison:
    """Compare system ``index`` of a ``Rollout`` with its reference ``BeadSystem``.

    ``start_frame`` is the reference index of the last history frame the rollout started
    from (default: the first possible, history_length - 1), as given to ``rollout``."""
    k = int(result.history_length)
    if not 0 <= index < result.n_systems:
        raise CgvizError(f"System {index} is not in this rollout of {result.n_systems}.")
    last_history = k - 1 if start_frame is None else int(start_frame)
    first = last_history - k + 1
    if first < 0 or last_history >= reference.n_frames:
        raise CgvizError(f"Start frame {last_history} does not fit the reference of "
                         f"{reference.n_frames} frames with a history of {k}.")
    model_xyz = np.asarray(result.positions[index])
    reference_xyz = np.asarray(reference.positions[first:first + len(model_xyz)])
    if reference_xyz.shape[1:] != model_xyz.shape[1:]:
        raise CgvizError("The reference system does not match the rollout's beads.")
    bonds = np.asarray(reference.bead_bonds).reshape(-1, 2)
    masses = np.asarray(reference.bead_masses)
    bond = mean_bond_length(reference_xyz, bonds)
    cutoff = CONTACT_CUTOFF_BONDS * bond
    collision = COLLISION_DISTANCE_BONDS * bond
    rg_model = analysis.compute_rg(model_xyz, masses)
    rg_reference = analysis.compute_rg(reference_xyz, masses)
    n = min(len(rg_model), len(rg_reference))
    max_lag = max(1, n // 3)
    lags = np.arange(max_lag + 1) * result.frame_time_ps
    if n >= 3:
        acf_model = analysis.compute_autocorrelation(rg_model[:n] ** 2, max_lag=max_lag)
        acf_reference = analysis.compute_autocorrelation(rg_reference[:n] ** 2,
                                                         max_lag=max_lag)
    else:
        acf_model = acf_reference = np.full(len(lags), np.nan)
    types = getattr(reference, "bead_types", None) or ("bead",) * reference.n_beads
    return RolloutComparison(
        name=str(result.names[index]), frame_time_ps=float(result.frame_time_ps),
        start_frame=first, time_ps=(first + np.arange(len(model_xyz))) * result.frame_time_ps,
        model_positions=model_xyz, reference_positions=reference_xyz,
        n_reference=int(len(reference_xyz)), n_history=k,
        rg_model=rg_model, rg_reference=rg_reference,
        acf_lag_ps=lags, acf_model=acf_model, acf_reference=acf_reference,
        contact_cutoff_nm=float(cutoff), contact_model=contact_map(model_xyz, bonds, cutoff),
        contact_reference=contact_map(reference_xyz, bonds, cutoff),
        collision_rate_model=float(analysis.compute_collision_rate(model_xyz, bonds,
                                                                   collision)),
        collision_rate_reference=float(analysis.compute_collision_rate(reference_xyz, bonds,
                                                                       collision)),
        bond_length_nm=bond, bead_bonds=bonds, bead_masses=masses, bead_types=tuple(types),
        n_steps_completed=int(result.n_steps_completed), stop_reason=result.stop_reason,
    )


@dataclass(frozen=True)
class HeldOutRollout:
    """A rollout from the held-out frames of a system (what the Rollout page keeps).

    Attributes: ``result`` (the Rollout), ``systems`` (the reference BeadSystems, one per
    rolled-out system), ``start_frame`` (reference index of the last history frame),
    ``warnings`` (loud notes, e.g. that frames were training data), ``label``."""

    result: object
    systems: tuple
    start_frame: int
    warnings: tuple[str, ...]
    label: str

    def compare(self, index: int) -> RolloutComparison:
        return compare_rollout(self.result, index, self.systems[index], self.start_frame)


def roll_out_held_out(model, checkpoint: dict, system, n_steps: int, n_systems: int = 4,
                      start_frame: int = 0, seed: int = 0, refine_steps: int = 0,
                      device: str = "cpu", progress=None) -> HeldOutRollout:
    """Roll ``model`` out from the held-out frames of ``system`` (a MolecularSystem):
    at most ``n_systems`` of its held-out blocks (or molecules), each from the history
    ending at ``start_frame`` (moved up to the first possible frame, and down so that it
    fits every block)."""
    from cgviz.simulator.evaluate import held_out_systems
    from cgviz.simulator.rollout import rollout

    held = held_out_systems(checkpoint, system)
    systems = tuple(held.systems[: max(1, int(n_systems))])
    k = model.config.history_length
    last = min(s.n_frames for s in systems) - 1
    start = int(min(max(int(start_frame), k - 1), last))
    result = rollout(model, list(systems), int(n_steps), seed=int(seed),
                     refine_steps=int(refine_steps), start_frames=[start] * len(systems),
                     device=device, progress=progress)
    return HeldOutRollout(result, systems, start, held.warnings, system.label)


def rollout_msm(reference_positions: np.ndarray, model_positions: np.ndarray, lag: int,
                dt_ps: float, n_clusters: int = 30, dim: int = 2, n_samples: int = 50,
                max_pairs: int = 2000, n_sets: int | None = 2, seed: int = 0) -> "analysis.MSMComparison":
    """Markov state models of a rollout and of its reference MD, on the same states.

    The CVs are the ``dim`` slowest TICA components of bead-pair distances, fitted on the
    reference at ``lag``; the rollout is projected onto them and assigned to the
    reference's k-means clusters (:func:`cgviz.analysis.compare_msms`). Compare rollouts
    and references of the same length: a time scale is only judged against data several
    times longer than itself.

    Parameters
    ----------
    reference_positions, model_positions : (n_frames, n_beads, 3) nm, one frame per
        model step (``dt_ps`` apart)
    lag : int, model steps, for TICA and the MSMs
    dt_ps : ps per step
    n_clusters, n_samples, n_sets, seed : as in :func:`cgviz.analysis.estimate_msm`
        (``n_sets=None``: no CK test)
    dim : TICA components kept as CVs
    max_pairs : at most this many bead pairs (evenly chosen) for large systems, and at
        most one per 10 reference frames (so TICA does not fit noise)

    Returns
    -------
    cgviz.analysis.MSMComparison (``.ratio``: model / MD slowest time scale, with interval)
    """
    reference = np.asarray(reference_positions, dtype=np.float64)
    model = np.asarray(model_positions, dtype=np.float64)
    if reference.shape[1:] != model.shape[1:]:
        raise CgvizError(
            f"The rollout has {model.shape[1]} beads, the reference {reference.shape[1]}.",
            hint="Compare a rollout with the MD of the same system.",
        )
    pairs = analysis.atom_pairs(reference.shape[1])
    # TICA needs many more frames than features, or it fits noise (eigenvalues near +-1).
    max_pairs = min(max_pairs, max(dim, len(reference) // 10))
    if len(pairs) > max_pairs:
        pairs = pairs[np.linspace(0, len(pairs) - 1, max_pairs).astype(int)]
    if not len(pairs):
        raise CgvizError("A Markov model needs at least two beads.",
                         hint="Use a mapping with more than one bead.")
    tica = analysis.compute_tica(analysis.pairwise_distances(reference, pairs), lagtime=lag,
                                 dim=min(dim, len(pairs)))
    model_cvs = tica.transform(analysis.pairwise_distances(model, pairs))
    return analysis.compare_msms(tica.projection, model_cvs, lagtime=lag,
                                 n_clusters=n_clusters, n_samples=n_samples, dt=dt_ps,
                                 n_sets=n_sets, seed=seed)

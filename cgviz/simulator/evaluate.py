"""Judge a simulator like the paper does (docs/science.md 1.5), against reference MD at bead level.

For every held-out system: roll the model out from a reference start window, then compare
with the reference MD mapped to beads using the same ``cgviz.analysis`` functions for both:

* mean radius of gyration (mass-weighted, about the centre of mass): across systems,
  squared Pearson correlation r^2 and mean absolute error;
* Rg^2 relaxation time (integral of the normalised ACF up to its first zero): r^2 of the
  logarithms across systems (systems whose ACF never crosses zero are left out and counted);
* structure: Jensen-Shannon divergence (nats) of CG bond-length and bond-angle distributions,
  of the bead contact maps (as distributions over pairs), and of 2-D TICA histograms of
  pairwise bead distances (TICA fitted on the reference);
* stability: collision rate (fraction of frames with a non-bonded pair closer than half the
  mean CG bond length) and the number of steps before a NaN or blow-up;
* speed: simulated ns per wall-clock second of the batched rollout.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from cgviz import analysis
from cgviz.errors import CgvizError
from cgviz.simulator import compare

#: Numbers from Fu et al. (TMLR 2023) for the polymer benchmark, for the report tables.
PAPER = {"rg_r2": 0.90, "relaxation_r2": 0.48, "relaxation_r2_log": 0.48}

#: Resamples for the bootstrap intervals of the across-system measures.
BOOTSTRAP_SAMPLES = 2000

#: The across-system measures a report summarises (field -> label).
SUMMARY_MEASURES = {
    "rg_r2": "mean Rg r^2 across systems",
    "rg_mae_nm": "mean Rg MAE (nm)",
    "relaxation_r2_log": "Rg^2 relaxation time r^2 (log)",
    "bond_js_mean": "bond-length JS (nats)",
    "angle_js_mean": "bond-angle JS (nats)",
    "contact_js_mean": "contact-map JS (nats)",
    "tica_js_mean": "TICA 2-D JS (nats)",
    "collision_rate_model": "collision rate, model",
    "collision_rate_reference": "collision rate, reference MD",
}


@dataclass(frozen=True)
class SystemScores:
    """Reference vs model numbers of one system (lengths nm, times ps, JS in nats)."""

    name: str
    n_steps: int
    stop_reason: str | None
    rg_reference: float
    rg_model: float
    relaxation_reference_ps: float | None
    relaxation_model_ps: float | None
    bond_js: float
    angle_js: float
    contact_js: float
    tica_js: float | None
    collision_rate_reference: float
    collision_rate_model: float


@dataclass(frozen=True)
class EvaluationReport:
    """Across-system summary plus the per-system scores."""

    rg_r2: float
    rg_mae_nm: float
    relaxation_r2_log: float | None
    n_relaxation_pairs: int
    bond_js_mean: float
    angle_js_mean: float
    contact_js_mean: float
    tica_js_mean: float | None
    collision_rate_model: float
    collision_rate_reference: float
    min_steps_before_stop: int
    n_steps_requested: int
    simulated_ns_per_wall_second: float
    systems: tuple[SystemScores, ...]
    #: The same two across-system measures for the reference MD against itself: a window
    #: of each reference trajectory as long as the compared one against the next window of
    #: that length (``reference_floor_frames``; shorter, the two halves, where the MD holds
    #: less than two windows). How well data of this length pin the numbers down at all; a
    #: model near these values is at the noise floor.
    reference_split_rg_r2: float | None = None
    reference_split_relaxation_r2_log: float | None = None
    #: Loud notes for the reader, e.g. that some frames were training data.
    warnings: tuple[str, ...] = ()
    #: Frames of model and reference compared per system (equal windows from one start).
    compared_frames: int = 0
    reference_floor_frames: int = 0
    #: measure -> (low, high): 95 % bootstrap interval over systems (resampled with
    #: replacement, ``BOOTSTRAP_SAMPLES`` times); absent where a measure is undefined.
    intervals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["paper"] = dict(PAPER)
        return data

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, default=float) + "\n")

    def summary_rows(self) -> list[dict]:
        """One row per across-system measure: value, 95 % interval, paper, MD floor."""
        floors = {"rg_r2": self.reference_split_rg_r2,
                  "relaxation_r2_log": self.reference_split_relaxation_r2_log}
        rows = []
        for key, label in SUMMARY_MEASURES.items():
            value = getattr(self, key)
            low, high = self.intervals.get(key, (None, None))
            rows.append({"measure": label, "key": key, "value": value, "ci95_low": low,
                         "ci95_high": high, "paper": PAPER.get(key),
                         "md_vs_md": floors.get(key)})
        return rows

    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``report.json``, ``summary.csv`` (across systems, with intervals),
        ``systems.csv`` (per system) and ``report.html`` (plots inside, works offline)
        into the folder ``out``; a path ending in ``.json`` writes that file and the others
        beside it with the same stem. Returns kind -> path."""
        import csv

        out = Path(out)
        if out.suffix == ".json":
            folder, stem = out.parent, out.stem
        else:
            folder, stem = out, "report"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CgvizError(f"Cannot create '{folder}' ({error.strerror}).",
                             hint="Pick a folder you can write to.") from None
        paths = {"json": folder / f"{stem}.json", "summary": folder / f"{stem}_summary.csv",
                 "systems": folder / f"{stem}_systems.csv", "html": folder / f"{stem}.html"}
        if out.suffix != ".json":
            paths["summary"], paths["systems"] = folder / "summary.csv", folder / "systems.csv"
        self.save_json(paths["json"])
        with open(paths["summary"], "w", newline="") as handle:
            rows = self.summary_rows()
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        with open(paths["systems"], "w", newline="") as handle:
            rows = [asdict(s) for s in self.systems]
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["name"])
            writer.writeheader()
            writer.writerows(rows)
        paths["html"].write_text(html_report(self))
        return paths


def r_squared(x: Sequence[float], y: Sequence[float]) -> float:
    """Squared Pearson correlation of two sequences (NaN with fewer than 3 pairs)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


MIN_FRAMES_FOR_RELAXATION = 50


def _relaxation(rg: np.ndarray, dt: float) -> float | None:
    if len(rg) < MIN_FRAMES_FOR_RELAXATION:
        return None
    try:
        value = analysis.compute_rg2_relaxation_time(rg, dt)
    except CgvizError:
        return None
    return float(value) if np.isfinite(value) and value > 0 else None


def _contact_js(ref: np.ndarray, model: np.ndarray, cutoff: float, bonds: np.ndarray) -> float:
    a = compare.contact_map(ref, bonds, cutoff)
    b = compare.contact_map(model, bonds, cutoff)
    upper = np.triu_indices_from(a, 1)
    p, q = a[upper], b[upper]
    if p.sum() == 0 and q.sum() == 0:
        return 0.0
    return analysis.jensen_shannon_divergence(p + 1e-12, q + 1e-12)


def score_system(name: str, reference: np.ndarray, model: np.ndarray, masses: np.ndarray,
                 bonds: np.ndarray, frame_time_ps: float, n_steps: int,
                 stop_reason: str | None) -> SystemScores:
    """Compare one system's reference frames with its rollout frames ((n, n_beads, 3) nm)."""
    bonds = np.asarray(bonds).reshape(-1, 2)
    rg_ref = analysis.compute_rg(reference, masses)
    rg_mod = analysis.compute_rg(model, masses)
    bond_length = compare.mean_bond_length(reference, bonds)
    triples = analysis.angle_triples_from_bonds(bonds, reference.shape[1])
    bond_js = analysis.distribution_js(analysis.compute_bond_lengths(reference, bonds).ravel(),
                                       analysis.compute_bond_lengths(model, bonds).ravel())
    angle_js = (analysis.distribution_js(analysis.compute_bond_angles(reference, triples).ravel(),
                                         analysis.compute_bond_angles(model, triples).ravel())
                if len(triples) else 0.0)
    contact_js = _contact_js(reference, model, compare.CONTACT_CUTOFF_BONDS * bond_length, bonds)
    tica_js = None
    n_beads = reference.shape[1]
    if n_beads >= 4 and len(reference) > 20 and len(model) > 20:
        pairs = analysis.atom_pairs(n_beads, exclude_neighbors=1)
        try:
            tica = analysis.compute_tica(analysis.pairwise_distances(reference, pairs),
                                         lagtime=1, dim=2)
            tica_js = analysis.histogram_2d_js(
                tica.projection, tica.transform(analysis.pairwise_distances(model, pairs)),
                bins=30)
        except CgvizError:
            tica_js = None
    threshold = compare.COLLISION_DISTANCE_BONDS * bond_length
    return SystemScores(
        name=name, n_steps=n_steps, stop_reason=stop_reason,
        rg_reference=float(rg_ref.mean()), rg_model=float(rg_mod.mean()),
        relaxation_reference_ps=_relaxation(rg_ref, frame_time_ps),
        relaxation_model_ps=_relaxation(rg_mod, frame_time_ps),
        bond_js=float(bond_js), angle_js=float(angle_js), contact_js=float(contact_js),
        tica_js=None if tica_js is None else float(tica_js),
        collision_rate_reference=float(analysis.compute_collision_rate(reference, bonds, threshold)),
        collision_rate_model=float(analysis.compute_collision_rate(model, bonds, threshold)),
    )


def _floor_pairs(systems: Sequence, window: int | None):
    """Per system (Rg, relaxation) of two consecutive reference windows of ``window``
    frames, or of the two halves where the MD holds less than two windows."""
    first, second, used = [], [], []
    for system in systems:
        rg = analysis.compute_rg(system.positions, system.bead_masses)
        length = len(rg) // 2 if window is None or 2 * window > len(rg) else window
        used.append(length)
        a, b = rg[:length], rg[length:2 * length]
        first.append((float(a.mean()), _relaxation(a, system.frame_time_ps)))
        second.append((float(b.mean()), _relaxation(b, system.frame_time_ps)))
    return first, second, used


def _pair_scores(first, second) -> tuple[float, float | None]:
    relax = [(a[1], b[1]) for a, b in zip(first, second) if a[1] and b[1]]
    return (r_squared([a[0] for a in first], [b[0] for b in second]),
            r_squared(*zip(*[(math.log(a), math.log(b)) for a, b in relax]))
            if len(relax) >= 3 else None)


def reference_split_scores(systems: Sequence, window: int | None = None
                           ) -> tuple[float, float | None]:
    """(Rg r^2, log relaxation-time r^2) of the reference MD against itself across systems:
    each trajectory's first ``window`` frames against the next ``window`` (default, or
    where two windows do not fit: its two halves). The noise floor of the measures."""
    first, second, _ = _floor_pairs(systems, window)
    return _pair_scores(first, second)


def _summary(scores: Sequence[SystemScores]) -> dict[str, float | None]:
    ref_rg = [s.rg_reference for s in scores]
    mod_rg = [s.rg_model for s in scores]
    relax = [(s.relaxation_reference_ps, s.relaxation_model_ps) for s in scores
             if s.relaxation_reference_ps and s.relaxation_model_ps]
    tica = [s.tica_js for s in scores if s.tica_js is not None]
    return {
        "rg_r2": r_squared(ref_rg, mod_rg),
        "rg_mae_nm": float(np.mean(np.abs(np.subtract(ref_rg, mod_rg)))),
        "relaxation_r2_log": (r_squared([math.log(a) for a, _ in relax],
                                        [math.log(b) for _, b in relax])
                              if len(relax) >= 3 else None),
        "n_relaxation_pairs": len(relax),
        "bond_js_mean": float(np.mean([s.bond_js for s in scores])),
        "angle_js_mean": float(np.mean([s.angle_js for s in scores])),
        "contact_js_mean": float(np.mean([s.contact_js for s in scores])),
        "tica_js_mean": float(np.mean(tica)) if tica else None,
        "collision_rate_model": float(np.mean([s.collision_rate_model for s in scores])),
        "collision_rate_reference": float(np.mean([s.collision_rate_reference
                                                   for s in scores])),
    }


def bootstrap_intervals(scores: Sequence[SystemScores], n_samples: int = BOOTSTRAP_SAMPLES,
                        seed: int = 0) -> dict[str, tuple[float, float]]:
    """95 % percentile intervals of every across-system measure, resampling the systems
    with replacement (a measure undefined in a resample, e.g. r^2 of equal values, is left
    out of that resample; a measure defined in under half of them gets no interval)."""
    scores = list(scores)
    if len(scores) < 2:
        return {}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {key: [] for key in SUMMARY_MEASURES}
    for _ in range(int(n_samples)):
        sample = [scores[i] for i in rng.integers(0, len(scores), len(scores))]
        values = _summary(sample)
        for key in draws:
            value = values.get(key)
            if value is not None and np.isfinite(value):
                draws[key].append(float(value))
    return {key: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            for key, v in draws.items() if len(v) >= n_samples / 2}


def evaluate(model, systems: Sequence, n_steps: int, seed: int = 0, refine_steps: int = 0,
             refine_epsilon: float | None = None, stochastic: bool = True, device: str = "cpu",
             progress: Callable[[int, int], None] | None = None, rollout_result=None,
             bootstrap_samples: int = BOOTSTRAP_SAMPLES) -> tuple[EvaluationReport, object]:
    """Roll out every system from its first history window and score it against its MD.

    Model and reference are compared over windows of equal length from the same start
    (the model's frames against the MD frames right after the history); the MD floor uses
    windows of that length too; every across-system measure carries a 95 % bootstrap
    interval over systems. Returns (report, the Rollout). ``rollout_result`` may pass a
    rollout made earlier (from the default start frames).
    """
    from cgviz.simulator.rollout import rollout

    result = rollout_result or rollout(model, systems, n_steps, seed=seed, stochastic=stochastic,
                                       refine_steps=refine_steps, refine_epsilon=refine_epsilon,
                                       device=device, progress=progress)
    k = result.history_length
    scores, windows = [], []
    for i, system in enumerate(systems):
        generated = result.generated(i)
        if len(generated) < 2:
            generated = result.positions[i]
        reference = system.positions[k:k + len(generated)]
        if len(reference) < 2:
            reference = system.positions
        window = min(len(reference), len(generated))
        windows.append(window)
        score = score_system(system.name, reference[:window], generated[:window],
                             system.bead_masses, system.bead_bonds, system.frame_time_ps,
                             result.n_steps_completed, result.stop_reason)
        # Stability over the whole rollout, not only its compared window.
        bond = compare.mean_bond_length(system.positions, system.bead_bonds)
        full_rate = float(analysis.compute_collision_rate(
            generated, system.bead_bonds, compare.COLLISION_DISTANCE_BONDS * bond))
        scores.append(replace(score, collision_rate_model=full_rate))
    compared = int(min(windows)) if windows else 0
    first, second, used = _floor_pairs(systems, compared)
    split_rg, split_relaxation = _pair_scores(first, second)
    summary = _summary(scores)
    report = EvaluationReport(
        **summary,
        min_steps_before_stop=int(result.n_steps_completed),
        n_steps_requested=int(n_steps),
        simulated_ns_per_wall_second=float(result.simulated_ns_per_wall_second),
        systems=tuple(scores),
        reference_split_rg_r2=split_rg, reference_split_relaxation_r2_log=split_relaxation,
        compared_frames=compared, reference_floor_frames=int(min(used)) if used else 0,
        intervals=bootstrap_intervals(scores, bootstrap_samples),
    )
    return report, result


def _interval_text(report: EvaluationReport, key: str, digits: int = 2) -> str:
    value = getattr(report, key)
    if value is None or not np.isfinite(value):
        return "n/a"
    low, high = report.intervals.get(key, (None, None))
    text = f"{value:.{digits}f}"
    return text if low is None else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def html_report(report: EvaluationReport) -> str:
    """A self-contained HTML page: the summary table with intervals and the two plots
    (plotly.js embedded once, no network needed)."""
    import html

    def cell(value) -> str:
        return "" if value is None else f"{value:.2f}"

    rows = "".join(
        f"<tr><td>{html.escape(r['measure'])}</td><td>{_interval_text(report, r['key'], 3)}"
        f"</td><td>{cell(r['paper'])}</td><td>{cell(r['md_vs_md'])}</td></tr>"
        for r in report.summary_rows())
    warnings = "".join(f"<p class='warn'>{html.escape(w)}</p>" for w in report.warnings)
    plots = []
    for i, figure in enumerate(figures(report).values()):
        plots.append(figure.to_html(full_html=False, include_plotlyjs=(i == 0),
                                    config={"displaylogo": False}))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>cgviz evaluation</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}
.warn{{color:#a00;font-weight:bold}}</style></head><body>
<h1>Simulator evaluation</h1>{warnings}
<p>{len(report.systems)} systems; {report.n_steps_requested} model steps requested,
{report.min_steps_before_stop} done; model and MD compared over {report.compared_frames}
frames each from the same start; MD against itself over windows of
{report.reference_floor_frames} frames. Intervals: 95 % bootstrap over systems.</p>
<table><tr><th>measure</th><th>value [95 % interval]</th><th>paper</th><th>MD vs MD</th></tr>
{rows}</table>
{''.join(plots)}
</body></html>
"""


@dataclass(frozen=True)
class HeldOut:
    """What a model is judged on: bead systems, the mapping and system, and warnings.

    ``warnings`` say loudly when frames the model was trained on are in ``systems``."""

    systems: list
    mapping: object
    system: object
    warnings: tuple[str, ...] = ()
    description: str = ""


def _training_record(model_checkpoint: dict) -> dict:
    """What the checkpoint says about its training data: the system record written by
    training, or, for checkpoints made before it existed, one rebuilt from the training
    config's demo or files (fingerprints of those files as they are now, split in time
    with the config's validation fraction and no test part, as that training did)."""
    from cgviz import datasets
    from cgviz.system import file_fingerprint

    record = model_checkpoint.get("system") or {}
    if record:
        return record
    config = model_checkpoint.get("training_config") or {}
    if config.get("system"):
        return dict(config["system"])
    try:
        if config.get("train_demo"):
            files = datasets.demo_paths(config["train_demo"], config.get("data_dir"))[
                "trajectories"]
        else:
            files = [Path(p) for p in config.get("train_trajectories") or ()]
        fingerprints = [file_fingerprint(p) for p in files]
    except (CgvizError, OSError):
        return {}
    return {"fingerprints": fingerprints,
            "split": {"by": "time", "validation": float(config.get("validation_fraction",
                                                                    0.1)), "test": 0.0}}


def checkpoint_mapping(model_checkpoint: dict, system):
    """The checkpoint's own mapping when it fits ``system`` (same atoms and types), else a
    METIS mapping with the checkpoint's atoms per bead. Returns (mapping, note or None)."""
    from cgviz import mapping

    stored = model_checkpoint.get("mapping") or {}
    if stored:
        try:
            cg = mapping.CGMapping.from_dict(stored)
        except CgvizError:
            cg = None
        if cg is not None and cg.n_atoms == system.n_atoms and tuple(cg.atom_types) == tuple(
                system.properties.type_names):
            return cg, None
    parameters = stored.get("parameters", {}) if stored else {}
    atoms_per_bead = parameters.get("atoms_per_bead") or model_checkpoint.get(
        "training_config", {}).get("atoms_per_bead", 4.0)
    cg = mapping.metis_mapping(system.topology, atoms_per_bead, properties=system.properties)
    note = None
    if stored and len(stored.get("assignment") or ()) == system.n_atoms:
        note = ("The model's own mapping does not fit these atoms (other atom types); they "
                f"were mapped with METIS at {atoms_per_bead:g} atoms per bead.")
    return cg, note


def held_out_systems(model_checkpoint: dict, system, min_frames: int | None = None) -> HeldOut:
    """The frames of ``system`` (a ``cgviz.system.MolecularSystem``) the model did not see.

    Trajectory files are recognised by their fingerprints against the training record in
    the checkpoint: of a training file only its test part (by the training split) is used;
    a training file without a test part is used whole, with a loud warning. Other files are
    held out whole. Mapped with the checkpoint's mapping when it fits the system."""
    from cgviz.system import Split

    vocabulary = tuple(model_checkpoint["config"]["type_vocabulary"])
    k = int(model_checkpoint["config"].get("history_length", 2))
    min_frames = k + 1 if min_frames is None else min_frames
    cg, note = checkpoint_mapping(model_checkpoint, system)
    record = _training_record(model_checkpoint)
    trained = list(record.get("fingerprints") or [])
    warnings: list[str] = [note] if note else []
    blocks: list[tuple[int, int, int, str]] = []
    for index, traj in enumerate(system.trajectories):
        fingerprint = system.fingerprints[index] if index < len(system.fingerprints) else None
        if fingerprint is None or fingerprint not in trained:
            blocks.append((index, 0, traj.n_frames, "held out"))
            continue
        position = trained.index(fingerprint)
        lengths = record.get("n_frames") or [traj.n_frames] * len(trained)
        parts = Split.from_dict(record.get("split")).blocks(lengths)
        test = [(i, a, b) for i, a, b in parts["test"] if i == position]
        same_step = abs(float(record.get("frame_time_ps", system.frame_time_ps))
                        - system.frame_time_ps) < 1e-6
        if test and same_step and lengths[position] == traj.n_frames:
            blocks.extend((index, a, b, "test part") for _, a, b in test)
        else:
            blocks.append((index, 0, traj.n_frames, "TRAINING DATA"))
    seen = [b for b in blocks if b[3] == "TRAINING DATA"]
    if seen and len(seen) < len(blocks):
        # Held-out frames exist: judge on them only, and say what was left out.
        blocks = [b for b in blocks if b[3] != "TRAINING DATA"]
        warnings.append(
            f"{len(seen)} of the given trajectories were used to train this model (train or "
            "validation part) and are left out of the judgement.")
    elif seen:
        warnings.append(
            "Every given trajectory was used to train this model: the scores below are on "
            "training data, optimistic, and say nothing about new data. Judge on held-out "
            "files, or train with a test part (split by trajectory or by time).")
    from cgviz.simulator.data import bead_systems_from_trajectory

    systems = []
    files = list((system.source or {}).get("trajectories") or [])
    label = system.label.split(": ", 1)[-1]
    for index, start, end, kind in blocks:
        if end - start < min_frames:
            continue
        name = (Path(files[index]).name if len(files) == len(system.trajectories)
                else f"{label}/{index}")
        systems.extend(bead_systems_from_trajectory(
            system.trajectories[index][start:end], cg, vocabulary,
            name=name + ("" if kind == "held out" else f" ({kind})"),
            split_molecules=system.independent_molecules, periodic=system.periodic))
    if not systems:
        longest = max((b - a for _, a, b, _ in blocks), default=0)
        raise CgvizError(
            f"No held-out block has the {min_frames} frames a rollout needs to start "
            f"(longest: {longest}).",
            hint="Give longer or more trajectories, or a smaller stride.")
    kinds = sorted({kind for *_, kind in blocks})
    return HeldOut(systems, cg, system.with_mapping(cg), tuple(warnings), ", ".join(kinds))


def test_systems_for(model_checkpoint: dict, demo: str = "polymer-test", data_dir=None):
    """BeadSystems of a demo's held-out frames (all of a demo the model never saw), mapped
    as :func:`held_out_systems` does."""
    from cgviz import system

    return held_out_systems(model_checkpoint, system.from_demo(demo, data_dir)).systems


def figures(report: EvaluationReport):
    """Plotly figures: mean Rg and log relaxation time, model vs reference, one dot per system."""
    import plotly.graph_objects as go

    out = {}
    ref = [s.rg_reference for s in report.systems]
    mod = [s.rg_model for s in report.systems]
    names = [s.name for s in report.systems]
    lo, hi = min(ref + mod), max(ref + mod)
    fig = go.Figure([go.Scatter(x=ref, y=mod, mode="markers", text=names, name="systems"),
                     go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                                line=dict(dash="dash", color="gray"))])
    fig.update_layout(title=f"Mean Rg: r² = {_interval_text(report, 'rg_r2')} (paper "
                      f"{PAPER['rg_r2']}), "
                      f"MAE = {report.rg_mae_nm:.3f} nm", xaxis_title="reference MD (nm)",
                      yaxis_title="learned simulator (nm)")
    out["rg"] = fig
    pairs = [(s.relaxation_reference_ps, s.relaxation_model_ps, s.name) for s in report.systems
             if s.relaxation_reference_ps and s.relaxation_model_ps]
    if pairs:
        x, y, text = zip(*pairs)
        lo, hi = min(x + y), max(x + y)
        r2 = report.relaxation_r2_log
        fig = go.Figure([go.Scatter(x=x, y=y, mode="markers", text=text, name="systems"),
                         go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                                    line=dict(dash="dash", color="gray"))])
        fig.update_xaxes(type="log", title="reference MD (ps)")
        fig.update_yaxes(type="log", title="learned simulator (ps)")
        floor = report.reference_split_relaxation_r2_log
        fig.update_layout(title="Rg² relaxation time: r²(log) = "
                          f"{_interval_text(report, 'relaxation_r2_log')} (paper "
                          f"{PAPER['relaxation_r2']}"
                          f"{'' if floor is None else f'; MD vs MD {floor:.2f}'})")
        out["relaxation"] = fig
    return out

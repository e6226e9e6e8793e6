"""Write the teaching notebooks in this folder, clean (no outputs, no execution counts).

    python notebooks/_build.py

The notebooks are generated from the cells below so that they stay small, reviewable and
free of outputs; edit this file, rerun it, and commit both. tests/test_notebooks.py
executes every notebook top to bottom.

House rule: a notebook holds no science. Widgets in, one to three cgviz calls per cell,
figures out; the science is in cgviz (mapping, analysis, simulator, memnets, jobs, figures).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent


def md(text: str):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str):
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))



REFERENCES = md("""
## Read more

* The learned simulator: X. Fu, T. Xie, N. J. Rebello, B. D. Olsen, T. Jaakkola,
  *Simulate Time-integrated Coarse-grained Molecular Dynamics with Multi-scale Graph
  Networks*, TMLR 2023, doi:[10.48550/arXiv.2204.10348](https://doi.org/10.48550/arXiv.2204.10348).
* MEMnets: the MEMnets preprint, chemRxiv 2024,
  doi:[10.26434/chemrxiv-2024-71qrl](https://doi.org/10.26434/chemrxiv-2024-71qrl).
* How cgviz implements both, in its own words: `docs/science.md`.
""")


def exercises(*items: str):
    return md("## Exercises for a class\n\n" + "\n".join(
        f"{i}. " + textwrap.dedent(item).strip().replace("\n", "\n   ")
        for i, item in enumerate(items, 1)))


# --------------------------------------------------------------------------- 01

NB01 = [
    md("""
    # 1 · Trajectories and beads

    A molecular dynamics (MD) trajectory is a film of atom positions: a force field gives the
    forces, an integrator moves every atom by a femtosecond or two, and a frame is written
    every so often. cgviz uses mdtraj's units throughout: **nm, ps, amu**.

    This notebook looks at two systems that cgviz simulated itself with OpenMM and ships with
    the package:

    1. **alanine dipeptide** (22 atoms): its backbone dihedrals and their free-energy landscape;
    2. **coarse-graining**: grouping atoms into *beads* with METIS, and what that keeps and loses;
    3. the **copolymer chains** that the learned simulator of notebooks 2 and 3 is trained on.

    Everything runs offline on the bundled data, in well under a minute on two CPU cores.
    """),
    code("""
    import numpy as np
    import pandas as pd
    import mdtraj as md
    import ipywidgets as widgets
    from IPython.display import display

    from cgviz import analysis, datasets, figures, io, mapping
    """),
    md("""
    ## The bundled demo data

    Each demo is described in a manifest: the system, how many trajectories and frames, the
    time between frames, the seed and the command that made it. Files are checked against
    their SHA-256 checksums when they are loaded.
    """),
    code("""
    pd.DataFrame([{"demo": d.name, "system": d.system, "atoms": d.n_atoms,
                   "trajectories": len(d.n_frames), "frames each": d.n_frames[0],
                   "frame time (ps)": round(d.frame_time_ps, 2),
                   "total (ns)": round(d.total_time_ns, 1)} for d in datasets.list_demos()])
    """),
    md("""
    ## Alanine dipeptide

    ACE-ALA-NME: one alanine between two caps, the smallest molecule with a protein-like
    backbone. Four independent 10-ns runs in implicit water (amber14, OBC2) at 300 K, a frame
    every picosecond.
    """),
    code("""
    demo = datasets.load_demo("alanine-dipeptide")
    traj = demo.trajectories[0]
    props = io.AtomProperties(demo.atom_types, demo.masses)
    io.trajectory_summary(traj)
    """),
    md("""
    ### Two angles tell most of the story

    A peptide backbone is stiff except for rotations about two bonds per residue:
    **phi** (C-N-CA-C) and **psi** (N-CA-C-N). The *Ramachandran plot* shows the free energy
    $F(\\phi, \\psi) = -k_BT \\ln p(\\phi, \\psi)$ estimated from all frames of all runs.
    Low free energy means often visited: each basin is a **metastable state**. Alanine
    dipeptide has three: C7eq/β (phi < 0, psi around 150°), αR (phi < 0, psi around -40°)
    and αL/C7ax (phi > 0), which costs several kT and is visited only briefly at 300 K.
    """),
    code("""
    phi = [md.compute_phi(t)[1][:, 0] for t in demo.trajectories]   # radians, one array per run
    psi = [md.compute_psi(t)[1][:, 0] for t in demo.trajectories]
    figures.ramachandran(np.concatenate(phi), np.concatenate(psi),
                         title="Ramachandran free energy, 4 runs x 10 ns").show()
    """),
    code("""
    figures.time_series(traj.time, {"phi": np.degrees(phi[0]), "psi": np.degrees(psi[0])},
                        "angle (deg)", title="Run 1: the backbone dihedrals over time").show()
    """),
    md("""
    phi stays negative almost all the time, while psi hops between the β basin (around
    +150°) and αR (around -40°). That hopping is the slowest process these 40 ns sample many
    times; notebook 4 asks a neural network to find it. How much time is spent in each state:
    """),
    code("""
    from cgviz.datasets.alanine import STATE_NAMES, conformational_states

    states = conformational_states(np.concatenate(phi), np.concatenate(psi))
    counts = np.bincount(states, minlength=len(STATE_NAMES))
    pd.DataFrame({"frames": counts, "fraction": np.round(counts / counts.sum(), 4)},
                 index=list(STATE_NAMES))
    """),
    md("""
    ## Coarse-graining: from atoms to beads

    A **coarse-grained (CG)** model keeps fewer particles. Each **bead** stands for a group
    of atoms: it sits at their mass-weighted centre and carries their total mass. Two beads
    are bonded when any chemical bond joins their atoms. The fast, small motions inside a
    bead (bond vibrations, methyl rotations) disappear; what is left is smoother and slower,
    which is what lets a learned CG simulator take steps of picoseconds to nanoseconds
    instead of femtoseconds.

    **Which atoms belong together?** cgviz follows Fu et al. and uses **METIS**, a graph
    partitioner: it cuts the bond graph into `round(n_atoms / atoms_per_bead)` *connected*
    groups of about equal size while cutting as few bonds as possible. It needs only the
    topology (no coordinates, no chemical rules), so the same call works for a peptide, a
    polymer or an electrolyte, and the mapping is computed once per molecule.
    """),
    code("""
    rows = []
    for atoms_per_bead in (2, 3, 4, 6, 11):
        cg = mapping.metis_mapping(demo.topology, atoms_per_bead, properties=props)
        rows.append({"atoms per bead": atoms_per_bead, "beads": cg.n_beads,
                     "CG bonds": len(cg.bead_bonds),
                     "bead masses (amu)": np.round(cg.bead_masses, 1)})
    pd.DataFrame(rows)
    """),
    md("""
    Move the slider to see which atoms each bead holds, its mass, and the residue of its
    first atom. Look at what METIS keeps together: at 3 or 4 atoms per bead every methyl
    group is a bead of its own, and at 4 the peptide bond (C, O, N, H) becomes one bead.
    """),
    code("""
    def bead_table(atoms_per_bead=4):
        cg = mapping.metis_mapping(demo.topology, atoms_per_bead, properties=props)
        display(pd.DataFrame({"composition": cg.bead_types,
                              "atoms": [" ".join(demo.topology.atom(int(i)).name for i in a)
                                        for a in cg.bead_atoms],
                              "mass (amu)": np.round(cg.bead_masses, 2),
                              "residue": cg.bead_residue_names}))


    widgets.interact(bead_table, atoms_per_bead=widgets.IntSlider(
        value=4, min=1, max=11, description="atoms/bead"));
    """),
    md("""
    ### The mapping in 3-D

    Below, atoms are coloured by their bead; the translucent spheres are the bead centres and
    the thick sticks the CG bonds. Press play: the beads move much more smoothly than the
    hydrogens do. (Every 50th frame of run 1: 200 frames, 50 ps apart.)
    """),
    code("""
    from cgviz.widgets import show_mapping

    cg = mapping.metis_mapping(demo.topology, 4, properties=props)
    view = show_mapping(traj, cg, stride=50)
    view
    """),
    md("""
    ### What the CG picture loses: the radius of gyration

    The radius of gyration $R_g$ (mass-weighted, about the centre of mass) measures the size
    of a molecule. Computed from the beads it is always smaller than from the atoms, because
    the spread of the atoms *inside* each bead is gone (parallel-axis theorem:
    $R_g^2(\\text{atoms}) = R_g^2(\\text{beads}) + $ the mass-weighted mean of the beads' own
    $R_g^2$).
    """),
    code("""
    beads = cg.apply(traj)                       # an md.Trajectory of the 6 bead centres
    rg_atoms = analysis.compute_rg(traj.xyz, demo.masses)
    rg_beads = analysis.compute_rg(beads.xyz, cg.bead_masses)
    figures.time_series(traj.time, {"atoms (22)": rg_atoms, f"beads ({cg.n_beads})": rg_beads},
                        "Rg (nm)", title="Radius of gyration, run 1").show()
    print(f"mean Rg: atoms {rg_atoms.mean():.3f} nm, beads {rg_beads.mean():.3f} nm")
    """),
    md("""
    ## Copolymer chains: the simulator's data

    Notebooks 2 and 3 use bead-spring **copolymer chains** in implicit solvent (after Webb et
    al.). Each monomer is a backbone particle and a side-chain particle of one of two kinds,
    so there are four particle types: B1, B2, S1 (solvophobic, sticky) and S2. A chain has
    100 particles. The training chains (`polymer-train`) have *blocky* sequences; the
    held-out test chains (`polymer-test`) have *random* ones, so a model is tested on
    sequences unlike those it was trained on.

    These particles are already coarse. METIS with 4 per bead groups them once more, into 25
    beads per chain: the level at which the learned simulator works.
    """),
    code("""
    poly = datasets.load_demo("polymer-test")
    poly_props = io.AtomProperties(poly.atom_types, poly.masses)
    chain_atoms = poly.topology.select("chainid 0")
    chain = poly.trajectories[0].atom_slice(chain_atoms)
    chain_cg = mapping.metis_mapping(chain.topology, 4, properties=poly_props.subset(chain_atoms))
    print(poly.info.description)
    print(chain_cg)
    """),
    code("""
    show_mapping(chain, chain_cg, stride=5, max_frames=200)
    """),
    md("""
    The 12 test chains differ in size because their sequences differ (more sticky S1 side
    chains, a more compact chain). A good simulator has to get these differences right from
    the sequence alone; that is the first of the paper's measures in notebook 3.
    """),
    code("""
    groups = [poly.topology.select(f"chainid {i}") for i in range(poly.topology.n_chains)]
    rg_chains = analysis.compute_rg_per_molecule(poly.trajectories[0].xyz, poly.masses, groups)
    figures.overlay_histograms({f"chain {i}": rg_chains[:, i] for i in range(len(groups))},
                               "Rg (nm)", title="Rg of the 12 held-out chains over 15.8 ns").show()
    """),
    md("""
    ## Your own system

    Everything above works on your files too. `cgviz.system.load` takes a topology and one or
    more trajectories and returns the object every page, notebook and command uses: the atoms
    kept (water is dropped unless you ask for it), bonds inferred where the topology has
    none, a periodic box unwrapped, the model step, and the split into train / validation /
    test. Here, a real protein trajectory that ships with nglview (5,547 atoms, 51 frames of
    20 ps, three non-standard residues): read its notes.
    """),
    code("""
    import nglview
    from pathlib import Path
    from cgviz import system

    data = Path(nglview.__file__).parent / "datafiles"
    protein = system.load(data / "md_1u19.xtc", data / "md_1u19.gro")
    for note in protein.notes:
        print("note:", note)
    protein_cg = mapping.metis_mapping(protein.topology, 55, properties=protein.properties)
    protein = protein.with_mapping(protein_cg)
    protein.summary()
    """),
    md("""
    ## Take it with you

    `export_html` writes a view (or a layout of views and plots) into one HTML file that
    works offline, frames included: something to put on a course web page.
    """),
    code("""
    import tempfile
    from pathlib import Path
    from cgviz.widgets import export_html

    page = export_html(view, Path(tempfile.mkdtemp()) / "alanine_mapping.html",
                       title="Alanine dipeptide, METIS beads (4 atoms per bead)")
    print(f"wrote {page} ({page.stat().st_size / 1e6:.1f} MB)")
    """),
    exercises(
        """Change `atoms_per_bead` in the bead table from 4 to 2 and to 8. How do the
        number of beads, the bead masses and the number of CG bonds change? Which
        mapping would you trust to keep the phi/psi motion visible?""",
        """Find the frames of the αR basin on the Ramachandran plot and compare their
        radius of gyration with the β frames. Is Rg a good collective variable for this
        molecule? Why not?""",
        """Load the bundled periodic box (`datasets.load_demo("polymer-box")`) and map it
        with one bead per 4 atoms: how many beads does each chain get, and does any bead
        span two chains?"""),
    REFERENCES,
]

# --------------------------------------------------------------------------- 02

NB02 = [
    md("""
    # 2 · Training a coarse-grained simulator

    The learned simulator (Fu et al., TMLR 2023) advances the beads of a molecule by one
    **large** time step, here one frame of the training data: 15.8 ps, or 500 steps of the
    reference MD integrator. It uses no force field: everything it knows comes from
    trajectories. Three graph neural networks (GNNs) are trained together:

    1. **Embedding GNN**, on the atoms and their bonds (no coordinates). It gives each atom a
       vector; a bead's embedding is the mean over its atoms, so the model knows what each
       bead is made of. It is computed once per molecule.
    2. **Dynamics GNN**, on the beads. Its input is the last *k* bead positions as *k*-1
       velocities (so nothing depends on where the molecule sits in space), the bead
       embeddings and masses. Its edges are the CG bonds plus every bead pair within a cutoff.
       For every bead it predicts a **Gaussian over the next acceleration**: a mean μ and a
       width σ per coordinate. A rollout samples from it and integrates:
       $v = (x_t - x_{t-1}) + a$, $x_{t+1} = x_t + v$.
    3. **Score GNN**. It learns $\\nabla \\log p$ of the next configuration. At rollout time
       it can nudge overlapping beads apart ("refinement", notebook 3).

    cgviz's `cpu-demo` preset is a small version of the model (history *k* = 6) that is
    **SE(3)-equivariant**: rotate the input and the predicted accelerations rotate with it,
    so the network does not have to learn rotational symmetry from data.
    """),
    md("""
    ### What the loss means: NLL

    The target is the acceleration in step units, $a^* = x_{t+1} - 2x_t + x_{t-1}$. The main
    loss is its Gaussian **negative log-likelihood** under the prediction (per coordinate,
    in units of a typical acceleration, without the constant ½ ln 2π):

    $$\\mathrm{NLL} = \\log\\sigma + \\frac{(a^* - \\mu)^2}{2\\sigma^2}$$

    It is small when μ is close to $a^*$ **and** σ is honest about what is left: a σ that is
    too small is punished by the second term, one that is too large by the first. It can be
    negative, since it is a log density, not a distance. Over 15.8 ps the solvent's random
    kicks make the next position genuinely uncertain, so the right answer is a distribution,
    not a number. To make rollouts robust, the history is perturbed with a little noise during
    training, so that the model learns to pull a drifting chain back. The total loss adds the
    score network's denoising loss.
    """),
    code("""
    import os
    import tempfile

    import numpy as np

    from cgviz import analysis, figures, jobs
    from cgviz.training.config import SimulatorTrainingConfig, preset
    """),
    md("""
    ### A short real training run

    The `cpu-demo` preset trains on the 24 blocky chains of `polymer-train`, mapped by METIS
    (4 per bead) to 25 beads each. The last 10 % of every chain's frames are held out for
    validation. For the lecture we take only 300 optimiser steps (well under a minute on two
    cores); the bundled model had 3000.
    """),
    code("""
    config = SimulatorTrainingConfig.from_dict({**preset("cpu-demo").to_dict(), "max_steps": 300,
                                                "log_every": 2, "validate_every": 50})
    print(config.to_yaml())
    """),
    md("""
    ### Start it in the background

    `jobs.start` creates a **run directory** (`run.yaml`, `status.json`, `metrics.csv`,
    `checkpoints/`, `log.txt`) and launches a separate process that trains in it. The call
    returns at once. The run does not depend on this kernel: restart the kernel and it goes
    on; the Streamlit app's Training page and `python -m cgviz runs list` show the same runs.
    Here the runs go to a scratch folder (or to `$CGVIZ_RUNS_DIR` when it is set).
    """),
    code("""
    runs_dir = os.environ.get("CGVIZ_RUNS_DIR") or tempfile.mkdtemp(prefix="cgviz-runs-")
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), device="cpu",
                        checkpoint_every=100)
    run = jobs.start(spec, runs_dir=runs_dir)
    print(f"started run {run.name} ({run.state}) in {runs_dir}")
    """),
    md("""
    ### Watch it

    `RunMonitor` polls the run directory every second: progress, estimated time left and the
    loss curves. **Cancel** stops the run after saving a checkpoint; **Resume** continues
    from it with the same step counter.
    """),
    code("""
    from cgviz.widgets import RunMonitor

    monitor = RunMonitor(run.name, runs_dir=runs_dir)
    monitor
    """),
    md("`monitor.wait()` blocks until the run is finished (the monitor above keeps updating)."),
    code("""
    final = monitor.wait()
    print(f"run {final.name}: {final.state} at step {final.step} "
          f"after {final.ended - final.started:.0f} s")
    """),
    md("""
    ### Did it learn?

    Every logged value is in the run's `metrics.csv`; `jobs.metrics` reads it as a table.
    Training values are single batches (noisy), validation values are means over held-out
    windows.
    """),
    code("""
    metrics = jobs.metrics(run.name, runs_dir)
    train, val = metrics.dropna(subset=["nll"]), metrics.dropna(subset=["val_nll"])
    figures.overlay_lines({"training": (train.step, train.nll),
                           "validation": (val.step, val.val_nll)},
                          "step", "NLL", "Gaussian NLL of the bead accelerations").show()
    figures.overlay_lines({"training": (train.step, train.score_loss),
                           "validation": (val.step, val.val_score_loss)},
                          "step", "score loss", "Denoising score loss").show()
    """),
    code("""
    first, last = train.nll.iloc[:3].mean(), train.nll.iloc[-10:].mean()
    print(f"training NLL: {first:.3f} over the first logged steps -> {last:.3f} over the last ones")
    print(f"validation NLL at step {int(val.step.iloc[-1])}: {val.val_nll.iloc[-1]:.3f}")
    """),
    md("""
    Typically the NLL drops within the first few dozen steps, as the model learns the scale of
    the accelerations and a σ to match, and then improves μ slowly. The score loss falls much more
    slowly; the score network needs thousands of steps. Rerun with more `max_steps` to see
    how far it goes.
    """),
    md("""
    ### Use the checkpoint

    A checkpoint holds the model settings, the normalisation statistics, the weights and the
    bead mapping, which is everything a rollout needs. Roll the fresh model out for 150 steps
    (2.4 ns) on three held-out chains with random sequences, starting from their MD.
    """),
    code("""
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator, parameter_count
    from cgviz.simulator.rollout import rollout

    model, meta = load_simulator(jobs.run_dir(run.name, runs_dir) / "checkpoints" / "last.pt")
    print(f"{parameter_count(model):,} parameters, history k = {model.config.history_length}")
    """),
    code("""
    systems = evaluate.test_systems_for(meta, "polymer-test")[:3]
    result = rollout(model, systems, 150, seed=0)
    print(f"{result.n_steps_completed} steps x {result.n_systems} chains, "
          f"{result.simulated_ns_per_wall_second:.1f} simulated ns per wall-clock second; "
          f"stopped early: {result.stop_reason or 'no'}")
    """),
    code("""
    dt = result.frame_time_ps
    curves = {}
    for i, system in enumerate(systems):
        curves[f"chain {i} MD"] = (np.arange(system.n_frames) * dt,
                                   analysis.compute_rg(system.positions, system.bead_masses))
        rg_model = analysis.compute_rg(result.positions[i], result.bead_masses[i])
        curves[f"chain {i} model"] = (np.arange(len(rg_model)) * dt, rg_model)
    figures.overlay_lines(curves, "time (ps)", "Rg (nm)",
                          "Radius of gyration: MD (15.8 ns) and the 300-step model (2.4 ns)").show()
    """),
    md("""
    Does each chain keep its own size, or do they all drift towards one value or fall apart?
    A 300-step model is a toy. `python -m cgviz train-simulator --preset cpu-demo` trains a
    real one, and notebook 3 judges the bundled model (3000 steps) the way the paper does.
    """),
    exercises(
        """Train twice more with the history length k (`config.model["history_length"]`, 16
        in this preset) set to 4 and to 30, the same number of steps. Compare the
        validation loss curves: what does a longer history buy, and what does it cost
        per step?""",
        """Ask for 0 training steps (`"max_steps": 0` in the config above): what does
        cgviz say, and does it say what to change?""",
        """Cancel a run half way (`jobs.cancel`), then resume it (`jobs.resume`). Does
        the loss curve continue where it stopped?"""),
    REFERENCES,
]

# --------------------------------------------------------------------------- 03

NB03 = [
    md("""
    # 3 · Rollouts of the learned simulator

    The bundled model `simulator_cpu_demo.pt` was trained (3000 steps, a few minutes on two
    CPU cores) on the 24 blocky copolymer chains. Here it simulates the **12 held-out chains**
    with random sequences, which it has never seen, starting from a few frames of their MD.
    Then we judge it as Fu et al. did:

    * **size**: the mean radius of gyration of each chain, model against MD. Across chains:
      r² and the mean absolute error (paper: r² = 0.90);
    * **dynamics**: the relaxation time of $R_g^2$ (the integral of its autocorrelation up to
      the first zero). Across chains: r² of the logarithms (paper: r² = 0.48);
    * **structure**: contact maps, bond-length and angle distributions;
    * **stability**: the collision rate (frames where two non-bonded beads are closer than
      half a bond) and whether the rollout blows up;
    * **speed**: simulated nanoseconds per wall-clock second.
    """),
    code("""
    import numpy as np
    import pandas as pd

    from cgviz import analysis, figures
    from cgviz.datasets import BUNDLED_DATA_DIR
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator, parameter_count
    from cgviz.simulator.rollout import rollout
    """),
    code("""
    model, meta = load_simulator(BUNDLED_DATA_DIR / "simulator_cpu_demo.pt")
    print(f"{parameter_count(model):,} parameters, history k = {model.config.history_length}, "
          f"equivariant: {model.config.equivariant}, "
          f"trained for {meta['training_config']['max_steps']} steps")
    """),
    md("""
    The held-out chains are mapped to beads with the same METIS settings the model was trained
    with (the checkpoint records them).
    """),
    code("""
    systems = evaluate.test_systems_for(meta, "polymer-test")
    print(f"{len(systems)} chains, {systems[0].n_beads} beads each, "
          f"{systems[0].n_frames} MD frames of {systems[0].frame_time_ps:.2f} ps")
    """),
    md("""
    ## Roll out all 12 chains at once

    One model step is one frame of the data (15.8 ps), and all chains run in one batch.
    `N_STEPS = 1000` is as long as the MD (15.8 ns per chain). `REFINE` is the number of
    refinement steps per noise level (see *Collisions and refinement* below). It is off here
    because it multiplies the cost by more than ten; set it to 3 for the numbers the README quotes.
    `evaluate` rolls out, then scores every chain against its MD, using the same
    `cgviz.analysis` functions for both.
    """),
    code("""
    N_STEPS, REFINE = 1000, 0
    report, result = evaluate.evaluate(model, systems, N_STEPS, seed=0, refine_steps=REFINE)
    print(f"{result.n_steps_completed} of {N_STEPS} steps "
          f"({result.n_steps_completed * result.frame_time_ps / 1000:.1f} ns per chain) in "
          f"{result.wall_time_s:.1f} s: {result.simulated_ns_per_wall_second:.1f} simulated ns "
          f"per wall-clock second for the batch; stopped early: {result.stop_reason or 'no'}")
    """),
    md("""
    ## Watch one chain

    Left the reference MD, right the learned simulator, from the same start. One slider
    drives both; the plot below marks the current frame on $R_g$. Do not expect the two
    films to stay alike frame by frame: both are random processes. A simulator is good when
    its *statistics* match.
    """),
    code("""
    from cgviz.widgets import RolloutPlayer

    CHAIN = 0
    player = RolloutPlayer(systems[CHAIN].positions[: len(result.positions[CHAIN])], result,
                           system=CHAIN)
    player
    """),
    md("""
    ## One call compares a rollout with its MD

    `compare_rollout` puts the model's frames beside the MD window of the same length from
    the same start and computes what the Rollout page shows: $R_g$ of both, the
    autocorrelation of $R_g^2$ at the same lags, contact maps (bonded pairs left out) and
    collision rates. `figures.rollout_views` draws them, the MD always in grey and the model
    always in orange.
    """),
    code("""
    from cgviz.simulator.compare import compare_rollout

    comparison = compare_rollout(result, CHAIN, systems[CHAIN])
    views = figures.rollout_views(comparison, step=result.n_steps_completed)
    print(f"{comparison.name}: mean Rg MD {comparison.rg_reference.mean():.3f} nm, "
          f"model {comparison.rg_model.mean():.3f} nm; collisions MD "
          f"{comparison.collision_rate_reference:.1%}, model {comparison.collision_rate_model:.1%}")
    views["rg"].show()
    views["rg_hist"].show()
    """),
    md("""
    ## Dynamics: how fast does the size forget?

    The normalised autocorrelation of $R_g^2$,
    $C(d) = \\langle \\delta R(t)\\, \\delta R(t+d) \\rangle / \\langle \\delta R^2 \\rangle$ with
    $\\delta R = R_g^2 - \\langle R_g^2 \\rangle$, falls from 1 to 0 as the chain forgets its
    size. Its integral up to the first zero is the relaxation time. A simulator that gets the
    sizes right but relaxes too fast or too slow has the wrong dynamics.
    """),
    code("""
    views["acf"].show()
    """),
    md("""
    ## Structure: contact maps

    The probability that beads i and j are closer than 1.5 bond lengths. The band next to the
    diagonal is beads two or three apart along the chain; patches away from it are the chain
    folding back on itself.
    """),
    code("""
    views["contacts"].show()
    bond = comparison.bond_length_nm
    """),
    md("""
    ## Collisions and refinement

    Sampling each bead's acceleration independently sometimes puts two beads on top of each
    other. The score network can fix that: after each step, a few steps of *annealed Langevin
    dynamics*, $x \\leftarrow x + \\eta_i\\, s(x) + \\sqrt{2\\eta_i}\\, z$ from a large noise
    level down to a small one, push the configuration towards what the data look like. It
    costs a model evaluation per Langevin step, so it is much slower. The defaults (which
    noise levels, the step size, and `REFINE_STEPS` steps per level) were chosen on validation
    frames for collisions and chain size together (docs/evaluation.md). Compare 100 steps of
    two chains with and without it:
    """),
    code("""
    from cgviz.simulator.model import REFINE_STEPS

    plain = rollout(model, systems[:2], 100, seed=0)
    refined = rollout(model, systems[:2], 100, seed=0, refine_steps=REFINE_STEPS)
    """),
    code("""
    def collisions(frames, system):
        return analysis.compute_collision_rate(frames, system.bead_bonds, 0.5 * bond)


    pd.DataFrame({
        "frames with a collision": [
            np.mean([collisions(systems[i].positions, systems[i]) for i in range(2)]),
            np.mean([collisions(plain.generated(i), systems[i]) for i in range(2)]),
            np.mean([collisions(refined.generated(i), systems[i]) for i in range(2)])],
        "simulated ns / wall s": [np.nan, plain.simulated_ns_per_wall_second,
                                  refined.simulated_ns_per_wall_second]},
        index=["reference MD", "model, no refinement",
               f"model, {REFINE_STEPS} refinement steps per level"])
    """),
    md("""
    ## The paper's measures, across all 12 chains

    One dot per chain: the model's mean $R_g$ (and $R_g^2$ relaxation time) against the MD's.
    On the diagonal is perfect. r² asks whether the model ranks and spaces the chains like
    the MD does, i.e. whether it has learned how sequence sets size and speed; a constant
    offset does not count against it (the mean absolute error does).
    """),
    code("""
    plots = evaluate.figures(report)
    for figure in plots.values():
        figure.show()
    """),
    md("""
    Every across-chain number comes with a 95 % bootstrap interval: the chains are resampled
    with replacement 2,000 times and the measure recomputed. With 12 chains the interval of
    r² is wide; quote it with the number. The MD column scores the MD against itself over
    windows as long as the compared ones (model and MD are compared from the same start over
    the same number of frames).
    """),
    code("""
    table = pd.DataFrame(report.summary_rows()).set_index("measure")
    table[["value", "ci95_low", "ci95_high", "paper", "md_vs_md"]]
    """),
    md("""
    **How to read this honestly.**

    * These rollouts are as long as the MD (`N_STEPS` steps) and, with `REFINE = 0`,
      unrefined: compare their collision rate with the MD's. A relaxation time estimated from
      a thousand frames is noisy, for the MD as much as for the model, and with 12 chains a
      single outlier moves r² a lot. The last column measures that noise: the MD's first
      half of each chain scored against its second half. On the bundled chains the MD
      reproduces its own relaxation times with r² of about 0.06, so no model can be judged
      on them with this data; longer held-out chains are needed for that. docs/evaluation.md reports the long evaluation (10⁴ steps per
      chain, with refinement):
      `python -m cgviz evaluate-simulator cgviz/datasets/data/simulator_cpu_demo.pt --n-steps 10000 --refine 7`
      takes about a quarter of an hour on two cores. Compare your numbers with it and with
      the paper.
    * The paper's model is about six times larger and trained for 5·10⁵ steps on a GPU; this
      one has 3000 steps on a CPU, so a shortfall here is not, by itself, evidence against
      the method.
    * Speed is the point of the method: compare the simulated ns per wall-clock second with
      the reference MD engine on the same machine (`python benchmarks/rollout_speed.py`).
    """),
    exercises(
        """Roll out 1,000 steps instead of 300, with and without refinement. Which of the
        numbers in the comparison table change, and do their 95 % intervals shrink?""",
        """The MD-vs-MD floor tells you how well the MD agrees with itself. Which
        measures in the table can this data judge at all, and which need longer
        chains?""",
        """Build a Markov state model of one rollout beside its MD with
        `cgviz.simulator.compare.rollout_msm` (lag 5 steps). Is the model's slowest time
        scale within a factor of 2 of the MD's, given the interval?"""),
    REFERENCES,
]

# --------------------------------------------------------------------------- 04

NB04 = [
    md("""
    # 4 · MEMnets: collective variables with little memory

    A **collective variable (CV)** is a few numbers computed from a structure that describe
    its slow changes, for example phi and psi for alanine dipeptide. Good CVs make the rest
    of the system look like fast noise.

    **Markovian methods** (TICA, VAMPnets) pick the CVs whose correlations decay most slowly
    and then model the dynamics along them as memoryless: the next step depends only on the
    current value. That is true only if the lag time is long enough for all the hidden, fast
    variables to have forgotten where they were.

    The **generalised master equation** makes the hidden variables' effect explicit as a
    **memory kernel**: the projected dynamics at time *t* depends on its past through a
    kernel that decays over the *memory time*. The *integrative* GME (IGME) says that once
    the lag τ is beyond the memory time, the eigenvalues of the lagged correlation follow

    $$\\ln \\lambda(\\tau) = \\tau\\, \\ln\\hat\\lambda + \\ln A,$$

    a straight line in τ with a lag-independent slope $\\ln\\hat\\lambda$; its time scale is
    $t = 1/|\\ln\\hat\\lambda|$. At a short lag τ₀, inside the memory time, the observed
    $\\ln\\lambda(\\tau_0)/\\tau_0$ departs from that slope. MEMnets takes the difference,
    $m_0 = \\ln\\lambda(\\tau_0)/\\tau_0 - \\ln\\hat\\lambda$, as its measure of the
    **time-integrated memory kernel**: zero when the dynamics has no memory.

    **MEMnets** trains a neural network whose outputs minimise $|m_0|$ (plus a term that keeps
    them slow): CVs along which the dynamics is as memoryless as possible already at short
    lags, so a simple kinetic model on them needs no long lag time. Here: MEMnets against TICA
    on alanine dipeptide.
    """),
    code("""
    import mdtraj as md
    import numpy as np
    import pandas as pd

    from cgviz import datasets, io
    from cgviz.datasets.alanine import STATE_NAMES, conformational_states
    from cgviz.memnets import MEMnets, MEMnetsConfig, igme
    from cgviz.memnets import figures as mfig
    from cgviz.memnets.report import cv_report
    """),
    md("""
    ## Features

    The input is four numbers per frame: sin and cos of phi and psi (angles are periodic;
    sin/cos make them continuous). 4 runs of 10,000 frames, 1 ps apart.
    """),
    code("""
    demo = datasets.load_demo("alanine-dipeptide")
    features = [io.backbone_dihedral_features(t) for t in demo.trajectories]
    dt = demo.info.frame_time_ps
    print(io.backbone_dihedral_labels(demo.topology), [f.shape for f in features])
    """),
    md("""
    The known conformational states (from phi and psi) give a ground truth to colour the
    projections by. Frames per state:
    """),
    code("""
    phi = np.concatenate([md.compute_phi(t)[1][:, 0] for t in demo.trajectories])
    psi = np.concatenate([md.compute_psi(t)[1][:, 0] for t in demo.trajectories])
    states = conformational_states(phi, psi)
    print({name: int((states == i).sum()) for i, name in enumerate(STATE_NAMES)})
    """),
    md("""
    ## The Markovian baseline: TICA

    TICA finds the linear combinations of the features with the slowest autocorrelation at
    one lag time τ (here 8 ps), and their implied time scales $-\\tau/\\ln\\lambda(\\tau)$.
    """),
    code("""
    LAGS = [1, 5, 6, 7, 8]          # frames (ps): tau_0 = 1, then the IGME fit lags
    tica = igme.tica_baseline(features, lagtime=LAGS[-1], dim=2)
    print("TICA implied time scales at tau = 8 ps:", np.round(tica.timescales_frames * dt, 1), "ps")
    """),
    md("""
    ## Train MEMnets

    A small encoder (4 → 20 → 20 → 2) trained on samples
    $(x_t, x_{t+\\tau_0}, \\dots, x_{t+\\tau_K})$ with lags 1, 5, 6, 7, 8 ps: τ₀ = 1 ps is
    meant to be inside the memory time, 5–8 ps beyond it. Two seeds, keeping the one with the
    lower validation loss; validation on contiguous blocks of each run, so that neighbouring
    frames do not leak between training and validation.
    A few seconds on two cores.
    """),
    code("""
    config = MEMnetsConfig(lagtimes=LAGS, encoder_sizes=[4, 20, 20, 2], n_epochs=15,
                           train_batch_size=5000, learning_rate=3e-3, decay_rate=0.05,
                           thres=0.05, seeds=[1, 2], split="blocks")
    model = MEMnets(config).fit(features).fetch_model()
    mfig.training_curves(model.history, title="MEMnets training loss").show()
    """),
    md("""
    The CVs are the encoder outputs after a TICA-like step (whitened, slowest first). Colour
    each frame by its conformational state: CV1 should separate β from αR.
    """),
    code("""
    cvs = model.cvs(features)
    labels = np.array(STATE_NAMES)[states]
    mfig.cv_scatter(cvs, color=labels, title="MEMnets CVs, coloured by state").show()
    mfig.cv_free_energy(cvs, title="Free energy along the MEMnets CVs (kJ/mol)").show()
    """),
    code("""
    mfig.cv_free_energy(tica.cvs, title="Free energy along the TICA CVs (kJ/mol)").show()
    """),
    md("""
    ## The IGME view: memory, MEMnets against TICA

    Analyse both sets of CVs the same way, at lags 1 to 10 ps, with the IGME line fitted on
    5–8 ps.

    * **ln λ(τ)**: markers observed, lines the IGME fit. Memoryless dynamics would put the
      τ = 1 ps point (star) on the line.
    * **Memory term** $\\ln\\lambda(\\tau)/\\tau - \\ln\\hat\\lambda$: zero means Markovian at
      that lag. At τ₀ it is $m_0$.
    * **Time scales**: the Markovian implied time scale $-\\tau/\\ln\\lambda(\\tau)$ creeps up
      with τ when there is memory; the IGME time scale $1/|\\ln\\hat\\lambda|$ (dotted) does not
      depend on τ.
    """),
    code("""
    # The same one call as the MEMnets page: MEMnets beside TICA, analysed alike.
    report = cv_report(model, features, dt, "alanine dipeptide", analysis_lagtimes=range(1, 11))
    analyses = list(report.analyses)
    mfig.log_lambda_figure(analyses, title="ln λ(τ) and the IGME fit").show()
    """),
    code("""
    mfig.memory_term_figure(analyses, title="Memory term").show()
    """),
    code("""
    mfig.timescales_figure(analyses, title="Time scales: Markovian (implied) vs IGME").show()
    """),
    code("""
    rows = {}
    for a in analyses:
        for mode in range(a.n_modes):
            rows[(a.label, f"mode {mode + 1}")] = {
                "IGME time scale (ps)": a.igme_timescales[mode] * dt,
                "implied at 1 ps (ps)": a.implied_timescales[0, mode] * dt,
                "implied at 10 ps (ps)": a.implied_timescales[-1, mode] * dt,
                "|m0| (1/ps)": abs(a.m0[mode]) / dt,
                "IGME fit RMSE": a.rmse[mode]}
    table = pd.DataFrame(rows).T
    print("sum of |m0| over the modes (1/ps):",
          {a.label: round(float(np.abs(a.m0).sum() / dt), 4) for a in analyses})
    table.round(4)
    """),
    md("""
    **What to look for.** MEMnets was trained to make $\\sum_\\text{modes} |m_0|$ small;
    TICA was not. Read the table and the figures with that in mind:

    * **Mode 1** is the β ⇄ αR transition (psi) for both methods, and they should agree on
      its IGME time scale. Which CV has the smaller $|m_0|$, and whose implied time scale
      is already flat at τ = 1 ps? Sin and cos of phi and psi are hand-picked features that
      already contain the answer, so a linear method has an easy job here: do not be
      surprised if TICA's mode 1 is as Markovian as MEMnets', or more.
    * **Mode 2** is a fast process (a picosecond or two). By τ = 5–8 ps its correlation has
      almost vanished, its ln λ is noisy and the IGME fit is poor for both methods (see the
      RMSE column), so its $|m_0|$ is large and dominates the sum that MEMnets minimises.
      To optimise mode 1 alone, train with `encoder_sizes=[4, 20, 20, 1]` (the linked view
      below needs two CVs, though).
    * The claim to test, after the MEMnets preprint, is that MEMnets CVs have a smaller
      memory term than Markovian ones and time scales that do not depend on the lag. Test it
      on less friendly features: replace the features with
      `io.pairwise_distance_features(t, selection="not element H")` (45 heavy-atom
      distances) and the first encoder size with 45.
    * The slowest process of alanine dipeptide, the phi flip into αL, is almost never seen
      in 40 ns at 300 K (see the state counts above), so neither method can find it in these
      data; that needs longer simulations.
    """),
    md("""
    ## A Markov state model on the CVs

    The usual next step with good CVs: cut them into states (k-means, 50 clusters), count
    transitions at a lag τ and estimate a Markov state model (MSM), then check it.

    * **Implied time scales against lag**: for a Markovian model they do not depend on τ;
      pick τ where they have levelled off. The shaded bands are 95 % intervals from
      resampling blocks of the trajectories; the grey area is where a time scale is
      shorter than the lag and cannot be resolved.
    * **Chapman-Kolmogorov test**: group the states into 2 metastable sets (PCCA+) and
      compare what the MSM at τ predicts for 2τ, 3τ, 4τ (lines) with MSMs estimated at
      those lags directly (markers). Agreement within the intervals means the MSM is
      Markovian at τ.
    """),
    code("""
    from cgviz import analysis, figures

    msms = {name: analysis.estimate_msm(c, lagtime=8, n_clusters=50, dt=dt, n_sets=2)
            for name, c in {"MEMnets": cvs, "TICA": tica.cvs}.items()}
    for name, m in msms.items():
        value, low, high = m.timescale(0)
        print(f"{name}: slowest time scale {value:.1f} ps (95 % interval {low:.1f}-{high:.1f}); "
              f"CK entries outside the intervals: {m.ck.outside_fraction:.0%}")
    figures.msm_timescales({name: m.its for name, m in msms.items()}).show()
    """),
    code("""
    figures.ck_test({name: m.ck for name, m in msms.items()}).show()
    """),
    md("""
    ## Linked view: which structures are where?

    Select points in the CV projection (box or lasso; or click one) and the 3-D view shows
    those frames; the slider steps through a selection. Every 10th frame is plotted,
    coloured by state (0 = C7eq/β, 1 = αR, 2 = αL/C7ax).
    """),
    code("""
    from cgviz.widgets import ProjectionExplorer

    explorer = ProjectionExplorer(cvs, demo.trajectories, color=states,
                                  color_label="state", stride=10,
                                  cv_labels=("MEMnets CV 1", "MEMnets CV 2"))
    explorer
    """),
    md("""
    In the notebook, `explorer.selected` holds the frames of the last selection, and
    `explorer.select([...])` shows frames chosen in code. For example, the frames of the
    αR basin:
    """),
    code("""
    explorer.select(np.flatnonzero(states == 1)[::500])
    print(f"showing {len(explorer.selected)} αR frames; first: frame {explorer.selected[0]}")
    """),
    exercises(
        """Build the Markov state models again with 10 and with 200 clusters. How do the
        slowest time scale and its interval move? Which number of clusters would you
        report, and why?""",
        """Train MEMnets with one CV (`encoder_sizes=[4, 20, 20, 1]`) and compare its
        |m0| and IGME time scale with mode 1 of the two-CV model.""",
        """Replace the features with the 45 heavy-atom distances (see *What to look for*).
        Does TICA still find the β ⇄ αR transition, and does the CK test of its MSM
        still pass?"""),
    REFERENCES,
]


NOTEBOOKS = {
    "01_trajectories_and_beads.ipynb": NB01,
    "02_train_cg_simulator.ipynb": NB02,
    "03_cg_rollouts.ipynb": NB03,
    "04_memnets_cvs.ipynb": NB04,
}


def build(folder: Path = HERE) -> list[Path]:
    written = []
    for name, cells in NOTEBOOKS.items():
        notebook = nbformat.v4.new_notebook()
        notebook.cells = cells
        notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                           "display_name": "Python 3 (ipykernel)"}
        notebook.metadata["language_info"] = {"name": "python"}
        for index, cell in enumerate(notebook.cells):
            cell["id"] = f"{name[:2]}-{index:02d}"  # stable ids: regenerating changes nothing
        nbformat.validate(notebook)
        path = folder / name
        nbformat.write(notebook, path)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(path)

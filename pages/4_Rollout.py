"""4 Rollout: run a trained simulator on held-out chains and compare with the reference MD."""

import numpy as np
import streamlit as st

from cgviz import CgvizError, analysis, datasets, figures, ui

st.set_page_config(page_title="cgviz · Rollout", page_icon="🧬", layout="wide")
st.title("4 · Rollout")
st.caption("A trained simulator advances the beads one large step (one frame of the training "
           "data) at a time. Start it from held-out chains and compare with their MD.")

checkpoints = ui.simulator_checkpoints()
if not checkpoints:
    st.error("No simulator checkpoint found: the bundled demo model is missing and no "
             "simulator run has a checkpoint yet. Train one on the Training page or with "
             "`python -m cgviz train-simulator --preset cpu-demo`.")
    st.stop()
with st.form("rollout"):
    left, right = st.columns(2)
    choice = left.selectbox("Checkpoint", list(checkpoints))
    demo = left.selectbox("Held-out systems", [d.name for d in datasets.list_demos()
                                               if d.system == "copolymer"])
    n_systems = left.slider("Chains in the batch", 1, 12, 4)
    start = left.slider("Start frame in the held-out MD", 0, 900, 0,
                        help="The rollout starts from the MD history ending here.")
    n_steps = right.number_input("Model steps", 10, 20_000, 300, step=50)
    refine = right.slider("Refinement (Langevin steps per noise level, 0 = off)", 0, 5, 0,
                          help="The score network pushes overlapping beads apart: 3 steps "
                          "remove most collisions, at about 10x the cost.")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0)
    submitted = st.form_submit_button("Run rollout", type="primary")

if submitted:
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator
    from cgviz.simulator.rollout import rollout

    try:
        model, meta = load_simulator(checkpoints[choice])
        systems = evaluate.test_systems_for(meta, demo)[:n_systems]
        first = max(start, model.config.history_length - 1)
        bar = st.progress(0.0, text="Rolling out ...")
        result = rollout(model, systems, int(n_steps), seed=int(seed), refine_steps=refine,
                         start_frames=[first] * len(systems),
                         progress=lambda d, n: bar.progress(d / n, text=f"step {d} of {n}"))
        bar.empty()
        st.session_state["cgviz.rollout"] = (result, systems, first)
    except CgvizError as error:
        ui.show_error(error, "The rollout could not run")

if "cgviz.rollout" not in st.session_state:
    st.info("Set up a rollout and press **Run rollout**.")
    st.stop()
result, systems, first = st.session_state["cgviz.rollout"]
if result.stop_reason:
    st.warning(f"The rollout stopped early: {result.stop_reason}.")
cols = st.columns(4)
cols[0].metric("steps done", f"{result.n_steps_completed} / {result.n_steps_requested}")
cols[1].metric("simulated time per chain", f"{result.n_steps_completed * result.frame_time_ps / 1000:.2f} ns")
cols[2].metric("speed", f"{result.simulated_ns_per_wall_second:.2f} ns/s",
               help="simulated ns per wall-clock second, summed over the chains in the batch")

which = st.selectbox("Chain", range(result.n_systems), format_func=lambda i: systems[i].name)
system, model_xyz = systems[which], result.positions[which]
offset = first - result.history_length + 1  # MD frame of the rollout's first frame
reference = system.positions[offset : offset + len(model_xyz)]
bond_length = float(analysis.compute_bond_lengths(reference, system.bead_bonds).mean())
rate = analysis.compute_collision_rate(model_xyz, system.bead_bonds, 0.5 * bond_length)
cols[3].metric("collision rate (model)", f"{100 * rate:.2f} %")

frame = st.slider("Frame (model step)", 0, len(model_xyz) - 1, len(model_xyz) - 1)
types = ["bead"] * system.n_beads
a, b = st.columns(2)
ui.plotly_chart(figures.molecule_3d(reference[min(frame, len(reference) - 1)], system.bead_bonds,
                                    types, title="reference MD (beads)"), where=a,
                width="stretch", config=figures.GL_CONFIG, key="rollout.reference")
ui.plotly_chart(figures.molecule_3d(model_xyz[frame], system.bead_bonds, types,
                                    title="learned simulator"), where=b,
                width="stretch", config=figures.GL_CONFIG, key="rollout.model")

time_ps = (offset + np.arange(len(model_xyz))) * result.frame_time_ps
rg_model = analysis.compute_rg(model_xyz, system.bead_masses)
rg_ref_all = analysis.compute_rg(system.positions, system.bead_masses)
a, b = st.columns(2)
rg_lines = {"reference MD": (np.arange(len(rg_ref_all)) * result.frame_time_ps, rg_ref_all),
            "learned simulator": (time_ps, rg_model)}
ui.plotly_chart(figures.overlay_lines(rg_lines, "time (ps)", "Rg (nm)", "Radius of gyration"),
                where=a, width="stretch")
rg_values = {"reference MD": rg_ref_all, "learned simulator": rg_model}
ui.plotly_chart(figures.overlay_histograms(rg_values, "Rg (nm)", "Rg distribution"), where=b,
                width="stretch")
max_lag = max(2, min(len(rg_model), len(rg_ref_all)) // 3)
acf = {name: (np.arange(max_lag + 1) * result.frame_time_ps,
              analysis.compute_autocorrelation(rg**2, max_lag=max_lag))
       for name, rg in (("reference MD", rg_ref_all), ("learned simulator", rg_model))}
ui.plotly_chart(figures.overlay_lines(acf, "lag (ps)", "C(lag)", "Rg² autocorrelation"),
                where=a, width="stretch")
cutoff = 1.5 * bond_length
ui.plotly_chart(figures.side_by_side_heatmaps(
    {"reference MD": analysis.compute_contact_map(system.positions, cutoff),
     "learned simulator": analysis.compute_contact_map(model_xyz, cutoff)},
    title=f"Contact probability (< {cutoff:.2f} nm)", zmin=0, zmax=1), where=b, width="stretch")
st.download_button("Download the rollout (zip: XTC + PDB per chain)",
                   data=lambda: ui.rollout_zip(result), file_name="cgviz-rollout.zip",
                   mime="application/zip")

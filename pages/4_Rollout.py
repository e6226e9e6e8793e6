"""4 Rollout: run a trained simulator on held-out frames and compare with the reference MD."""

import streamlit as st

from cgviz import CgvizError, figures
from cgviz.app import markov_view, ui

st.set_page_config(page_title="cgviz · Rollout", page_icon="🧬", layout="wide")
st.title("4 · Rollout")
st.caption("A trained simulator advances the beads one large step (stride x the saved frame "
           "interval) at a time. Start it from frames it was not trained on and compare with "
           "their MD.")
system = ui.system_in_use()
st.markdown(ui.system_caption(system))

checkpoints = ui.simulator_checkpoints()
UPLOAD = "upload a checkpoint (.pt)"
with st.form("rollout"):
    left, right = st.columns(2)
    choice = left.selectbox("Checkpoint", list(checkpoints) + [UPLOAD])
    upload = left.file_uploader("Checkpoint file (read weights-only)", type=["pt", "ckpt"])
    sources = ui.rollout_sources(system)
    source = left.selectbox("Start from the held-out frames of", list(sources))
    n_systems = left.slider("Systems (held-out blocks or molecules) in the batch", 1, 12, 4)
    start = right.number_input("Start frame in the held-out MD", 0, 10**7, 0,
                               help="The rollout starts from the MD history ending here.")
    n_steps = right.number_input("Model steps", 10, 20_000, 300, step=50)
    refine = right.slider("Refinement (Langevin steps per noise level, 0 = off)", 0, 5, 0,
                          help="The score network pushes overlapping beads apart: 3 steps "
                          "remove most collisions, at about 10x the cost.")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0)
    submitted = st.form_submit_button("Run rollout", type="primary")

if submitted:
    from cgviz.simulator.compare import roll_out_held_out
    from cgviz.simulator.model import load_simulator

    try:
        if choice == UPLOAD and upload is None:
            raise CgvizError("Choose a checkpoint file to upload first.")
        model, meta = (ui.load_checkpoint_upload(upload) if choice == UPLOAD
                       else load_simulator(checkpoints[choice]))
        bar = st.progress(0.0, text="Rolling out ...")
        st.session_state["cgviz.rollout"] = roll_out_held_out(
            model, meta, sources[source](), int(n_steps), n_systems, int(start), int(seed),
            refine, progress=lambda d, n: bar.progress(d / n, text=f"step {d} of {n}"))
        bar.empty()
    except CgvizError as error:
        ui.show_error(error, "The rollout could not run")

held = st.session_state.get("cgviz.rollout")
if held is None:
    st.info("Set up a rollout and press **Run rollout**.")
    st.stop()
result = held.result
for warning in held.warnings:
    st.warning(warning)
if result.stop_reason:
    st.warning(f"The rollout stopped early: {result.stop_reason}.")
which = st.selectbox("System", range(result.n_systems), format_func=lambda i: result.names[i])
comparison = held.compare(which)
cols = st.columns(4)
cols[0].metric("steps done", f"{result.n_steps_completed} / {result.n_steps_requested}")
cols[1].metric("simulated time per system",
               f"{result.n_steps_completed * result.frame_time_ps / 1000:.2f} ns")
cols[2].metric("speed", f"{result.simulated_ns_per_wall_second:.2f} ns/s",
               help="simulated ns per wall-clock second, summed over the systems in the batch")
cols[3].metric("collision rate (model / MD)", f"{100 * comparison.collision_rate_model:.2f} % "
               f"/ {100 * comparison.collision_rate_reference:.2f} %")
step = st.slider("Model step", 0, result.n_steps_completed, result.n_steps_completed)
views = figures.rollout_views(comparison, step)
a, b = st.columns(2)
if views["reference_3d"] is None:
    a.info("The reference MD ends before this step.")
else:
    ui.plotly_chart(views["reference_3d"], where=a, width="stretch",
                    config=figures.GL_CONFIG, key="rollout.reference")
ui.plotly_chart(views["model_3d"], where=b, width="stretch", config=figures.GL_CONFIG,
                key="rollout.model")
for left_view, right_view in (("rg", "rg_hist"), ("acf", "contacts")):
    a, b = st.columns(2)
    ui.plotly_chart(views[left_view], where=a, width="stretch")
    ui.plotly_chart(views[right_view], where=b, width="stretch")
with st.expander("Markov state model: rollout against MD (slow time scale)"):
    markov_view.rollout_section(comparison, which)
st.download_button("Download the rollout (zip: bead PDB + model XTC + MD start XTC per "
                   "system, rollout.json)", data=lambda: ui.rollout_files_zip(result),
                   file_name="cgviz-rollout.zip", mime="application/zip")

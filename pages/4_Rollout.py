"""4 Rollout: run a trained simulator on held-out frames and compare with the reference MD."""

import streamlit as st

from cgviz.app import rollout_view, ui

st.set_page_config(page_title="cgviz · Rollout", page_icon="🧬", layout="wide")
st.title("4 · Rollout")
st.caption("A trained simulator advances the beads one large step (stride x the saved frame "
           "interval) at a time. Start it from frames it was not trained on and compare with "
           "their MD.")
system = ui.system_in_use()
st.markdown(ui.system_caption(system))

checkpoints = ui.simulator_checkpoints()
UPLOAD = rollout_view.UPLOAD
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
    refine = right.slider("Refinement (Langevin steps per noise level, 0 = off)", 0, 30, 0,
                          help="The score network pushes overlapping beads apart. 7 steps "
                          "per level (chosen on validation frames: collisions and chain size "
                          "together) take 42 score-network passes per model step.")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0)
    submitted = st.form_submit_button("Run rollout", type="primary")

if submitted:
    rollout_view.run(choice, upload, checkpoints, sources[source], n_steps, n_systems, start,
                     seed, refine)
held = st.session_state.get(rollout_view.RESULT_KEY)
if held is None:
    st.info("Set up a rollout and press **Run rollout**.")
    st.stop()
rollout_view.show(held)

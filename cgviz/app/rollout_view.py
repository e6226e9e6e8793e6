"""Streamlit sections of the Rollout page: run a checkpoint from held-out frames (with a
progress bar) and show the frozen comparison of rollout and MD
(:func:`cgviz.simulator.compare.roll_out_held_out`, ``compare``): metrics, the 3-D views
at a step, Rg, its distribution, Rg^2 autocorrelation, contact maps, the Markov models and
the files."""

from __future__ import annotations

import streamlit as st

from cgviz import CgvizError, figures
from cgviz.app import markov_view, ui

UPLOAD = "upload a checkpoint (.pt)"
RESULT_KEY = "cgviz.rollout"


def run(choice: str, upload, checkpoints: dict, source, n_steps: int, n_systems: int,
        start: int, seed: int, refine: int) -> None:
    """Load the checkpoint (weights-only), roll out, keep the result in the session."""
    from cgviz.simulator.compare import roll_out_held_out
    from cgviz.simulator.model import load_simulator

    try:
        if choice == UPLOAD and upload is None:
            raise CgvizError("Choose a checkpoint file to upload first.")
        model, meta = (ui.load_checkpoint_upload(upload) if choice == UPLOAD
                       else load_simulator(checkpoints[choice]))
        bar = st.progress(0.0, text="Rolling out ...")
        st.session_state[RESULT_KEY] = roll_out_held_out(
            model, meta, source(), int(n_steps), n_systems, int(start), int(seed),
            refine, progress=lambda d, n: bar.progress(d / n, text=f"step {d} of {n}"))
        bar.empty()
    except CgvizError as error:
        ui.show_error(error, "The rollout could not run")


def show(held) -> None:
    """Everything the page shows about a finished rollout."""
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

"""5 MEMnets: slow CVs with small memory, beside TICA/VAMPnets; select points, see frames."""

import mdtraj as md
import numpy as np
import streamlit as st

from cgviz import CgvizError, analysis, figures, io, jobs, markov_view, ui
from cgviz.memnets.export import cv_files_zip

st.set_page_config(page_title="cgviz · MEMnets", page_icon="🧬", layout="wide")
st.title("5 · MEMnets")
st.caption("MEMnets learns collective variables whose time-integrated memory kernel is small, "
           "so the dynamics along them is close to Markovian already at short lag times.")

system = ui.system_picker("memnets")
if system is None:
    st.stop()
trajs = list(system.trajectories)
KINDS = {"backbone dihedrals (sin/cos)": "dihedrals", "heavy-atom distances": "distances",
         "C-alpha distances": "ca-distances",
         "aligned heavy-atom coordinates": "coordinates", "aligned bead positions": "beads"}
kind = KINDS[st.radio("Features", list(KINDS), horizontal=True,
                      help="Bead positions use the Coarse-Graining page's mapping when it fits "
                      "this system, else METIS with 4 atoms per bead.")]
runs = ui.finished_runs("memnets")
source = st.radio("Model", ["train here"] + [f"finished run {r}" for r in runs], horizontal=True)
with st.form("memnets"):
    left, right = st.columns(2)
    lags = left.text_input("Lag times in frames (tau_0, then the IGME fit lags)", "1 7 8 9 10")
    hidden = left.text_input("Hidden layer sizes", "30 30 30 10")
    n_cvs = right.slider("CVs", 1, 4, 2)
    epochs = right.number_input("Epochs", 1, 200, 10)
    vampnets = right.checkbox("Also VAMPnets (slower)")
    run = st.form_submit_button("Train MEMnets here" if source == "train here" else "Show run",
                                type="primary")

if run:
    from cgviz.memnets import MEMnets, MEMnetsConfig, igme

    try:
        history = None
        if source == "train here":
            features = ui.memnets_features(kind, trajs, system.properties,
                                           st.session_state.get("cgviz.mapping"))
            lagtimes = [int(x) for x in lags.split()]
            sizes = [features[0].shape[1]] + [int(x) for x in hidden.split()] + [n_cvs]
            config = MEMnetsConfig(lagtimes=lagtimes, encoder_sizes=sizes, n_epochs=int(epochs))
            bar = st.progress(0.0, text="Training ...")

            def show(p):
                done = (p.seed_index * p.n_epochs + p.epoch + 1) / (p.n_seeds * p.n_epochs)
                bar.progress(min(1.0, done), text=f"seed {p.seed_index + 1}/{p.n_seeds}, "
                             f"epoch {p.epoch + 1}/{p.n_epochs}")

            model = MEMnets(config).fit(features, callbacks=[show]).fetch_model()
            history, dt = model.history, system.trajectories[0].timestep
            bar.empty()
        else:
            from cgviz.memnets.task import load_finished_run

            name = source.removeprefix("finished run ")
            model, features, dt, run_config = load_finished_run(runs[name])
            trained_on = run_config.get("demo") or "its own feature files"
            if f"demo: {trained_on}" != system.label:
                raise CgvizError(f"That run was trained on {trained_on}.",
                                 hint="Load that system above first.")
            history = jobs.metrics(runs[name])
        lagtimes, n_cvs = list(model.config.lagtimes), model.config.encoder_sizes[-1]
        cvs = model.cvs(features)
        sets = {"MEMnets": cvs, "TICA": igme.tica_baseline(features, lagtimes[-1], n_cvs)}
        if vampnets:
            sets["VAMPnets"] = igme.vampnet_baseline(features, lagtimes[-1], n_cvs)
        analyses = igme.compare_cvs(sets, lagtimes, dt=dt)
        cv_sets = {"MEMnets": cvs} | {k: v.cvs for k, v in sets.items() if k != "MEMnets"}
        st.session_state["cgviz.memnets"] = (system.label, history, cvs, analyses, cv_sets, dt)
        st.session_state.pop("cgviz.msm", None)
    except (CgvizError, ValueError) as error:
        ui.show_error(error, "MEMnets could not run")

if st.session_state.get("cgviz.memnets", (None,))[0] != system.label:
    st.info("Choose features and settings, then press **Train MEMnets here**.")
    st.stop()
_, history, cvs, analyses, cv_sets, dt = st.session_state["cgviz.memnets"]
from cgviz.memnets import figures as mfig  # noqa: E402

a, b = st.columns(2)
if hasattr(history, "columns"):  # a run's metrics.csv
    losses = {c: (history["step"], history[c]) for c in history.columns if "loss" in c}
    ui.plotly_chart(figures.overlay_lines(losses, "epoch", "loss", "Training"), where=a,
                    width="stretch")
else:
    ui.plotly_chart(mfig.training_curves(history, title="Training"), width="stretch", where=a)
ui.plotly_chart(mfig.cv_free_energy(cvs, title="CV free energy"), width="stretch", where=b)
ui.plotly_chart(mfig.log_lambda_figure(analyses, title="log λ(τ) and the IGME fit"), where=a,
                width="stretch")
ui.plotly_chart(mfig.memory_term_figure(analyses, title="Memory term"), width="stretch", where=b)
ui.plotly_chart(mfig.timescales_figure(analyses, title="Time scales: IGME vs Markovian"),
                width="stretch")
st.download_button("Download the CVs (zip: .npy per trajectory + one CSV)",
                   data=lambda: cv_files_zip(cv_sets, dt), file_name="cgviz-cvs.zip",
                   mime="application/zip")

st.subheader("Markov state model on the CVs")
markov_view.cv_section(cv_sets, dt, int(analyses[0].lagtimes[-1]))

st.subheader("Linked view: select points (box or lasso), see those frames")
values = np.concatenate(cvs)
stride = max(1, len(values) // 8000)
names = None
color = np.concatenate([np.arange(len(c)) for c in cvs])[::stride].astype(float)
if analysis.is_alanine_dipeptide(system.topology):  # its named states; other systems: frame
    from cgviz.datasets.alanine import STATE_NAMES, conformational_states

    phi = np.concatenate([md.compute_phi(t)[1][:, 0] for t in trajs])
    psi = np.concatenate([md.compute_psi(t)[1][:, 0] for t in trajs])
    color, names = conformational_states(phi, psi)[::stride], STATE_NAMES
if values.shape[1] >= 2:
    x, y, x_label = values[::stride, 0], values[::stride, 1], "CV 1"
else:  # one CV: along the frames (all runs in turn)
    x, y, x_label = np.arange(len(values))[::stride], values[::stride, 0], "frame (runs in turn)"
event = ui.plotly_chart(figures.projection_scatter(
    x, y, color, "state" if names else "frame", category_names=names,
    x_label=x_label, y_label="CV 2" if values.shape[1] >= 2 else "CV 1"), on_select="rerun",
    selection_mode=("box", "lasso"), key="memnets.projection")
points = [p["point_index"] for p in event.selection.points] if event and event.selection else []
chosen = ui.frames_for_selection(points, [len(c) for c in cvs], stride)
if chosen:
    xyz = np.stack([trajs[t].xyz[f] for t, f in chosen])
    bonds = io.topology_bonds(system.topology)
    times = np.array([trajs[t].time[f] for t, f in chosen])
    ui.plotly_chart(figures.trajectory_player(xyz, bonds, system.properties.type_names, times),
                    width="stretch", config=figures.GL_CONFIG)
    st.caption(f"{len(points)} points selected; showing {len(chosen)} of their frames.")

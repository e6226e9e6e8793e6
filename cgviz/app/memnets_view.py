"""Streamlit sections of the MEMnets page: fit (here or from a finished run), the report's
figures and downloads, and the linked view. The numbers come from one library call,
:func:`cgviz.memnets.report.cv_report`; this module only draws."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cgviz import CgvizError, figures, io, jobs
from cgviz.app import ui

REPORT_KEY = "cgviz.memnets"


def fit_here(kind: str, system, lags: str, hidden: str, n_cvs: int, epochs: int,
             vampnets: bool):
    """Train MEMnets on ``system``'s features with a progress bar; the report."""
    from cgviz.memnets import MEMnets, MEMnetsConfig
    from cgviz.memnets.report import cv_report

    features = ui.memnets_features(kind, list(system.trajectories), system.properties,
                                   st.session_state.get("cgviz.mapping"))
    sizes = [features[0].shape[1]] + [int(x) for x in hidden.split()] + [int(n_cvs)]
    config = MEMnetsConfig(lagtimes=[int(x) for x in lags.split()], encoder_sizes=sizes,
                           n_epochs=int(epochs))
    bar = st.progress(0.0, text="Training ...")

    def show(p):
        done = (p.seed_index * p.n_epochs + p.epoch + 1) / (p.n_seeds * p.n_epochs)
        bar.progress(min(1.0, done), text=f"seed {p.seed_index + 1}/{p.n_seeds}, "
                     f"epoch {p.epoch + 1}/{p.n_epochs}")

    model = MEMnets(config).fit(features, callbacks=[show]).fetch_model()
    bar.empty()
    return cv_report(model, features, system.trajectories[0].timestep, system.label,
                     vampnets, model.history)


def from_run(run_dir, system, vampnets: bool):
    """The report of a finished memnets run, if it was trained on ``system``."""
    from cgviz.memnets.report import cv_report
    from cgviz.memnets.task import load_finished_run

    model, features, dt, run_config = load_finished_run(run_dir)
    trained_on = run_config.get("demo") or "its own feature files"
    if f"demo: {trained_on}" != system.label:
        raise CgvizError(f"That run was trained on {trained_on}.",
                         hint="Load that system above first.")
    return cv_report(model, features, dt, system.label, vampnets, jobs.metrics(run_dir))


def report_section(report) -> None:
    """Training curves, CV free energy, log λ(τ) with the IGME fit, memory term, time
    scales, and the CVs as files."""
    from cgviz.memnets import figures as mfig
    from cgviz.memnets.export import cv_files_zip

    a, b = st.columns(2)
    history = report.history
    if hasattr(history, "columns"):  # a run's metrics.csv
        losses = {c: (history["step"], history[c]) for c in history.columns if "loss" in c}
        ui.plotly_chart(figures.overlay_lines(losses, "epoch", "loss", "Training"), where=a,
                        width="stretch")
    else:
        ui.plotly_chart(mfig.training_curves(history, title="Training"), width="stretch",
                        where=a)
    ui.plotly_chart(mfig.cv_free_energy(list(report.cvs), title="CV free energy"),
                    width="stretch", where=b)
    analyses = list(report.analyses)
    ui.plotly_chart(mfig.log_lambda_figure(analyses, title="log λ(τ) and the IGME fit"),
                    where=a, width="stretch")
    ui.plotly_chart(mfig.memory_term_figure(analyses, title="Memory term"), width="stretch",
                    where=b)
    ui.plotly_chart(mfig.timescales_figure(analyses, title="Time scales: IGME vs Markovian"),
                    width="stretch")
    st.download_button("Download the CVs (zip: .npy per trajectory + one CSV)",
                       data=lambda: cv_files_zip(report.cv_sets, report.dt_ps),
                       file_name="cgviz-cvs.zip", mime="application/zip")


def linked_view(report, system) -> None:
    """The CV projection; a box or lasso selection plays those frames in 3-D."""
    from cgviz.memnets.report import cv_projection

    trajs = list(system.trajectories)
    points = cv_projection(report, trajs, system.topology)
    event = ui.plotly_chart(figures.projection_scatter(
        points.x, points.y, points.color, points.color_label,
        category_names=points.category_names, x_label=points.x_label,
        y_label=points.y_label), on_select="rerun", selection_mode=("box", "lasso"),
        key="memnets.projection")
    picked = ([p["point_index"] for p in event.selection.points]
              if event and event.selection else [])
    chosen = ui.frames_for_selection(picked, list(points.lengths), points.stride)
    if not chosen:
        return
    xyz = np.stack([trajs[t].xyz[f] for t, f in chosen])
    times = np.array([trajs[t].time[f] for t, f in chosen])
    ui.plotly_chart(figures.trajectory_player(xyz, io.topology_bonds(system.topology),
                                              system.properties.type_names, times),
                    width="stretch", config=figures.GL_CONFIG)
    st.caption(f"{len(picked)} points selected; showing {len(chosen)} of their frames.")

"""Streamlit sections of the Training page: the device choice, the settings of each run
kind, the launch (validated before anything starts) and the live watch of a run."""

from __future__ import annotations

import streamlit as st

from cgviz import CgvizError, figures, jobs
from cgviz.app import ui


def device_options() -> dict[str, str]:
    """Label -> device string: the CPU, each GPU with its free memory, all GPUs (DDP)."""
    gpus = jobs.devices()
    options = {"CPU": "cpu"}
    for gpu in gpus:
        options[f"GPU {gpu.index}: {gpu.name} ({gpu.free_bytes / 2**30:.1f} GiB free)"] = \
            f"cuda:{gpu.index}"
    if len(gpus) > 1:
        options[f"all {len(gpus)} GPUs (DDP)"] = "cuda:" + ",".join(str(g.index) for g in gpus)
    return options


def simulator_settings(where) -> dict:
    """The simulator run's settings, as inputs in the column ``where``."""
    return dict(
        preset=where.selectbox("Preset", ["cpu-demo", "paper"]),
        steps=where.number_input("Training steps", 10, 1_000_000, 1500, step=100),
        atoms_per_bead=where.number_input("Atoms per bead (METIS, without a mapping)", 1.0,
                                          10_000.0, 4.0),
        history=where.number_input("History length k (0 = the preset's: 16 or 30)", 0, 64, 0,
                                   help="Frames the model sees. A window needs k + 1 "
                                   "consecutive frames: short trajectories need a short "
                                   "history."),
        batch=where.number_input("Batch size (0 = the preset's: 16 or 32)", 0, 4096, 0,
                                 help="History windows per step; lower it for large "
                                 "systems (memory grows with it)."),
        split=where.selectbox("Train / validation / test split", ["auto", "time", "trajectory"],
                              help="auto: whole trajectories with 3 or more, else time "
                              "blocks of each (80 / 10 / 10 %)"))


def memnets_settings(where) -> dict:
    """The MEMnets run's settings, as inputs in the column ``where``."""
    return dict(lags=where.text_input("Lag times (frames)", "1 7 8 9 10"),
                sizes=where.text_input("Encoder sizes (the first follows the features)",
                                       "4 30 30 30 10 3"),
                epochs=where.number_input("Epochs", 1, 1000, 20))


def launch(kind: str, source, settings: dict, device: str, name: str) -> None:
    """Validate the run (st.error on what cannot run, before anything starts), start it,
    and remember it as the run to watch."""
    try:
        chosen = source()
        if kind == "CG simulator":
            s = settings
            config = ui.simulator_run_config(s["preset"], s["steps"], chosen,
                                             s["atoms_per_bead"], s["split"],
                                             s["history"] or None, s["batch"] or None, device)
            spec = jobs.RunSpec(task="simulator", config=config, device=device,
                                checkpoint_every=max(10, int(s["steps"]) // 10))
        else:
            from cgviz.memnets.task import check_single_device

            check_single_device(jobs.parse_device(device))
            config = ui.memnets_run_config(chosen, settings["epochs"],
                                           [int(x) for x in settings["lags"].split()],
                                           [int(x) for x in settings["sizes"].split()])
            spec = jobs.RunSpec(task="memnets", config=config, device=device, checkpoint_every=5)
        started = jobs.start(spec, name=name.strip() or None, owner=ui.visitor())
        st.session_state["cgviz.run"] = started.name
        st.success(f"Started run **{ui.markdown_text(started.name)}** on "
                   f"{ui.markdown_text(chosen.label)}.")
    except (CgvizError, ValueError) as error:
        ui.show_error(error, "The run could not start")


def runs_section() -> None:
    """The table of runs and the live watch of the chosen one."""
    runs = jobs.list_runs()
    if not runs:
        st.info("No runs yet: start one above.")
        return
    st.subheader("Runs")
    st.dataframe(ui.runs_table(runs), hide_index=True)
    names = [r.name for r in runs]
    current = st.session_state.get("cgviz.run")
    selected = st.selectbox("Watch run", names,
                            index=names.index(current) if current in names else 0)
    watch(selected)


@st.fragment(run_every=2)
def watch(run_name: str) -> None:
    """The run's progress, reason, live curves, controls, downloads and log; refreshed
    every 2 s."""
    try:
        status = jobs.status(run_name)
    except CgvizError as error:
        ui.show_error(error)
        return
    eta = f", about {status.eta_s / 60:.1f} min left" if status.eta_s else ""
    where = f" (place {status.place} in the queue)" if status.place else ""
    st.progress(status.progress or 0.0,
                text=f"{status.state}{where}: step {status.step}"
                f"{' of %d' % status.total_steps if status.total_steps else ''}{eta}")
    if status.reason:
        (st.error if status.state == "failed" else st.info)(status.reason)
    frame = jobs.metrics(run_name)
    curves = figures.loss_curves(frame)
    if curves:
        window = max(len(y) for _, y in curves.values()) // 20  # per-step losses are noisy
        ui.plotly_chart(figures.overlay_lines(curves, "step", "loss", "Training curves",
                                              running_mean=window, unit=" steps"),
                        width="stretch", key=f"curves-{run_name}")
    mine = jobs.can_control(status, ui.visitor())
    if not mine:
        st.caption("Another visitor started this run: you can watch it, not change it.")
    a, b, c = st.columns(3)
    try:
        if a.button("Cancel", disabled=status.finished or not mine, key="cancel"):
            jobs.cancel(run_name, timeout_s=20, owner=ui.visitor())
        if b.button("Resume", disabled=not status.resumable or not mine, key="resume"):
            jobs.resume(run_name, owner=ui.visitor())
        if c.button("Delete", disabled=not status.finished or not mine, key="delete"):
            jobs.delete(run_name, owner=ui.visitor())
            st.rerun()
    except CgvizError as error:
        ui.show_error(error)
    ui.run_downloads(run_name)
    with st.expander("Log"):
        st.code(jobs.read_log(run_name, tail_bytes=4000) or "(empty)")

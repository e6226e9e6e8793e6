"""3 Training: launch background runs (simulator or MEMnets), watch them live, cancel, resume."""

import streamlit as st

from cgviz import CgvizError, figures, jobs, ui

st.set_page_config(page_title="cgviz · Training", page_icon="🧬", layout="wide")
st.title("3 · Training")
st.caption("Every run is a folder on disk driven by its own process: it keeps going when you "
           "close the tab, and a reload or a second tab finds it again.")

gpus = jobs.devices()
device_options = {"CPU": "cpu"}
for gpu in gpus:
    device_options[f"GPU {gpu.index}: {gpu.name} ({gpu.free_bytes / 2**30:.1f} GiB free)"] = \
        f"cuda:{gpu.index}"
if len(gpus) > 1:
    device_options[f"all {len(gpus)} GPUs (DDP)"] = "cuda:" + ",".join(str(g.index) for g in gpus)

system = ui.system_in_use()
st.markdown(ui.system_caption(system))
kind = st.radio("What to train", ["CG simulator", "MEMnets"], horizontal=True)
sources = ui.training_sources(system, kind)
with st.form("launch"):
    left, right = st.columns(2)
    name = left.text_input("Run name (optional)")
    device = device_options[left.selectbox("Device", list(device_options))]
    data = left.selectbox("Training data", list(sources),
                          help="The system in use is the one the Trajectory page loaded, with "
                          "the Coarse-Graining page's mapping when it fits.")
    if kind == "CG simulator":
        preset = right.selectbox("Preset", ["cpu-demo", "paper"])
        steps = right.number_input("Training steps", 10, 1_000_000, 1500, step=100)
        atoms_per_bead = right.number_input("Atoms per bead (METIS, without a mapping)", 1.0,
                                            10_000.0, 4.0)
        history = right.number_input("History length k (0 = the preset's: 16 or 30)", 0, 64, 0,
                                     help="Frames the model sees. A window needs k + 1 "
                                     "consecutive frames: short trajectories need a short "
                                     "history.")
        batch = right.number_input("Batch size (0 = the preset's: 16 or 32)", 0, 4096, 0,
                                   help="History windows per step; lower it for large "
                                   "systems (memory grows with it).")
        split = right.selectbox("Train / validation / test split", ["auto", "time",
                                                                    "trajectory"],
                                help="auto: whole trajectories with 3 or more, else time "
                                "blocks of each (80 / 10 / 10 %)")
    else:
        lags = right.text_input("Lag times (frames)", "1 7 8 9 10")
        sizes = right.text_input("Encoder sizes (the first follows the features)",
                                 "4 30 30 30 10 3")
        epochs = right.number_input("Epochs", 1, 1000, 20)
    launched = st.form_submit_button("Start run", type="primary")

if launched:
    try:
        chosen = sources[data]()
        if kind == "CG simulator":
            config = ui.simulator_run_config(preset, steps, chosen, atoms_per_bead, split,
                                             history or None, batch or None, device)
            spec = jobs.RunSpec(task="simulator", config=config, device=device,
                                checkpoint_every=max(10, int(steps) // 10))
        else:
            config = ui.memnets_run_config(chosen, epochs, [int(x) for x in lags.split()],
                                           [int(x) for x in sizes.split()])
            spec = jobs.RunSpec(task="memnets", config=config, device=device, checkpoint_every=5)
        started = jobs.start(spec, name=name.strip() or None, owner=ui.visitor())
        st.session_state["cgviz.run"] = started.name
        st.success(f"Started run **{ui.markdown_text(started.name)}** on "
                   f"{ui.markdown_text(chosen.label)}.")
    except (CgvizError, ValueError) as error:
        ui.show_error(error, "The run could not start")

runs = jobs.list_runs()
if not runs:
    st.info("No runs yet: start one above.")
    st.stop()
st.subheader("Runs")
st.dataframe(ui.runs_table(runs), hide_index=True)
names = [r.name for r in runs]
current = st.session_state.get("cgviz.run")
selected = st.selectbox("Watch run", names, index=names.index(current) if current in names else 0)


@st.fragment(run_every=2)
def watch(run_name: str) -> None:
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


watch(selected)

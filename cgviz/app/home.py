"""The home page: what cgviz is, the bundled demo data, where to go next. It imports
little (no mdtraj, no plotly.js for the browser) so that the first page is quick."""

from __future__ import annotations

import threading

import streamlit as st

from cgviz import CgvizError, __version__, datasets, jobs, pictures, warmup


@st.cache_resource
def preview_pictures() -> list[str]:
    """SVG pictures of the demos' stored previews: no mdtraj, no trajectory read, and no
    plotly.js for the browser to run before this first page is complete."""
    demos = {d.name: d for d in datasets.list_demos()}
    shown = []
    if "polymer-train" in demos:
        chain = datasets.preview("polymer-train")
        shown.append(pictures.molecule_svg(
            chain.xyz, chain.bonds, chain.type_names,
            title="Copolymer chain 1 of polymer-train, flat view"))
    if "alanine-dipeptide" in demos:
        shown.append(pictures.ramachandran_svg(
            datasets.preview("alanine-dipeptide").ramachandran,
            title=f"Alanine dipeptide, {demos['alanine-dipeptide'].total_time_ns:.0f} ns: "
                  "free energy (kJ/mol)"))
    return shown


def _preload_for_next_page(name: str) -> None:
    from cgviz.app import ui  # ui imports mdtraj: in the background, off this page's path

    ui.preload_trajectory_page(name)


def home() -> None:
    """The home page."""
    st.set_page_config(page_title="cgviz", page_icon="🧬", layout="wide")
    st.title("cgviz")
    st.markdown(
        "**See, train and question machine-learned coarse-grained molecular dynamics.** "
        "cgviz loads molecular dynamics trajectories, groups atoms into coarse-grained beads, "
        "and trains graph neural networks that advance those beads by nanosecond-scale steps. "
        "It also finds slow collective variables with MEMnets and shows how much memory their "
        "dynamics carries, next to Markovian baselines."
    )

    st.subheader("Bundled demo data")
    st.caption("Simulated with OpenMM by `python -m cgviz demo-data`; everything works offline.")
    try:
        demos = {d.name: d for d in datasets.list_demos()}
    except CgvizError as error:
        st.error(f"The bundled demo data cannot be read: {error}")
        demos = {}
    if demos:
        try:
            for column, picture in zip(st.columns(2), preview_pictures()):
                column.image(picture, width="stretch")
        except CgvizError as error:
            st.error(f"A demo failed to load: {error}")
        # a markdown table: no pyarrow on the server, no data-grid code in the browser
        rows = ["| demo | system | atoms | molecules | runs x frames | frame time | total |",
                "|---|---|--:|--:|--:|--:|--:|"]
        for d in demos.values():
            runs = (f"{len(d.n_frames)} x {d.n_frames[0]:,}" if len(set(d.n_frames)) == 1
                    else f"{sum(d.n_frames):,} in {len(d.n_frames)}")
            rows.append(f"| **{d.name}** | {d.system} | {d.n_atoms:,} | {d.n_molecules} | "
                        f"{runs} | {d.frame_time_ps:.3g} ps | {d.total_time_ns:.3g} ns |")
        st.markdown("\n".join(rows))
        st.markdown("\n".join(f"- **{d.name}**: {d.description}" for d in demos.values()))

    st.subheader("Where to go next")
    st.markdown(
        "1. **Trajectory**: load a demo or your own files, play them in 3-D, plot Rg and "
        "dihedrals.\n"
        "2. **Coarse-Graining**: group atoms into beads (METIS, residues, segments) and look.\n"
        "3. **Training**: train the simulator or MEMnets in the background, on CPU or GPUs.\n"
        "4. **Rollout**: run the bundled (or your) simulator on held-out chains against their "
        "MD.\n"
        "5. **MEMnets**: slow CVs and their memory, beside TICA; select points to see frames.\n\n"
        "Everything here is also a command (`python -m cgviz --help`) and a library call "
        "(`cgviz.datasets`, `cgviz.io`, `cgviz.analysis`, `cgviz.mapping`, `cgviz.simulator`, "
        "`cgviz.memnets`, `cgviz.jobs`)."
    )
    st.caption(f"cgviz {__version__} · compute here: {jobs.device_summary()}")
    # The other pages' widgets and plotly charts: have the browser load their code while this
    # page is read (cgviz.warmup), so the next page does not wait for it.
    warm_up = warmup.warmup_html()
    if warm_up:
        st.html(warm_up, unsafe_allow_javascript=True)

    # Most people go on to the Trajectory page, which opens on the first listed demo (as every
    # ui.system_picker does): load it and build that page's figures (plotly's code with them)
    # in the server's background 2 s from now, once this page is drawn (started sooner, it
    # competes with the browser, which shares the machine's cores; benchmarks/app_speed.py).
    if demos:
        preload = threading.Timer(2.0, _preload_for_next_page, args=(next(iter(demos)),))
        preload.daemon = True
        preload.start()

"""Streamlit sections for Markov state models, shared by the Rollout and MEMnets pages.

Each section is a settings form, one library call (:func:`cgviz.analysis.estimate_msm` or
:meth:`cgviz.simulator.compare.RolloutComparison.markov`), and the results: the slowest
time scale with its 95 % interval, time scales against lag, and the CK test. Results stay
in the session, so a failed rebuild (shown with ``st.error``) keeps the last ones.
"""

from __future__ import annotations

import streamlit as st

from cgviz import CgvizError, analysis, figures
from cgviz.app import ui


def cv_section(cv_sets: dict, dt_ps: float | None, default_lag: int,
               key: str = "cgviz.msm") -> None:
    """MSMs of named CV sets (e.g. MEMnets and TICA), side by side."""
    with st.form(f"{key}.form"):
        a, b, c, d = st.columns(4)
        chosen = a.multiselect("CVs", list(cv_sets), default=list(cv_sets))
        n_clusters = b.number_input("k-means clusters", 2, 1000, 50)
        lag = c.number_input("MSM lag (frames)", 1, 100_000, int(default_lag))
        n_sets = d.number_input("Metastable sets (CK test)", 2, 6, 2)
        build = st.form_submit_button("Build Markov state models")
    if build:
        try:
            st.session_state[key] = {name: analysis.estimate_msm(
                cv_sets[name], int(lag), int(n_clusters), n_sets=int(n_sets), dt=dt_ps)
                for name in chosen}
        except CgvizError as error:
            ui.show_error(error, "The Markov state model could not be built")
    msms = st.session_state.get(key) or {}
    if not msms:
        return
    for column, (name, msm) in zip(st.columns(len(msms)), msms.items()):
        value, low, high = msm.timescale(0)
        column.metric(f"{name}: slowest time scale ({msm.its.unit}, lag {msm.lagtime})",
                      f"{value:,.4g}", help=f"95 % bootstrap interval {low:,.4g} - {high:,.4g}")
        column.caption(f"95 % interval {low:,.4g} - {high:,.4g}; CK test: "
                       f"{msm.ck.outside_fraction:.0%} of the entries outside the intervals")
    ui.plotly_chart(figures.msm_timescales({n: m.its for n, m in msms.items()}),
                    width="stretch")
    ui.plotly_chart(figures.ck_test({n: m.ck for n, m in msms.items()}), width="stretch")


def rollout_section(comparison, which, key: str = "cgviz.rollout.msm") -> None:
    """MSMs of one rollout and its MD window on the MD's states, and their ratio."""
    with st.form(f"{key}.form"):
        a, b = st.columns(2)
        lag = a.number_input("Lag (model steps)", 1, 10_000, 5)
        clusters = b.number_input("k-means clusters (on the MD)", 2, 500, 30)
        build = st.form_submit_button("Build the two Markov models")
    if build:
        try:
            st.session_state[key] = (which, comparison.markov(int(lag), int(clusters)))
        except CgvizError as error:
            ui.show_error(error, "The Markov models could not be built")
    chosen, msm = st.session_state.get(key, (None, None))
    if msm is None or chosen != which:
        return
    if not msm.resolved:
        st.warning("The slowest process is never crossed back in the MD window or in the "
                   "rollout, so it has no time scale to compare: roll out more steps, or "
                   "use a shorter lag.")
        return
    value, low, high = msm.reference.timescale(0)
    st.metric("slowest time scale, model / MD", f"{msm.ratio:.2f}",
              help=f"95 % interval {msm.ratio_lower:.2f} - {msm.ratio_upper:.2f}")
    st.caption(f"95 % interval of the ratio {msm.ratio_lower:.2f} - {msm.ratio_upper:.2f}; "
               f"MD {value:,.4g} ps ({low:,.4g} - {high:,.4g}). States: TICA of bead-pair "
               "distances and k-means, both on the MD.")
    ui.plotly_chart(figures.msm_timescales({"reference MD": msm.reference.its,
                                            "learned simulator": msm.model.its}),
                    width="stretch")

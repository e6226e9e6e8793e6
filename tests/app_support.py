"""Helpers for the AppTest page tests."""

from __future__ import annotations

import json
import re


def chart_titles(at) -> list[str]:
    """The bold titles the page wrote above its plotly charts (``cgviz.ui.plotly_chart``).

    Fails if a chart still carries its title inside the figure: Streamlit's theme then
    draws that chart twice (see ``ui.plotly_chart``); or if a 2-D axis lets plotly measure
    every tick label to hide those past the edge (slow, also ``ui.plotly_chart``)."""
    layouts = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
    inside = [layout.get("title") for layout in layouts]
    assert not any(inside), f"titles left inside charts: {inside}"
    measured = [name for layout in layouts for name, axis in layout.items()
                if re.fullmatch(r"[xy]axis\d*", name) and axis.get("ticklabeloverflow") != "allow"]
    assert not measured, f"2-D axes whose tick labels plotly measures: {measured}"
    return [m.value.strip("*").replace("\\", "") for m in at.markdown
            if m.value.startswith("**") and m.value.endswith("**")]

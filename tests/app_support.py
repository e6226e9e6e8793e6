"""Helpers for the AppTest page tests."""

from __future__ import annotations

import json


def chart_titles(at) -> list[str]:
    """The bold titles the page wrote above its plotly charts (``cgviz.ui.plotly_chart``).

    Fails if a chart still carries its title inside the figure: Streamlit's theme then
    draws that chart twice (see ``ui.plotly_chart``)."""
    inside = [json.loads(c.proto.spec)["layout"].get("title") for c in at.get("plotly_chart")]
    assert not any(inside), f"titles left inside charts: {inside}"
    return [m.value.strip("*").replace("\\", "") for m in at.markdown
            if m.value.startswith("**") and m.value.endswith("**")]

"""The Streamlit app, run headless with streamlit.testing."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cgviz import warmup

ROOT = Path(__file__).resolve().parents[1]


def test_home_page_lists_the_bundled_demos():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "cgviz"
    table = next(m.value for m in at.markdown if m.value.startswith("| demo |"))
    rows = {line.split("|")[1].strip(" *") for line in table.splitlines()[2:]}
    assert {"alanine-dipeptide", "polymer-train", "polymer-test"} <= rows
    assert "| 4 x 10,000 | 1 ps | 40 ns |" in table  # alanine-dipeptide, from the manifest
    # chain picture and Ramachandran from the stored previews, as SVG: no plotly chart here
    assert not at.get("plotly_chart")
    pictures = [base64.b64decode(i.proto.imgs[0].url.split(",", 1)[1]).decode()
                for i in at.get("image")]
    titles = [ET.fromstring(svg).find("{http://www.w3.org/2000/svg}title").text
              for svg in pictures]
    assert titles == ["Copolymer chain 1 of polymer-train, flat view",
                      "Alanine dipeptide, 40 ns: free energy (kJ/mol)"]
    # and the script that has the browser load the next pages' code meanwhile
    (script,) = [h.proto.body for h in at.get("html")]
    assert all(name in script for name in warmup.chunk_names())


def test_home_page_names_the_device():
    import os

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    footer = at.caption[-1].value
    assert f"{os.cpu_count()} CPU cores" in footer


def test_home_page_preloads_the_trajectory_demo_in_the_background():
    """The Trajectory page opens on alanine-dipeptide; the home page loads it and builds that
    page's figures in the server's background (cgviz.ui.demo and ui.player_view & co., shared
    by all sessions), so that page starts sooner and builds nothing."""
    import time

    from cgviz.app import ui

    ui._DEMOS.pop("alanine-dipeptide", None)
    ui._VIEWS.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    deadline = time.time() + 60
    while len(ui._VIEWS) < 3 and time.time() < deadline:  # player, Rg + RMSD, Ramachandran
        time.sleep(0.1)
    assert "alanine-dipeptide" in ui._DEMOS
    views = dict(ui._VIEWS)
    assert sorted(key[1][0] for key in views) == ["player", "ramachandran", "rg-rmsd"]
    page = AppTest.from_file(str(ROOT / "pages" / "1_Trajectory.py"), default_timeout=60).run()
    assert not page.exception
    assert page.session_state["cgviz.system"].trajectories[0] is (
        ui._DEMOS["alanine-dipeptide"].trajectories[0]), "the page used the preloaded demo"
    assert dict(ui._VIEWS) == views, "the page used the preloaded figures, built nothing"

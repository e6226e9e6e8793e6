"""cgviz.warmup: the home page has the browser load the other pages' code while idle."""

from __future__ import annotations

import json
import re

from cgviz import warmup


def test_the_pinned_streamlit_loads_every_element_the_pages_use_from_its_own_file():
    names = warmup.chunk_names()
    assert [n.split(".")[0] for n in names] == list(warmup.ELEMENTS)
    js = warmup.streamlit_static_dir() / "static" / "js"
    assert all((js / n).is_file() for n in names)


def test_the_script_imports_those_files_in_order_relative_to_streamlits_entry():
    script = warmup.warmup_html()
    assert script.startswith("<script type='module'>") and script.endswith("</script>")
    listed = json.loads(re.search(r"const chunks = (\[.*?\]);", script).group(1))
    assert listed == list(warmup.chunk_names())
    assert "new URL(chunks[i], entry.src)" in script


def test_elements_streamlit_does_not_load_on_demand_are_left_out(tmp_path):
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "index.html").write_text(
        '<script type="module" crossorigin src="./static/js/index.abc.js"></script>')
    (tmp_path / "static" / "js" / "index.abc.js").write_text(
        "a=()=>import(`./Radio.x1.js`),b=()=>import(`./Slider.y-2.js`),"
        "c=()=>import(`./Radio.x1.js`),d=()=>import(`./Twice.a.js`),e=()=>import(`./Twice.b.js`)")
    assert warmup.chunk_names(("Slider", "Nope", "Radio", "Twice"), tmp_path) == (
        "Slider.y-2.js", "Radio.x1.js")  # Twice: two files, which one is unknown
    assert warmup.chunk_names(("Radio",), tmp_path / "missing") == ()
    (tmp_path / "index.html").write_text("no entry script")
    assert warmup.chunk_names(("Radio", "Slider"), tmp_path) == ()
    assert warmup.warmup_html(("Nope",)) == ""

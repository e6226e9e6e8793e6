"""The app's safety (issue 19): server paths only inside the folders an operator opens,
file names shown as text, uploads that do not pile up, clear errors for odd mapping files."""

from __future__ import annotations

import html
import io as _io
import os
import re
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cgviz import CgvizError, datasets, paths
from cgviz.app import ui

ROOT = Path(__file__).resolve().parents[1]


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)


def rendered_text(markdown: str) -> str:
    """What a CommonMark renderer (with GitHub's tables and strikethrough, as Streamlit's)
    shows of ``markdown``: its HTML's text, tags dropped, entities decoded."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    return html.unescape(re.sub(r"<[^>]*>", "", rendered)).strip()


@pytest.fixture
def no_roots(monkeypatch):
    monkeypatch.delenv(paths.ROOTS_VARIABLE, raising=False)


@pytest.fixture
def shared(tmp_path, monkeypatch):
    """A folder the operator opened, holding the alanine topology and one trajectory."""
    folder = tmp_path / "shared"
    folder.mkdir()
    demo = datasets.demo_paths("alanine-dipeptide")
    (folder / "ala.pdb").write_bytes(Path(demo["topology"]).read_bytes())
    (folder / "ala.xtc").write_bytes(Path(demo["trajectories"][0]).read_bytes())
    monkeypatch.setenv(paths.ROOTS_VARIABLE, os.pathsep.join([str(folder), "relative/x",
                                                               str(tmp_path / "missing")]))
    return folder


# ---------------------------------------------------------------------------------------
# Paths on the server
# ---------------------------------------------------------------------------------------


def test_confine_is_off_by_default_and_keeps_to_the_allowed_roots(no_roots, tmp_path,
                                                                  monkeypatch):
    assert paths.allowed_roots() == () and not paths.enabled()
    with pytest.raises(CgvizError, match="turned off"):
        paths.confine("/etc/passwd")

    inside = tmp_path / "shared"
    inside.mkdir()
    (inside / "a.pdb").write_text("x")
    (inside / "sub").mkdir()
    (inside / "sub" / "b.xtc").write_text("x")
    (inside / "out.pdb").symlink_to("/etc/passwd")
    (inside / "loop").symlink_to(inside / "loop")
    (inside / "to_sub").symlink_to(inside / "sub")
    secret = tmp_path / "secret.pdb"
    secret.write_text("x")
    monkeypatch.setenv(paths.ROOTS_VARIABLE, f"{inside}{os.pathsep}{os.pathsep}relative")
    assert paths.allowed_roots() == (inside.resolve(),)

    assert paths.confine(inside / "a.pdb") == (inside / "a.pdb").resolve()
    assert paths.confine("sub/b.xtc") == (inside / "sub" / "b.xtc").resolve()  # root-relative
    assert paths.confine(inside / "to_sub" / "b.xtc") == (inside / "sub" / "b.xtc").resolve()
    refused = {}
    for name, path in {"missing inside": inside / "nope.pdb",
                       "missing outside": tmp_path / "nope.pdb",
                       "existing outside": secret, "dot-dot": inside / ".." / "secret.pdb",
                       "system file": "/etc/passwd", "proc": "/proc/self/environ",
                       "symlink out": inside / "out.pdb", "loop": inside / "loop",
                       "a folder": inside / "sub", "empty": "  ", "nul": "a\x00b"}.items():
        with pytest.raises(CgvizError) as caught:
            paths.confine(path)
        refused[name] = caught.value.problem.replace(repr(str(path).strip()), "PATH")
    # one message for all: it never tells whether a path outside exists
    assert len(set(refused.values())) == 1, refused
    assert "No readable file" in refused["system file"]


def test_the_picker_offers_server_paths_only_when_the_operator_opens_folders(no_roots):
    at = page("1_Trajectory.py").run()
    assert not at.exception
    assert at.radio[0].options == ["Demo data", "Upload files"]


def test_server_paths_load_inside_the_roots_and_refuse_the_rest_alike(shared, tmp_path):
    secret = tmp_path / "secret.xtc"
    secret.write_bytes((shared / "ala.xtc").read_bytes())
    at = page("1_Trajectory.py").run()
    assert at.radio[0].options[-1] == "Path on the server"
    at.radio[0].set_value("Path on the server").run()

    messages = []
    for trajectory, topology in [("/etc/passwd", ""), (str(tmp_path / "gone.xtc"), ""),
                                 (str(secret), str(shared / "ala.pdb")),
                                 (str(shared / "ala.xtc"), "/etc/hostname")]:
        at.text_input[0].input(trajectory)
        at.text_input[1].input(topology)
        at.button[0].click().run()
        assert not at.exception
        assert len(at.error) == 1, [e.value for e in at.error]
        text = at.error[0].value
        assert "root:" not in text
        messages.append(re.sub(r"'[^']*'", "PATH", text))
    assert len(set(messages)) == 1, messages
    assert {m.label: m.value for m in at.metric}["atoms"] == "22"  # the demo, kept

    at.text_input[0].input(str(shared / "ala.xtc"))
    at.text_input[1].input("ala.pdb")  # relative to the shared folder
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state[ui.SYSTEM_KEY].label.startswith("files: ")
    assert at.session_state[ui.SYSTEM_KEY].n_frames == 10_000


# ---------------------------------------------------------------------------------------
# File names as text
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "upload: <b>x</b>.pdb", r"C:\runs\a_b.xtc", r"two\\back", "*star* and _under_",
    "`code` [link](http://x) ![img](y)", "$x^2$ and :smile: and :red[text]", "a|b ~~c~~",
    "# heading", "- item", "+ item", "1. first", "2) second", "> quote", "===", "&lt;&amp;",
    "line one\n# two\n- three", "a.b-c (d) {e} #f !g"])
def test_markdown_text_renders_as_typed(text):
    assert rendered_text(ui.markdown_text(text)) == rendered_text_plain(text)


def rendered_text_plain(text: str) -> str:
    """``text`` as a renderer shows a paragraph of plain text (soft line breaks kept)."""
    return "\n".join(line.strip() for line in text.split("\n"))


def _upload(name: str, data: bytes):
    return (name, data, "application/octet-stream")


def _ala_pdb() -> bytes:
    return Path(datasets.demo_paths("alanine-dipeptide")["topology"]).read_bytes()


def test_uploaded_file_names_show_as_text_and_errors_never_show_server_paths(no_roots):
    at = page("1_Trajectory.py").run()
    at.radio[0].set_value("Upload files").run()
    name = r"<b>x</b> a\b_c.pdb"
    at.file_uploader[0].set_value(_upload(name, _ala_pdb())).run()
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert rendered_text(at.subheader[0].value) == f"upload: {name}"
    in_use = [c.value for c in at.caption if c.value.startswith("In use")]
    assert rendered_text(in_use[0]) == f"In use: upload: {name}"

    # a broken upload: the error names the file as uploaded, not where the server put it
    at.file_uploader[0].set_value([_upload("top_1.pdb", _ala_pdb()),
                                   _upload("my_run.xtc", os.urandom(3000))]).run()
    at.button[0].click().run()
    assert not at.exception and len(at.error) == 1
    shown = rendered_text(at.error[0].value)
    assert "my_run.xtc" in shown and "corrupt" in shown
    assert str(ui.UPLOADS_DIR) not in shown and "/tmp" not in shown and "load-" not in shown
    assert at.session_state[ui.SYSTEM_KEY].label == f"upload: {name}", "previous system kept"


# ---------------------------------------------------------------------------------------
# Uploads do not pile up
# ---------------------------------------------------------------------------------------


def _uploads_on_disk() -> list[Path]:
    return [p for p in ui.UPLOADS_DIR.rglob("*") if p.is_file()] if ui.UPLOADS_DIR.exists() else []


def test_uploads_are_removed_after_loading_and_their_total_is_capped(no_roots, monkeypatch):
    before = set(_uploads_on_disk())
    at = page("1_Trajectory.py").run()
    at.radio[0].set_value("Upload files").run()
    at.file_uploader[0].set_value(_upload("kept_in_memory.pdb", _ala_pdb())).run()
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.session_state[ui.SYSTEM_KEY].n_frames == 1
    assert set(_uploads_on_disk()) <= before, "the upload's file is gone once loaded"
    # the loaded system lives on in the session: other pages use it without the file
    system = at.session_state[ui.SYSTEM_KEY]
    at = page("2_Coarse_Graining.py")  # the next page of the same session
    at.session_state[ui.SYSTEM_KEY] = system
    at.run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["atoms"] == "22"
    assert at.radio[0].value == "Upload files", "the picker opens on the source in use"
    assert at.session_state[ui.SYSTEM_KEY] is system

    monkeypatch.setenv(ui.UPLOAD_TOTAL_VARIABLE, "0.001")  # 1 kB, less than the 2 kB PDB
    at = page("1_Trajectory.py").run()
    at.radio[0].set_value("Upload files").run()
    at.file_uploader[0].set_value(_upload("big.pdb", _ala_pdb())).run()
    at.button[0].click().run()
    assert not at.exception and len(at.error) == 1
    shown = rendered_text(at.error[0].value)
    assert "These files hold 2.1 kB" in shown and "at most 1.0 kB" in shown, shown
    assert ui.UPLOAD_TOTAL_VARIABLE in shown
    assert ui._uploads_on_disk == 0 and set(_uploads_on_disk()) <= before


def test_a_mapping_npy_of_objects_is_a_clear_error(no_roots):
    at = page("2_Coarse_Graining.py").run()
    at.radio[1].set_value("Upload a mapping").run()
    objects = _io.BytesIO()
    np.save(objects, np.array([{"bead": 1}] * 22, dtype=object), allow_pickle=True)
    at.file_uploader[0].set_value(("beads.npy", objects.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "Python objects" in at.error[0].value
    # a readable assignment works
    plain = _io.BytesIO()
    topology = md.load(str(datasets.demo_paths("alanine-dipeptide")["topology"])).topology
    np.save(plain, np.array([a.residue.index for a in topology.atoms]))  # one bead each
    at.file_uploader[0].set_value(("beads.npy", plain.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["beads"] == "3"
    # and a mapping file that is not one names the upload, not its temporary path
    at.file_uploader[0].set_value(("odd.json", b"{not json", "application/json")).run()
    assert not at.exception and len(at.error) == 1
    assert "odd.json" in at.error[0].value and "load-" not in at.error[0].value

"""The Training and Rollout pages, and the rollout / evaluate-simulator commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import pytest
from app_support import chart_titles
from streamlit.testing.v1 import AppTest

from cgviz import datasets, jobs
from cgviz.simulator.model import load_simulator

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt"


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=180)


def test_bundled_demo_model_loads_safely_and_records_how_it_was_made():
    import torch

    raw = torch.load(CHECKPOINT, weights_only=True)
    assert raw["format"] == "cgviz-simulator" and raw["mapping"]["method"] == "metis"
    record = json.loads(CHECKPOINT.with_suffix(".json").read_text())
    assert record["steps"] >= 1000 and record["wall_time_s"] > 0
    assert record["command"].startswith("python tools/make_demo_model.py")


def test_rollout_page_runs_the_bundled_model():
    at = page("4_Rollout.py").run()
    assert not at.exception and not at.error
    assert "No system loaded yet" in at.markdown[0].value
    at.slider[0].set_value(2)
    at.number_input[0].set_value(400)  # start frame in the held-out MD
    at.number_input[1].set_value(20)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["steps done"] == "20 / 20"
    assert "ns/s" in metrics["speed"] and "%" in metrics["collision rate (model / MD)"]
    # Two 3-D views, Rg over time, Rg distribution, ACF, contact maps.
    assert len(at.get("plotly_chart")) == 6
    titles = chart_titles(at)
    assert titles[:5] == ["reference MD (beads)", "learned simulator",  # column by column
                          "Radius of gyration, same window", "Rg distribution",
                          "Rg² autocorrelation"]
    assert titles[5].startswith("Contact probability (< ")
    step = [s for s in at.slider if s.label == "Model step"][0]
    assert step.max == 20  # the steps done, not history + steps
    step.set_value(5).run()  # the shared step slider
    assert not at.exception
    # 20 steps are too few for a Markov model: a clear error, the rollout stays shown.
    at.get("form_submit_button")[1].click().run()
    assert not at.exception and any("cluster" in e.value for e in at.error)
    assert len(at.get("plotly_chart")) == 6


def test_rollout_page_compares_markov_models_of_rollout_and_md():
    at = page("4_Rollout.py").run()
    at.slider[0].set_value(1)
    at.number_input[1].set_value(300)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    next(n for n in at.number_input if n.label == "Lag (model steps)").set_value(2)
    next(n for n in at.number_input if n.label.startswith("k-means")).set_value(10)
    at.get("form_submit_button")[1].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    ratio = next(m for m in at.metric if m.label == "slowest time scale, model / MD")
    assert float(ratio.value) > 0
    assert any("95 % interval of the ratio" in c.value for c in at.caption)
    assert "MSM implied time scales (95 % bootstrap intervals)" in chart_titles(at)


def test_rollout_page_uses_the_system_in_use_and_warns_about_training_frames():
    """The system page 1 loaded is what page 4 starts from; the bundled model was trained
    on polymer-train, so rolling out on it says so loudly."""
    from cgviz.app import ui

    at = page("4_Rollout.py")
    at.session_state[ui.SYSTEM_KEY] = ui._load_demo("polymer-train")
    at.run()
    assert at.markdown[0].value.startswith("In use: **demo") and (
        "polymer-train" in at.markdown[0].value)
    assert at.selectbox[1].value.startswith("the system in use")
    at.number_input[1].set_value(10)
    at.slider[0].set_value(1)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("was used to train this model" in w.value for w in at.warning)


@pytest.mark.slow
def test_training_page_launches_and_watches_a_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    at = page("3_Training.py").run()
    assert not at.exception and [i.value for i in at.info] == ["No runs yet: start one above."]
    at.radio[0].set_value("MEMnets").run()
    at.number_input[0].set_value(1)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and "Started run" in at.success[0].value
    name = jobs.list_runs(tmp_path)[0].name
    assert jobs.wait(name, tmp_path, timeout_s=300).state == "completed", jobs.read_log(name, tmp_path)
    at.run()
    assert not at.exception and not at.error
    assert at.get("progress")[0].proto.text.startswith("completed")
    assert len(at.get("plotly_chart")) == 1, "training curves"
    assert at.dataframe[0].value["state"].tolist() == ["completed"]
    # The run's take-away files, as download buttons.
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Download the run file", "Download the last checkpoint",
                      "Download the metrics"], labels
    csv_text = jobs.metrics_csv(name, tmp_path)
    assert csv_text.splitlines()[0].startswith("step,") and len(csv_text.splitlines()) >= 2


def test_rollout_and_evaluate_commands(tmp_path):
    out = tmp_path / "roll"
    result = subprocess.run(
        [sys.executable, "-m", "cgviz", "rollout", str(CHECKPOINT), "--n-steps", "8",
         "--n-systems", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    traj = md.load(str(out / "system_001.xtc"), top=str(out / "system_001.pdb"))
    start = md.load(str(out / "system_001_start.xtc"), top=str(out / "system_001.pdb"))
    history = load_simulator(CHECKPOINT)[0].config.history_length
    assert traj.n_frames == 8 and start.n_frames == history  # model frames apart from MD
    assert traj.topology.n_bonds > 0
    assert {a.name for a in traj.topology.atoms} <= {"B0", "B1", "B2", "B3", "B4", "B5",
                                                      "B6", "B7", "B8", "B9"}
    report = tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, "-m", "cgviz", "evaluate-simulator", str(CHECKPOINT), "--n-steps", "60",
         "--out", str(report)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(report.read_text())
    assert len(data["systems"]) == 12 and data["paper"]["rg_r2"] == 0.90
    assert 0 <= data["collision_rate_model"] <= 1 and data["min_steps_before_stop"] == 60
    assert 0 <= data["reference_split_rg_r2"] <= 1  # the MD-vs-MD noise floor is reported
    bad = subprocess.run([sys.executable, "-m", "cgviz", "rollout", str(tmp_path / "nope.pt")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


@pytest.mark.slow
def test_training_page_trains_the_system_in_use(tmp_path, monkeypatch):
    """An uploaded-like system (in memory, no files of its own) trains from page 3: the run
    gets its own copy of the atoms kept; a system too short for the history is refused
    before anything is launched."""
    from cgviz import system as cg_system
    from cgviz.app import ui

    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    paths = datasets.demo_paths("alanine-dipeptide-450k")
    ala = cg_system.load(paths["trajectories"][:1], paths["topology"],
                         selection="not element H")
    upload_like = cg_system.from_trajectories(ala.trajectories, ala.properties,
                                              label="upload: my-peptide.pdb")
    nglview_data = Path(__import__("nglview").__file__).parent / "datafiles"
    protein = cg_system.load(nglview_data / "md_1u19.xtc", nglview_data / "md_1u19.gro")

    at = page("3_Training.py")
    at.session_state[ui.SYSTEM_KEY] = protein
    at.run()
    assert at.selectbox[1].value.startswith("the system in use")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception
    assert any("validation part holds at most 5" in e.value for e in at.error), [
        e.value for e in at.error]
    assert not jobs.list_runs(tmp_path)  # nothing was launched

    at = page("3_Training.py")
    at.session_state[ui.SYSTEM_KEY] = upload_like
    at.run()
    at.number_input[0].set_value(10)  # training steps
    at.number_input[1].set_value(2.0)  # atoms per bead
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "my-peptide" in at.success[0].value
    run = jobs.list_runs(tmp_path)[0]
    spec = jobs.RunSpec.from_file(tmp_path / run.name / "run.yaml")
    copied = Path(spec.config["system"]["source"]["topology"])
    assert copied.exists() and tmp_path in copied.parents  # the run's own copy
    final = jobs.wait(run.name, tmp_path, timeout_s=300)
    assert final.state == "completed", jobs.read_log(run.name, tmp_path)


@pytest.mark.slow
def test_another_visitor_sees_a_run_read_only(tmp_path, monkeypatch):
    """Tab A starts a run; tab B (another browser session) watches it but cannot cancel,
    resume or delete it, and the table says whose run it is."""
    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("CGVIZ_SHARED_CONTROL", raising=False)
    a = page("3_Training.py").run()
    a.radio[0].set_value("MEMnets").run()
    a.number_input[0].set_value(1)
    a.get("form_submit_button")[0].click().run()
    assert not a.exception and "Started run" in a.success[0].value
    name = jobs.list_runs(tmp_path)[0].name
    assert a.dataframe[0].value["owner"].tolist() == ["you"]
    b = page("3_Training.py").run()
    assert not b.exception
    assert b.dataframe[0].value["owner"].tolist() == ["another visitor"]
    assert any("Another visitor started this run" in c.value for c in b.caption)
    buttons = {button.label: button for button in b.button}
    assert buttons["Cancel"].disabled and buttons["Delete"].disabled
    jobs.wait(name, tmp_path, timeout_s=300)
    b.run()
    assert {button.label: button for button in b.button}["Delete"].disabled
    a.run()
    assert not {button.label: button for button in a.button}["Delete"].disabled


@pytest.mark.slow
@pytest.mark.parametrize("which", ["protein", "periodic box"])
def test_train_on_page_3_then_roll_out_on_page_4(which, tmp_path, monkeypatch):
    """The user's flow in the app: the system in use (a real protein with non-standard
    residues, or interacting chains in a periodic box) trained for a few steps on page 3,
    then rolled out from its held-out frames on page 4 with that run's checkpoint."""
    from cgviz import system as cg_system
    from cgviz.app import ui

    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    if which == "protein":
        data = Path(__import__("nglview").__file__).parent / "datafiles"
        chosen = cg_system.load(data / "md_1u19.xtc", data / "md_1u19.gro")
        atoms_per_bead, history = 60.0, 3
    else:
        chosen = ui._load_demo("polymer-box")
        atoms_per_bead, history = 4.0, 4
    train = page("3_Training.py")
    train.session_state[ui.SYSTEM_KEY] = chosen
    train.run()
    train.number_input[0].set_value(10)  # steps
    train.number_input[1].set_value(atoms_per_bead)
    train.number_input[2].set_value(history)
    train.get("form_submit_button")[0].click().run()
    assert not train.exception and not train.error, [e.value for e in train.error]
    run = jobs.list_runs(tmp_path)[0]
    assert jobs.wait(run.name, tmp_path, timeout_s=400).state == "completed", jobs.read_log(
        run.name, tmp_path)
    roll = page("4_Rollout.py")
    roll.session_state[ui.SYSTEM_KEY] = chosen
    roll.run()
    choice = [o for o in roll.selectbox[0].options if run.name in o][0]
    roll.selectbox[0].set_value(choice)
    roll.number_input[1].set_value(10)  # model steps
    roll.get("form_submit_button")[0].click().run()
    assert not roll.exception and not roll.error, [e.value for e in roll.error]
    assert {m.label: m.value for m in roll.metric}["steps done"] == "10 / 10"
    assert not roll.warning  # judged on held-out frames only
    # The protein's test block is 5 frames: past it the page says the MD has ended.
    step = [s for s in roll.slider if s.label == "Model step"][0]
    step.set_value(1).run()
    assert not roll.exception and len(roll.get("plotly_chart")) == 6

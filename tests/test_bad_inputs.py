"""Every bad input in tests/bad_inputs.py gives a CgvizError that says what to do (library)
or exit code 2 with one clear error line (CLI); nothing runs code; the app pages show
st.error and stay up. The catalogue holds at least 60 cases in all."""

from __future__ import annotations

import contextlib
import io as _io
from pathlib import Path

import pytest
from bad_inputs import cli_cases, library_cases, sentinel_created

from cgviz import CgvizError, cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bad")


def test_every_bad_library_input_is_a_clear_cgviz_error(workdir):
    failures = []
    cases = library_cases(workdir / "lib")
    for name, call in cases:
        try:
            call()
        except CgvizError as error:
            if not error.hint or len(str(error)) < 40 or "weights_only=False" in str(error):
                failures.append(f"{name}: unclear message {str(error)!r}")
        except Exception as error:  # noqa: BLE001 - the point is to catch every other kind
            failures.append(f"{name}: {type(error).__name__}: {error}")
        else:
            failures.append(f"{name}: accepted")
    assert not failures, "\n".join(failures)
    assert not sentinel_created(workdir / "lib")
    assert len(cases) >= 60


def test_every_bad_command_line_exits_2_with_one_error_line(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    failures = []
    cases = cli_cases(workdir / "cli")
    for name, argv in cases:
        stderr = _io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(_io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as stop:  # argparse
                code = stop.code
        text = stderr.getvalue()
        if code != 2 or "error:" not in text or "Traceback" in text:
            failures.append(f"{name}: exit {code}, stderr {text[-300:]!r}")
    assert not failures, "\n".join(failures)
    assert not sentinel_created(workdir / "cli")


def test_the_catalogue_holds_at_least_60_bad_inputs(workdir):
    total = len(library_cases(workdir / "count")) + len(cli_cases(workdir / "count"))
    assert total >= 60, total


def test_bad_settings_in_the_app_show_st_error_and_the_app_stays_up(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    shown = []
    rollout = AppTest.from_file(str(ROOT / "pages" / "4_Rollout.py"), default_timeout=120)
    rollout.run()
    rollout.selectbox[0].set_value("upload a checkpoint (.pt)")
    rollout.get("form_submit_button")[0].click().run()
    shown.append(("rollout: upload chosen, no file", rollout))
    training = AppTest.from_file(str(ROOT / "pages" / "3_Training.py"), default_timeout=120)
    training.run()
    training.radio[0].set_value("MEMnets").run()
    training.text_input[1].set_value("1 seven 8")  # lag times
    training.get("form_submit_button")[0].click().run()
    shown.append(("training: lag times that are not numbers", training))
    for name, at in shown:
        assert not at.exception, (name, at.exception)
        assert at.error, name
    assert "Choose a checkpoint file" in shown[0][1].error[0].value

"""Packaging, the command line and the house rules a test can check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("streamlit", "nglview", "ipywidgets", "lightning", "torch_geometric", "deeptime")


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("module", ["cgviz", "cgviz.io", "cgviz.datasets", "cgviz.analysis"])
def test_import_is_light(module):
    out = _run(f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert out.strip() == "", f"import {module} pulled in {out.strip()}"


def test_import_has_no_side_effects(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import cgviz, cgviz.datasets, cgviz.io"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == [], "importing cgviz must not create files"


def test_requirements_pin_torch():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in lines


def test_cli_help_and_demos_listing():
    result = subprocess.run([sys.executable, "-m", "cgviz", "--help"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and "demo-data" in result.stdout
    result = subprocess.run([sys.executable, "-m", "cgviz", "demos"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "alanine-dipeptide" in result.stdout and "polymer-train" in result.stdout


def test_cli_reports_user_errors_without_traceback(tmp_path):
    missing = tmp_path / "nothing.xtc"
    result = subprocess.run([sys.executable, "-m", "cgviz", "info", str(missing)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert "nothing.xtc" in result.stderr
    result = subprocess.run([sys.executable, "-m", "cgviz", "demos", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "No demo manifest" in result.stderr


def test_cli_info_summarises_a_demo_trajectory():
    from cgviz import datasets

    paths = datasets.demo_paths("alanine-dipeptide")
    result = subprocess.run(
        [sys.executable, "-m", "cgviz", "info", str(paths["trajectories"][0]),
         "--top", str(paths["topology"])],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "22" in result.stdout and "n_frames" in result.stdout


def test_version_and_app_commands():
    import subprocess
    import sys

    from cgviz import __version__

    done = subprocess.run([sys.executable, "-m", "cgviz", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"cgviz {__version__}"
    done = subprocess.run([sys.executable, "-m", "cgviz", "app", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Streamlit app" in done.stdout


def test_packaging_is_honest():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.11"' in text and (ROOT / "LICENSE").exists()
    assert "MIT License" in (ROOT / "LICENSE").read_text()

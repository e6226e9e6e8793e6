"""Safe to serve, hard to break: attacks refused, bad inputs with a clear message, kills.

* attacks: files and settings that try to run code or reach outside what the operator
  allows: crafted HDF5 files (every kind in tests/test_io_safety.py, as trajectory and as
  topology), a checkpoint with a pickled object, run files naming ``module:function``
  tasks, run names and paths leaving the runs folder, server paths outside the allowed
  roots. Refused = a CgvizError and no code run (a sentinel file never appears).
* bad inputs: the catalogue in tests/bad_inputs.py through the library and the CLI; clear
  = a CgvizError with a hint (library) or exit code 2 with one error line (CLI).
* kills: ``benchmarks/jobs_kill_test.py`` (kill -9 at random training steps, resume),
  run here with ``--kills`` (default 20); survived and the most steps lost.

Prints one table (goal: every attack refused, every bad input clear, every kill
survived with at most one checkpoint interval lost); ``--markdown docs/security.md``.

    python benchmarks/safety_report.py [--kills 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io as _io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402


def attacks(tmp: Path) -> list[tuple[str, object]]:
    """(name, callable) pairs; each must raise CgvizError without running code."""
    import numpy as np
    import torch
    from test_io_safety import KINDS, _Payload, _craft

    import mdtraj as md
    from cgviz import datasets, io, jobs, paths
    from cgviz.simulator.model import load_checkpoint

    tmp.mkdir(parents=True, exist_ok=True)
    demo = datasets.demo_paths("alanine-dipeptide")
    frames = md.load(str(demo["trajectories"][0]), top=str(demo["topology"]))[:5]
    clean = tmp / "clean.h5"
    frames.save_hdf5(str(clean))
    xtc = tmp / "frames.xtc"
    frames.save_xtc(str(xtc))
    sentinel = tmp / "RAN_CODE"
    cases = []
    for kind in KINDS:
        evil = _craft(kind, clean, tmp, sentinel)
        cases.append((f"HDF5 {kind} as trajectory", lambda e=evil: io.load_trajectory(str(e))))
        cases.append((f"HDF5 {kind} as topology",
                      lambda e=evil: io.load_trajectory(str(xtc), topology=str(e))))
    pickled = tmp / "pickled.pt"
    torch.save({"x": _Payload(sentinel)}, pickled)
    cases.append(("checkpoint with a pickled object", lambda: load_checkpoint(pickled)))
    for task in ("os:getcwd", "subprocess:run", "builtins:exec"):
        cases.append((f"run file task {task}", lambda t=task: jobs.RunSpec(task=t)))
    runs = tmp / "runs"
    runs.mkdir()
    outside = tmp / "victim"
    outside.mkdir()
    (outside / "run.yaml").write_text("task: simulator\nconfig: {}\n")
    cases.append(("delete a run folder outside the runs folder",
                  lambda: jobs.delete(outside, runs)))
    for name in ("../../x", "/etc", "..", ".hidden"):
        cases.append((f"run name {name!r}", lambda n=name: jobs.sanitize_name(n)))
    os.environ.pop(paths.ROOTS_VARIABLE, None)
    cases.append(("server path with server paths off", lambda: paths.confine("/etc/passwd")))
    allowed = tmp / "shared"
    allowed.mkdir()

    def outside_roots(target: str):
        os.environ[paths.ROOTS_VARIABLE] = str(allowed)
        try:
            return paths.confine(target)
        finally:
            os.environ.pop(paths.ROOTS_VARIABLE, None)

    for target in ("/etc/passwd", "/proc/self/environ", f"{allowed}/../victim/run.yaml"):
        cases.append((f"server path {target}", lambda t=target: outside_roots(t)))
    (allowed / "link.pdb").symlink_to("/etc/hostname")
    cases.append(("symlink out of the allowed folder",
                  lambda: outside_roots(str(allowed / "link.pdb"))))
    del np
    return cases


def count_library(cases) -> tuple[int, list[str]]:
    from cgviz import CgvizError

    good, bad = 0, []
    for name, call in cases:
        try:
            call()
        except CgvizError as error:
            if error.hint and len(str(error)) >= 40:
                good += 1
            else:
                bad.append(f"{name}: no hint")
        except Exception as error:  # noqa: BLE001
            bad.append(f"{name}: {type(error).__name__}")
        else:
            bad.append(f"{name}: accepted")
    return good, bad


def count_cli(cases) -> tuple[int, list[str]]:
    from cgviz import cli

    good, bad = 0, []
    for name, argv in cases:
        stderr = _io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(_io.StringIO()):
            try:
                code = cli.main(argv)
            except SystemExit as stop:
                code = stop.code
        if code == 2 and "error:" in stderr.getvalue() and "Traceback" not in stderr.getvalue():
            good += 1
        else:
            bad.append(f"{name}: exit {code}")
    return good, bad


def kills(n: int) -> tuple[str, str]:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "jobs_kill_test.py"),
                           "--kills", str(n)], capture_output=True, text=True, timeout=3600)
    match = re.search(r"\|\s*(\d+) / (\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|",
                      done.stdout)
    if not match:
        return "failed to run", done.stdout[-500:] + done.stderr[-500:]
    survived, total, lost, every, corrupt = match.groups()
    return f"{survived} / {total}", f"{lost} (checkpoint every {every}; {corrupt} corrupt runs)"


def main() -> None:
    from bad_inputs import cli_cases, library_cases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--markdown", help="write the table into this docs page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        attack_cases = attacks(tmp / "attacks")
        refused, missed = count_library(attack_cases)
        ran_code = (tmp / "attacks" / "RAN_CODE").exists()
        library = library_cases(tmp / "lib")
        lib_good, lib_bad = count_library(library)
        cli = cli_cases(tmp / "cli")
        old = os.getcwd()
        os.chdir(tmp)
        try:
            cli_good, cli_bad = count_cli(cli)
        finally:
            os.chdir(old)
    survived, lost = kills(args.kills) if args.kills else ("not run", "")
    rows = [
        ["attacks refused / tried", f"{refused} / {len(attack_cases)}"
         + ("; CODE RAN" if ran_code else "; no code ran"), "all"],
        ["bad inputs with a clear message / total",
         f"{lib_good + cli_good} / {len(library) + len(cli)} (library {lib_good}/"
         f"{len(library)}, CLI {cli_good}/{len(cli)})", "all, at least 60"],
        ["kills during training survived / total", survived, "all"],
        ["steps lost per kill (max)", lost, "<= one checkpoint interval"],
    ]
    body = table(["measure", "result", "goal"], rows)
    if missed or lib_bad or cli_bad:
        body += "\n\nNot clear: " + "; ".join(missed + lib_bad + cli_bad)
    body += (f"\n\nMachine: {machine()}. `python benchmarks/safety_report.py --kills "
             f"{args.kills}`.")
    print(body)
    if args.markdown:
        write_section(args.markdown, "safety_report", "Measured", body)


if __name__ == "__main__":
    main()

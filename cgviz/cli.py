"""``python -m cgviz``: the command line.

Every action of the app has a command here. A ``CgvizError`` is printed as one clear line
(exit code 2), never as a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from cgviz.errors import CgvizError


def _tqdm_factory(name: str) -> Callable[[int, int], None]:
    from tqdm.auto import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=name, unit="frame", dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from cgviz import datasets

    command = "python -m cgviz " + shlex.join(sys.argv[1:]) if sys.argv[1:] else None
    out = Path(args.out) if args.out else datasets.BUNDLED_DATA_DIR
    if args.system == "polymer":
        infos = [datasets.generate_polymer(
            out, args.name or f"polymer-{args.sequence}", n_chains=args.n_chains,
            n_monomers=args.n_monomers, sequence_kind=args.sequence, n_frames=args.n_frames,
            seed=args.seed, chains_per_system=args.chains_per_system,
            equilibration_tau=args.equilibration_tau, platform=args.platform,
            progress=_tqdm_factory(args.name or "polymer"), command=command)]
    elif args.system == "alanine":
        infos = [datasets.generate_alanine(
            out, args.name or "alanine-dipeptide", n_trajectories=args.n_trajectories,
            n_frames=args.n_frames, frame_interval_ps=args.frame_interval_ps, seed=args.seed,
            solvent=args.solvent, platform=args.platform, temperature_K=args.temperature_k,
            progress=_tqdm_factory(args.name or "alanine-dipeptide"), command=command)]
    else:
        infos = datasets.generate_preset(out, args.preset, progress_factory=_tqdm_factory,
                                         command=command, only=args.only)
    for info in infos:
        print(f"{info.name}: {info.n_atoms} atoms, {len(info.trajectories)} trajectories, "
              f"{sum(info.n_frames)} frames x {info.frame_time_ps:.3g} ps "
              f"= {info.total_time_ns:.3g} ns -> {out}")
    return 0


def _cmd_demos(args: argparse.Namespace) -> int:
    from cgviz import datasets

    for info in datasets.list_demos(args.data_dir):
        print(f"{info.name:20s} {info.system:18s} {info.n_atoms:6d} atoms  "
              f"{len(info.trajectories)} traj  {sum(info.n_frames):7d} frames  "
              f"{info.frame_time_ps:8.3f} ps/frame  {info.total_time_ns:8.2f} ns")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from cgviz import io

    trajectory = io.load_trajectory(args.paths, topology=args.top, stride=args.stride)
    for key, value in asdict(io.trajectory_summary(trajectory)).items():
        print(f"{key:24s} {value}")
    return 0


def _print_status(status) -> None:
    from dataclasses import asdict as _asdict

    for key, value in _asdict(status).items():
        if key in ("created", "started", "ended") and value:
            import time

            value = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
        print(f"{key:22s} {value}")


def _cmd_run(args: argparse.Namespace) -> int:
    from cgviz import jobs

    return jobs.drive(args.run_dir, resume_run=args.resume,
                      wait_for_launcher=args.wait_for_launcher)


def _cmd_runs(args: argparse.Namespace) -> int:
    from cgviz import jobs

    if args.action == "list":
        runs = jobs.list_runs(args.runs_dir)
        if not runs:
            print(f"no runs in {args.runs_dir or jobs.default_runs_dir()}")
        for s in runs:
            progress = f"{100 * s.progress:5.1f}%" if s.progress is not None else "     -"
            state = f"queued #{s.place}" if s.state == "queued" and s.place else s.state
            print(f"{s.name:32s} {state:12s} {s.task:12s} {s.device:10s} step {s.step:8d} "
                  f"{progress}  {s.owner:16s} {s.reason[:60]}")
        return 0
    if args.action == "start":
        if not args.target:
            raise CgvizError("`runs start` needs a run file.",
                             hint="python -m cgviz runs start run.yaml")
        spec = jobs.RunSpec.from_file(args.target)
        _print_status(jobs.start(spec, runs_dir=args.runs_dir, device=args.device,
                                 name=args.name, owner=jobs.local_owner()))
        return 0
    if not args.target:
        raise CgvizError(f"`runs {args.action}` needs a run name.")
    if args.action == "show":
        _print_status(jobs.status(args.target, args.runs_dir))
        frame = jobs.metrics(args.target, args.runs_dir)
        if len(frame):
            print("\nlast metrics:")
            print(frame.tail(5).to_string(index=False))
    elif args.action == "cancel":
        _print_status(jobs.cancel(args.target, args.runs_dir, timeout_s=args.timeout))
    elif args.action == "resume":
        _print_status(jobs.resume(args.target, args.runs_dir))
    elif args.action == "delete":
        jobs.delete(args.target, args.runs_dir)
        print(f"deleted {args.target}")
    return 0


def _user_system(args: argparse.Namespace, record: dict | None = None):
    """The MolecularSystem of --topology/--trajectory/--selection/--stride (defaults for
    selection, stride and periodic from the training ``record`` of a checkpoint)."""
    from cgviz import system

    record = record or {}
    source = record.get("source") or {}
    selection = args.selection if getattr(args, "selection", None) is not None else source.get(
        "selection")
    stride = args.stride if getattr(args, "stride", None) is not None else int(
        source.get("stride") or 1)
    periodic = getattr(args, "periodic", None)
    if periodic is None:
        periodic = record.get("periodic") if record else None
    return system.load(args.trajectory, args.topology, selection=selection, stride=stride,
                       periodic=periodic, split=record.get("split") if record else getattr(
                           args, "split_spec", None))


def _cmd_train_simulator(args: argparse.Namespace) -> int:
    from cgviz import jobs
    from cgviz.training.config import SimulatorTrainingConfig, preset

    if args.config and args.preset:
        raise CgvizError("Give a config file or --preset, not both.")
    if args.config:
        try:
            text = Path(args.config).read_text()
        except OSError as exc:
            raise CgvizError(f"Cannot read {args.config}: {exc.strerror}.") from exc
        config = SimulatorTrainingConfig.from_yaml(text)
    else:
        config = preset(args.preset or "cpu-demo")
    overrides = {k: v for k, v in (("max_steps", args.max_steps), ("train_demo", args.demo),
                                   ("atoms_per_bead", args.atoms_per_bead),
                                   ("batch_size", args.batch_size))
                 if v is not None}
    if args.ignore_memory_estimate:
        overrides["memory_check"] = False
    if args.history_length is not None:
        overrides["model"] = {**config.model, "history_length": args.history_length}
    if args.trajectory:
        if args.demo:
            raise CgvizError("Give --demo or --trajectory, not both.")
        args.split_spec = {"by": args.split}
        chosen = _user_system(args)
        for note in chosen.notes:
            print(f"note: {note}")
        print(f"system: {chosen.n_atoms} atoms, {len(chosen.trajectories)} trajectories, "
              f"{chosen.n_frames} frames; model step {chosen.time_step_text}; "
              f"{'periodic' if chosen.periodic else 'not periodic'}")
        overrides["system"] = chosen.to_dict()
    elif args.topology or args.selection is not None or args.stride is not None:
        raise CgvizError("--topology, --selection and --stride go with --trajectory.",
                         hint="Add --trajectory FILE [FILE ...].")
    config = SimulatorTrainingConfig.from_dict({**config.to_dict(), **overrides})
    if args.trajectory:
        from cgviz.training.simulator import check_system

        # Before a run folder exists: a system that cannot train (or would not fit in
        # memory) is refused here with the reason.
        check_system(chosen, config, chosen.mapping,
                     jobs.parse_device(args.device))
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), device=args.device,
                        checkpoint_every=args.checkpoint_every, name=args.name or "")
    if args.background:
        _print_status(jobs.start(spec, runs_dir=args.runs_dir))
        return 0
    target = jobs.create(spec, runs_dir=args.runs_dir)
    print(f"run directory: {target}", flush=True)
    if len(jobs.parse_device(spec.device)) > 1:
        # DDP: Lightning starts the other ranks by re-running this process's command line,
        # so the ranks must run the driver command itself, not train-simulator.
        import subprocess

        code = subprocess.run([sys.executable, "-m", "cgviz", "run", str(target)]).returncode
    else:
        code = jobs.drive(target, show_progress=True)
    final = jobs.status(target)
    print(f"{final.state} at step {final.step}" + (f": {final.reason}" if final.reason else ""))
    if final.state == "completed":
        print(f"checkpoint: {target / 'checkpoints' / 'last.pt'}")
    return code if final.state == "completed" else max(code, 1)


def _held_out(args: argparse.Namespace):
    """(model, HeldOut) for rollout / evaluate-simulator: the user's files or a demo."""
    from cgviz import system
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator

    model, checkpoint = load_simulator(args.checkpoint)
    if args.trajectory:
        chosen = _user_system(args, evaluate._training_record(checkpoint))
    elif args.topology:
        raise CgvizError("--topology goes with --trajectory.",
                         hint="Add --trajectory FILE [FILE ...].")
    else:
        chosen = system.from_demo(args.demo, args.data_dir)
    held = evaluate.held_out_systems(checkpoint, chosen)
    for note in chosen.notes:
        print(f"note: {note}")
    for warning in held.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return model, held


def _cmd_rollout(args: argparse.Namespace) -> int:
    from cgviz.simulator.rollout import rollout, write_rollout

    model, held = _held_out(args)
    systems = held.systems[: args.n_systems] if args.n_systems else held.systems
    bar = _tqdm_factory("rollout")
    result = rollout(model, systems, args.n_steps, seed=args.seed, refine_steps=args.refine,
                     refine_epsilon=args.refine_epsilon, stochastic=not args.deterministic,
                     device=args.device, progress=bar)
    write_rollout(result, args.out)
    print(f"{result.n_systems} systems x {result.n_steps_completed} steps of "
          f"{result.frame_time_ps:g} ps"
          f"{'' if result.stop_reason is None else ' (stopped: ' + result.stop_reason + ')'}; "
          f"{result.simulated_ns_per_wall_second:.3g} simulated ns per wall second -> "
          f"{args.out} (system_NNN.pdb + system_NNN.xtc; MD start frames in "
          "system_NNN_start.xtc; see rollout.json)")
    return 0 if result.stop_reason is None else 1


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cgviz.simulator import evaluate

    model, held = _held_out(args)
    report, _ = evaluate.evaluate(model, held.systems, args.n_steps, seed=args.seed,
                                  refine_steps=args.refine, refine_epsilon=args.refine_epsilon,
                                  device=args.device,
                                  progress=_tqdm_factory("rollout"))
    report = replace(report, warnings=tuple(held.warnings))
    paths = report.save(args.out)
    for row in report.summary_rows():
        interval = ("" if row["ci95_low"] is None
                    else f"  [{row['ci95_low']:.3g}, {row['ci95_high']:.3g}]")
        value = "n/a" if row["value"] is None else f"{row['value']:.3g}"
        floor = "" if row["md_vs_md"] is None else f"  (MD vs MD {row['md_vs_md']:.2f})"
        print(f"{row['measure']:34s} {value}{interval}{floor}")
    print(f"compared over {report.compared_frames} frames per system; steps done "
          f"{report.min_steps_before_stop} of {report.n_steps_requested}; "
          f"{report.simulated_ns_per_wall_second:.3g} simulated ns per wall second")
    for warning in report.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print("report -> " + ", ".join(str(p) for p in paths.values()))
    return 0


def _system_arguments(parser: argparse.ArgumentParser, defaults_from: str | None = None
                      ) -> None:
    parser.add_argument("--topology", help="topology file (.pdb, .gro, .prmtop, .psf, ...) "
                        "for coordinate-only trajectories")
    parser.add_argument("--trajectory", nargs="+", metavar="X",
                        help="trajectory files of your own system (one topology)")
    parser.add_argument("--selection", help="mdtraj selection of the atoms to keep "
                        f"(default: {defaults_from or 'all atoms but water'})")
    parser.add_argument("--stride", type=int, help="keep every K-th saved frame: one model "
                        f"step = K saved frame intervals (default: {defaults_from or 1})")
    periodic = parser.add_mutually_exclusive_group()
    periodic.add_argument("--periodic", dest="periodic", action="store_true", default=None,
                          help="use the box (unwrap, minimum image)")
    periodic.add_argument("--no-periodic", dest="periodic", action="store_false",
                          help="ignore any box in the files")


def _cmd_map(args: argparse.Namespace) -> int:
    """Map the user's system (METIS or residues); write the cgviz mapping, .ndx and JSON."""
    from cgviz import io, mapping, system
    from cgviz.mapping import export as mapping_export

    mapping_export._file_names(args.stem)  # a plain file name, checked before any work
    full = io._resolve_topology(args.topology).topology  # the whole file, water and all
    if not args.trajectory:
        # The topology's own coordinates (a .pdb, .gro) are enough: bonds a file lacks are
        # inferred from its first frame.
        if io._extension(args.topology) not in io.SELF_TOPOLOGY_EXTENSIONS:
            raise CgvizError(f"Topology '{args.topology}' holds no coordinates.",
                             hint="Add --trajectory FILE (one file is enough).")
        args.trajectory, args.topology = [args.topology], None
    if args.bond_cutoff_nm is not None and not args.guess_bonds:
        raise CgvizError("--bond-cutoff-nm goes with --guess-bonds.",
                         hint="Add --guess-bonds, or leave the cutoff out.")
    args.periodic = False  # the mapping depends on the bonds only: no unwrapping needed
    chosen = _user_system(args)
    # Where the kept atoms are in the file (water is dropped by default), so that the .ndx
    # numbers atoms as the file and a .tpr made from it do.
    kept, _ = system._select(full, args.selection, keep_solvent=False)
    for note in chosen.notes:
        print(f"note: {note}")
    options = dict(properties=chosen.properties, guess_bonds=args.guess_bonds,
                   coordinates=chosen.trajectories[0] if args.guess_bonds else None,
                   bond_cutoff_nm=args.bond_cutoff_nm)
    try:
        if args.residues_per_bead is not None:
            cg = mapping.residue_mapping(chosen.topology, args.residues_per_bead, **options)
        else:
            cg = mapping.metis_mapping(chosen.topology, args.atoms_per_bead, **options)
    except CgvizError as error:
        if error.hint and "guess_bonds=True" in error.hint:
            raise CgvizError(error.problem, hint="Load a topology with bonds (PDB with "
                             "CONECT records, PSF, PRMTOP, mol2, ...), or add --guess-bonds "
                             "(bead models also --bond-cutoff-nm X).") from error
        raise
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CgvizError(f"Cannot make the folder {out} ({error.strerror or error}).",
                         hint="Give --out a folder you can write to.") from error
    saved = cg.save(out / f"{args.stem}.json")
    ndx, beads = mapping_export.write_mapping_files(cg, out, args.stem, topology=full,
                                                    atom_indices=kept)
    print(f"{cg.method} mapping: {cg.n_atoms} atoms -> {cg.n_beads} beads, "
          f"{len(cg.bead_bonds)} CG bonds")
    print(f"wrote {saved} (the cgviz mapping: cgviz.mapping.load_mapping, page 2's upload)")
    print(f"wrote {ndx} (GROMACS index: [ System ] of {full.n_atoms} atoms, then bead k as "
          "group k, atoms numbered as in the topology file)")
    print(f"wrote {beads} (bead names, types, masses, residues, atoms, CG bonds)")
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    """``streamlit run app.py`` from the repository this cgviz is installed from."""
    import subprocess

    app = Path(__file__).resolve().parents[1] / "app.py"
    if not app.exists():
        raise CgvizError(f"The app's entry point {app} is not there.",
                         hint="Run it from a checkout of cgviz: streamlit run app.py.")
    command = [sys.executable, "-m", "streamlit", "run", str(app)]
    if args.port:
        command += ["--server.port", str(args.port)]
    return subprocess.call(command, cwd=str(app.parent))


class _HelpWithDefaults(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" not in text and action.option_strings and action.nargs != 0
                and action.default not in (None, False, argparse.SUPPRESS)
                and not isinstance(action, argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    from cgviz import __version__

    parser = argparse.ArgumentParser(prog="python -m cgviz", description=__doc__.splitlines()[0],
                                     formatter_class=_HelpWithDefaults)
    parser.add_argument("--version", action="version", version=f"cgviz {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    app = sub.add_parser("app", help="start the Streamlit app (streamlit run app.py)",
                         description="Start the Streamlit app (streamlit run app.py).")
    app.add_argument("--port", type=int, help="port to serve on (default: Streamlit's, 8501)")
    app.set_defaults(func=_cmd_app)

    demo = sub.add_parser(
        "demo-data",
        help="simulate demo data with OpenMM (a preset, or one polymer / alanine set)",
        description="Simulate demo data with OpenMM and write files + manifest.json. "
        "Without a system: every demo of --preset (bundle = the files shipped with cgviz, "
        "paper = paper-scale polymer data, tiny = seconds, for tests).",
    )
    demo.add_argument("system", nargs="?", choices=["polymer", "alanine"],
                      help="generate one data set instead of a preset")
    demo.add_argument("--preset", default="bundle", choices=["bundle", "paper", "tiny"])
    demo.add_argument("--only", nargs="*", help="with a preset: only these demo names")
    demo.add_argument("--out", help="output directory (default: the bundled data directory)")
    demo.add_argument("--name", help="demo name in the manifest (file stem)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--n-frames", type=int, default=1000)
    demo.add_argument("--platform", default=None,
                      help="OpenMM platform (default CPU for polymer, Reference for alanine)")
    demo.add_argument("--n-chains", type=int, default=24)
    demo.add_argument("--n-monomers", type=int, default=50)
    demo.add_argument("--sequence", default="blocky", choices=["blocky", "random"])
    demo.add_argument("--chains-per-system", type=int, default=32)
    demo.add_argument("--equilibration-tau", type=float, default=1500.0)
    demo.add_argument("--n-trajectories", type=int, default=4)
    demo.add_argument("--frame-interval-ps", type=float, default=1.0)
    demo.add_argument("--solvent", default="obc2", choices=["obc2", "vacuum", "gbn2"],
                      help="alanine: implicit water (obc2, default), vacuum, or amber14 GBn2")
    demo.add_argument("--temperature-k", type=float, default=300.0,
                      help="alanine: temperature in K (default 300; hotter samples phi flips)")
    demo.set_defaults(func=_cmd_demo_data)

    demos = sub.add_parser("demos", help="list the demo data sets")
    demos.add_argument("--data-dir", help="a directory written by demo-data (default: bundled)")
    demos.set_defaults(func=_cmd_demos)

    info = sub.add_parser("info", help="summarise a trajectory (atoms, frames, frame time)")
    info.add_argument("paths", nargs="+")
    info.add_argument("--top", help="topology file (needed for xtc, dcd, trr, ...)")
    info.add_argument("--stride", type=int, default=1)
    info.set_defaults(func=_cmd_info)

    run = sub.add_parser("run", help="drive one run directory in this process (used by cgviz.jobs)")
    run.add_argument("run_dir")
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    run.add_argument("--wait-for-launcher", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(func=_cmd_run)

    runs = sub.add_parser("runs", help="background training runs: list, start, show, cancel, "
                          "resume, delete (runs beyond a device's limit, $CGVIZ_MAX_RUNS, "
                          "wait queued)")
    runs.add_argument("action", choices=["list", "start", "show", "cancel", "resume", "delete"])
    runs.add_argument("target", nargs="?", help="run name (or a run file, for start)")
    runs.add_argument("--runs-dir", help="where runs live (default ./runs or $CGVIZ_RUNS_DIR)")
    runs.add_argument("--device", help="start: cpu, cuda:N or cuda:0,1 (overrides the run file)")
    runs.add_argument("--name", help="start: the run's name (overrides the run file)")
    runs.add_argument("--timeout", type=float, default=30.0,
                      help="cancel: seconds to wait before killing the process")
    runs.set_defaults(func=_cmd_runs)
    __import__("cgviz.memnets.cli", fromlist=["register"]).register(sub)  # no torch import

    cg_map = sub.add_parser(
        "map", help="map your system to beads: the cgviz mapping + a GROMACS .ndx + a JSON "
        "of the beads",
        description="Build a METIS (or residue) mapping of your system and write "
        "STEM.json (the cgviz mapping), STEM.ndx (GROMACS index: [ System ], then one group "
        "per bead, atoms numbered as in the topology file) and STEM_beads.json (bead names, "
        "types, masses, residues, atoms, CG bonds) into --out.")
    cg_map.add_argument("--topology", required=True, help="topology file (.pdb, .gro, "
                        ".prmtop, .psf, ...); a .pdb or .gro needs no --trajectory")
    cg_map.add_argument("--trajectory", nargs="+", metavar="X",
                        help="coordinates (only the first frame matters: for inferring "
                        "missing bonds)")
    cg_map.add_argument("--selection", help="mdtraj selection of the atoms to map (default: "
                        "all atoms but water)")
    size = cg_map.add_mutually_exclusive_group(required=True)
    size.add_argument("--atoms-per-bead", type=float, help="METIS: atoms per bead (e.g. 4)")
    size.add_argument("--residues-per-bead", type=int, help="one bead per N residues")
    cg_map.add_argument("--guess-bonds", action="store_true",
                        help="infer every bond from distances in the first frame")
    cg_map.add_argument("--bond-cutoff-nm", type=float,
                        help="with --guess-bonds, for bead models: bond below this distance")
    cg_map.add_argument("--out", default="mapping", help="output folder (default: mapping)")
    cg_map.add_argument("--stem", default="mapping",
                        help="file name stem (default: mapping)")
    cg_map.set_defaults(func=_cmd_map)

    train = sub.add_parser("train-simulator", help="train the CG simulator (a run directory)")
    train.add_argument("config", nargs="?", help="YAML training config (keys of "
                       "SimulatorTrainingConfig; 'preset: cpu-demo' starts from a preset)")
    train.add_argument("--preset", choices=["cpu-demo", "paper"], help="start from a preset")
    train.add_argument("--demo", help="training demo (default: the config's, polymer-train)")
    _system_arguments(train)
    train.add_argument("--split", default="auto", choices=["auto", "time", "trajectory"],
                       help="train/validation/test split: whole trajectories (auto with >= 3 "
                       "files) or time blocks of each")
    train.add_argument("--atoms-per-bead", type=float,
                       help="METIS mapping size (default: the config's, 4)")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--history-length", type=int,
                       help="frames the model sees, k (default: the preset's, 16 or 30); "
                       "short trajectories need a short history")
    train.add_argument("--batch-size", type=int,
                       help="history windows per step (default: the preset's, 16 or 32); "
                       "lower it for large systems")
    train.add_argument("--ignore-memory-estimate", action="store_true",
                       help="start even if the estimated peak memory exceeds what is free")
    train.add_argument("--device", default="cpu", help="cpu, cuda:N, or cuda:0,1 for DDP")
    train.add_argument("--name", help="run name (default: simulator-<date>-<id>)")
    train.add_argument("--runs-dir", help="where runs live (default ./runs or $CGVIZ_RUNS_DIR)")
    train.add_argument("--checkpoint-every", type=int, default=250,
                       help="save a numbered checkpoint every this many steps")
    train.add_argument("--background", action="store_true",
                       help="start a detached run and return (watch it with `runs show`)")
    train.set_defaults(func=_cmd_train_simulator)

    for command, helptext, func in (
        ("rollout", "roll a trained simulator out from held-out frames (your files or a "
         "demo); write bead PDB + XTC", _cmd_rollout),
        ("evaluate-simulator", "roll out on held-out systems and score against the MD "
         "(JSON report)", _cmd_evaluate),
    ):
        cmd = sub.add_parser(command, help=helptext)
        cmd.add_argument("checkpoint", help="a simulator checkpoint (bundled: "
                         "cgviz/datasets/data/simulator_cpu_demo.pt, or runs/NAME/checkpoints/last.pt)")
        cmd.add_argument("--demo", default="polymer-test",
                         help="systems to start from, without --trajectory")
        cmd.add_argument("--data-dir", help="demo directory (default: bundled)")
        _system_arguments(cmd, defaults_from="the checkpoint's training system")
        cmd.add_argument("--n-steps", type=int, default=1000)
        cmd.add_argument("--seed", type=int, default=0)
        cmd.add_argument("--refine", type=int, default=0,
                         help="annealed-Langevin steps per noise level (0 = off; 7, with "
                         "the default factor and levels, was chosen on validation frames: "
                         "docs/evaluation.md)")
        cmd.add_argument("--refine-epsilon", type=float,
                         help="refinement step factor: eta_i = epsilon * s_i^2 (default: "
                         "cgviz.simulator.model.REFINE_EPSILON, 10)")
        cmd.add_argument("--device", default="cpu")
        if command == "rollout":
            cmd.add_argument("--n-systems", type=int, help="only the first N systems")
            cmd.add_argument("--deterministic", action="store_true", help="take mu, no sampling")
            cmd.add_argument("--out", default="rollout", help="output directory")
        else:
            cmd.add_argument("--out", default="evaluation",
                             help="report folder: report.json, summary.csv (with 95 %% "
                             "intervals), systems.csv, report.html (a path ending in .json "
                             "writes the JSON there and the others beside it)")
        cmd.set_defaults(func=func)
    for command in sub.choices.values():
        command.formatter_class = _HelpWithDefaults
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "demo-data" and args.platform is None:
        args.platform = "Reference" if args.system == "alanine" else "CPU"
    try:
        return int(args.func(args))
    except CgvizError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

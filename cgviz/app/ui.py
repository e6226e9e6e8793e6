"""Streamlit building blocks shared by the pages (imported by pages only, never by cgviz).

The pages stay thin: a page calls one of these to pick data, then a few ``cgviz`` functions
and ``cgviz.figures`` builders. Loaded data lives in ``st.session_state`` so a rerun, a page
switch or an error elsewhere loses nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np

from cgviz import io
from cgviz.errors import CgvizError
from cgviz.system import MolecularSystem

SYSTEM_KEY = "cgviz.system"


#: The system the pages share: the library's own object (label, trajectories, properties,
#: topology, n_frames, time step, periodic box, split, mapping, notes).
LoadedSystem = MolecularSystem


def show_error(error: Exception, what: str = "") -> None:
    """Show a user error with ``st.error`` (problem, then the hint on its own line).

    The message is shown as text (:func:`markdown_text`): file names and paths in it are
    never read as markdown or HTML."""
    import streamlit as st

    prefix = f"{what}: " if what else ""
    if isinstance(error, CgvizError) and error.hint:
        st.error(f"{prefix}{markdown_text(error.problem)}\n\n**What to do:** "
                 f"{markdown_text(error.hint)}")
    else:
        st.error(f"{prefix}{markdown_text(str(error))}")


#: Marks that Streamlit's markdown reads anywhere in a line: CommonMark's emphasis, code,
#: links, HTML and entities, GitHub's tables and strikethrough, Streamlit's LaTeX ($),
#: colour directives and emoji / icon shortcodes (:name:).
_INLINE_SPECIAL = set("\\`*_[]<>$|~:&")
#: and marks it reads at the start of a line: headings, lists, quotes, rules, setext.
_LINE_START = re.compile(r"^(\s*)([#+\-=>]|\d+(?=[.)]))")


def markdown_text(text: str) -> str:
    """``text`` for a markdown element (``st.markdown``, ``st.error``, ``st.subheader``,
    ...), shown as typed: every mark that markdown, HTML or Streamlit would read is
    escaped with a backslash, so ``<b>x</b>.pdb`` or ``C:\\runs\\a_b.xtc`` show as
    they are named. Text only, never for a markdown that should render."""
    escaped = "".join("\\" + c if c in _INLINE_SPECIAL else c for c in str(text))
    lines = []
    for line in escaped.split("\n"):
        match = _LINE_START.match(line)
        if match:
            start = match.end(1)
            if match.group(2).isdigit():  # "1." or "1)": escape the mark after the number
                start = match.end(2)
            line = line[:start] + "\\" + line[start:]
        lines.append(line)
    return "\n".join(lines)


_MARKDOWN_SPECIAL = set("\\`*_{}[]<>()#+-.!|~$")


def _markdown_literal(text: str) -> str:
    """``text`` shown as typed by ``st.markdown``: markdown's and LaTeX's marks escaped."""
    return "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)


def plotly_chart(figure, where=None, title: str | None = None, **kwargs):
    """``st.plotly_chart`` with the figure's title as bold text above the chart, not in it.

    Streamlit's chart theme bolds a plotly title when the chart is first drawn and again, on
    the already bold title, in an effect right after; the title then differs, so plotly lays
    the whole chart out a second time (a second pass over every titled chart, 3-D scenes
    included: 0.2-0.4 s more per page on 2 cores, measured). Without a title in the figure
    that second pass finds nothing to change. The title is removed from ``figure`` (with
    the top margin kept for it) and written with ``st.markdown``.

    Tick labels of 2-D axes may overflow the chart (``ticklabeloverflow="allow"``): by
    default plotly measures every tick label to hide those past the chart's edge, a forced
    browser layout per label (about 50 ms for the Trajectory page's three charts on 2 cores,
    standalone plotly.js, median of 10). Our axes are numeric and keep their labels inside.

    Two charts that differ only in their titles need a ``key`` each: Streamlit tells charts
    apart by their content.

    where: the container to draw into (a column, ...); ``streamlit`` itself by default.
    title: the title to show (default: the figure's); a figure without a title is left
        unchanged, so shared figures (:func:`player_view`) can be shown with one.
    kwargs: passed on to ``plotly_chart``; returns what it returns (the selection event).
    """
    import streamlit as st

    where = st if where is None else where
    if figure.layout.title.to_plotly_json():  # the key must go: an empty title is bolded too
        inside = figure.layout.title.text
        figure.layout.title = None
        if inside and figure.layout.margin.t is not None:  # what it took (subplot titles stay)
            figure.layout.margin.t = max(figure.layout.margin.t - 30, 0)
        title = inside if title is None else title
    if title:
        where.markdown(f"**{_markdown_literal(title)}**")
    if any("xaxis" in trace for trace in figure.data):  # cartesian traces (not 3-D ones)
        for axis in (*figure.select_xaxes(), *figure.select_yaxes()):
            if axis.ticklabeloverflow != "allow":  # shared figures are changed once only
                axis.ticklabeloverflow = "allow"
    return where.plotly_chart(figure, **kwargs)


_DEMOS: dict = {}
_DEMOS_LOCK = threading.Lock()


def demo(name: str):
    """A bundled demo (``cgviz.datasets.Demo``), loaded once per server process and shared
    by every session. Safe from any thread: the home page preloads the Trajectory page's
    default demo in the background (:func:`preload_trajectory_page`)."""
    from cgviz import datasets

    with _DEMOS_LOCK:
        if name not in _DEMOS:
            _DEMOS[name] = datasets.load_demo(name)
        return _DEMOS[name]


#: The Trajectory page's 3-D player: at most this many atom positions (about 10 MB of
#: JSON), and the frame counts a user may ask for (PLAYER_FRAMES[1] by default).
PLAYER_BUDGET = 100_000  # positions: about 8 MB of chart JSON (bonds included)
PLAYER_FRAMES = (50, 100, 200, 400)

_VIEWS: OrderedDict = OrderedDict()  # (id(trajectory), key) -> (weakref, value, size)
_VIEWS_BUILDING: dict = {}  # (id(trajectory), key) -> lock held while it is built
_VIEWS_LOCK = threading.Lock()
_VIEWS_MAX = 16  # views kept at most
_VIEWS_POINTS = 2 * PLAYER_BUDGET  # and at most this many plotted points in all


def _view(trajectory, key: tuple, build, size: int = 0):
    """``build()`` for a loaded trajectory, kept for later reruns and sessions while that
    trajectory object lives: the last ``_VIEWS_MAX`` views, holding ``_VIEWS_POINTS``
    plotted points (``size``, a view's own estimate) in all, so two full-budget players at
    most. Safe from any thread: a view that another thread is building is waited for, not
    built twice."""
    slot = (id(trajectory), key)

    def cached():
        entry = _VIEWS.get(slot)
        if entry is not None and entry[0]() is trajectory:  # not a reused id
            _VIEWS.move_to_end(slot)
            return entry
        return None

    with _VIEWS_LOCK:
        entry = cached()
        if entry is not None:
            return entry[1]
        building = _VIEWS_BUILDING.setdefault(slot, threading.Lock())
    with building:
        with _VIEWS_LOCK:
            entry = cached()
        if entry is not None:
            return entry[1]
        try:
            value = build()
        finally:
            with _VIEWS_LOCK:
                _VIEWS_BUILDING.pop(slot, None)
        with _VIEWS_LOCK:
            _VIEWS[slot] = (weakref.ref(trajectory), value, size)
            while len(_VIEWS) > 1 and (len(_VIEWS) > _VIEWS_MAX or sum(
                    entry[2] for entry in _VIEWS.values()) > _VIEWS_POINTS):
                _VIEWS.popitem(last=False)  # the least recently used
    return value


def _shared(figure):
    """Mark a figure that is built once and shown again and again (a :func:`_view`): a fixed
    ``datarevision`` tells plotly its data arrays did not change when Streamlit's theme
    makes it draw the chart once more right after the first draw; without one plotly
    recomputes every trace then (for the 3-D player, 0.1-0.3 s of the browser's time)."""
    import uuid

    figure.layout.datarevision = uuid.uuid4().hex
    return figure


def _atoms_key(atoms) -> str:
    return hashlib.sha1(np.ascontiguousarray(atoms, dtype=np.int64).tobytes()).hexdigest()


def player_view(trajectory, type_names, atoms, max_frames: int = PLAYER_FRAMES[1]):
    """The Trajectory page's 3-D player of ``atoms`` (at most ``max_frames`` frames within
    :data:`PLAYER_BUDGET` positions) and the caption that says what it shows. Built once
    per trajectory and choice (:func:`_view`); the figure is shared, so do not change it."""
    from cgviz import figures

    def build():
        stride = figures.player_stride(trajectory.n_frames, len(atoms),
                                       budget_points=PLAYER_BUDGET, max_frames=max_frames)
        shown = trajectory.atom_slice(atoms)[::stride]
        figure = figures.trajectory_player(shown.xyz, io.topology_bonds(shown.topology),
                                           [type_names[i] for i in atoms], shown.time)
        caption = (f"Showing {shown.n_frames} of {trajectory.n_frames} frames (every "
                   f"{stride}th) x {len(atoms)} atoms = {shown.n_frames * len(atoms):,} "
                   f"positions (budget {PLAYER_BUDGET:,}).")
        return _shared(figure), caption

    shown = min(trajectory.n_frames, int(max_frames), max(1, PLAYER_BUDGET // len(atoms)))
    return _view(trajectory, ("player", _atoms_key(atoms), int(max_frames)), build,
                 size=shown * len(atoms))


def rg_rmsd_views(trajectory, properties: io.AtomProperties, atoms):
    """Rg (mass-weighted) and heavy-atom RMSD to the first frame over time, each with its
    running mean over 1 % of the run: two shared figures (:func:`player_view`). Raises
    ``CgvizError`` where they cannot be computed."""
    from cgviz import figures

    def build():
        import mdtraj as md

        from cgviz import analysis

        smooth = trajectory.n_frames // 100  # frames per running-mean window
        rg = analysis.compute_rg(trajectory.xyz[:, atoms], properties.masses[atoms])
        heavy = [i for i in atoms if properties.type_names[i] != "H"]
        rmsd = md.rmsd(trajectory, trajectory, 0, atom_indices=heavy)
        return (_shared(figures.time_series(trajectory.time, {"Rg": rg}, "Rg (nm)",
                                            running_mean=smooth)),
                _shared(figures.time_series(trajectory.time, {"RMSD": rmsd}, "RMSD (nm)",
                                            running_mean=smooth)))

    return _view(trajectory, ("rg-rmsd", _atoms_key(atoms)), build)


def ramachandran_view(trajectories):
    """The backbone (phi, psi) free energy over all ``trajectories`` of a system, each
    residue's phi with its own psi (:func:`cgviz.analysis.compute_phi_psi`: chain ends,
    breaks and non-standard residues leave some residues with one angle only): a shared
    figure (:func:`player_view`), or None where no residue has both angles."""
    from cgviz import figures

    def build():
        import mdtraj as md

        from cgviz import analysis

        joined = md.join(trajectories) if len(trajectories) > 1 else trajectories[0]
        phi, psi, residues = analysis.compute_phi_psi(joined)
        if residues.size == 0:
            return None
        return _shared(figures.ramachandran(phi, psi))

    return _view(trajectories[0], ("ramachandran", len(trajectories)), build)


def preload_trajectory_page(name: str) -> None:
    """Load demo ``name`` and build what the Trajectory page first shows of it (the views
    above, with the page's defaults), for a background thread; errors are left to the page."""
    try:
        system = _demo_system(name, demo(name))
        trajectory, atoms = system.trajectories[0], _chain_atoms(system.topology)
        player_view(trajectory, system.properties.type_names, atoms)
        rg_rmsd_views(trajectory, system.properties, atoms)
        if io.trajectory_summary(trajectory).has_backbone_dihedrals:
            ramachandran_view(system.trajectories)
    except Exception:  # noqa: BLE001 - reported by the page that needs them
        pass


def _demo_system(name: str, loaded) -> LoadedSystem:
    from cgviz import system

    return system.from_loaded_demo(loaded)


def _load_demo(name: str) -> LoadedSystem:
    import streamlit as st

    if name in _DEMOS:
        loaded = _DEMOS[name]
    else:
        with st.spinner(f"Loading demo {name} ..."):
            loaded = demo(name)
    return _demo_system(name, loaded)


def _load_paths(trajectories: tuple[str, ...], topology: str | None, label: str) -> LoadedSystem:
    import streamlit as st

    from cgviz import system

    @st.cache_resource(show_spinner="Loading trajectory ...", max_entries=8)
    def cached(paths: tuple[str, ...], top: str | None, stamp: tuple, shown: str):
        return system.load(list(paths), top, label=shown)

    stamp = tuple(Path(p).stat().st_mtime if Path(p).exists() else 0 for p in trajectories)
    return cached(trajectories, topology, stamp, label)


#: Where uploads are written while they load (each load its own private folder).
UPLOADS_DIR = Path(tempfile.gettempdir()) / "cgviz-uploads"
#: The environment variable that caps the MB of uploads this server holds on disk at once
#: (all sessions together), and its default.
UPLOAD_TOTAL_VARIABLE = "CGVIZ_UPLOAD_TOTAL_MB"
UPLOAD_TOTAL_MB = 2000
_UPLOADS_LOCK = threading.Lock()
_uploads_on_disk = 0  # bytes that loads of this process hold in UPLOADS_DIR now
_STALE_UPLOAD_S = 24 * 3600  # a folder this old is left by a server that died mid-load


def upload_total_limit() -> int:
    """The most bytes of uploads held on disk at once (``$CGVIZ_UPLOAD_TOTAL_MB``)."""
    try:
        megabytes = float(os.environ.get(UPLOAD_TOTAL_VARIABLE, UPLOAD_TOTAL_MB))
    except ValueError:
        megabytes = UPLOAD_TOTAL_MB
    return max(0, int(megabytes * 1024 * 1024))


def _size_text(n_bytes: int) -> str:
    return (f"{n_bytes / 2**20:,.1f} MB" if n_bytes >= 2**20 / 10
            else f"{n_bytes / 1024:,.1f} kB")


def _upload_name(name: str) -> str:
    """The base name an upload is written under: never a folder, never outside its own."""
    base = Path(str(name).replace("\\", "/").replace("\x00", "")).name
    return base if base not in ("", ".", "..") else "upload"


def _sweep_stale_uploads() -> None:
    """Remove upload folders that a server that stopped mid-load left behind."""
    try:
        entries = list(UPLOADS_DIR.iterdir())
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if now - entry.lstat().st_mtime > _STALE_UPLOAD_S:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        except OSError:
            pass


def _as_upload_names(error: CgvizError, saved: dict[str, Path]) -> CgvizError:
    """``error`` with the server's temporary paths of uploads replaced by their names."""
    def named(text):
        if text is None:
            return None
        for name, path in sorted(saved.items(), key=lambda item: -len(str(item[1]))):
            text = text.replace(str(path), name)
        for path in saved.values():
            text = text.replace(str(path.parent) + os.sep, "").replace(str(path.parent),
                                                                       "the upload")
        return text

    return CgvizError(named(error.problem), hint=named(error.hint))


@contextlib.contextmanager
def saved_uploads(files):
    """Uploaded files (Streamlit's ``UploadedFile``) written to a private temporary folder
    for as long as the ``with`` block loads them: yields name -> path, then removes the
    folder, so no upload outlives its load (the loaded system lives in the session). A
    ``CgvizError`` raised inside names the uploads, never their paths on the server.

    Raises ``CgvizError`` when the files, with what other loads hold on disk now, exceed
    :func:`upload_total_limit`."""
    global _uploads_on_disk
    files = list(files)
    size = sum(int(f.size) for f in files)
    limit = upload_total_limit()
    with _UPLOADS_LOCK:
        if _uploads_on_disk + size > limit:
            busy = _uploads_on_disk
            raise CgvizError(
                f"These files hold {_size_text(size)}; this server takes at most "
                f"{_size_text(limit)} of uploads at a time"
                + (f" ({_size_text(busy)} are loading for others now)." if busy else "."),
                hint="Upload fewer or smaller files (e.g. a strided trajectory), try again "
                     f"later, or ask the operator to raise {UPLOAD_TOTAL_VARIABLE}.")
        _uploads_on_disk += size
    folder = None
    try:
        _sweep_stale_uploads()
        try:
            UPLOADS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="load-", dir=UPLOADS_DIR))
        except OSError:  # another user's folder: a private one beside it
            folder = Path(tempfile.mkdtemp(prefix="cgviz-upload-"))
        saved = {}
        for f in files:
            path = folder / _upload_name(f.name)
            path.write_bytes(f.getbuffer())
            saved[f.name] = path
        try:
            yield saved
        except CgvizError as error:
            raise _as_upload_names(error, saved) from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        with _UPLOADS_LOCK:
            _uploads_on_disk -= size


def _source_index(current) -> int:
    """The picker's source for the system in use: 0 demo, 1 upload, 2 server path."""
    label = "" if current is None else current.label
    return 1 if label.startswith("upload: ") else 2 if label.startswith("files: ") else 0


def system_picker(key: str = "picker") -> LoadedSystem | None:
    """Sidebar-free picker: a demo, uploaded files, or (where the operator allows it,
    :mod:`cgviz.paths`) paths on the server. It opens on the source of the system in use,
    and says which system that is.

    The chosen system is kept in ``st.session_state[SYSTEM_KEY]`` and returned; a failed
    load shows ``st.error`` and keeps the previous system.
    """
    import streamlit as st

    from cgviz import datasets, paths

    sources = ["Demo data", "Upload files"] + (["Path on the server"] if paths.enabled()
                                               else [])
    current = st.session_state.get(SYSTEM_KEY)
    source = st.radio("Source", sources, index=min(_source_index(current), len(sources) - 1),
                      horizontal=True, key=f"{key}.source")
    try:
        if source == "Demo data":
            names = [d.name for d in datasets.list_demos()]
            default = 0
            if current is not None and current.label.startswith("demo: "):
                default = names.index(current.label[6:]) if current.label[6:] in names else 0
            name = st.selectbox("Demo system", names, index=default, key=f"{key}.demo")
            if st.button("Load demo", key=f"{key}.load_demo", type="primary") or (
                current is None
            ):
                st.session_state[SYSTEM_KEY] = _load_demo(name)
        elif source == "Upload files":
            limit = st.get_option("server.maxUploadSize")
            files = st.file_uploader(
                f"Topology and trajectory files (up to {limit} MB each): e.g. a .pdb plus "
                "one or more .xtc/.dcd/.trr; an .h5/.pdb/.gro alone also works; a bead "
                "model's .atoms.json sidecar may come along.",
                accept_multiple_files=True, key=f"{key}.upload")
            if files and st.button("Load upload", key=f"{key}.load_upload", type="primary"):
                with st.spinner("Loading the upload ..."), saved_uploads(files) as saved:
                    st.session_state[SYSTEM_KEY] = _system_from_files(list(saved.values()),
                                                                      list(saved))
        else:
            roots = ", ".join(str(r) for r in paths.allowed_roots())
            traj_paths = st.text_input(
                "Trajectory file(s) on the server, comma-separated", key=f"{key}.paths",
                help=f"Files inside {roots} (the folders this server shares).")
            topology = st.text_input("Topology file (for .xtc, .dcd, .trr, ...)",
                                     key=f"{key}.topology")
            if st.button("Load files", key=f"{key}.load_paths", type="primary"):
                chosen = tuple(p.strip() for p in traj_paths.split(",") if p.strip())
                if not chosen:
                    raise CgvizError("Give at least one trajectory path.")
                resolved = tuple(str(paths.confine(p)) for p in chosen)
                top = str(paths.confine(topology)) if topology.strip() else None
                st.session_state[SYSTEM_KEY] = _load_paths(
                    resolved, top, f"files: {', '.join(chosen)}")
    except CgvizError as error:
        show_error(error, "Could not load that")
    system = st.session_state.get(SYSTEM_KEY)
    if system is not None:
        st.caption(f"In use: **{markdown_text(system.label)}**")
        for note in getattr(system, "notes", ()):  # what loading did (bonds inferred, ...)
            st.caption(f"Note: {markdown_text(note)}")
    return system


def load_mapping_upload(upload, topology, properties=None):
    """The ``CGMapping`` in an uploaded file (``UploadedFile``): a mapping saved by cgviz
    (``.json``/``.npz``) or an assignment array (``.npy``, bead index per atom), checked
    against ``topology``. Raises ``CgvizError`` for anything else (e.g. an array of Python
    objects, which is never unpickled)."""
    from cgviz import mapping

    with saved_uploads([upload]) as saved:
        path = saved[upload.name]
        if path.suffix.lower() == ".npy":
            try:
                assignment = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                objects = "allow_pickle" in str(error) or "Object arrays" in str(error)
                raise CgvizError(
                    f"{upload.name} is not an array of bead indices: "
                    + ("it holds Python objects, which are never loaded (that could run "
                       "code)." if objects else "it is not a readable .npy file."),
                    hint="Save a plain integer array, one bead index per atom: "
                         "np.save('mapping.npy', np.asarray(assignment, dtype=int)).") from None
            if not isinstance(assignment, np.ndarray) or assignment.dtype.kind not in "iuf":
                raise CgvizError(
                    f"{upload.name} holds {getattr(assignment, 'dtype', 'no')} values, not "
                    "bead indices.",
                    hint="Save a plain integer array, one bead index per atom.")
            return mapping.mapping_from_assignment(topology, assignment, properties=properties)
        cg = mapping.load_mapping(path)
        cg.check_topology(topology)
        return cg


_TOPOLOGY_FIRST = (".pdb", ".gro", ".prmtop", ".psf", ".mol2", ".h5")


def _system_from_files(paths: list[Path], names: list[str] | None = None) -> LoadedSystem:
    """Split uploaded files into topology, trajectories and sidecar, then load them;
    ``names`` are the files' names as uploaded (default: the paths' names)."""
    sidecars = [p for p in paths if p.name.endswith(".atoms.json")]
    others = [p for p in paths if p not in sidecars]
    coordinate_only = [p for p in others if p.suffix.lower() not in _TOPOLOGY_FIRST]
    topologies = [p for p in others if p.suffix.lower() in _TOPOLOGY_FIRST]
    if coordinate_only:
        if not topologies:
            raise CgvizError(
                f"{', '.join(p.name for p in coordinate_only)} need(s) a topology file.",
                hint="Upload a .pdb, .gro, .prmtop or .psf of the same system with it.")
        topology, trajectories = topologies[0], coordinate_only
    else:
        topology, trajectories = None, others
    loaded, props = io.load_system([str(p) for p in trajectories],
                                   topology=str(topology) if topology else None,
                                   sidecar=str(sidecars[0]) if sidecars else None,
                                   concatenate=False)
    from cgviz import system

    shown = ", ".join(names if names is not None else [p.name for p in paths])
    # The uploaded files are removed once loaded: the system lives in memory (source None);
    # a training run gets its own copy (MolecularSystem.save_files).
    return system.from_trajectories(loaded, props, label=f"upload: {shown}")


def _chain_atoms(topology, chain: int | None = 0) -> np.ndarray:
    """Atom indices of molecule (chain) ``chain``, or of all atoms for None or a topology of
    one molecule. Molecule 0 is what :func:`molecule_choice` shows first."""
    chains = list(topology.chains)
    if chain is None or len(chains) <= 1:
        return np.arange(topology.n_atoms)
    return np.array([a.index for a in chains[chain].atoms])


def molecule_choice(system: LoadedSystem, key: str) -> np.ndarray:
    """For systems of several molecules, let the user pick one (or all); returns atom indices."""
    import streamlit as st

    chains = list(system.topology.chains)
    if len(chains) <= 1:
        return _chain_atoms(system.topology)
    options = ["all"] + [f"molecule {c.index + 1} ({c.n_atoms} atoms)" for c in chains]
    choice = st.selectbox("Molecule", options, index=1, key=key)  # molecule 0 first
    return _chain_atoms(system.topology, None if choice == "all" else options.index(choice) - 1)


def unbonded_atoms(topology) -> np.ndarray:
    """Atoms without any bond that share their residue with other atoms: bonds missing
    from the topology (a .gro or .xyz file, a PDB's non-standard residue without CONECT
    records), not ions or other one-atom residues."""
    degree = np.zeros(topology.n_atoms, dtype=np.int64)
    bonds = io.topology_bonds(topology)
    np.add.at(degree, bonds.ravel(), 1)
    return np.array([a.index for a in topology.atoms
                     if degree[a.index] == 0 and a.residue.n_atoms > 1], dtype=np.int64)


def unbonded_warning(topology, unbonded) -> str:
    """The Coarse-Graining page's warning for :func:`unbonded_atoms` (markdown, names
    escaped)."""
    residues = sorted({str(topology.atom(int(i)).residue) for i in unbonded[:200]})
    shown = ", ".join(residues[:5]) + (", ..." if len(residues) > 5 else "")
    return (f"{len(unbonded):,} of {topology.n_atoms:,} atoms have no bond although their "
            f"residue has other atoms (in {markdown_text(shown)}): each would be a bead of "
            "its own. The topology file probably carries no bonds for them; tick **Infer "
            "bonds from distances** to guess them.")


def bead_files_zip(mapping, trajectories, stem: str = "beads") -> bytes:
    """A zip with the mapping (JSON) and the bead trajectory: PDB + XTC per run + sidecar."""
    import io as _io
    import zipfile

    buffer = _io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w") as archive:
        folder = Path(tmp)
        mapping.save(folder / "mapping.json")
        io.write_atom_properties(folder / f"{stem}.atoms.json", mapping.bead_properties)
        for i, beads in enumerate(mapping.apply(list(trajectories))):
            if i == 0:
                beads[0].save_pdb(str(folder / f"{stem}.pdb"))
            beads.save_xtc(str(folder / f"{stem}_{i:02d}.xtc"))
        for path in sorted(folder.iterdir()):
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def rollout_zip(result) -> bytes:
    """A zip with every system of a Rollout as XTC + PDB."""
    import io as _io
    import zipfile

    buffer = _io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w") as archive:
        for i in range(result.n_systems):
            xtc, pdb = Path(tmp) / f"rollout_{i:03d}.xtc", Path(tmp) / f"rollout_{i:03d}.pdb"
            result.save(i, xtc, pdb)
            archive.write(xtc, arcname=xtc.name)
            archive.write(pdb, arcname=pdb.name)
    return buffer.getvalue()


def simulator_checkpoints() -> dict[str, Path]:
    """Checkpoints a user can roll out: the bundled demo model and completed simulator runs."""
    from cgviz import datasets, jobs

    found = {}
    bundled = datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt"
    if bundled.exists():
        found["bundled demo model (cpu-demo)"] = bundled
    for run in jobs.list_runs():
        path = jobs.run_dir(run.name) / "checkpoints" / "last.pt"
        if run.task == "simulator" and path.exists():
            found[f"run {run.name} ({run.state}, step {run.step})"] = path
    return found


def frames_for_selection(point_indices, trajectory_lengths, stride: int, max_frames: int = 100
                         ) -> list[tuple[int, int]]:
    """(trajectory, frame) of selected points of a projection plotted every ``stride``-th
    frame of the concatenated trajectories; evenly thinned to at most ``max_frames``."""
    picked = np.asarray(sorted(set(int(i) for i in point_indices)), dtype=np.int64)
    if picked.size == 0:
        return []
    picked = picked[:: max(1, -(-picked.size // max_frames))]
    rows = picked * int(stride)
    starts = np.cumsum([0] + list(trajectory_lengths))
    owners = np.searchsorted(starts, rows, side="right") - 1
    return [(int(o), int(r - starts[o])) for o, r in zip(owners, rows) if r < starts[-1]]


#: MEMnets page feature kinds whose all-pairs size a guard checks first (see below)
_DISTANCE_SELECTIONS = {"distances": ("not element H", "heavy-atom distances"),
                        "ca-distances": ("name CA", "C-alpha distances")}


def memnets_features(kind: str, trajectories, properties, mapping=None) -> list[np.ndarray]:
    """Feature trajectories for the MEMnets page: "dihedrals", "distances" (heavy atoms),
    "ca-distances" (C-alpha atoms), "coordinates" (aligned heavy atoms) or "beads"
    (aligned bead positions of ``mapping``, else METIS with 4 atoms per bead).

    Their size is estimated first (:func:`cgviz.analysis.budget.check_feature_memory`): a
    matrix that would not fit raises ``CgvizError`` (with what would) before any is built.
    """
    from cgviz.analysis.budget import check_feature_memory

    trajectories = list(trajectories)
    topology = trajectories[0].topology
    n_frames = sum(t.n_frames for t in trajectories)
    if kind == "dihedrals":
        import mdtraj as md

        first = trajectories[0][:1]
        n_angles = len(md.compute_phi(first)[0]) + len(md.compute_psi(first)[0])
        check_feature_memory(n_frames, 2 * n_angles, "Backbone dihedrals")
        return [io.backbone_dihedral_features(t) for t in trajectories]
    if kind in _DISTANCE_SELECTIONS:
        selection, what = _DISTANCE_SELECTIONS[kind]
        n_selected = len(topology.select(selection))
        n_pairs = n_selected * (n_selected - 1) // 2
        n_ca = len(topology.select("name CA"))
        smaller = (f"C-alpha distances ({n_ca * (n_ca - 1) // 2:,} pairs)"
                   if kind == "distances" and 1 < n_ca < n_selected else None)
        check_feature_memory(n_frames, n_pairs,
                             f"{what.capitalize()} ({n_selected:,} atoms, {n_pairs:,} pairs)",
                             smaller=smaller or "aligned coordinates or bead positions")
        return [io.pairwise_distance_features(t, selection=selection) for t in trajectories]
    if kind == "coordinates":
        n_heavy = len(topology.select("not element H"))
        check_feature_memory(n_frames, 3 * n_heavy,
                             f"Aligned coordinates of {n_heavy:,} heavy atoms",
                             smaller="aligned bead positions")
        return [io.aligned_cartesian_features(t, reference=trajectories[0]) for t in trajectories]
    from cgviz import mapping as cg_mapping

    if mapping is None or mapping.n_atoms != trajectories[0].n_atoms:
        mapping = cg_mapping.metis_mapping(topology, 4, properties=properties)
    check_feature_memory(n_frames, 3 * mapping.n_beads,
                         f"Aligned positions of {mapping.n_beads:,} beads",
                         smaller="a mapping with fewer beads (page 2)")
    beads = mapping.apply(trajectories)
    return [io.aligned_cartesian_features(b, reference=beads[0], selection="all") for b in beads]


def finished_runs(task: str) -> dict[str, Path]:
    """Completed runs of one task kind: label -> run directory."""
    from cgviz import jobs

    return {f"{r.name} (step {r.step})": jobs.run_dir(r.name) for r in jobs.list_runs()
            if r.task == task and r.state == "completed"}


MAPPING_KEY = "cgviz.mapping"


def system_in_use():
    """The system page 1 loaded, with page 2's mapping when it was made for these atoms
    (None before anything is loaded)."""
    import streamlit as st

    system = st.session_state.get(SYSTEM_KEY)
    if system is None:
        return None
    cg = st.session_state.get(MAPPING_KEY)
    if cg is not None and cg.n_atoms == system.n_atoms and system.mapping is not cg:
        system = system.with_mapping(cg)
    return system


def system_caption(system) -> str:
    """'In use: **label** (atoms, frames, model step, mapping)' for a page's header."""
    if system is None:
        return "No system loaded yet: pick one on the Trajectory page."
    beads = (f", mapped to {system.mapping.n_beads:,} beads" if system.mapping is not None
             else ", no mapping yet (page 2)")
    box = ", periodic" if system.periodic else ""
    return (f"In use: **{markdown_text(system.label)}**: {system.n_atoms:,} atoms, "
            f"{system.n_frames:,} frames, model step {system.time_step_text}{box}{beads}.")


def load_checkpoint_upload(upload):
    """(model, metadata) from an uploaded simulator checkpoint, read weights-only (tensors
    and plain containers; nothing in the file can run code)."""
    from cgviz.simulator.model import load_simulator

    with saved_uploads([upload]) as saved:
        return load_simulator(saved[upload.name])


def rollout_sources(system, checkpoint_meta=None) -> dict[str, object]:
    """Label -> MolecularSystem factory of what a rollout can start from: the system in use
    (its held-out frames) and the demos a model does not train on by default."""
    from cgviz import datasets

    options: dict[str, object] = {}
    if system is not None:
        options[f"the system in use ({system.label})"] = lambda: system
    for info in datasets.list_demos():
        if info.system == "copolymer" and info.name != "polymer-train":
            options[f"demo: {info.name}"] = (lambda name=info.name: _load_demo(name))
    return options


def rollout_files_zip(result) -> bytes:
    """A zip of :func:`cgviz.simulator.rollout.write_rollout`'s files (bead PDB with the
    mapping's names, model XTC, MD start XTC, sidecar, rollout.json)."""
    import io as _io
    import zipfile

    from cgviz.simulator.rollout import write_rollout

    buffer = _io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w") as archive:
        write_rollout(result, tmp)
        for path in sorted(Path(tmp).iterdir()):
            archive.write(path, arcname=path.name)
    return buffer.getvalue()


def training_sources(system, kind: str = "CG simulator") -> dict[str, object]:
    """Label -> (lambda: MolecularSystem) of what the Training page can train on: the system
    in use first, then the demos meant for training (never the held-out polymer-test),
    the one that suits ``kind`` first (polymer-train for the simulator, alanine dipeptide
    for MEMnets)."""
    from cgviz import datasets

    options: dict[str, object] = {}
    if system is not None:
        options[f"the system in use ({system.label})"] = lambda: system
    first = "polymer-train" if kind == "CG simulator" else "alanine-dipeptide"
    names = [d.name for d in datasets.list_demos() if d.name != "polymer-test"]
    for name in sorted(names, key=lambda n: n != first):
        options[f"demo: {name}"] = (lambda name=name: _load_demo(name))
    return options


def _private_folder(kind: str) -> Path:
    """A new folder under the runs directory for what a run needs beyond its run file."""
    import uuid

    from cgviz import jobs

    folder = jobs.default_runs_dir() / f".{kind}" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def system_for_run(system) -> dict:
    """The system as a run's config takes it (``MolecularSystem.to_dict``); a system without
    files of its own (an upload, whose files are gone) is written out for the run first."""
    if system.source is None:
        system = system.save_files(_private_folder("systems"))
    return system.to_dict()


def simulator_run_config(preset: str, steps: int, system, atoms_per_bead: float,
                         split: str, history_length: int | None = None,
                         batch_size: int | None = None, device: str = "cpu") -> dict:
    """A validated simulator training config for ``system`` (CgvizError if it cannot
    train, or would not fit in the memory of ``device``: the same checks the run itself
    makes, before anything is launched)."""
    from cgviz import jobs
    from cgviz.training import simulator as training
    from cgviz.training.config import SimulatorTrainingConfig, preset as training_preset

    system = system.with_split({"by": split, "validation": system.split.validation,
                                "test": system.split.test})
    settings = training_preset(preset).to_dict() | {"max_steps": int(steps),
                                                    "atoms_per_bead": float(atoms_per_bead)}
    if history_length is not None:
        settings["model"] = {**settings["model"], "history_length": int(history_length)}
    if batch_size is not None:
        settings["batch_size"] = int(batch_size)
    training.check_system(system, SimulatorTrainingConfig.from_dict(settings), system.mapping,
                          jobs.parse_device(device))
    return SimulatorTrainingConfig.from_dict(
        settings | {"system": system_for_run(system)}).to_dict()


def memnets_run_config(system, epochs: int, lagtimes: list[int], sizes: list[int]) -> dict:
    """A MEMnets run config on ``system``: backbone dihedrals where it has a backbone, else
    aligned bead positions, written as .npy files for the run; the encoder's input size
    follows the features."""
    from cgviz.memnets.config import MEMnetsConfig

    try:
        kind = "dihedrals" if io.backbone_dihedral_labels(system.topology) else "beads"
    except CgvizError:  # no protein backbone: aligned bead positions
        kind = "beads"
    demo = (system.source or {}).get("demo")
    if demo and kind == "dihedrals" and (system.source or {}).get("stride", 1) == 1:
        data = {"demo": demo}  # the task's own reader (it knows the frame time)
        n_features = len(io.backbone_dihedral_labels(system.topology))
    else:
        features = memnets_features(kind, system.trajectories, system.properties,
                                    system.mapping)
        folder = _private_folder("features")
        for i, array in enumerate(features):
            np.save(folder / f"trajectory_{i:03d}.npy", np.asarray(array, dtype=np.float32))
        data, n_features = {"data_directory": str(folder)}, int(features[0].shape[1])
    config = {"n_epochs": int(epochs), "lagtimes": [int(x) for x in lagtimes],
              "encoder_sizes": [n_features] + [int(x) for x in sizes[1:]]}
    MEMnetsConfig.from_dict(config)
    return data | config


OWNER_KEY = "cgviz.owner"


def visitor() -> str:
    """This browser session's owner id for runs (``session:<random>``, kept in the
    session): runs it starts carry it, and only it may cancel, resume or delete them
    unless the operator allows shared control (``cgviz.jobs.can_control``)."""
    import uuid

    import streamlit as st

    return st.session_state.setdefault(OWNER_KEY, f"session:{uuid.uuid4().hex}")


def run_downloads(run_name: str) -> None:
    """Download buttons for a run's take-away files (run file, last checkpoint, metrics
    CSV); each file is read only when its button is pressed."""
    import streamlit as st

    from cgviz import jobs

    files = jobs.take_away_files(run_name)
    if not files:
        return
    kinds = {"run file": ("run.yaml", "text/yaml"),
             "last checkpoint": ("last.pt", "application/octet-stream"),
             "metrics": ("metrics.csv", "text/csv")}
    for column, (label, path) in zip(st.columns(len(files)), files.items()):
        suffix, mime = kinds[label]
        data = ((lambda: jobs.metrics_csv(run_name)) if label == "metrics"
                else (lambda path=path: path.read_bytes()))
        column.download_button(f"Download the {label}", data=data, mime=mime,
                               file_name=f"{run_name}-{suffix}", key=f"download-{label}")


def runs_table(runs) -> list[dict]:
    """The Training page's table of runs: queue places, and whose run each is."""
    me = visitor()
    rows = []
    for r in runs:
        owner = ("you" if r.owner == me else "command line" if str(r.owner).startswith("cli:")
                 else "another visitor" if r.owner else "")
        rows.append({"name": r.name, "task": r.task,
                     "state": f"queued #{r.place}" if r.state == "queued" and r.place
                     else r.state,
                     "device": r.device, "step": r.step,
                     "progress": f"{100 * (r.progress or 0):.0f} %", "owner": owner,
                     "reason": r.reason})
    return rows

"""Read users' files without letting them run code.

Two layers, both used by every loader in :mod:`cgviz.io` (the threat model and what is
tested are in ``docs/security.md``):

1. :func:`check_hdf5` inspects an HDF5 file (mdtraj ``.h5``/``.hdf5``, MSMBuilder ``.lh5``)
   with h5py *before* PyTables opens it. PyTables unpickles any byte-string attribute that
   ends in ``.`` (root and node attributes alike, ``title`` and ``units`` included) and every
   row of an ``ObjectAtom`` VLArray, so a crafted file runs code inside ``open_file``. h5py
   reads attributes as plain bytes and never unpickles. The check refuses

   * attributes that PyTables would unpickle and that are pickles able to import or call
     anything (found by parsing the pickle opcodes with :mod:`pickletools`, never running
     them);
   * nodes that PyTables reads through pickle (``PSEUDOATOM = object``);
   * external links, external raw storage and virtual datasets, which make the HDF5 library
     read other files of the server (``/etc/...``) as if they were the user's data.

2. :func:`forbid_unpickling` is a backstop for whatever the first layer misses, in any
   format: while it is active, Python's ``pickle.find_class`` audit event (raised before the
   unpickler imports any module or looks up any callable) aborts the read. Without a global
   no pickle can call anything, so no pickle can run code while the guard is up.

Both raise :class:`~cgviz.errors.CgvizError`; the messages name the file as the user gave
it and say what to do.
"""

from __future__ import annotations

import contextlib
import contextvars
import pickletools
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from cgviz.errors import CgvizError

__all__ = [
    "HDF5_SIGNATURE",
    "UnsafeFileError",
    "check_hdf5",
    "forbid_unpickling",
    "is_hdf5",
    "pickle_can_run_code",
]

#: The eight bytes that open an HDF5 superblock (at offset 0, 512, 1024, 2048, ...).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# Pickle opcodes that import a module, look up or call an object: any of them lets a
# pickle reach code. Everything else only builds ints, strings, lists, dicts and tuples.
_CODE_OPCODES = frozenset(
    {
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "REDUCE",
        "NEWOBJ",
        "NEWOBJ_EX",
        "BUILD",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
    }
)

_MAX_NODES = 100_000


class UnsafeFileError(BaseException):
    """Raised from inside a reader when a file tries to unpickle a global.

    A ``BaseException`` on purpose: PyTables wraps ``pickle.loads`` of attributes in
    ``except Exception`` and would otherwise swallow the refusal and go on reading. The
    loaders in :mod:`cgviz.io` turn it into a :class:`CgvizError` at their edge.
    """

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


_GUARD: contextvars.ContextVar[bool] = contextvars.ContextVar("cgviz_no_pickle", default=False)
_HOOK_INSTALLED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "pickle.find_class" and _GUARD.get():
        module, name = (str(args[0]), str(args[1])) if len(args) >= 2 else ("?", "?")
        raise UnsafeFileError(module, name)


@contextlib.contextmanager
def forbid_unpickling() -> Iterator[None]:
    """While active (in this thread or task), any unpickling of a global raises
    :class:`UnsafeFileError`. Plain data pickles (numbers, strings, containers) still load:
    they cannot run code. The audit hook is installed once per process and costs one
    comparison per audit event when no guard is up."""
    global _HOOK_INSTALLED
    if not _HOOK_INSTALLED:
        sys.addaudithook(_audit)
        _HOOK_INSTALLED = True
    token = _GUARD.set(True)
    try:
        yield
    finally:
        _GUARD.reset(token)


def pickle_can_run_code(data: bytes) -> bool:
    """True if ``data``, read by ``pickle.loads``, would reach any importable object.

    The opcodes are parsed, never executed. The unpickler runs opcodes in the order they are
    read, so one that fails to parse part way stops both this scan and a real unpickler at
    the same place; only the opcodes before it count."""
    try:
        for opcode, _arg, _pos in pickletools.genops(data):
            if opcode.name in _CODE_OPCODES:
                return True
    except Exception:  # not (or no longer) a pickle: the unpickler stops here too
        return False
    return False


def is_hdf5(path: Path) -> bool:
    """Whether the file holds an HDF5 superblock (at 0 or a power-of-two offset >= 512)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(8) == HDF5_SIGNATURE:
                return True
            size = path.stat().st_size
            offset = 512
            while offset + 8 <= size:
                handle.seek(offset)
                if handle.read(8) == HDF5_SIGNATURE:
                    return True
                offset *= 2
    except OSError:
        return False
    return False


def _byte_strings(value: Any) -> Iterator[bytes]:
    """Every byte string PyTables could hand to ``pickle.loads`` from one attribute."""
    if isinstance(value, (bytes, np.bytes_)):
        yield bytes(value).rstrip(b"\x00")
    elif isinstance(value, str):
        yield value.encode("utf-8", "surrogateescape")
    elif isinstance(value, np.ndarray) and value.dtype.kind in ("S", "U", "O"):
        for item in value.ravel()[:10_000]:
            yield from _byte_strings(item)


def _refuse(label: str, where: str, problem: str) -> CgvizError:
    return CgvizError(
        f"HDF5 file '{label}' was refused: {where} {problem}.",
        hint="cgviz never runs code or reads other files on behalf of a data file. If you "
        "wrote this file yourself, write it again with mdtraj (traj.save_hdf5) from plain "
        "arrays, or convert it to .xtc/.dcd plus a .pdb topology.",
    )


def check_hdf5(path: Path, label: str | None = None) -> None:
    """Refuse an HDF5 file that could run code or read other files when PyTables opens it.

    Every group, dataset and named datatype reachable from the root is visited (links are
    inspected, never followed outside the file), with all their attributes. ``label`` is the
    name shown to the user (an upload's own name rather than its temporary path).
    """
    import h5py  # lazy: only HDF5 users pay for it

    shown = label or str(path)
    try:
        handle = h5py.File(str(path), "r")
    except Exception as error:
        raise CgvizError(
            f"HDF5 file '{shown}' could not be opened ({type(error).__name__}).",
            hint="The file is truncated, corrupt or not really HDF5; write it again "
            "(e.g. with mdtraj's traj.save_hdf5) and load it again.",
        ) from error
    with handle:
        seen: set[Any] = set()
        stack: list[tuple[str, Any]] = [("/", handle)]
        visited = 0
        while stack:
            name, obj = stack.pop()
            visited += 1
            if visited > _MAX_NODES:
                raise _refuse(shown, "it", f"holds more than {_MAX_NODES:,} nodes")
            _check_attributes(shown, name, obj)
            if isinstance(obj, h5py.Dataset):
                _check_dataset(shown, name, obj)
            if not isinstance(obj, h5py.Group):
                continue
            for child in obj:
                child_name = f"{name.rstrip('/')}/{child}"
                link = obj.get(child, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise _refuse(
                        shown, f"node '{child_name}'", "is a link into another file"
                    )
                if isinstance(link, h5py.SoftLink):
                    continue  # points inside this file: its target is visited as itself
                try:
                    target = obj[child]
                except Exception:
                    raise _refuse(
                        shown, f"node '{child_name}'", "cannot be read by the HDF5 library"
                    ) from None
                key = h5py.h5o.get_info(target.id).addr
                if key in seen:
                    continue
                seen.add(key)
                stack.append((child_name, target))


def _check_attributes(shown: str, name: str, obj: Any) -> None:
    attrs = obj.attrs
    try:
        names = list(attrs.keys())
    except Exception:
        raise _refuse(shown, f"the attributes of '{name}'", "cannot be listed") from None
    for key in names:
        try:
            value = attrs[key]
        except Exception:
            raise _refuse(
                shown, f"attribute '{key}' of '{name}'", "cannot be read as plain data"
            ) from None
        if key == "PSEUDOATOM" and b"object" in b"".join(_byte_strings(value)):
            raise _refuse(shown, f"node '{name}'", "stores pickled Python objects")
        for text in _byte_strings(value):
            if text.endswith(b".") and pickle_can_run_code(text):
                raise _refuse(
                    shown,
                    f"attribute '{key}' of '{name}'",
                    "is a Python pickle that imports or calls code",
                )


def _check_dataset(shown: str, name: str, dataset: Any) -> None:
    if dataset.is_virtual:
        raise _refuse(shown, f"dataset '{name}'", "is virtual (its data live in other files)")
    if dataset.external:
        raise _refuse(shown, f"dataset '{name}'", "keeps its data in an external raw file")

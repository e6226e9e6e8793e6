"""Which files on the server a front end may read: none, unless the operator names folders.

A front end that lets its users type paths on the server (the app's "Path on the server")
must not read whatever the server process can read (``/etc/passwd``, ``/proc/...``, other
users' data). :func:`allowed_roots` gives the folders the operator opened, from the
environment variable ``CGVIZ_SERVER_ROOTS`` (folders separated by ``os.pathsep``, ``:`` on
Linux); none by default. :func:`confine` turns a typed path into a file inside one of them,
after resolving symlinks and ``..``, and says the same thing for a file that is missing and
for one outside the roots, so its message never tells whether a path exists elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from cgviz.errors import CgvizError

#: The environment variable that names the folders users may read files from.
ROOTS_VARIABLE = "CGVIZ_SERVER_ROOTS"


def allowed_roots() -> tuple[Path, ...]:
    """The folders (resolved, existing) named in ``$CGVIZ_SERVER_ROOTS``; empty when unset.

    Read at each call, so an operator's change applies to the next load. Entries that are
    empty, relative or not existing folders are left out (a relative root would depend on
    the server's working directory)."""
    roots = []
    for entry in os.environ.get(ROOTS_VARIABLE, "").split(os.pathsep):
        entry = entry.strip()
        if not entry or not os.path.isabs(entry):
            continue
        root = Path(entry).resolve()
        if root.is_dir() and root not in roots:
            roots.append(root)
    return tuple(roots)


def enabled() -> bool:
    """Whether the operator opened any folder (:func:`allowed_roots`)."""
    return bool(allowed_roots())


def confine(path: str | os.PathLike, roots: tuple[Path, ...] | None = None) -> Path:
    """The regular file ``path`` names, resolved, if it lies inside an allowed root.

    Relative paths are taken relative to the first root (not to the server's working
    directory). Raises ``CgvizError`` when no root is allowed, and, with the same message,
    when the file is missing, is not a regular file, or lies (after resolving symlinks)
    outside every root.
    """
    roots = allowed_roots() if roots is None else tuple(Path(r).resolve() for r in roots)
    text = os.fspath(path).strip()
    if not roots:
        raise CgvizError(
            "Reading files on the server is turned off.",
            hint=f"Upload the files instead, or ask the operator to set {ROOTS_VARIABLE} "
            "to the folders users may read from.")
    shown = text if len(text) <= 200 else text[:200] + "..."
    refused = CgvizError(
        f"No readable file {shown!r} in the folders this server shares.",
        hint="Give the path of a file inside " + ", ".join(str(r) for r in roots)
        + " (symlinks that lead outside them are refused).")
    if not text or "\x00" in text:
        raise refused
    given = Path(os.path.expanduser(text)) if text.startswith("~") else Path(text)
    if not given.is_absolute():
        given = roots[0] / given
    try:
        resolved = given.resolve(strict=True)
        inside = any(resolved.is_relative_to(root) for root in roots)
        if not inside or not resolved.is_file():
            raise refused
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, no permission
        raise refused from None
    return resolved

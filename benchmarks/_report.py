"""Shared by the benchmark scripts: print a markdown table and write it into a docs page.

Each benchmark owns one section of a page in ``docs/``, between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``; ``--markdown docs/performance.md`` rewrites only that section (the
page is created if missing), so several benchmarks share one page.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    import os

    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), {time.strftime('%Y-%m-%d')}")


def write_section(path: str | Path, name: str, title: str, body: str) -> None:
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else (
        f"# {path.stem.capitalize()}\n\nWritten by the scripts in `benchmarks/` "
        "(`--markdown`); each section says how it was measured.\n")
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)

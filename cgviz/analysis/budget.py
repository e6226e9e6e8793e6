"""Memory budgets: refuse a feature matrix that would not fit before computing it.

All-pairs features grow with the square of the atoms: heavy-atom distances of a
5,500-atom protein are 3.9 million columns, 15 GB per thousand frames in float32. A
server that starts computing them is killed by the kernel long before it could show an
error. :func:`check_feature_memory` estimates the bytes first and raises ``CgvizError``
with what would fit (fewer frames, fewer atoms) instead.
"""

from __future__ import annotations

import math
import os

from cgviz.errors import CgvizError

__all__ = ["FEATURE_MEMORY_VARIABLE", "check_feature_memory", "feature_memory_bytes",
           "feature_memory_limit"]

#: The environment variable that sets the most MB a feature matrix may take, its default.
FEATURE_MEMORY_VARIABLE = "CGVIZ_FEATURE_MEMORY_MB"
FEATURE_MEMORY_MB = 2000
#: Copies of a feature matrix alive at once while it is used: the matrix itself, the
#: float copy a model trains on, the baselines' (TICA, VAMPnets) own.
COPIES = 3


def feature_memory_limit() -> int:
    """The most bytes one system's feature matrices may take (``$CGVIZ_FEATURE_MEMORY_MB``)."""
    try:
        megabytes = float(os.environ.get(FEATURE_MEMORY_VARIABLE, FEATURE_MEMORY_MB))
    except ValueError:
        megabytes = FEATURE_MEMORY_MB
    return max(0, int(megabytes * 2**20))


def feature_memory_bytes(n_frames: int, n_features: int, itemsize: int = 4,
                         copies: int = COPIES) -> int:
    """Bytes that ``n_frames`` x ``n_features`` features take, ``copies`` times over."""
    return int(n_frames) * int(n_features) * int(itemsize) * int(copies)


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:,.1f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:,.0f} MB"


def check_feature_memory(n_frames: int, n_features: int, what: str,
                         smaller: str | None = None, limit_bytes: int | None = None,
                         itemsize: int = 4) -> int:
    """Raise ``CgvizError`` when ``n_frames`` x ``n_features`` features would take more
    than ``limit_bytes`` (default :func:`feature_memory_limit`); returns the estimate.

    what: the features, for the message ("heavy-atom distances: 3,907,815 pairs").
    smaller: a smaller feature set to suggest, for the hint (e.g. "C-alpha distances").
    """
    limit = feature_memory_limit() if limit_bytes is None else int(limit_bytes)
    needed = feature_memory_bytes(n_frames, n_features, itemsize)
    if needed <= limit:
        return needed
    stride = math.ceil(needed / max(limit, 1))
    per_frame = feature_memory_bytes(1, n_features, itemsize)
    fits = limit // per_frame if per_frame else 0
    options = []
    if smaller:
        options.append(smaller)
    if fits >= 1:
        options.append(f"one frame in {stride} (e.g. traj[::{stride}]), or at most "
                       f"{fits:,} frames")
    else:
        options.append("fewer atoms (one frame alone does not fit)")
    raise CgvizError(
        f"{what} for {n_frames:,} frames would need about {_size(needed)} of memory, more "
        f"than the {_size(limit)} this server allows for features.",
        hint="Use " + "; or ".join(options) + f". The operator can raise "
        f"{FEATURE_MEMORY_VARIABLE}.")

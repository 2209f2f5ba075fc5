"""What sources remember between runs, in one local folder: file names and crash-safe writes.

Incremental SQL reads keep their last table and watermark there, spreadsheet downloads their last copy
and its HTTP validators. A file is replaced only by a complete new version (write aside, fsync, rename),
so a crash leaves either the old state or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path


def state_name(label: str, identity: str | None = None) -> str:
    """A file-name-safe, collision-free name: a readable slug of `label` (at most 60 characters) and a hash
    of `identity` (default: the label). A URL with a token passes its masked form as the label and the
    full URL as the identity, so that no secret reaches a file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")[:60]
    return f"{slug}-{hashlib.sha256((identity or label).encode()).hexdigest()[:16]}"


def fsync_file(path: Path) -> None:
    """Flush a file written by a library (e.g. Parquet) to disk before anything points at it."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

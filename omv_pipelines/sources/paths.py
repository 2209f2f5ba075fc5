"""Local files a source may read: only regular files inside the catalogue's folder tree.

A catalogue names files relative to its folder (`base_dir`). A path that climbs out of it (`../..`), an
absolute path elsewhere (`/etc/passwd`, `/proc/self/environ`), a symbolic link whose target lies outside,
and anything that is not a regular file (a device, a FIFO, a socket, a folder) is refused: a catalogue
is data someone else wrote, and what a source reads ends up published.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from omv_pipelines.sources.base import SourceError

_HINT = "name a file inside the catalogue folder, relative to it (e.g. data/equipements.xlsx)"


def contained_path(
    path: str | os.PathLike[str], base_dir: Path | None, source_id: str, what: str = "file"
) -> Path:
    """`path` (relative to `base_dir`, or absolute) resolved, links followed, and checked to lie inside
    `base_dir` (the current folder when None) and to be a regular file; else a SourceError."""
    base = Path(base_dir if base_dir is not None else Path.cwd()).resolve()
    given = Path(path)
    candidate = given if given.is_absolute() else base / given
    resolved = candidate.resolve()  # every link followed: a link inside pointing outside is caught below
    if not resolved.is_relative_to(base):
        raise SourceError(
            source_id,
            f"the {what} {str(given)!r} lies outside the catalogue folder {str(base)!r}: refused",
            _HINT,
        )
    try:
        info = resolved.stat()
    except FileNotFoundError:
        raise SourceError(
            source_id,
            f"{what} not found: {resolved}",
            "check `path`; a relative path is resolved against the catalogue folder",
        ) from None
    except OSError as err:
        raise SourceError(source_id, f"cannot read the {what} {resolved}: {err.strerror}", _HINT) from None
    if not stat.S_ISREG(info.st_mode):
        raise SourceError(
            source_id,
            f"the {what} {str(given)!r} is not a regular file ({_kind(info.st_mode)}): refused",
            _HINT,
        )
    return resolved


def read_contained(
    path: str | os.PathLike[str],
    base_dir: Path | None,
    source_id: str,
    *,
    max_bytes: int,
    what: str = "file",
    setting: str = "",
) -> tuple[bytes, Path]:
    """The bytes of a contained regular file (see `contained_path`), at most `max_bytes` of them.

    The file is opened without following a link at its last step and checked again on the open
    descriptor, so that a file swapped for a link or a FIFO between the check and the read is refused."""
    resolved = contained_path(path, base_dir, source_id, what)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(resolved, flags)
    except OSError as err:
        raise SourceError(source_id, f"cannot open the {what} {resolved}: {err.strerror}", _HINT) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(
                source_id,
                f"the {what} {resolved} is not a regular file ({_kind(info.st_mode)}): refused",
                _HINT,
            )
        if info.st_size > max_bytes:
            raise too_large(source_id, f"the {what} {resolved.name}", info.st_size, max_bytes, setting)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise too_large(source_id, f"the {what} {resolved.name}", len(data), max_bytes, setting)
    return data, resolved


def too_large(source_id: str, what: str, size: int, limit: int, setting: str = "") -> SourceError:
    """The error for a file or an answer above a size limit."""
    return SourceError(
        source_id,
        f"{what} is {_mb(size)}, above the limit of {_mb(limit)}"
        + (f" ({setting})" if setting else "")
        + ": refused",
        "check that the source names the right file; a larger one needs the limit raised by the operator",
    )


def _mb(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def sqlite_file(database: str, base_dir: Path | None, source_id: str) -> Path:
    """The SQLite file a catalogue's URL names (`url.database`), resolved under `base_dir` (a relative
    path is relative to the catalogue folder, not to the current folder) and contained like any file.
    SQLite URI filenames (`file:...?mode=...`) are refused: their options could reopen what is checked."""
    if database.lower().startswith("file:"):
        raise SourceError(
            source_id,
            f"the SQLite URI filename {database!r} is refused: give a plain path to the file",
            "write the URL as sqlite:///{base_dir}/data/file.sqlite",
        )
    return contained_path(database, base_dir, source_id, "SQLite file")

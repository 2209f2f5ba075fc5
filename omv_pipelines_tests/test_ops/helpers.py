"""Helpers for the operations tests: catalogue edits, free loopback ports."""

import shutil
import socket
from pathlib import Path

import yaml

from omv_pipelines.catalog.loader import DEMO_CATALOG

FILES = {"92094": "92094-namur.yaml", "62063": "62063-liege.yaml", "53053": "53053-mons.yaml"}


def demo_catalog(folder: Path, codes: list[str]) -> Path:
    """A copy of the demo catalogue (with its data) holding only the given communes' files."""
    shutil.copytree(DEMO_CATALOG, folder)
    for code, name in FILES.items():
        if code not in codes:
            (folder / name).unlink()
    return folder


def add_commune(folder: Path, code: str) -> Path:
    """Copy one demo commune's file into a catalogue folder: what a data engineer does to onboard it."""
    return Path(shutil.copy(DEMO_CATALOG / FILES[code], folder / FILES[code]))


def edit_commune(folder: Path, code: str, **changes) -> None:
    path = folder / FILES[code]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

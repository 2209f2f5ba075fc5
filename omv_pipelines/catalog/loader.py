"""Load a catalogue folder: one YAML file per commune.

A broken file must not take the other communes down, so loading collects one error per bad file
(naming the file, the key path and what was expected) next to the communes that loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from omv_pipelines.catalog.models import CommuneConfig
from omv_pipelines.errors import OmvError
from omv_pipelines.sources.registry import known_kinds

DEMO_CATALOG = Path(str(resources.files("omv_pipelines.demo").joinpath("catalog")))


class CatalogError(OmvError, ValueError):
    """A catalogue file that cannot be used; the message says where and what to change."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems), path=str(path))


@dataclass(frozen=True)
class CatalogEntry:
    config: CommuneConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        """Relative paths in a catalogue file are relative to its folder."""
        return self.path.parent


@dataclass
class Catalog:
    folder: Path
    entries: dict[str, CatalogEntry] = field(default_factory=dict)  # by INS code
    errors: list[CatalogError] = field(default_factory=list)

    @property
    def active(self) -> dict[str, CatalogEntry]:
        return {code: e for code, e in self.entries.items() if e.config.active}

    def get(self, ins_code: str) -> CatalogEntry:
        try:
            return self.entries[ins_code]
        except KeyError:
            bad = [str(e) for e in self.errors]
            detail = f" ({len(bad)} catalogue file(s) failed to load: {' | '.join(bad)})" if bad else ""
            raise KeyError(f"commune {ins_code} is not in the catalogue {self.folder}{detail}") from None

    def raise_errors(self) -> None:
        if self.errors:
            raise CatalogError(self.folder, [str(e) for e in self.errors])


def _describe(error: ErrorDetails) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and indentation)"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown source kind {error['input'].get('kind')!r}; use {known_kinds()}"
    return f"{location}: {message}"


def load_file(path: Path) -> CommuneConfig:
    """Read and validate one commune file, or raise CatalogError saying what is wrong where."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(path, [f"cannot be read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise CatalogError(path, ["is not UTF-8 text; save it as UTF-8"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CatalogError(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if not isinstance(data, dict):
        raise CatalogError(path, ["expected a mapping with ins_code, name and datasets at the top level"])
    try:
        return CommuneConfig.model_validate(data)
    except ValidationError as exc:
        # Discriminated unions report every variant; keep the one the file asked for.
        problems = list(dict.fromkeys(_describe(e) for e in exc.errors()))
        raise CatalogError(path, problems) from None


def load_catalog(folder: Path | str) -> Catalog:
    folder = Path(folder)
    catalog = Catalog(folder=folder)
    if not folder.is_dir():
        catalog.errors.append(
            CatalogError(
                folder, ["catalogue folder does not exist; set OMV_CATALOG to a folder of commune YAML files"]
            )
        )
        return catalog
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            config = load_file(path)
        except CatalogError as exc:
            catalog.errors.append(exc)
            continue
        if config.ins_code in catalog.entries:
            first = catalog.entries[config.ins_code].path.name
            catalog.errors.append(
                CatalogError(
                    path,
                    [
                        f"ins_code: {config.ins_code} is already described by {first}; "
                        "keep one file per commune"
                    ],
                )
            )
            continue
        catalog.entries[config.ins_code] = CatalogEntry(config=config, path=path)
    return catalog


def catalog_json_schema() -> str:
    """JSON Schema of a commune file, for editors (YAML language servers) and reviewers."""
    schema = CommuneConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "omv_pipelines commune catalogue file"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"

"""Load a catalogue folder: one YAML file per commune.

A broken file must not take the other communes down, so loading collects one error per bad file
(naming the file, the key path and what was expected) next to the communes that loaded.

A file is written by a commune's data officer and is untrusted input: it is bounded before it is parsed
(`MAX_FILE_BYTES`, a regular file), parsed without YAML anchors/aliases, and its dataset ids must be
valid, unreserved (models.py) and its own across the catalogue (`load_catalog`). Parsed files are kept
in memory by content, so that a run, a sensor or a schedule re-reads a folder without re-parsing it.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from omv_pipelines.catalog.communes import all_communes
from omv_pipelines.catalog.models import DEFAULT_DATASET_ID, CommuneConfig
from omv_pipelines.errors import OmvError
from omv_pipelines.sources.registry import known_kinds

DEMO_CATALOG = Path(str(resources.files("omv_pipelines.demo").joinpath("catalog")))

# Largest catalogue file read: a file describes sources and mappings, its data stays in the sources.
MAX_FILE_BYTES = 256 * 1024
# Parsed files kept (by path, checked against the content's hash): more than Wallonia's communes.
CACHE_SIZE = 512
# '<INS code>-<anything>.yaml': a file so named describes that commune (checked when it is loaded).
_NAMED = re.compile(r"^(\d{5})-.*\.ya?ml$")


class CatalogueYamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader (libyaml's C parser when installed, ~10x faster) for catalogue files.

    Anchors and aliases are refused altogether rather than counted: a commune file has no need of
    them, and a few lines of aliases ("billion laughs") expand into gigabytes once validated. The
    composed document is checked before anything is built from it: an alias is the same node met twice
    (libyaml composes in C, where no Python hook sees an alias event), and composing is linear in the
    text whatever the aliases (they are references, not copies). libyaml also bounds nesting depth.
    """


def _repeated_node(root: yaml.Node) -> yaml.Node | None:
    """The first node reached twice in the document (only an alias makes one), walked without recursion."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
    return None


def parse_yaml(text: str) -> object:
    """The YAML document in `text`; yaml.YAMLError (with a mark) for anchors and aliases."""
    loader = CatalogueYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        repeated = _repeated_node(node)
        if repeated is not None:
            raise yaml.MarkedYAMLError(
                problem="YAML anchors and aliases (&name, *name, <<: *name) are not accepted in a "
                "catalogue file; write each value out in full",
                problem_mark=repeated.start_mark,
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


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
    if error["type"] == "catalog_keys":  # a check across keys: its message names each key itself
        return error["msg"]
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required key is missing"
    elif error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and indentation)"
    elif error["type"] == "union_tag_invalid":
        message = f"unknown source kind {error['input'].get('kind')!r}; use {known_kinds()}"
    return f"{location}: {message}"


def _too_large(size: int) -> str:
    return (
        f"is {size} bytes, more than the {MAX_FILE_BYTES // 1024} KiB a catalogue file may have: it "
        "describes sources and mappings, the data stays in the sources (move long value lists there)"
    )


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refused before parsing when it is not a regular file or is too large."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device (/dev/zero) would block or never end
            raise CatalogError(path, ["is not a regular file; a catalogue file is a plain YAML file"])
        if info.st_size > MAX_FILE_BYTES:
            raise CatalogError(path, [_too_large(info.st_size)])
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    except OSError as exc:
        raise CatalogError(path, [f"cannot be read: {exc.strerror}"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise CatalogError(path, [_too_large(len(data))])
    return data


def _parse(path: Path, data: bytes) -> CommuneConfig:
    try:
        document = parse_yaml(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CatalogError(path, ["is not UTF-8 text; save it as UTF-8"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CatalogError(path, [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except RecursionError:  # the pure-Python parser on deep nesting (libyaml stops at depth 1000)
        raise CatalogError(path, ["is nested too deeply to be a catalogue file"]) from None
    if not isinstance(document, dict):
        raise CatalogError(path, ["expected a mapping with ins_code, name and datasets at the top level"])
    try:
        config = CommuneConfig.model_validate(document)
    except ValidationError as exc:
        # Discriminated unions report every variant; keep the one the file asked for.
        problems = list(dict.fromkeys(_describe(e) for e in exc.errors()))
        raise CatalogError(path, problems) from None
    named = _NAMED.match(path.name)
    if named and named[1] != config.ins_code:
        raise CatalogError(
            path,
            [
                f"ins_code: {config.ins_code} ({config.commune.name}) does not match the file name, which "
                f"starts with {named[1]}: name the file '{config.ins_code}-{config.commune.slug}.yaml' or "
                "fix the code"
            ],
        )
    return config


_cache: OrderedDict[Path, tuple[str, CommuneConfig | CatalogError]] = OrderedDict()
_cache_lock = threading.Lock()


def load_file(path: Path) -> CommuneConfig:
    """Read and validate one commune file, or raise CatalogError saying what is wrong where.

    The result (a configuration or an error) is kept for as long as the file's content is the same:
    reading a bounded file is cheap, parsing and validating it is what costs. Treat it as read-only.
    """
    data = _read_bounded(path)
    digest = hashlib.sha256(data).hexdigest()
    with _cache_lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == digest:
            _cache.move_to_end(path)
            result = cached[1]
        else:
            result = None
    if result is None:
        try:
            result = _parse(path, data)
        except CatalogError as exc:
            result = exc
        with _cache_lock:
            _cache[path] = (digest, result)
            _cache.move_to_end(path)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if isinstance(result, CatalogError):
        raise CatalogError(result.path, result.problems) from None
    return result


def _catalogue_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def owner_of(dataset_id: str) -> str | None:
    """The INS code of the one commune whose slug or INS code starts `dataset_id` ('namur-…', '92094-…')."""
    owners = {
        code
        for code, commune in all_communes().items()
        if dataset_id.startswith((f"{commune.slug}-", f"{code}-"))
    }
    return owners.pop() if len(owners) == 1 else None


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
    for path in _catalogue_files(folder):
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
    _refuse_shared_dataset_ids(catalog)
    return catalog


def _refuse_shared_dataset_ids(catalog: Catalog) -> None:
    """A dataset id names one commune's publication: files claiming the same id are refused.

    Files are named by INS code, so "the later file" would be an arbitrary one: Liège (62063) claiming
    'namur-…' sorts before Namur (92094). When the id starts with the slug or INS code of exactly one
    claimant ('namur-…'), that commune keeps it and the others are refused; otherwise every claimant is
    refused, and none publishes under the disputed id until a person settles it. Each refusal names
    the other files and datasets.
    """
    claims: dict[str, list[tuple[str, str]]] = {}
    for code, entry in catalog.entries.items():
        for key in entry.config.datasets:
            claims.setdefault(entry.config.dataset_id(key), []).append((code, key))
    problems: dict[str, list[str]] = {}
    for dataset_id, claimants in claims.items():
        codes = {code for code, _ in claimants}
        if len(codes) < 2:  # twice in one file is refused by the file's own validation
            continue
        owner = owner_of(dataset_id)
        refused = [c for c in claimants if c[0] != owner] if owner in codes else claimants
        for code, key in refused:
            config = catalog.entries[code].config
            others = ", ".join(f"{catalog.entries[c].path.name} ({k})" for c, k in claimants if c != code)
            default = config.render_dataset_id(DEFAULT_DATASET_ID, key)
            if owner in codes:
                commune = catalog.entries[owner].config.commune
                outcome = f"ids starting with '{commune.slug}-' or '{owner}-' belong to {commune.name}"
            else:
                outcome = "neither file is published until one of them changes it"
            fix = f"e.g. {default!r}, the default" if default != dataset_id else "one naming this commune"
            problems.setdefault(code, []).append(
                f"{config.dataset_id_key(key)}: {dataset_id!r} (for {key}) is also claimed by {others}; a "
                f"dataset id is one commune's publication, so {outcome}: give this dataset its own id ({fix})"
            )
    for code in sorted(problems, key=lambda c: catalog.entries[c].path):
        path = catalog.entries.pop(code).path
        catalog.errors.append(CatalogError(path, problems[code]))


def find_entry(folder: Path | str, ins_code: str) -> CatalogEntry:
    """`load_catalog(folder).get(ins_code)`, reading only the files that can describe this commune when
    the '<ins_code>-<slug>.yaml' naming allows: one commune's run is not slowed by the others' files.

    The same file wins as in the full load: the first, in name order, of the files named with this INS
    code and the files not named with any (a file named with another code is refused if it claims this
    one). It is returned only when each of its dataset ids starts with this commune's own slug or code,
    so that no other file can take them from it; otherwise the whole catalogue is read and checked.
    """
    folder = Path(folder)
    if folder.is_dir():
        files = _catalogue_files(folder)
        if any(path.name.startswith(f"{ins_code}-") for path in files):
            for path in files:
                named = _NAMED.match(path.name)
                if named and named[1] != ins_code:
                    continue
                try:
                    config = load_file(path)
                except CatalogError:
                    continue
                if config.ins_code != ins_code:
                    continue
                if all(owner_of(config.dataset_id(key)) == ins_code for key in config.datasets):
                    return CatalogEntry(config=config, path=path)
                break
    return load_catalog(folder).get(ins_code)


def catalog_json_schema() -> str:
    """JSON Schema of a commune file, for editors (YAML language servers) and reviewers."""
    schema = CommuneConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "omv_pipelines commune catalogue file"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"

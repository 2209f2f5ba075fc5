"""The commune catalogue format: one YAML file per commune, validated with pydantic.

A file says which datasets the commune provides, where each one lives, how its columns map onto the
shared schema, and when and under which name it is published. Secrets never go here: a source names the
environment variable that holds a database URL or a password.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from omv_pipelines.catalog.communes import Commune, lookup, slugify
from omv_pipelines.normalise.config import Mapping
from omv_pipelines.schemas import DATASETS
from omv_pipelines.sources.registry import Source

DEFAULT_DATASET_ID = "{commune}-{dataset}"
_CRON = re.compile(r"^\S+(\s+\S+){4}$")

# A dataset id names a file of the export folder and a dataset of the portal: Opendatasoft's own rule
# (lowercase letters, digits, '-' and '_', starting with a letter or a digit), bounded.
DATASET_ID_MAX_LENGTH = 100
DATASET_ID_PATTERN = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{DATASET_ID_MAX_LENGTH - 1}}}$")
# The regional datasets are 'wallonie-<dataset>' (flow.REGIONAL_DATASET_ID) and so is the scorecard:
# no commune may publish under that prefix.
RESERVED_DATASET_ID_PREFIX = "wallonie-"
SCORECARD_DATASET_ID = "wallonie-ouvrir-ma-ville-tableau-de-bord"
# A template is text with these named fields, substituted by a regex: never `str.format` on a file's
# text, which evaluates attribute access, indexing and format specs ({commune.__class__}, {x:>99999}).
PLACEHOLDERS = ("commune", "ins_code", "theme", "dataset")
TEMPLATE_MAX_LENGTH = 200
_PLACEHOLDER = re.compile(r"\{(commune|ins_code|theme|dataset)\}")
_BRACED = re.compile(r"\{[^{}]*\}?|\}")


def check_template(value: str) -> str:
    """`value` if every brace in it is one of the named fields, written exactly so; else ValueError."""
    for match in _BRACED.finditer(value):
        piece = match[0]
        if _PLACEHOLDER.fullmatch(piece):
            continue
        fields = "{commune}, {ins_code}, {theme} and {dataset}"
        if re.fullmatch(r"\{\w*\}", piece):
            raise ValueError(f"unknown placeholder {piece}; use {fields}")
        raise ValueError(
            f"{piece!r} is not a placeholder: a template takes only {fields}, written exactly so "
            "(no attribute, index, format spec or conversion), e.g. '{commune}-{dataset}'"
        )
    return value


def render_template(template: str, **values: str) -> str:
    """The template with its named fields replaced (a checked template has no other braces)."""
    return _PLACEHOLDER.sub(lambda m: values[m[1]], template)


def dataset_id_problem(dataset_id: str) -> str | None:
    """What is wrong with a commune's dataset id, or None."""
    if not DATASET_ID_PATTERN.match(dataset_id):
        return (
            f"{dataset_id!r} is not a valid ODWB dataset id: use only lowercase letters (a-z), digits, "
            f"'-' and '_', starting with a letter or a digit, at most {DATASET_ID_MAX_LENGTH} characters"
        )
    if dataset_id.startswith(RESERVED_DATASET_ID_PREFIX):
        return (
            f"{dataset_id!r} is reserved: ids starting with {RESERVED_DATASET_ID_PREFIX!r} name the regional "
            f"datasets and the scorecard ({SCORECARD_DATASET_ID!r}), never a commune's"
        )
    return None


class Contact(BaseModel):
    """Who to ask about the commune's data (published as the datasets' contact)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = None


class OdwbNaming(BaseModel):
    """How the commune's datasets are named and attributed on ODWB."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(
        DEFAULT_DATASET_ID,
        max_length=TEMPLATE_MAX_LENGTH,
        description="Template of the ODWB dataset_id. Placeholders: {commune} (slug of the name, e.g. "
        "'namur'), {ins_code}, {theme}, {dataset} (with dashes, e.g. 'defibrillateurs'). The result must "
        "be lowercase letters, digits, '-' and '_' (at most 100 characters), not start with 'wallonie-' "
        "and be unique in the catalogue.",
    )
    publisher: str | None = Field(None, description="Publisher shown on ODWB; default 'Ville de <name>'.")

    @field_validator("dataset_id")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        return check_template(value)


class DatasetConfig(BaseModel):
    """One dataset the commune provides: its source(s) and mapping."""

    model_config = ConfigDict(extra="forbid")

    source: Source | None = Field(None, description="Where the rows come from (the common one-source case).")
    sources: list[Source] = Field(
        default_factory=list, description="Several sources, stacked (instead of `source`)."
    )
    mapping: Mapping = Field(default_factory=Mapping)
    dataset_id: str | None = Field(
        None,
        max_length=TEMPLATE_MAX_LENGTH,
        description="ODWB dataset_id for this dataset, overriding the commune's template (same placeholders "
        "and rules).",
    )
    max_row_drop: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of rows whose disappearance since the last publication refuses the "
        "publication (a drop of exactly this share is refused; 0.5: half the rows gone is refused).",
    )

    @field_validator("dataset_id")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return value if value is None else check_template(value)

    @model_validator(mode="after")
    def _one_way_to_give_sources(self) -> DatasetConfig:
        if self.source is not None and self.sources:
            raise ValueError("give either 'source' or 'sources', not both")
        if self.source is not None:
            self.sources = [self.source]
            self.source = None
        if not self.sources:
            raise ValueError("give the dataset's 'source' (or a list of 'sources')")
        return self


class CommuneConfig(BaseModel):
    """A commune's catalogue file."""

    model_config = ConfigDict(extra="forbid")

    ins_code: str = Field(
        ..., description="5-digit REFNIS / INS code of a current Walloon commune, e.g. '92094'."
    )
    name: str | None = Field(None, description="The commune's name; checked against the INS code.")
    active: bool = Field(True, description="False stops scheduled runs without deleting history.")
    contact: Contact | None = None
    schedule: str | None = Field(
        None, description="Cron (Europe/Brussels) of this commune's sync, overriding the nightly default."
    )
    freshness_hours: float = Field(
        36,
        gt=0,
        description="Hours after its last publication when a dataset of this commune counts as late.",
    )
    odwb: OdwbNaming = Field(default_factory=OdwbNaming)
    datasets: dict[str, DatasetConfig] = Field(..., description="Datasets provided, keyed 'theme/dataset'.")
    bbox: tuple[float, float, float, float] | None = Field(
        None,
        description="Rarely needed: points are already checked against the commune's real boundary "
        "(a warning outside it) and Wallonia's (an error). A box in WGS84, "
        "[lon_min, lat_min, lon_max, lat_max], is a stricter "
        "extent the commune declares: points outside it are rejected instead of warned about.",
    )

    @field_validator("ins_code", mode="before")
    @classmethod
    def _walloon_commune(cls, value: Any) -> str:
        code = str(value).strip()
        if isinstance(value, int) and len(code) < 5:
            code = code.zfill(5)
        lookup(code)  # raises UnknownCommune (a ValueError) with what to do
        return code

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """Dagster's own check, so that a cron passing here never stops the code location from loading
        (a regex let '30 25 * * *' through); imported only when a file gives a schedule."""
        if value is None:
            return value
        from dagster._utils.schedules import has_out_of_range_cron_interval, is_valid_cron_string

        cron = " ".join(value.split())
        example = (
            "e.g. '0 3 * * *' for 03:00 every day (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)"
        )
        if not _CRON.match(cron) or not is_valid_cron_string(cron):
            raise ValueError(f"{value!r} is not a valid cron expression with 5 fields, {example}")
        if has_out_of_range_cron_interval(cron):  # '*/90 * * * *' would run every hour, not every 90 min
            problem = "has a step larger than its field's range (it would not run as written)"
            raise ValueError(f"{value!r} {problem}, {example}")
        return cron

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, value: dict[str, DatasetConfig]) -> dict[str, DatasetConfig]:
        unknown = sorted(set(value) - set(DATASETS))
        if unknown:
            raise ValueError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(sorted(DATASETS))}")
        return value

    @field_validator("bbox")
    @classmethod
    def _bbox_in_wallonia(cls, value: tuple[float, float, float, float] | None):
        if value is None:
            return value
        from omv_pipelines.geography import (
            wallonia_envelope,
        )  # reads the boundaries: only when a box is given

        lon_min, lat_min, lon_max, lat_max = value
        lo_lon, lo_lat, hi_lon, hi_lat = wallonia_envelope()
        w_lon_min, w_lat_min, w_lon_max, w_lat_max = extent = [
            math.floor(lo_lon * 100) / 100,
            math.floor(lo_lat * 100) / 100,
            math.ceil(hi_lon * 100) / 100,
            math.ceil(hi_lat * 100) / 100,
        ]
        if not (lon_min < lon_max and lat_min < lat_max):
            raise ValueError("expected [lon_min, lat_min, lon_max, lat_max] with min < max (WGS84 degrees)")
        if lon_min < w_lon_min or lon_max > w_lon_max or lat_min < w_lat_min or lat_max > w_lat_max:
            raise ValueError(
                f"the box {list(value)} is not inside Wallonia (its extent is {extent}): "
                "check the lon/lat order"
            )
        return value

    @model_validator(mode="after")
    def _name_matches_code(self) -> CommuneConfig:
        if self.name:
            reference = self.commune
            if slugify(self.name) not in {slugify(reference.name), slugify(reference.name_nl)}:
                raise ValueError(
                    f"name {self.name!r} does not match INS code {self.ins_code}, which is {reference.name}; "
                    "check the code (Statbel REFNIS) or the name"
                )
        return self

    @model_validator(mode="after")
    def _dataset_ids_are_valid_and_distinct(self) -> CommuneConfig:
        """Every final id, as published, checked here so that a bad one never reaches a run."""
        problems = []
        seen: dict[str, str] = {}
        for key in self.datasets:
            dataset_id = self.dataset_id(key)
            problem = dataset_id_problem(dataset_id)
            if problem is None and dataset_id in seen:
                problem = (
                    f"{dataset_id!r} is also the id of {seen[dataset_id]}: each dataset needs its own id"
                )
            seen.setdefault(dataset_id, key)
            if problem is not None:
                default = self.render_dataset_id(DEFAULT_DATASET_ID, key)
                fix = f"use the default {default!r} (remove the override)"
                if default == dataset_id or dataset_id_problem(default):
                    fix = "choose another id"
                problems.append(f"{self.dataset_id_key(key)}: {self._gives(key)}{problem}; {fix}")
        if problems:
            # Each problem names its own key: the loader shows this error without a location.
            raise PydanticCustomError("catalog_keys", "{problems}", {"problems": "; ".join(problems)})
        return self

    @property
    def commune(self) -> Commune:
        return lookup(self.ins_code)

    def dataset_id(self, dataset_key: str) -> str:
        """The ODWB dataset_id of one of this commune's datasets."""
        return self.render_dataset_id(self._template(dataset_key), dataset_key)

    def dataset_id_key(self, dataset_key: str) -> str:
        """Where a dataset's id is set in the file: its own override, else the commune's template."""
        if self.datasets[dataset_key].dataset_id is not None:
            return f"datasets.{dataset_key}.dataset_id"
        return "odwb.dataset_id"

    def _template(self, dataset_key: str) -> str:
        return self.datasets[dataset_key].dataset_id or self.odwb.dataset_id

    def render_dataset_id(self, template: str, dataset_key: str) -> str:
        """`template` (a checked one) for one of this commune's datasets."""
        theme, dataset = dataset_key.split("/")
        return render_template(
            template,
            commune=self.commune.slug,
            ins_code=self.ins_code,
            theme=theme,
            dataset=dataset.replace("_", "-"),
        )

    def _gives(self, dataset_key: str) -> str:
        """'the template … gives … for <key>: ' when the id is rendered from a template, else ''."""
        template = self._template(dataset_key)
        if not _PLACEHOLDER.search(template):
            return ""
        return f"the template {template!r} gives {self.dataset_id(dataset_key)!r} for {dataset_key}: "

    @property
    def publisher(self) -> str:
        return self.odwb.publisher or f"Ville de {self.commune.name}"

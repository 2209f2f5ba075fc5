"""In-memory portal state of the Opendatasoft emulator: datasets, files, resources, field configurations, and
the processing that turns uploaded CSV files into published records."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

BUSY_STATES = ("queued", "processing", "aborting_processing", "deleting", "saving_version")
TYPE_PARAMS = ("text", "int", "double", "geo_point_2d", "geo_shape", "date", "datetime", "file")
FIELD_CONFIG_TYPES = ("rename", "type", "annotate", "description", "order", "delete")
ANNOTATIONS = ("id", "timeserie_precision", "unit", "decimals", "sortable", "multivalued", "hierarchical")

_counter = itertools.count(1)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_uid(prefix: str) -> str:
    """Opendatasoft-looking identifiers (`da_…`, `re_…`, `fi_…`, `pr_…`), unique within the process."""
    return f"{prefix}_{next(_counter):04d}{secrets.token_hex(2)}"


def field_name(header: str) -> str:
    """The technical field name Opendatasoft derives from a CSV header: no accents, lower case, `_`."""
    plain = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_]+", "_", plain.strip().lower()).strip("_") or "field"


@dataclass
class ApiKey:
    key: str
    username: str
    permissions: frozenset[str]


@dataclass
class Dataset:
    uid: str
    dataset_id: str
    owner: str
    is_restricted: bool
    metadata: dict[str, dict[str, dict]]
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    files: dict[str, dict] = field(default_factory=dict)  # file uid → DatasetFile + "content" bytes
    resources: dict[str, dict] = field(default_factory=dict)  # resource uid → Resource
    field_configs: list[dict] = field(default_factory=list)
    status: str = "idle"
    previous: str | None = None
    since: str = field(default_factory=now_iso)
    message: str | None = None
    records_errors: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    is_published: bool = False
    records: list[dict] = field(default_factory=list)  # published records
    fields: list[dict] = field(
        default_factory=list
    )  # published schema: name, label, type, annotations(, description)

    def set_status(self, status: str) -> None:
        """Enter `status`; `since` has microseconds, so two transitions within a second still differ."""
        since = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        self.previous, self.status, self.since = self.status, status, since

    def as_json(self) -> dict:
        return {
            "uid": self.uid,
            "dataset_id": self.dataset_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_published": self.is_published,
            "is_restricted": self.is_restricted,
            "metadata": self.metadata,
            "default_security": {
                "is_data_visible": True,
                "visible_fields": None,
                "filter_query": "",
                "api_calls_quota": None,
            },
        }

    def status_json(self) -> dict:
        return {
            "status": self.status,
            "previous": self.previous,
            "next": None,
            "since": self.since,
            "is_published": self.is_published,
            "message": self.message,
            "records_errors": self.records_errors,
            "params": self.params,
        }


class ProcessingFailure(Exception):
    """Raised inside processing to end it in `error` or `limit_reached` with the given records errors."""

    def __init__(self, status: str, message: str, records_errors: list[dict], params: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.records_errors = records_errors
        self.params = params or {}


def extract(resources: list[dict], files: dict[str, dict]) -> tuple[list[dict], list[dict]]:
    """What the extractor yields before any field configuration: (records of text cells, fields).

    Like the platform, the extractor guesses each field's type from its values (int, double, date, else
    text) and labels it with the column header; a field configuration of type `type` overrides the guess.
    """
    records: list[dict] = []
    names: list[str] = []
    labels: dict[str, str] = {}
    for resource in resources:
        if resource["type"] != "csvfile":
            continue
        file_uid = resource["datasource"]["file"]["uid"]
        content = files[file_uid]["content"]
        params = resource.get("params") or {}
        encoding = params.get("encoding") or "utf-8"
        text = content.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=params.get("separator") or ",")
        rows = list(reader)
        if not rows:
            continue
        header = [field_name(h) for h in rows[0]]
        for name, raw in zip(header, rows[0], strict=True):
            labels.setdefault(name, raw.strip())
        names += [h for h in header if h not in names]
        records += [
            dict(zip(header, (cell if cell != "" else None for cell in row), strict=False))
            for row in rows[1:]
            if row
        ]
    fields = [
        {"name": n, "label": labels[n], "type": guess_type(r.get(n) for r in records), "annotations": {}}
        for n in names
    ]
    return records, fields


def guess_type(values) -> str:
    """The type the extractor guesses for a column: int, double or date when every value reads so."""
    present = [v for v in values if v is not None]
    if not present:
        return "text"
    for kind, pattern in (
        ("int", r"-?\d{1,18}"),
        ("double", r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"),
        ("date", r"\d{4}-\d{2}-\d{2}"),
    ):
        if all(re.fullmatch(pattern, v) for v in present):
            return kind
    return "text"


def process(dataset: Dataset) -> tuple[list[dict], list[dict], list[dict]]:
    """Extract every enabled csvfile resource and apply the field configurations, in stack order.

    Returns (records, fields, records_errors). Conversion failures leave the value empty and add a record
    error, as the real platform does; they do not fail the processing.
    """
    records, extracted = extract(list(dataset.resources.values()), dataset.files)
    errors: list[dict] = []
    fields = {f["name"]: f for f in extracted}
    typed_by: dict[int, str] = {}  # id(field spec) → uid of the processor that set its type
    for config in dataset.field_configs:
        kind, target = config["type"], config.get("field")
        if kind == "type" and target in fields:
            fields[target]["type"] = config["type_param"]
            typed_by[id(fields[target])] = config["uid"]
        elif kind == "rename" and config["from_name"] in fields:
            source, target = config["from_name"], config["to_name"]
            fields[source].update(name=target, label=config["field_label"])
            fields = {
                (target if n == source else n): spec for n, spec in fields.items()
            }  # keeps the position
            if source != target:
                for record in records:
                    record[target] = record.pop(source, None)
        elif kind == "description" and target in fields:
            fields[target]["description"] = config["description"]
        elif kind == "annotate" and target in fields:
            fields[target]["annotations"][config["annotation"]] = config.get("args") or True
        elif kind == "delete" and target in fields:
            del fields[target]
            for record in records:
                record.pop(target, None)
        elif kind == "order":
            order = [n for n in config.get("order") or config.get("args") or [] if n in fields]
            fields = {n: fields[n] for n in order + [n for n in fields if n not in order]}
    for name, spec in fields.items():  # cells are converted to the field's final type
        for number, record in enumerate(records):
            try:
                record[name] = convert(record.get(name), spec["type"])
            except ValueError as exc:
                record[name] = None
                errors.append(
                    {
                        "record_id": str(number + 1),
                        "field_uid": name,
                        "processor_uid": typed_by.get(id(spec), ""),
                        "message": str(exc),
                    }
                )
    ordered = [{n: record.get(n) for n in fields} for record in records]
    return ordered, list(fields.values()), errors


def convert(value: str | None, type_param: str) -> object:
    """A CSV cell as the Explore API returns it for the given field type."""
    if value is None or type_param in ("text", "file"):
        return value
    try:
        if type_param == "int":
            return int(value)
        if type_param == "double":
            return float(value)
        if type_param == "date":
            return date.fromisoformat(value[:10]).isoformat()
        if type_param == "datetime":
            return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
        if type_param == "geo_shape":
            shape = json.loads(value)
            if not isinstance(shape, dict) or "type" not in shape:
                raise ValueError("not a GeoJSON geometry")
            return shape
        if type_param == "geo_point_2d":
            if value.lstrip().startswith("{"):
                lon, lat = json.loads(value)["coordinates"][:2]
            else:
                lat, lon = (float(part) for part in value.split(","))
            return {"lon": float(lon), "lat": float(lat)}
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot convert {value[:60]!r} to {type_param}: {exc}") from None
    raise ValueError(f"unknown type {type_param!r}")


def csv_cell(value: object) -> str:
    """A record value as the Explore CSV export writes it."""
    if value is None:
        return ""
    if isinstance(value, dict) and set(value) == {"lon", "lat"}:
        return f"{value['lat']}, {value['lon']}"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)

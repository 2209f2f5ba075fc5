"""Source-shaped table + mapping + schema → (valid rows in the schema, problems found, one row each).

The engine knows nothing of Dagster or of where the data came from. It works column by column with
vectorised pandas operations; the only Python loops are over the schema's fields.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from omv_pipelines import geography
from omv_pipelines.catalog.communes import Commune
from omv_pipelines.errors import OmvError
from omv_pipelines.normalise import cast
from omv_pipelines.normalise.config import GeometryMapping, Mapping
from omv_pipelines.normalise.geometry import Geometries, from_geojson, from_text, from_wkt, from_xy
from omv_pipelines.schemas import DatasetSchema
from omv_pipelines.sources.base import GEOMETRY, PROVENANCE_COLUMNS, SOURCE_ID, SOURCE_ROW

PROBLEM_COLUMNS = [
    "source_id",
    "source_row",
    "record_id",
    "field",
    "severity",
    "error_type",
    "message",
    "raw_value",
]


def bilingual(french, english):
    """A report message: French first (the data officers' language), then the English after ' — '.
    Either part may be a Series (one text per row) or a str."""
    return french + " — " + english


class MappingError(OmvError, ValueError):
    """The mapping cannot be applied to this source at all (e.g. a mapped column does not exist)."""


@dataclass
class NormaliseResult:
    valid: pd.DataFrame  # exactly the schema's fields, typed
    rejected: pd.DataFrame  # one row per error that rejected a source row (PROBLEM_COLUMNS)
    warnings: pd.DataFrame  # problems that were fixed or tolerated; the row was kept (PROBLEM_COLUMNS)
    unknown_columns: list[str] = field(default_factory=list)  # source columns the schema does not know
    matched_columns: dict[str, str] = field(default_factory=dict)  # schema field → source column used
    source_rows: int = 0

    @property
    def rejected_rows(self) -> int:
        if self.rejected.empty:
            return 0
        return int(self.rejected[["source_id", "source_row"]].drop_duplicates().shape[0])


def column_key(name: str) -> str:
    """Column names are matched ignoring case, accents, spaces and punctuation ('N° police' ~ 'n_police')."""
    return re.sub(r"[^a-z0-9]", "", cast.fold_one(name))


class _Problems:
    """Collects problem masks per field, then builds the long table in one go."""

    def __init__(self, raw: pd.DataFrame, record_ids: pd.Series):
        self.raw = raw
        self.record_ids = record_ids
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: pd.Series, field_name: str, error_type: str, message, raw_value, severity="error"):
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        index = mask[mask].index

        def pick(value):
            return (
                value.loc[index].astype("string")
                if isinstance(value, pd.Series)
                else pd.Series(value, index=index, dtype="string")
            )

        self.parts.append(
            pd.DataFrame(
                {
                    "source_id": self.raw.loc[index, SOURCE_ID].astype("string"),
                    "source_row": self.raw.loc[index, SOURCE_ROW].astype("string"),
                    "record_id": self.record_ids.loc[index].astype("string"),
                    "field": field_name,
                    "severity": severity,
                    "error_type": error_type,
                    "message": pick(message),
                    "raw_value": pick(raw_value),
                },
                index=index,
            )
        )

    def table(self, severity: str) -> pd.DataFrame:
        parts = [p for p in self.parts if (p["severity"] == severity).all()]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in PROBLEM_COLUMNS})
        return pd.concat(parts).astype("string")[PROBLEM_COLUMNS]


def normalise(
    raw: pd.DataFrame,
    schema: DatasetSchema,
    mapping: Mapping,
    commune: Commune,
    *,
    bbox: tuple[float, float, float, float] | None = None,
) -> NormaliseResult:
    """Map, type and validate a harvested table. Raises MappingError only for whole-table problems.

    Geometries are held to the real map (`geography.place`): outside Wallonia is an error, outside the
    commune a warning naming where the geometry lies. `bbox` (lon_min, lat_min, lon_max, lat_max), when
    the commune declares one in its catalogue, is a stricter extent: points outside it are rejected.
    """
    for column in (SOURCE_ID, SOURCE_ROW):
        if column not in raw.columns:
            raise MappingError(f"the harvested table has no {column} provenance column")
    raw = raw.reset_index(drop=True)
    resolver = _ColumnResolver(raw, schema, mapping)
    index = raw.index

    # Text form of every input, before typing: what the commune sees in its source, for the report.
    inputs: dict[str, pd.Series] = {}
    typed: dict[str, pd.Series] = {}
    geometry_field = next((f["name"] for f in schema.fields if f["type"] == "geojson"), None)
    harvested = _harvested_geometry_rows(raw, schema)
    points_only = point_fields(schema)

    ids = _record_ids(raw, resolver, mapping, commune, schema.primary_key)
    problems = _Problems(raw, ids.fillna("(no id)"))

    for spec in schema.fields:
        name, kind = spec["name"], spec["type"]
        if kind == "geojson":
            if name == geometry_field:
                geometries = _geometries(raw, resolver, mapping.geometry, name, harvested)
            else:
                geometries = _extra_geometries(raw, resolver, mapping, name, harvested)
            typed[name] = geometries.geojson
            inputs[name] = text = geometries.source_text
            problems.add(
                geometries.unreadable,
                name,
                "invalid_geometry",
                bilingual(
                    "géométrie illisible : attendu du GeoJSON, du WKT (POINT, LINESTRING, POLYGON ou leurs "
                    "formes MULTI) ou des nombres x/y",
                    "not a readable geometry: expected GeoJSON, WKT (POINT, LINESTRING, POLYGON or their "
                    "MULTI forms) or x/y numbers",
                ),
                text,
            )
            checked = geometries.geojson.notna() & ~geometries.unreadable
            if name in points_only:
                not_point = checked & ~geometries.is_point
                problems.add(
                    not_point,
                    name,
                    "not_a_point",
                    bilingual(
                        "un Point est attendu (le standard décrit une seule position) ; reçu : "
                        + _geometry_types(geometries.geojson[not_point]),
                        "expected a Point (the standard describes one position); got a "
                        + _geometry_types(geometries.geojson[not_point]),
                    ),
                    text,
                )
                checked &= ~not_point
            placement = geography.place(
                geometries.geojson.where(checked), geometries.lon, geometries.lat, commune.ins_code
            )
            problems.add(placement.outside_wallonia, name, "outside_wallonia", placement.message, text)
            outside_box = pd.Series(False, index=index)
            if bbox is not None:
                outside_box = (
                    geography.outside_box(geometries.lon, geometries.lat, bbox) & ~placement.outside_wallonia
                )
                problems.add(
                    outside_box,
                    name,
                    "outside_commune",
                    bilingual(
                        f"point hors du rectangle englobant de {commune.name} {list(bbox)} (déclaré dans le "
                        "catalogue)",
                        f"point outside {commune.name}'s bounding box {list(bbox)} (set in the catalogue)",
                    ),
                    text,
                )
            problems.add(
                placement.outside_commune & ~outside_box,
                name,
                "outside_commune",
                placement.message,
                text,
                "warning",
            )
            problems.add(
                geometries.swapped,
                name,
                "swapped_coordinates",
                bilingual(
                    "latitude et longitude inversées ; elles ont été remises dans l'ordre [lon, lat]",
                    "latitude and longitude were swapped; they have been put in [lon, lat] order",
                ),
                geometries.source_text,
                "warning",
            )
            continue
        if name == schema.primary_key:
            source = ids
        elif name == "ins_code":
            source = resolver.constant_or(name, commune.ins_code)
        elif name == "municipality":
            source = resolver.constant_or(name, commune.name)
        else:
            source = resolver.series(name)
        if name in mapping.values:
            source = _apply_vocabulary(source, mapping.values[name])
        inputs[name] = cast.as_text(source)
        formats = mapping.formats.get(name)
        formats = [formats] if isinstance(formats, str) else formats
        constraints = spec.get("constraints", {})
        if "enum" in constraints and kind == "string":
            value, bad = cast.cast_enum(source, constraints["enum"])
            allowed = ", ".join(constraints["enum"])
            problems.add(
                bad,
                name,
                "not_in_enum",
                bilingual(f"valeur hors liste ; valeurs admises : {allowed}", f"not one of: {allowed}"),
                inputs[name],
            )
        else:
            value, bad = (
                _CASTERS[kind](source, formats) if kind in ("date", "datetime") else _CASTERS[kind](source)
            )
            problems.add(bad, name, "invalid_" + kind, _type_message(kind, formats), inputs[name])
        typed[name] = value

    for spec in schema.fields:
        _check_constraints(spec, typed[spec["name"]], inputs[spec["name"]], problems)
    _check_commune(typed, commune, problems, schema.primary_key)

    table = pd.DataFrame(typed, index=index)[schema.field_names]
    rejected = problems.table("error")
    bad_rows = rejected.index.unique() if not rejected.empty else pd.Index([])
    _check_formulas(schema, typed, inputs, problems, published=pd.Series(~index.isin(bad_rows), index=index))
    valid = table.drop(index=bad_rows).reset_index(drop=True)
    return NormaliseResult(
        valid=valid,
        rejected=rejected.reset_index(drop=True),
        warnings=problems.table("warning").reset_index(drop=True),
        unknown_columns=resolver.unused(),
        matched_columns=resolver.used,
        source_rows=len(raw),
    )


def point_fields(schema: DatasetSchema) -> set[str]:
    """Geometry fields that accept only a Point.

    Every FuturoCité standard describes `coordinates` as the position of one thing (a defibrillator, a
    bike rack, a PMR space, an equipment: "les coordonnées de ...", a Point in each example); a zone is
    the separate `geometry` field. The project's own schemas (participation) accept a point or a surface.
    """
    standard = schema.standard or {}
    if standard.get("author") != "FuturoCité":
        return set()
    return {f["name"] for f in schema.fields if f["type"] == "geojson" and f["name"] == "coordinates"}


def _geometry_types(geojson: pd.Series) -> pd.Series:
    """The GeoJSON type of each geometry, for messages (the canonical text ends with it)."""
    kind = geojson.str.extract(r'"type"\s*:\s*"(\w+)"\s*\}\s*$', expand=False)
    first = geojson.str.extract(r'"type"\s*:\s*"(\w+)"', expand=False)
    return kind.where(
        ~geojson.str.contains("GeometryCollection", regex=False).fillna(False), "GeometryCollection"
    ).fillna(first)


# Every caster takes the source text (and, for dates, the declared formats) → (typed values, bad rows).
_CASTERS: dict[str, Callable[..., tuple[pd.Series, pd.Series]]] = {
    "string": lambda s: cast.cast_string(s),
    "integer": cast.cast_integer,
    "number": cast.cast_number,
    "year": cast.cast_year,
    "boolean": cast.cast_boolean,
    "date": cast.cast_date,
    "datetime": cast.cast_datetime,
}
_TYPE_HINTS = {
    "string": ("pas du texte", "not text"),
    "integer": ("pas un nombre entier", "not a whole number"),
    "number": (
        "pas un nombre (point ou virgule décimale, sans unité)",
        "not a number (use a dot or a decimal comma, no units)",
    ),
    "year": ("pas une année (4 chiffres)", "not a year (4 digits)"),
    "boolean": (
        "pas une valeur oui/non (true/false, oui/non, 1/0, Y/N, vrai/faux)",
        "not a yes/no value (true/false, oui/non, 1/0, Y/N, vrai/faux)",
    ),
    "date": (
        "pas une date : utilisez aaaa-mm-jj ou jj/mm/aaaa, ou déclarez le format sous mapping.formats",
        "not a date: use yyyy-mm-dd or dd/mm/yyyy, or declare the format under mapping.formats",
    ),
    "datetime": (
        "pas une date et heure : utilisez l'ISO 8601 (2024-03-01T14:30:00+01:00) ou déclarez le format",
        "not a date and time: use ISO 8601 (2024-03-01T14:30:00+01:00) or declare the format",
    ),
}
# strftime codes → what a person reads in a format ("%d/%m/%Y" is also shown as "jj/mm/aaaa").
_FORMAT_WORDS = {"%d": "jj", "%m": "mm", "%Y": "aaaa", "%y": "aa", "%H": "hh", "%M": "mm", "%S": "ss"}


def _readable_format(fmt: str) -> str:
    if fmt in ("iso", "excel"):
        return {"iso": "ISO 8601", "excel": "Excel date number"}[fmt]
    return re.sub(r"%[a-zA-Z]", lambda m: _FORMAT_WORDS.get(m.group(0), m.group(0)), fmt)


def _type_message(kind: str, formats: list[str] | None) -> str:
    """The message of a value that is not of its field's type; for a date or datetime whose format the
    catalogue declares (mapping.formats), that format, quoted as declared and as a person reads it."""
    if kind in ("date", "datetime") and formats:
        quoted = ", ".join(f"« {f} » ({_readable_format(f)})" for f in formats)
        noun_fr, noun_en = (
            ("une date", "a date") if kind == "date" else ("une date et heure", "a date and time")
        )
        return bilingual(
            f"pas {noun_fr} au format déclaré dans le catalogue (mapping.formats) : {quoted}",
            f"not {noun_en} in the format the catalogue declares (mapping.formats): "
            + ", ".join(f"'{f}'" for f in formats),
        )
    return bilingual(*_TYPE_HINTS[kind])


class _ColumnResolver:
    """Finds the source column for each schema field and remembers which ones were used."""

    def __init__(self, raw: pd.DataFrame, schema: DatasetSchema, mapping: Mapping):
        self.raw = raw
        self.mapping = mapping
        self.by_key: dict[str, str] = {}
        for column in raw.columns:
            if column not in PROVENANCE_COLUMNS:
                self.by_key.setdefault(column_key(str(column)), column)
        self.used: dict[str, str] = {}
        self.consumed: set[str] = set()
        unknown_fields = set(mapping.columns) - set(schema.field_names)
        if unknown_fields:
            raise MappingError(
                f"mapping.columns names field(s) not in the schema {schema.key}: "
                f"{', '.join(sorted(unknown_fields))}; "
                f"fields are: {', '.join(schema.field_names)}"
            )
        for field_name in mapping.columns:
            self.source_column(mapping.columns[field_name], field_name)  # fail early on a missing column

    def source_column(self, name: str, for_field: str) -> str:
        if name in self.raw.columns:
            return name
        found = self.by_key.get(column_key(name))
        if found is None:
            available = ", ".join(str(c) for c in self.raw.columns if c not in PROVENANCE_COLUMNS)
            raise MappingError(
                f"field {for_field!r} is mapped to column {name!r}, which the source does not have; "
                f"its columns are: {available}"
            )
        return found

    def take(self, column: str, for_field: str) -> pd.Series:
        self.used[for_field] = column
        self.consumed.add(column)
        return self.raw[column]

    def find(self, field_name: str) -> str | None:
        if field_name in self.mapping.columns:
            return self.source_column(self.mapping.columns[field_name], field_name)
        return self.by_key.get(column_key(field_name))

    def series(self, field_name: str) -> pd.Series:
        if field_name in self.mapping.constants:
            return pd.Series(self.mapping.constants[field_name], index=self.raw.index)
        column = self.find(field_name)
        if column is None:
            return pd.Series(pd.NA, index=self.raw.index, dtype="string")
        return self.take(column, field_name)

    def constant_or(self, field_name: str, default: str) -> pd.Series:
        """Commune fields: the source's values when it has them (then checked), else the commune's."""
        if field_name not in self.mapping.constants and self.find(field_name) is not None:
            values = cast.as_text(self.series(field_name))
            return values.fillna(default)
        return pd.Series(
            self.mapping.constants.get(field_name, default), index=self.raw.index, dtype="string"
        )

    def unused(self) -> list[str]:
        ignored = {GEOMETRY}
        return [
            str(c)
            for c in self.raw.columns
            if c not in PROVENANCE_COLUMNS and c not in self.consumed and c not in ignored
        ]


def _apply_vocabulary(values: pd.Series, vocabulary: dict) -> pd.Series:
    """Replace listed source values (matched ignoring case and accents); others are kept as they are."""
    by_key = {cast.fold_one(k): v for k, v in vocabulary.items()}
    text = cast.as_text(values)
    replaced = cast.fold(text).map(by_key)
    return replaced.where(replaced.notna(), text).astype("string") if replaced.notna().any() else text


def _record_ids(
    raw, resolver: _ColumnResolver, mapping: Mapping, commune: Commune, id_field: str | None
) -> pd.Series:
    """'<ins_code>-<local number>' from the id template, the source's id column, or the row number."""
    prefix = commune.ins_code + "-"
    if mapping.id:
        local = pd.Series("", index=raw.index, dtype="string")
        missing = pd.Series(False, index=raw.index)
        for literal, column, _, _ in string.Formatter().parse(mapping.id):
            local = local + literal
            if column is None:
                continue
            if column == "ins_code":
                part = pd.Series(commune.ins_code, index=raw.index, dtype="string")
            else:
                part = cast.as_text(
                    resolver.take(resolver.source_column(column, id_field or "id"), id_field or "id")
                )
            missing |= part.isna()
            local = local + part.fillna("")
        ids = local.where(~missing)
        has_prefix = "{ins_code}" in mapping.id
    elif id_field and resolver.find(id_field) is not None:
        ids = cast.as_text(resolver.series(id_field))
        has_prefix = False
    else:
        ids = raw[SOURCE_ROW].astype("string")
        has_prefix = False
    if not has_prefix:
        # An id that already carries an INS code keeps it: another commune's code is then reported
        # (id_prefix) instead of being hidden behind ours.
        ids = ids.where(ids.str.match(r"\d{5}-").fillna(False), prefix + ids)
    return ids


@dataclass
class _SourcedGeometries(Geometries):
    source_text: pd.Series = None


# Which column feeds a geometry field — the one rule, for every source kind:
#
# 1. What the mapping names: `geometry:` (x/y, wkt, geojson) for the schema's first geometry field, or
#    `columns: {field: column}` for any field.
# 2. Else a source column named like the field (ignoring case and accents): a spreadsheet filled in
#    from a FuturoCité template has `coordinates` and, for équipements collectifs, the zone `geometry`;
#    each goes to its own field.
# 3. The geometry a WFS or PostGIS source harvests (the `geometry` column of rows whose provenance says
#    `(wfs)` or `(sql)`) fills the schema's first geometry field — the point in the FuturoCité standards —
#    on the rows where no column of rule 1 or 2 gave a value. It feeds another field (e.g. the zone) only
#    when mapped there explicitly. A `geometry` column that no schema field is named like is treated the
#    same way whatever the source, as the row's geometry.
_SPATIAL_SOURCE = r"\((?:wfs|sql)\)$"  # the kind at the end of a source id, e.g. '92094/...#1(wfs)'


def _harvested_geometry_rows(raw: pd.DataFrame, schema: DatasetSchema) -> pd.Series | None:
    """Rows whose `geometry` column is the geometry a spatial source harvested (rule 3), or None."""
    if GEOMETRY not in raw.columns:
        return None
    if GEOMETRY not in schema.field_names:
        return pd.Series(True, index=raw.index)
    spatial = (
        raw[SOURCE_ID].astype("string").str.contains(_SPATIAL_SOURCE, regex=True).fillna(False).astype(bool)
    )
    return spatial if spatial.any() else None


def _geometries(
    raw: pd.DataFrame,
    resolver: _ColumnResolver,
    config: GeometryMapping | None,
    field_name: str,
    harvested: pd.Series | None,
) -> _SourcedGeometries:
    """The schema's first geometry field: from x/y, WKT or GeoJSON columns, else by the rule above."""
    config = config or GeometryMapping()
    if config.x and config.y:
        x = resolver.take(resolver.source_column(config.x, field_name + " (x)"), field_name + " (x)")
        y = resolver.take(resolver.source_column(config.y, field_name + " (y)"), field_name + " (y)")
        result, text = from_xy(x, y, config.crs), cast.as_text(x) + " " + cast.as_text(y)
        return _SourcedGeometries(**vars(result), source_text=text)
    if config.wkt:
        values = resolver.take(resolver.source_column(config.wkt, field_name), field_name)
        return _SourcedGeometries(**vars(from_wkt(values, config.crs)), source_text=cast.as_text(values))
    if config.geojson:
        values = resolver.take(resolver.source_column(config.geojson, field_name), field_name)
        return _SourcedGeometries(**vars(from_geojson(values)), source_text=cast.as_text(values))
    column = resolver.find(field_name)  # rules 1 and 2
    values = (
        cast.as_text(resolver.take(column, field_name))
        if column
        else pd.Series(pd.NA, index=raw.index, dtype="string")
    )
    if harvested is not None and column != GEOMETRY:  # rule 3
        fill = harvested & values.isna() & raw[GEOMETRY].notna()
        if fill.any():
            resolver.consumed.add(GEOMETRY)
            values = values.mask(fill, cast.as_text(raw[GEOMETRY]))
            if column is None:
                resolver.used[field_name] = GEOMETRY
    return _SourcedGeometries(**vars(from_text(values, config.crs)), source_text=values)


def _extra_geometries(
    raw: pd.DataFrame,
    resolver: _ColumnResolver,
    mapping: Mapping,
    field_name: str,
    harvested: pd.Series | None,
) -> _SourcedGeometries:
    """Another geometry field (e.g. the zone of a playground): GeoJSON or WKT text from its own column.

    A spatial source's harvested geometry is not taken here unless mapped explicitly (rule 3).
    """
    column = resolver.find(field_name)
    values = pd.Series(pd.NA, index=raw.index, dtype="string")
    if column is not None:
        harvested_here = (
            harvested
            if column == GEOMETRY and field_name not in mapping.columns and harvested is not None
            else None
        )
        if harvested_here is None:
            values = cast.as_text(resolver.take(column, field_name))
        elif not harvested_here.all():
            values = cast.as_text(resolver.take(column, field_name)).mask(harvested_here)
    crs = mapping.geometry.crs if mapping.geometry else "EPSG:4326"
    return _SourcedGeometries(**vars(from_text(values, crs)), source_text=values)


_MISSING = bilingual("valeur obligatoire manquante", "required value is missing")


def _check_constraints(spec: dict, value: pd.Series, text: pd.Series, problems: _Problems) -> None:
    name, constraints = spec["name"], spec.get("constraints", {})
    if constraints.get("required"):
        problems.add(value.isna() & text.isna(), name, "missing_value", _MISSING, text)
    present = value.notna()
    if "pattern" in constraints:
        matches = value.astype("string").str.fullmatch(constraints["pattern"]).fillna(False)
        problems.add(
            present & ~matches,
            name,
            "pattern",
            bilingual(
                f"ne suit pas le motif {constraints['pattern']}", f"does not match {constraints['pattern']}"
            ),
            text,
        )
    if "minimum" in constraints:
        problems.add(
            present & (value < constraints["minimum"]),
            name,
            "minimum",
            bilingual(
                f"inférieur au minimum {constraints['minimum']}",
                f"below the minimum {constraints['minimum']}",
            ),
            text,
        )
    if "maximum" in constraints:
        problems.add(
            present & (value > constraints["maximum"]),
            name,
            "maximum",
            bilingual(
                f"supérieur au maximum {constraints['maximum']}",
                f"above the maximum {constraints['maximum']}",
            ),
            text,
        )
    if "maxLength" in constraints:
        problems.add(
            present & (value.astype("string").str.len() > constraints["maxLength"]),
            name,
            "max_length",
            bilingual(
                f"plus de {constraints['maxLength']} caractères",
                f"longer than {constraints['maxLength']} characters",
            ),
            text,
        )
    fmt = spec.get("format")
    if fmt == "email":
        ok = value.astype("string").str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False)
        problems.add(
            present & ~ok,
            name,
            "invalid_email",
            bilingual("pas une adresse e-mail", "not an e-mail address"),
            text,
        )
    elif fmt == "uri":
        ok = value.astype("string").str.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$").fillna(False)
        problems.add(
            present & ~ok,
            name,
            "invalid_uri",
            bilingual(
                "pas une URL (elle doit commencer par https:// ou http://)",
                "not a URL (it must start with https:// or http://)",
            ),
            text,
        )
    if constraints.get("unique"):
        duplicated = present & value.duplicated(keep=False)
        problems.add(
            duplicated,
            name,
            "duplicate",
            bilingual(
                "valeur présente sur plusieurs lignes ; chaque ligne doit avoir la sienne",
                "value appears on several rows; each row needs its own",
            ),
            text,
        )


# A text a spreadsheet runs as a formula when the published CSV is opened (OWASP CSV injection): it starts
# with = or @ (or a tab / carriage return), or with + or - not followed by a number (`-3`, `+32 81 24 60 00`
# and `- ` alone are values, `+cmd|' /C calc'!A0` or `-2+3` are not).
_FORMULA_LIKE = r"^(?:[=@\t\r]|[+-](?![\d\s().,/]*$))"


def _check_formulas(
    schema: DatasetSchema,
    typed: dict[str, pd.Series],
    inputs: dict[str, pd.Series],
    problems: _Problems,
    published: pd.Series,
) -> None:
    """Warn about each published text cell that a spreadsheet would execute. The value is published as is
    (the standard's values must not change); the commune is asked to check its source."""
    for spec in schema.fields:
        if spec["type"] != "string":
            continue  # numbers, dates, booleans are written as such; GeoJSON starts with '{'
        value = typed[spec["name"]].astype("string")
        formula = value.str.contains(_FORMULA_LIKE, regex=True).fillna(False).astype(bool)
        problems.add(
            formula & published,
            spec["name"],
            "formula_like",
            bilingual(
                "commence comme une formule de tableur : publiée telle quelle, mais Excel ou LibreOffice "
                "l'exécuterait en ouvrant le CSV ; vérifiez cette valeur dans la source",
                "starts like a spreadsheet formula: published as is, but Excel or LibreOffice opening the "
                "CSV would run it; check this value in the source",
            ),
            inputs[spec["name"]],
            "warning",
        )


def _check_commune(
    typed: dict[str, pd.Series], commune: Commune, problems: _Problems, id_field: str | None
) -> None:
    if "ins_code" in typed:
        other = typed["ins_code"].notna() & (typed["ins_code"] != commune.ins_code)
        problems.add(
            other,
            "ins_code",
            "wrong_commune",
            bilingual(
                f"le code INS diffère de celui de la commune ({commune.ins_code} {commune.name})",
                f"INS code differs from the commune's ({commune.ins_code} {commune.name})",
            ),
            typed["ins_code"],
        )
    if id_field and id_field in typed:
        prefix = commune.ins_code + "-"
        wrong = typed[id_field].notna() & ~typed[id_field].str.startswith(prefix).fillna(False)
        problems.add(
            wrong,
            id_field,
            "id_prefix",
            bilingual(f"l'identifiant doit commencer par « {prefix} »", f"id must start with '{prefix}'"),
            typed[id_field],
        )

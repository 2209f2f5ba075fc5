"""Vectorised typing of source columns into Table Schema types.

Each caster takes a Series as harvested (text, numbers, dates, booleans, mixed) and returns the typed
Series plus a boolean mask of the values it could not read. Missing values are not errors here: the
`required` constraint is checked afterwards. No per-row Python on these paths.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from omv_pipelines.region import TIMEZONE

EXCEL_EPOCH = pd.Timestamp("1899-12-30")
DEFAULT_DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d", "iso", "excel"]
DEFAULT_DATETIME_FORMATS = ["iso", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "excel"]

TRUE_WORDS = ["true", "vrai", "oui", "yes", "y", "o", "1", "x", "t", "ja", "1.0"]
FALSE_WORDS = ["false", "faux", "non", "no", "n", "0", "f", "nee", "0.0"]
# Real characters, not \u escapes nor \s: pandas then runs these patterns in pyarrow (RE2), not per value.
_COMBINING = "[\u0300-\u036f]"
_SPACES = "[ \t\u00a0\u202f]"
# What people type (word processors, phones) → what the standards write: `Panneau d’affichage`,
# `Braine-l’Alleud`, « guillemets », en and em dashes, non-breaking and thin spaces.
_TYPOGRAPHY = str.maketrans(
    {
        **dict.fromkeys("\u2019\u2018\u201b\u02bc\u2032\u00b4`", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u00ab\u00bb\u2033", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
        **dict.fromkeys("\u00a0\u202f\u2007\u2009\u200a\t", " "),
    }
)


def canonical_typography(text: str) -> str:
    """Typographic apostrophes, quotes, dashes and spaces as their ASCII forms, runs of spaces as one."""
    return re.sub(" {2,}", " ", str(text).translate(_TYPOGRAPHY))


def fold(text: pd.Series) -> pd.Series:
    """Lower-case, accent-free, trimmed text with canonical typography: the key used to match
    enumerations, vocabularies and column names (`Panneau d’affichage` ~ `panneau d'affichage`).

    Computed once per distinct value (vocabulary columns hold a handful among millions of rows).
    """
    codes, uniques = pd.factorize(text.astype("string"))
    uniques = (
        pd.Series(uniques, dtype="string").map(canonical_typography, na_action="ignore").astype("string")
    )
    folded = uniques.str.strip().str.lower().str.normalize("NFKD")
    folded = folded.str.replace(_COMBINING, "", regex=True).to_numpy(dtype=object, na_value=None)
    keys = np.append(folded, np.array([None], dtype=object))  # code -1 (missing) → None
    return pd.Series(keys[codes], index=text.index, dtype="string")


def fold_one(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", canonical_typography(text).strip().lower())
    return re.sub(_COMBINING, "", decomposed)


def as_text(values: pd.Series) -> pd.Series:
    """Text form of any column; blanks become missing. Floats that are whole numbers lose their '.0'."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.notna() & (values == np.floor(values.fillna(0)))
        text = values.astype("string")
        text = text.mask(whole, values[whole].astype("Int64").astype("string"))
    elif pd.api.types.is_datetime64_any_dtype(values.dtype):
        text = values.dt.strftime("%Y-%m-%d").astype("string")
    else:
        text = values.astype("string")
    text = text.str.strip()
    return text.mask(text == "")


def cast_string(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = as_text(values)
    return text, pd.Series(False, index=values.index)


def cast_enum(values: pd.Series, allowed: list[str]) -> tuple[pd.Series, pd.Series]:
    """Map values onto the enum, ignoring case and accents (`prive` → `Privé`)."""
    text = as_text(values)
    canonical = {fold_one(v): v for v in allowed}
    mapped = fold(text).map(canonical).astype("string")
    return mapped, text.notna() & mapped.isna()


def _to_number(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("Float64")
    text = as_text(values)
    number = pd.to_numeric(text, errors="coerce").astype("Float64")
    todo = number.isna() & text.notna()
    if not todo.any():
        return number
    # Only the values plain parsing missed: spaces as thousands separators, "1.234,5" → "1234.5",
    # "12,5" → "12.5" (Belgian decimal comma).
    text = text[todo].str.replace(_SPACES, "", regex=True)
    both = text.str.contains(".", regex=False) & text.str.contains(",", regex=False)
    text = text.mask(both, text.str.replace(".", "", regex=False))
    text = text.str.replace(",", ".", regex=False)
    return number.mask(todo, pd.to_numeric(text, errors="coerce").astype("Float64").reindex(number.index))


def cast_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    number = _to_number(values)
    present = as_text(values).notna()
    return number, present & number.isna()


def cast_integer(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    number = _to_number(values)
    present = as_text(values).notna()
    whole = number.notna() & (number == number.round())
    integer = number.where(whole).round().astype("Int64")
    return integer, present & integer.isna()


def cast_year(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        values = values.dt.year
    year, bad = cast_integer(values)
    out_of_range = year.notna() & ((year < 1000) | (year > 9999))
    return year.mask(out_of_range), bad | out_of_range.fillna(False)


def cast_boolean(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), pd.Series(False, index=values.index)
    key = fold(as_text(values))
    vocabulary = {w: True for w in TRUE_WORDS} | {w: False for w in FALSE_WORDS}
    result = key.map(vocabulary).astype("boolean")
    return result, key.notna() & result.isna()


def _parse_dates(values: pd.Series, formats: list[str]) -> pd.Series:
    """Try each format in turn on the values still unparsed; returns naive datetimes (NaT if none fits)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        parsed = values
        if getattr(values.dt, "tz", None) is not None:
            parsed = values.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
        return parsed.astype("datetime64[us]")
    # Parsed once per distinct value: a million rows hold a few thousand dates.
    codes, uniques = pd.factorize(values)
    distinct = _parse_distinct(
        pd.Series(uniques, dtype=values.dtype if values.dtype == "string" else object), formats
    )
    lookup = np.append(distinct.to_numpy(dtype="datetime64[us]"), np.datetime64("NaT", "us"))  # code -1 → NaT
    return pd.Series(lookup[codes], index=values.index, dtype="datetime64[us]")


def _parse_distinct(values: pd.Series, formats: list[str]) -> pd.Series:
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    numbers = pd.to_numeric(values, errors="coerce") if values.dtype != "string" else None
    text = as_text(values)
    for fmt in formats:
        todo = result.isna() & text.notna()
        if not todo.any():
            break
        if fmt == "excel":
            serial = (numbers if numbers is not None else pd.to_numeric(text, errors="coerce"))[todo]
            serial = serial.where((serial > 0) & (serial < 2958466))  # 1900-01-01 .. 9999-12-31
            parsed = EXCEL_EPOCH + pd.to_timedelta(serial, unit="D")
        elif fmt == "iso":
            parsed = pd.to_datetime(text[todo], errors="coerce", format="ISO8601", utc=True)
            parsed = parsed.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
            # Values without an offset are local time, not UTC: parse them again as naive.
            naive = ~text[todo].str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
            if naive.any():
                parsed = parsed.mask(
                    naive, pd.to_datetime(text[todo][naive], errors="coerce", format="ISO8601")
                )
        else:
            parsed = pd.to_datetime(text[todo], errors="coerce", format=fmt)
        result = result.mask(todo, parsed.astype("datetime64[us]").reindex(result.index))
    return result


def cast_date(values: pd.Series, formats: list[str] | None = None) -> tuple[pd.Series, pd.Series]:
    parsed = _parse_dates(values, formats or DEFAULT_DATE_FORMATS)
    dates = parsed.dt.normalize()
    present = as_text(values).notna()
    return dates, present & dates.isna()


def cast_datetime(values: pd.Series, formats: list[str] | None = None) -> tuple[pd.Series, pd.Series]:
    """Datetimes in Europe/Brussels (naive source values are taken as local time)."""
    parsed = _parse_dates(values, formats or DEFAULT_DATETIME_FORMATS)
    local = parsed.dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="shift_forward")
    present = as_text(values).notna()
    return local, present & local.isna()

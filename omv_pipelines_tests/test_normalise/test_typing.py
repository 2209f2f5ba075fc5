"""Typing source values: vocabularies, enums, dates, datetimes, numbers, through the whole engine."""

import pandas as pd
import pytest

from omv_pipelines.normalise import cast
from omv_pipelines_tests.test_normalise.helpers import defibrillators, problems, run, run_defib


@pytest.mark.parametrize(
    "yes, no",
    [
        ("oui", "non"),
        ("Oui", "NON"),
        ("1", "0"),
        (1, 0),
        ("Y", "N"),
        ("y", "n"),
        ("vrai", "faux"),
        ("Vrai", "Faux"),
        ("true", "false"),
        ("TRUE", "False"),
        (True, False),
    ],
)
def test_boolean_vocabularies(yes, no):
    result = run_defib(defibrillators(2, Indoor=[yes, no], permanently_accessible=[no, yes]))
    assert result.rejected.empty
    assert result.valid["Indoor"].tolist() == [True, False]
    assert result.valid["permanently_accessible"].tolist() == [False, True]
    assert str(result.valid["Indoor"].dtype) == "boolean"


def test_boolean_outside_the_vocabulary_is_rejected_with_its_value():
    result = run_defib(defibrillators(2, Indoor=["peut-être", "oui"]))
    assert problems(result) == [("2", "Indoor", "invalid_boolean", "peut-être")]
    assert len(result.valid) == 1


def test_enum_values_are_canonicalised_by_case_and_accents():
    result = run_defib(defibrillators(4, accessibility=["prive", "PRIVÉ", "public", " Public "]))
    assert result.rejected.empty
    assert result.valid["accessibility"].tolist() == ["Privé", "Privé", "Public", "Public"]


def test_enum_value_that_is_another_word_is_rejected():
    result = run_defib(defibrillators(2, accessibility=["Publique", "Public"]))
    assert problems(result) == [("2", "accessibility", "not_in_enum", "Publique")]
    assert "Public, Privé" in result.rejected["message"].iloc[0]


def test_value_vocabulary_from_the_mapping_applies_before_the_enum():
    result = run_defib(
        defibrillators(3, accessibility=["Accès libre", "accès LIBRE", "Réservé"]),
        values={"accessibility": {"Accès libre": "Public", "Réservé": "prive"}},
    )
    assert result.rejected.empty
    assert result.valid["accessibility"].tolist() == ["Public", "Public", "Privé"]


def test_dates_in_belgian_iso_and_excel_forms():
    values = [
        "12/03/2018",
        "2018-03-12",
        43171,
        "43171",
        "12-03-2018",
        "12.03.2018",
        pd.Timestamp("2018-03-12 10:30"),
    ]
    result = run_defib(defibrillators(len(values), installation_date=values))
    assert result.rejected.empty
    assert result.valid["installation_date"].tolist() == [pd.Timestamp("2018-03-12")] * len(values)
    assert str(result.valid["installation_date"].dtype) == "datetime64[us]"


def test_explicit_date_format_is_used_and_impossible_dates_are_rejected():
    result = run_defib(
        defibrillators(3, installation_date=["20180312", "31/02/2021", "20211301"]),
        formats={"installation_date": ["%Y%m%d", "%d/%m/%Y"]},
    )
    assert problems(result) == [
        ("3", "installation_date", "invalid_date", "31/02/2021"),
        ("4", "installation_date", "invalid_date", "20211301"),
    ]
    assert result.valid["installation_date"].tolist() == [pd.Timestamp("2018-03-12")]
    # The message quotes the formats the catalogue declared, as declared and as a person reads them.
    assert result.rejected["message"].iloc[0] == (
        "pas une date au format déclaré dans le catalogue (mapping.formats) : "
        "« %Y%m%d » (aaaammjj), « %d/%m/%Y » (jj/mm/aaaa) — "
        "not a date in the format the catalogue declares (mapping.formats): '%Y%m%d', '%d/%m/%Y'"
    )


def test_a_date_without_declared_format_says_which_forms_are_read():
    result = run_defib(defibrillators(2, installation_date=["2021-03-01", "mars 2021"]))
    assert problems(result) == [("3", "installation_date", "invalid_date", "mars 2021")]
    assert (
        result.rejected["message"]
        .iloc[0]
        .startswith(
            "pas une date : utilisez aaaa-mm-jj ou jj/mm/aaaa, ou déclarez le format sous mapping.formats"
            " — not a date"
        )
    )


def test_excel_only_format():
    result = run_defib(
        defibrillators(2, installation_date=["45000", "15/03/2023"]), formats={"installation_date": "excel"}
    )
    assert result.valid["installation_date"].tolist() == [pd.Timestamp("2023-03-15")]
    assert problems(result) == [("3", "installation_date", "invalid_date", "15/03/2023")]


def test_datetimes_keep_their_offset_and_naive_ones_are_local_time():
    values = [
        "2024-03-01T14:30:00+01:00",
        "2024-07-01T12:00:00Z",
        "2024-07-01T14:00:00",
        "01/03/2024 14:30",
        "demain",
    ]
    result = run_defib(defibrillators(len(values), last_modified_date=values))
    assert problems(result) == [("6", "last_modified_date", "invalid_datetime", "demain")]
    brussels = [
        pd.Timestamp(v, tz="Europe/Brussels")
        for v in ("2024-03-01 14:30", "2024-07-01 14:00", "2024-07-01 14:00", "2024-03-01 14:30")
    ]
    assert result.valid["last_modified_date"].tolist() == brussels
    assert str(result.valid["last_modified_date"].dtype) == "datetime64[us, Europe/Brussels]"


@pytest.mark.parametrize(
    "text, number",
    [("11,5", 11.5), ("11.5", 11.5), ("1.234,5", 1234.5), ("1 234,5", 1234.5), ("-3", -3.0), (7, 7.0)],
)
def test_decimal_comma_and_thousands(text, number):
    values, bad = cast.cast_number(pd.Series([text], dtype=object))
    assert values.tolist() == [number] and not bad.any()


def test_numbers_through_the_engine():
    columns = {
        "name": ["Arceaux gare", "Box vélos", "Rack école"],
        "street_name": ["Place de la Station"] * 3,
        "street_number": ["7730001"] * 3,
        "lon": [4.862, 4.863, 4.864],
        "lat": [50.468] * 3,
        "parking_type": ["arceau", "BOX", "rack"],
        "covered": ["non", "oui", "non"],
        "available_places": ["12", "8,0", "douze"],
        "distance": ["11,5", None, "3"],
        "charging_station": ["N", "Y", "N"],
    }
    result = run("mobility/stationnements_velos", columns, geometry={"x": "lon", "y": "lat"})
    assert problems(result) == [("4", "available_places", "invalid_number", "douze")]
    assert result.valid["available_places"].tolist() == [12.0, 8.0]
    assert result.valid["distance"].tolist()[0] == 11.5 and pd.isna(result.valid["distance"].tolist()[1])
    assert result.valid["parking_type"].tolist() == ["Arceau", "Box"]


def test_integers_accept_whole_numbers_only():
    result = run_defib(defibrillators(4, etage=["2", "2.0", "-1", "2,5"]), columns={"floor": "etage"})
    assert problems(result) == [("5", "floor", "invalid_integer", "2,5")]
    assert result.valid["floor"].tolist() == [2, 2, -1]
    assert str(result.valid["floor"].dtype) == "Int64"


def test_constraints_minimum_uri_and_email():
    columns = {
        "title": ["Budget participatif 2025", "Consultation mobilité", "Panel climat"],
        "process_type": ["budget participatif", "consultation", "Panel citoyen"],
        "start_date": ["01/03/2025", "2025-04-01", "2025-05-01"],
        "budget": ["250000", "-5", None],
        "url": ["https://www.namur.be/bp", "www.namur.be", None],
        "contact_email": ["participation@ville.namur.be", None, "participation(at)namur.be"],
    }
    result = run("participation/processus_participatifs", columns)
    assert problems(result) == [
        ("3", "budget", "minimum", "-5"),
        ("3", "url", "invalid_uri", "www.namur.be"),
        ("4", "contact_email", "invalid_email", "participation(at)namur.be"),
    ]
    assert result.valid["process_type"].tolist() == ["Budget participatif"]

"""Geometries held to the real map (Statbel 2025 boundaries), point-only fields, and which column feeds
which geometry field (the FuturoCité templates, WFS/PostGIS sources)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from omv_pipelines import geography
from omv_pipelines.catalog.communes import current_communes, lookup
from omv_pipelines.normalise import Mapping, normalise
from omv_pipelines.schemas import get_schema
from omv_pipelines.sources.base import SOURCE_ID
from omv_pipelines_tests.test_normalise.helpers import (
    defibrillators,
    english,
    french,
    problems,
    raw_table,
    run,
    run_defib,
)

# Inside the old rectangle (2.8–6.5 E, 49.4–50.9 N) but not in Wallonia: town centres (lon, lat).
NOT_WALLONIA = {
    "Anderlecht": (4.3080, 50.8330, "Anderlecht, Brussels-Capital Region"),
    "Ixelles": (4.3720, 50.8270, "Ixelles, Brussels-Capital Region"),
    "Leuven": (4.7005, 50.8798, "Leuven, Flemish Region"),
    "Halle": (4.2366, 50.7339, "Halle, Flemish Region"),
    "Sint-Genesius-Rode": (4.3570, 50.7480, "Sint-Genesius-Rode, Flemish Region"),
    "Ronse": (3.6003, 50.7456, "Ronse, Flemish Region"),
    "Voeren": (5.7925, 50.7567, "Voeren, Flemish Region"),
    "Landen": (5.0800, 50.7530, "Landen, Flemish Region"),
    "Hoegaarden": (4.8880, 50.7760, "Hoegaarden, Flemish Region"),
    "Menen": (3.1220, 50.7970, "Menen, Flemish Region"),
    "Luxembourg": (6.1300, 49.6100, None),
    "Lille": (3.0630, 50.6290, None),
    "Maastricht": (5.6900, 50.8510, None),
    "Aachen": (6.0830, 50.7750, None),
}


def _roadworks(geometry: list[str]) -> dict[str, list]:
    n = len(geometry)
    return {
        "name": ["Réfection"] * n,
        "street_name": ["Rue de Fer"] * n,
        "street_number": ["7730101"] * n,
        "roadworks_type": ["Réfection de voiries"] * n,
        "status": ["Planifié"] * n,
        "year": [2025] * n,
        "start_date": ["01/09/2025"] * n,
        "end_date": ["30/11/2025"] * n,
        "provider": ["Ville de Namur"] * n,
        "geometry": geometry,
    }


def test_points_in_brussels_flanders_or_abroad_are_rejected_naming_where_they_lie():
    lon = [v[0] for v in NOT_WALLONIA.values()]
    lat = [v[1] for v in NOT_WALLONIA.values()]
    result = run_defib(defibrillators(len(lon), lon=lon, lat=lat))
    assert result.valid.empty and result.warnings.empty
    assert set(result.rejected["error_type"]) == {"outside_wallonia"}
    for message, (_, _, where) in zip(
        result.rejected.sort_values("source_row", key=lambda s: s.astype(int))["message"],
        NOT_WALLONIA.values(),
        strict=True,
    ):
        expected = f"lies in {where};" if where else "lies outside Belgium;"
        assert english(message).startswith("outside Wallonia: " + expected) and "EPSG:31370" in message
        assert french(message).startswith("hors de Wallonie : se trouve ")
        assert french(message).endswith(
            "vérifiez les coordonnées et le CRS de la source (Lambert 72 est EPSG:31370)"
        )
    assert french(result.rejected["message"].iloc[0]).startswith(
        "hors de Wallonie : se trouve à Anderlecht, Région de Bruxelles-Capitale ; "
    )


def test_a_point_in_another_walloon_commune_is_kept_with_a_warning_naming_it():
    # The FuturoCité PMR example, declared for Namur, lies in Liège.
    result = run_defib(
        defibrillators(3, lon=[4.8675, 5.581243820545143, 3.0], lat=[50.4657, 50.64590734864234, 50.77])
    )
    assert result.rejected.empty and len(result.valid) == 3
    assert [(w[1], w[2]) for w in problems(result, "warning")] == [("coordinates", "outside_commune")] * 2
    assert result.warnings["message"].tolist() == [
        "se trouve à Liège (62063), à 53 km de Namur — lies in Liège (62063), 53 km from Namur",
        # Wallonia's exclave counts as Wallonia
        "se trouve à Comines-Warneton (57097), à 138 km de Namur — "
        "lies in Comines-Warneton (57097), 138 km from Namur",
    ]


def test_the_tolerance_absorbs_the_generalisation_of_the_boundaries():
    import shapely

    b = geography.boundaries()
    namur, assesse = b.polygons[b.index["92094"]], b.polygons[b.index["92006"]]
    border = shapely.intersection(namur.boundary, assesse.boundary)
    on_border = shapely.line_interpolate_point(shapely.line_merge(border), 0.5, normalized=True)
    inward = (
        np.array(shapely.get_coordinates(assesse.representative_point())[0])
        - shapely.get_coordinates(on_border)[0]
    )
    inward /= np.hypot(*inward)
    metres = geography.TOLERANCE_M / 111_320

    def lonlat(distance_m: float) -> tuple[float, float]:
        x, y = shapely.get_coordinates(on_border)[0] + inward * distance_m * metres / geography.TOLERANCE_M
        return x / geography._K, y

    points = [lonlat(d) for d in (100, geography.TOLERANCE_M * 0.9, 2000)]  # into Assesse
    result = run_defib(defibrillators(3, lon=[p[0] for p in points], lat=[p[1] for p in points]))
    assert [w[0] for w in problems(result, "warning")] == ["4"]
    assert english(result.warnings["message"].iloc[0]).startswith("lies in Assesse (92006), ")


def test_lines_must_reach_wallonia_stay_in_belgium_and_should_reach_their_commune():
    lines = [
        '{"type": "LineString", "coordinates": [[4.86, 50.46], [4.87, 50.47]]}',  # Namur
        '{"type": "LineString", "coordinates": [[5.598576, 50.628723], [5.59804, 50.629186]]}',  # Liège
        '{"type": "LineString", "coordinates": [[4.30, 50.83], [4.31, 50.84]]}',  # Anderlecht
        '{"type": "LineString", "coordinates": [[4.86, 50.46], [2.35, 48.85]]}',  # Namur to Paris
        "POLYGON ((4.86 50.46, 4.87 50.46, 4.87 50.47, 4.86 50.46))",  # Namur, as WKT
    ]
    result = run("mobility/travaux_voiries", _roadworks(lines))
    assert [p[:3] for p in problems(result)] == [
        ("4", "geometry", "outside_wallonia"),
        ("5", "geometry", "outside_wallonia"),
    ]
    assert result.rejected["message"].str.contains("Anderlecht, Brussels-Capital Region").iloc[0]
    assert english(result.rejected["message"].iloc[1]).startswith("part of it lies outside Belgium")
    assert result.rejected["message"].iloc[1].startswith("en partie hors de Belgique ; ")
    assert [(w[0], w[2]) for w in problems(result, "warning")] == [("3", "outside_commune")]
    assert english(result.warnings["message"].iloc[0]).startswith(
        "does not reach Namur: lies in Liège (62063), "
    )
    assert (
        result.warnings["message"].iloc[0].startswith("n'atteint pas Namur : se trouve à Liège (62063), à ")
    )
    assert len(result.valid) == 3


def test_a_point_field_accepts_only_a_point_and_names_what_it_got():
    data = defibrillators(4) | {
        "coordinates": [
            '{"type": "Point", "coordinates": [4.8675, 50.4657]}',
            '{"type": "LineString", "coordinates": [[4.86, 50.46], [4.87, 50.47]]}',
            "POLYGON ((4.86 50.46, 4.87 50.46, 4.87 50.47, 4.86 50.46))",
            '{"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [4.86, 50.46]}]}',
        ]
    }
    data.pop("lon"), data.pop("lat")
    result = run("resilience/defibrillateurs", data)
    assert [p[:3] for p in problems(result)] == [
        ("3", "coordinates", "not_a_point"),
        ("4", "coordinates", "not_a_point"),
        ("5", "coordinates", "not_a_point"),
    ]
    assert [m.rsplit(" ", 1)[1] for m in result.rejected["message"]] == [
        "LineString",
        "Polygon",
        "GeometryCollection",
    ]
    assert result.rejected["message"].iloc[0] == (
        "un Point est attendu (le standard décrit une seule position) ; reçu : LineString — "
        "expected a Point (the standard describes one position); got a LineString"
    )


@pytest.mark.parametrize(
    "key",
    [
        "resilience/defibrillateurs",
        "mobility/stationnements_velos",
        "mobility/emplacements_pmr",
        "resilience/equipements_collectifs",
    ],
)
def test_every_futurocite_position_is_a_point_field_and_our_own_schemas_accept_surfaces(key):
    from omv_pipelines.normalise.engine import point_fields

    assert point_fields(get_schema(key)) == {"coordinates"}
    assert point_fields(get_schema("participation/processus_participatifs")) == set()
    assert point_fields(get_schema("mobility/travaux_voiries")) == set()


# --- Which column feeds which geometry field -------------------------------------------------------

POINT = '{"coordinates": [4.8675, 50.4657], "type": "Point"}'
ZONE = '{"coordinates": [[4.86, 50.46], [4.87, 50.47]], "type": "LineString"}'


def _equipment(n: int, **columns) -> dict[str, list]:
    return {
        "name": ["Fontaine"] * n,
        "street_name": ["Rue de Fer"] * n,
        "street_number": ["7730101"] * n,
        "type": ["Point d'eau potable"] * n,
    } | columns


def _from(kind: str, data: dict) -> pd.DataFrame:
    raw = raw_table(data)
    raw[SOURCE_ID] = f"92094/resilience/equipements_collectifs#1({kind})"
    return raw


def _normalise(raw: pd.DataFrame, key: str = "resilience/equipements_collectifs", **mapping):
    return normalise(raw, get_schema(key), Mapping(**mapping), lookup("92094"))


def test_template_columns_coordinates_and_geometry_each_go_to_their_field():
    """The équipements collectifs template has both; a row without a zone is complete."""
    result = _normalise(
        _from("spreadsheet", _equipment(2, coordinates=[POINT, POINT], geometry=[ZONE, None]))
    )
    assert problems(result) == [] and problems(result, "warning") == []
    assert result.valid["coordinates"].tolist() == [POINT, POINT]
    assert result.valid["geometry"].tolist()[0] == ZONE and pd.isna(result.valid["geometry"].iloc[1])
    assert (
        result.matched_columns["coordinates"] == "coordinates"
        and result.matched_columns["geometry"] == "geometry"
    )


@pytest.mark.parametrize("kind", ["wfs", "sql"])
def test_the_geometry_harvested_from_wfs_or_postgis_fills_the_point_field(kind):
    result = _normalise(_from(kind, _equipment(2, geometry=[POINT, POINT])))
    assert problems(result) == []
    assert result.valid["coordinates"].tolist() == [POINT, POINT]
    assert result.valid["geometry"].isna().all()  # not also the zone
    assert result.unknown_columns == []


def test_a_spatial_source_with_its_own_point_column_keeps_it_and_the_harvested_geometry_fills_the_gaps():
    other = '{"coordinates": [4.87, 50.46], "type": "Point"}'
    result = _normalise(_from("wfs", _equipment(2, coordinates=[other, None], geometry=[POINT, POINT])))
    assert problems(result) == []
    assert result.valid["coordinates"].tolist() == [other, POINT]


def test_the_harvested_geometry_goes_to_the_zone_only_when_mapped_there():
    polygon = (
        '{"coordinates": [[[4.86, 50.46], [4.87, 50.46], [4.87, 50.47], [4.86, 50.46]]], "type": "Polygon"}'
    )
    result = _normalise(
        _from("wfs", _equipment(1, X=[4.8675], Y=[50.4657], geometry=[polygon])),
        columns={"geometry": "geometry"},
        geometry={"x": "X", "y": "Y"},
    )
    assert problems(result) == []
    assert result.valid["coordinates"].tolist() == [POINT] and result.valid["geometry"].tolist() == [polygon]


def test_a_point_dataset_with_coordinates_and_geometry_columns_takes_coordinates():
    data = defibrillators(1) | {"coordinates": [POINT], "geometry": [ZONE]}
    data.pop("lon"), data.pop("lat")
    result = run("resilience/defibrillateurs", data)
    assert problems(result) == [] and result.valid["coordinates"].tolist() == [POINT]


def test_roadworks_from_a_wfs_take_the_harvested_geometry():
    raw = _from("wfs", _roadworks([ZONE]))
    result = _normalise(raw, "mobility/travaux_voiries")
    assert problems(result) == [] and result.valid["geometry"].tolist() == [ZONE]


# --- The shipped boundaries ------------------------------------------------------------------------


def test_the_boundary_file_holds_every_current_walloon_commune_and_says_where_it_comes_from():
    text = resources.files("omv_pipelines.catalog").joinpath(geography.BOUNDARIES_FILE).read_text("utf-8")
    document = json.loads(text)
    assert text.index('"attribution"') < text.index('"communes"')  # in the file's header
    assert document["attribution"] == geography.ATTRIBUTION and "Statbel" in document["attribution"]
    assert "attribution required" in document["licence"]
    walloon = {c["id"] for c in document["communes"] if c["region"] == "wallonia"}
    assert walloon == set(current_communes()) and len(walloon) == 261
    assert len(document["communes"]) == 565
    assert len(text.encode()) < 400_000


def test_definitions_load_without_reading_the_boundaries():
    code = (
        "import sys, omv_pipelines.definitions, omv_pipelines.geography as g;"
        "assert 'shapely' not in sys.modules, 'shapely imported at load';"
        "assert g.boundaries.cache_info().currsize == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_boundary_file_is_what_the_build_script_makes(reference_dir, tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_communes.py"
    done = subprocess.run(
        [sys.executable, str(script), str(reference_dir / "communes"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_dagster_check_uses_the_same_map():
    from omv_pipelines.defs.checks import IN_WALLONIA, table_checks

    schema = get_schema("resilience/defibrillateurs")
    mons = lookup("53053")

    def check(points: list[tuple[float, float]]) -> dg.AssetCheckResult:
        data = defibrillators(len(points), lon=[3.95] * len(points), lat=[50.45] * len(points))  # in Mons
        table = normalise(raw_table(data), schema, Mapping(geometry={"x": "lon", "y": "lat"}), mons).valid
        table["coordinates"] = [f'{{"coordinates": [{lon}, {lat}], "type": "Point"}}' for lon, lat in points]
        table["id"] = [f"53053-{i}" for i in range(len(points))]
        results = table_checks(dg.AssetKey(["x"]), table, schema, mons, None, 0.5)
        return next(r for r in results if r.check_name == IN_WALLONIA)

    liege = check([(3.95, 50.45), (5.5707, 50.6451)])
    assert liege.passed and liege.metadata["outside_commune"].value == 1
    brussels = check([(3.95, 50.45), (4.3080, 50.8330)])
    assert not brussels.passed and brussels.metadata["outside"].value == 1
    assert "Anderlecht, Brussels-Capital Region" in brussels.metadata["examples"].value[0]


def test_french_place_names_take_their_article():
    assert [geography._a(n) for n in ("Liège", "Le Rœulx", "Les Bons Villers")] == [
        "à Liège",
        "au Rœulx",
        "aux Bons Villers",
    ]
    assert [geography._de(n) for n in ("Namur", "Arlon", "Écaussinnes", "Huy", "Le Rœulx")] == [
        "de Namur",
        "d'Arlon",
        "d'Écaussinnes",
        "de Huy",
        "du Rœulx",
    ]

"""Geometry → GeoJSON [lon, lat] WGS84.

x/y in Belgian CRSs, lon/lat, WKT, GeoJSON text, swaps; which column feeds which field.
"""

import json

import pandas as pd
import pytest

from omv_pipelines_tests.test_normalise.helpers import defibrillators, problems, run, run_defib

# Three places in Wallonia (lon, lat): Namur Hôtel de Ville, Liège Place Saint-Lambert, Arlon.
PLACES = [(4.8675, 50.4657), (5.5707, 50.6451), (5.8163, 49.6833)]


def _projected(crs: str) -> tuple[list[float], list[float]]:
    from pyproj import Transformer

    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xs, ys = zip(*(forward.transform(lon, lat) for lon, lat in PLACES), strict=True)
    return [round(x, 2) for x in xs], [round(y, 2) for y in ys]


def _coordinates(geojson: str) -> list:
    return json.loads(geojson)["coordinates"]


@pytest.mark.parametrize("crs", ["EPSG:31370", "EPSG:3812"])
def test_xy_in_belgian_lambert_is_reprojected_like_pyproj(crs):
    from pyproj import Transformer

    xs, ys = _projected(crs)
    result = run_defib(defibrillators(3, X=xs, Y=ys), geometry={"x": "X", "y": "Y", "crs": crs})
    assert result.rejected.empty
    # Liège and Arlon are in Wallonia but not in Namur: kept, with a warning naming where they lie.
    assert [p[:3] for p in problems(result, "warning")] == [
        ("3", "coordinates", "outside_commune"),
        ("4", "coordinates", "outside_commune"),
    ]
    assert result.warnings["message"].tolist() == [
        "se trouve à Liège (62063), à 53 km de Namur — lies in Liège (62063), 53 km from Namur",
        "se trouve à Arlon (81001), à 109 km de Namur — lies in Arlon (81001), 109 km from Namur",
    ]
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    for geojson, x, y in zip(result.valid["coordinates"], xs, ys, strict=True):
        assert json.loads(geojson)["type"] == "Point"
        lon, lat = _coordinates(geojson)
        expected_lon, expected_lat = back.transform(x, y)
        assert lon == pytest.approx(expected_lon, abs=1e-8) and lat == pytest.approx(expected_lat, abs=1e-8)
    assert result.valid["coordinates"].iloc[0].startswith('{"coordinates": [4.867')


def test_lon_lat_columns_with_decimal_commas():
    result = run_defib(defibrillators(1, lon=["4,8675"], lat=["50,4657"]))
    assert result.valid["coordinates"].tolist() == ['{"coordinates": [4.8675, 50.4657], "type": "Point"}']


def test_wkt_points_in_lambert_72():
    xs, ys = _projected("EPSG:31370")
    wkt = [f"POINT ({x} {y})" for x, y in zip(xs, ys, strict=True)]
    wkt[1] = wkt[1].replace("POINT", "point Z").replace(")", " 0)")
    result = run_defib(defibrillators(3, wkt=wkt), geometry={"wkt": "wkt", "crs": "EPSG:31370"})
    assert result.rejected.empty
    for geojson, (lon, lat) in zip(result.valid["coordinates"], PLACES, strict=True):
        assert _coordinates(geojson) == pytest.approx([lon, lat], abs=1e-6)


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
        "trace": geometry,
    }


def test_wkt_lines_and_polygons_in_lambert_72_become_geojson():
    from pyproj import Transformer

    back = Transformer.from_crs("EPSG:31370", "EPSG:4326", always_xy=True)
    line = "LINESTRING (185000 128000, 185100 128050, 185200 128050)"
    polygon = (
        "POLYGON ((185000 128000, 185100 128000, 185100 128100, 185000 128000), "
        "(185020 128010, 185050 128010, 185050 128040, 185020 128010))"
    )
    multi = "MULTILINESTRING ((185000 128000, 185100 128050), (185200 128050, 185300 128100))"
    points = "MULTIPOINT ((185000 128000), (185100 128050))"
    result = run(
        "mobility/travaux_voiries",
        _roadworks([line, polygon, multi, points]),
        geometry={"wkt": "trace", "crs": "EPSG:31370"},
    )
    assert result.rejected.empty
    shapes = [json.loads(g) for g in result.valid["geometry"]]
    assert [s["type"] for s in shapes] == ["LineString", "Polygon", "MultiLineString", "MultiPoint"]
    assert len(shapes[1]["coordinates"]) == 2 and len(shapes[1]["coordinates"][0]) == 4
    assert shapes[0]["coordinates"][1] == pytest.approx(list(back.transform(185100, 128050)), abs=1e-8)
    assert shapes[2]["coordinates"][1][1] == pytest.approx(list(back.transform(185300, 128100)), abs=1e-8)
    assert shapes[3]["coordinates"] == [
        pytest.approx(list(back.transform(185000, 128000)), abs=1e-8),
        pytest.approx(list(back.transform(185100, 128050)), abs=1e-8),
    ]


def test_unreadable_wkt_is_rejected_with_a_clear_reason():
    bad = [
        "GEOMETRYCOLLECTION (POINT (185000 128000))",
        "LINESTRING ((185000 128000, 185100 128050))",
        "POINT (185000)",
        "n/a",
    ]
    result = run("mobility/travaux_voiries", _roadworks(bad), geometry={"wkt": "trace", "crs": "EPSG:31370"})
    assert problems(result) == [
        (str(i + 2), "geometry", "invalid_geometry", value) for i, value in enumerate(bad)
    ]
    assert "LINESTRING, POLYGON" in result.rejected["message"].iloc[0]


def test_geojson_text_is_re_emitted_in_the_templates_form():
    texts = [
        '{"type": "Point", "coordinates": [4.8675, 50.4657]}',
        '{"type":"Feature","geometry":{"coordinates":[4.8675,50.4657],"type":"Point"},"properties":{}}',
        '{"type":"LineString","coordinates":[[4.860000001,50.46],[4.87,50.47,112.5]]}',
        '{"type": "Feature", "properties": {"name": "x"}, "geometry": {"type": "MultiLineString", '
        '"coordinates": [[[4.86, 50.46], [4.87, 50.47]], [[4.88, 50.48], [4.89, 50.49]]]}}',
        '{"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [4.86, 50.46]}]}',
        '{"type": "LineString", "coordinates": [[2.35, 48.85], [4.87, 50.47]]}',
        '{"type": "Circle", "radius": 3}',
    ]
    result = run("mobility/travaux_voiries", _roadworks(texts), geometry={"geojson": "trace"})
    assert result.valid["geometry"].tolist() == [
        '{"coordinates": [4.8675, 50.4657], "type": "Point"}',
        '{"coordinates": [4.8675, 50.4657], "type": "Point"}',
        '{"coordinates": [[4.86, 50.46], [4.87, 50.47]], "type": "LineString"}',
        '{"coordinates": [[[4.86, 50.46], [4.87, 50.47]], [[4.88, 50.48], [4.89, 50.49]]], '
        '"type": "MultiLineString"}',
        texts[4],
    ]
    assert problems(result) == [
        ("7", "geometry", "outside_wallonia", texts[5]),
        ("8", "geometry", "invalid_geometry", texts[6]),
    ]


def test_harvested_geometry_column_is_used_without_mapping():
    data = defibrillators(2) | {"geometry": ['{"type": "Point", "coordinates": [4.8675, 50.4657]}', None]}
    data.pop("lon"), data.pop("lat")
    result = run("resilience/defibrillateurs", data)
    assert result.valid["coordinates"].tolist() == ['{"coordinates": [4.8675, 50.4657], "type": "Point"}']
    assert problems(result) == [("3", "coordinates", "missing_value", None)]


def test_swapped_lat_lon_is_fixed_with_a_warning():
    result = run_defib(defibrillators(2, lon=[4.8675, 50.4657], lat=[50.4657, 4.8675]))
    assert result.rejected.empty
    assert result.valid["coordinates"].tolist() == ['{"coordinates": [4.8675, 50.4657], "type": "Point"}'] * 2
    assert problems(result, "warning") == [("3", "coordinates", "swapped_coordinates", "50.4657 4.8675")]


def test_outside_wallonia_is_rejected_and_never_swapped():
    # Paris, Amsterdam, and Lambert 72 numbers declared as WGS84 (a forgotten CRS)
    result = run_defib(defibrillators(3, lon=[2.3522, 4.9041, 185000.0], lat=[48.8566, 52.3676, 128000.0]))
    assert [p[:3] for p in problems(result)] == [
        ("2", "coordinates", "outside_wallonia"),
        ("3", "coordinates", "outside_wallonia"),
        ("4", "coordinates", "outside_wallonia"),
    ]
    assert "EPSG:31370" in result.rejected["message"].iloc[0]
    assert result.warnings.empty and result.valid.empty


def test_half_a_coordinate_is_unreadable():
    result = run_defib(defibrillators(2, lon=[4.8675, "abc"], lat=[50.4657, 50.4657]))
    assert problems(result) == [("3", "coordinates", "invalid_geometry", "abc 50.4657")]


def test_second_geometry_field_reads_geojson_or_wkt():
    n = 3
    data = {
        "name": ["Plaine de jeux"] * n,
        "street_name": ["Rue de Fer"] * n,
        "street_number": ["7730101"] * n,
        "type": ["plaine de jeux"] * n,
        "X": [185000, 185000, 185000],
        "Y": [128000, 128000, 128000],
        "zone": [
            "POLYGON ((185000 128000, 185100 128000, 185100 128100, 185000 128000))",
            '{"type": "LineString", "coordinates": [[4.86, 50.46], [4.87, 50.47]]}',
            None,
        ],
    }
    result = run(
        "resilience/equipements_collectifs",
        data,
        columns={"geometry": "zone"},
        geometry={"x": "X", "y": "Y", "crs": "EPSG:31370"},
    )
    assert result.rejected.empty
    zones = result.valid["geometry"].tolist()
    assert json.loads(zones[0])["type"] == "Polygon"
    assert zones[1] == '{"coordinates": [[4.86, 50.46], [4.87, 50.47]], "type": "LineString"}'
    assert zones[2] is None or zones[2] is pd.NA
    assert result.valid["type"].tolist() == ["Plaine de jeux"] * n


def test_a_declared_bbox_is_a_stricter_extent_points_outside_it_are_rejected():
    from omv_pipelines.catalog.communes import lookup
    from omv_pipelines.normalise import Mapping, normalise
    from omv_pipelines.schemas import get_schema
    from omv_pipelines_tests.test_normalise.helpers import LONLAT, raw_table

    # Namur's centre, then Liège (in Wallonia but not in Namur), then Paris (outside both: one reason only)
    data = defibrillators(3, lon=[4.8671, 5.5707, 2.3522], lat=[50.4651, 50.6451, 48.8566])
    result = normalise(
        raw_table(data),
        get_schema("resilience/defibrillateurs"),
        Mapping(geometry=LONLAT),
        lookup("92094"),
        bbox=(4.72, 50.38, 4.98, 50.53),
    )
    assert [p[:3] for p in problems(result)] == [
        ("3", "coordinates", "outside_commune"),
        ("4", "coordinates", "outside_wallonia"),
    ]
    assert "Namur's bounding box" in result.rejected.set_index("error_type").loc["outside_commune", "message"]
    assert result.warnings.empty  # the box's error, not also the boundary's warning
    assert len(result.valid) == 1

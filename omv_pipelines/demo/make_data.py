"""Regenerate the demo's source files (invented but plausible data; real street names, no personal data).

    python -m omv_pipelines.demo.make_data

The outputs are committed under demo/catalog/data/; this script documents how they were made and keeps
them reproducible (fixed offsets, no randomness). Each commune's source is shaped the way such sources
are in the wild: Namur keeps a municipal SQLite table in Lambert 72, Liège an office spreadsheet with a
title above the header and French yes/no columns, Mons a GIS layer served over WFS. The other
datasets spread over the same three kinds of source: SQLite tables (Namur's bike racks and participatory
budget projects), WFS layers in Lambert 72 and Lambert 2008 (Liège's PMR spaces, Mons's roadworks as
lines) and spreadsheets (CSV, xlsx, ods). Liège's equipment CSV carries deliberate defects, listed in
LIEGE_EQUIPEMENTS, that the demo's quarantine report must show.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from omv_pipelines.demo.rows import (
    LIEGE,
    LIEGE_EQUIPEMENTS,
    LIEGE_PMR,
    MONS,
    MONS_PROCESSUS,
    MONS_PROJETS,
    MONS_TRAVAUX,
    NAMUR,
    NAMUR_PROCESSUS,
    NAMUR_PROJETS,
    NAMUR_VELOS,
)

DATA = Path(__file__).parent / "catalog" / "data"


CENTRES = {"namur": (4.8671, 50.4651), "liege": (5.5707, 50.6451), "mons": (3.9517, 50.4542)}


def _offset(centre: tuple[float, float], metres: tuple[float, float]) -> tuple[float, float]:
    lon, lat = centre
    return round(lon + metres[0] / 71_000, 6), round(lat + metres[1] / 111_200, 6)


def _lambert72(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(lon, lat)
    return round(x, 2), round(y, 2)


def _write_sqlite(path: Path, create_table: str, table: str, rows: list[tuple]) -> None:
    """A fresh SQLite file holding one table and its rows."""
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(create_table)
        db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)


def _namur_address(
    n: int, name: str, street: str, street_code: int, number: str, off: tuple[float, float]
) -> tuple:
    """The columns every row of Namur's municipal SQLite tables starts with: its number, its name, its
    address (street, street code, house number) and its position in Lambert 72."""
    x, y = _lambert72(*_offset(CENTRES["namur"], off))
    return (n, name, street, str(street_code), number, x, y)


def make_namur(path: Path) -> None:
    rows = []
    for n, (name, street, number, building, indoor, access, h24, hours, installed, off) in enumerate(
        NAMUR, start=101
    ):
        rows.append(
            (
                *_namur_address(n, name, street, 7730000 + n, number, off),
                indoor,
                building,
                0 if indoor else None,
                access,
                h24,
                hours,
                installed,
                "Philips" if n % 2 else "Zoll",
                "HeartStart FRx" if n % 2 else "AED Plus",
            )
        )
    _write_sqlite(
        path,
        "CREATE TABLE dae (numero INTEGER PRIMARY KEY, nom TEXT, rue TEXT, code_rue TEXT, num_police TEXT,"
        " lambert_x REAL, lambert_y REAL, interieur INTEGER, batiment TEXT, etage INTEGER, acces TEXT,"
        " h24 TEXT, horaires TEXT, date_installation TEXT, marque TEXT, modele TEXT)",
        "dae",
        rows,
    )


def make_liege(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "DEA"
    sheet.append(["Ville de Liège — Défibrillateurs externes automatiques (DEA)"])
    sheet.append(["Inventaire tenu par le service Prévention ; coordonnées GPS (WGS84)"])
    sheet.append(
        [
            "N°",
            "Dénomination",
            "Rue",
            "Code rue BeST",
            "N° police",
            "Latitude",
            "Longitude",
            "Intérieur",
            "Bâtiment",
            "Accès",
            "Accessible 24h/24",
            "Horaires",
            "Date d'installation",
        ]
    )
    for n, (name, street, number, building, indoor, access, h24, hours, installed, off) in enumerate(
        LIEGE, start=1
    ):
        lon, lat = _offset(CENTRES["liege"], off)
        if n == 3:
            lon, lat = lat, lon  # a classic: latitude typed in the longitude column
        sheet.append(
            [
                n,
                name or None,
                street,
                str(8620000 + n),
                number,
                lat,
                lon,
                indoor,
                building,
                access,
                h24,
                hours,
                installed,
            ]
        )
    for column, width in zip("ABCDEFGHIJKLM", (5, 30, 28, 14, 9, 11, 11, 10, 22, 9, 18, 24, 18), strict=True):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=4, min_col=13, max_col=13):
        row[0].number_format = "DD/MM/YYYY"
    book.save(path)


def make_mons(path: Path) -> None:
    features = []
    for n, (name, street, number, building, indoor, access, permanent, hours, installed, off) in enumerate(
        MONS, start=1
    ):
        x, y = _lambert72(*_offset(CENTRES["mons"], off))
        properties = {
            "ident": f"DAE-{n:03d}",
            "libelle": name,
            "rue": street,
            "code_rue": str(5300000 + n),
            "num_police": number,
            "interieur": indoor,
            "batiment": building,
            "accessibilite": access,
            "permanent": permanent,
            "horaires": hours,
            "date_pose": installed,
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Point", "coordinates": [x, y]},
            }
        )
    collection = {
        "type": "FeatureCollection",
        "name": "defibrillateurs",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}},
        "features": features,
    }
    path.write_text(json.dumps(collection, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _lambert2008(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True).transform(lon, lat)
    return round(x, 2), round(y, 2)


def _feature_collection(name: str, epsg: int, features: list[dict]) -> str:
    collection = {
        "type": "FeatureCollection",
        "name": name,
        "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
        "features": features,
    }
    return json.dumps(collection, ensure_ascii=False, indent=1) + "\n"


# Liège, collective equipment (CSV, ';', decimal commas). Defects on purpose, each noted: the demo's
# quarantine report (checked line by line by the tests) must show every one of them.
LIEGE_EQUIPEMENTS_HEADER = [
    "N°",
    "Dénomination",
    "TYPE D'ÉQUIPEMENT",
    "Rue",
    "Code rue",
    "Num police",
    "Latitude",
    "Longitude",
    "Accès PMR",
    "Horaires",
    "Statut",
    "Date d'installation",
    "Dernier entretien",
    "Payant",
    "Remarque interne",
]


def make_namur_velos(path: Path) -> None:
    rows = []
    for n, (name, street, number, support, covered, secured, places, year, charging, off) in enumerate(
        NAMUR_VELOS, start=1
    ):
        rows.append(
            (
                *_namur_address(n, name, street, 7730200 + n, number, off),
                support,
                covered,
                secured,
                places,
                year,
                charging,
            )
        )
    _write_sqlite(
        path,
        "CREATE TABLE arceaux (id_arceau INTEGER PRIMARY KEY, libelle TEXT, rue TEXT, code_rue TEXT,"
        " num_police TEXT, x_l72 REAL, y_l72 REAL, type_support TEXT, couvert INTEGER, securise INTEGER,"
        " nb_places INTEGER,"
        " annee_pose INTEGER, borne_recharge TEXT)",
        "arceaux",
        rows,
    )


def make_namur_processus(path: Path) -> None:
    lines = [
        "code;intitule;description;type;etat;debut;fin;lien;budget;participants;thematique;service;email_service"
    ]
    for code, title, text, kind, state, start, end, url, budget, count, theme in NAMUR_PROCESSUS:
        cells = [
            code,
            title,
            text,
            kind,
            state,
            start,
            end,
            url,
            budget,
            count,
            theme,
            "Service Participation",
            "participation@ville.namur.be",
        ]
        lines.append(";".join(f'"{c}"' if ";" in c or "," in c else c for c in cells))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def make_namur_projets(path: Path) -> None:
    rows = []
    for n, (ref, process, title, amount, votes, status, category, street, number, off) in enumerate(
        NAMUR_PROJETS
    ):
        x, y = _lambert72(*_offset(CENTRES["namur"], off))
        submitted = dt.date(2024 if "2024" in process else 2025, 2, 1) + dt.timedelta(days=3 * n)
        rows.append(
            (
                ref,
                process,
                title,
                amount,
                votes,
                status,
                category,
                street,
                number,
                f"POINT ({x} {y})",
                submitted.isoformat(),
            )
        )
    _write_sqlite(
        path,
        "CREATE TABLE projets (ref TEXT PRIMARY KEY, processus TEXT, titre TEXT, montant REAL, votes INTEGER,"
        " statut TEXT, categorie TEXT, rue TEXT, num TEXT, geom_wkt TEXT, depose_le TEXT)",
        "projets",
        rows,
    )


def make_liege_pmr(path: Path) -> None:
    features = []
    for n, (street, number, places, length, width, modalities, off) in enumerate(LIEGE_PMR, start=1):
        x, y = _lambert2008(*_offset(CENTRES["liege"], off))
        properties = {
            "ident": f"PMR{n:04d}",
            "rue": street,
            "code_rue": str(8620300 + n),
            "num": number,
            "places": places,
            "longueur": length,
            "largeur": width,
            "modalites": modalities,
            # dd/mm/yyyy text: an ISO date property would be typed as a date by OGR, and
            # MapServer's GML then writes it as a gml:timePosition the harvester refuses.
            "date_creation": f"15/0{1 + n % 9}/20{18 + n % 6}",
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Point", "coordinates": [x, y]},
            }
        )
    path.write_text(_feature_collection("emplacements_pmr", 3812, features), encoding="utf-8")


def make_liege_equipements(path: Path) -> None:
    lines = [";".join(LIEGE_EQUIPEMENTS_HEADER)]
    for (
        ident,
        name,
        kind,
        street,
        code,
        number,
        off,
        pmr,
        hours,
        status,
        installed,
        maintained,
        paying,
        note,
    ) in LIEGE_EQUIPEMENTS:
        lon, lat = _offset(CENTRES["liege"], off)
        if ident == "EQ-003":
            lon, lat = lat, lon
        cells = [
            ident,
            name,
            kind,
            street,
            code,
            number or "",
            f"{lat}".replace(".", ","),
            f"{lon}".replace(".", ","),
            pmr,
            hours or "",
            status,
            installed,
            maintained,
            paying,
            note,
        ]
        lines.append(";".join(cells))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def make_mons_travaux(path: Path) -> None:
    features = []
    for (
        ident,
        name,
        street,
        code,
        kind,
        state,
        year,
        start,
        end,
        owner,
        contractor,
        traffic,
        budget,
        offsets,
    ) in MONS_TRAVAUX:
        line = [list(_lambert72(*_offset(CENTRES["mons"], off))) for off in offsets]
        properties = {
            "ident": ident,
            "intitule": name,
            "rue": street,
            "code_rue": code,
            "type_travaux": kind,
            "etat": state,
            "annee": year,
            "debut": start,
            "fin": end,
            "maitre_ouvrage": owner,
            "entrepreneur": contractor,
            "circulation": traffic,
            "budget": budget,
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "LineString", "coordinates": line},
            }
        )
    path.write_text(_feature_collection("travaux_voiries", 31370, features), encoding="utf-8")


def make_mons_processus(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Processus"
    sheet.append(
        [
            "Référence",
            "Titre",
            "Description",
            "Type",
            "Statut",
            "Début",
            "Fin",
            "Site web",
            "Budget (€)",
            "Participants",
        ]
    )
    for row in MONS_PROCESSUS:
        sheet.append(list(row))
    for cells in sheet.iter_rows(min_row=2, min_col=6, max_col=7):
        for cell in cells:
            cell.number_format = "DD/MM/YYYY"
    book.save(path)


def make_mons_projets(path: Path) -> None:
    import pandas as pd

    rows = []
    for n, (ref, title, amount, votes, status, category, street, off) in enumerate(MONS_PROJETS):
        lon, lat = _offset(CENTRES["mons"], off)
        rows.append(
            {
                "Référence": ref,
                "Processus": "53053-BP-2025",
                "Titre du projet": title,
                "Montant": amount,
                "Votes": votes,
                "Statut": status,
                "Catégorie": category,
                "Rue": street,
                "Latitude": str(lat).replace(".", ","),
                "Longitude": str(lon).replace(".", ","),
                "Déposé le": (dt.date(2025, 2, 3) + dt.timedelta(days=5 * n)).isoformat(),
            }
        )
    pd.DataFrame(rows).to_excel(path, sheet_name="Projets", index=False, engine="odf")


def main() -> None:
    (DATA / "wfs").mkdir(parents=True, exist_ok=True)
    make_namur(DATA / "namur_dae.sqlite")
    make_liege(DATA / "liege_dea.xlsx")
    make_mons(DATA / "wfs" / "defibrillateurs.geojson")
    make_namur_velos(DATA / "namur_mobilite.sqlite")
    make_namur_processus(DATA / "namur_processus_participatifs.csv")
    make_namur_projets(DATA / "namur_budget_participatif.sqlite")
    make_liege_pmr(DATA / "wfs" / "emplacements_pmr.geojson")
    make_liege_equipements(DATA / "liege_equipements.csv")
    make_mons_travaux(DATA / "wfs" / "travaux_voiries.geojson")
    make_mons_processus(DATA / "mons_participation.xlsx")
    make_mons_projets(DATA / "mons_budget_participatif.ods")
    print(f"demo sources written to {DATA}")


if __name__ == "__main__":
    main()

"""Regenerate the demo's source files (invented but plausible data; real street names, no personal data).

    python -m omv_pipelines.demo.make_data

The outputs are committed under demo/catalog/data/; this script documents how they were made and keeps
them reproducible (fixed offsets, no randomness). Each commune's source is shaped the way such sources
are in the wild: Namur keeps a municipal SQLite table in Lambert 72, Liège an office spreadsheet with a
title above the header and French yes/no columns, Mons a GIS layer served over WFS.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

DATA = Path(__file__).parent / "catalog" / "data"

# (name, street, house number, building, indoor, public, 24/7, hours, installed) — offsets in metres.
NAMUR = [
    ("DAE Hôtel de Ville", "Rue de Fer", "42", "Hôtel de Ville", 1, "public", "non", "Mo-Fr 08:00-16:30", "2018-03-12", (40, 60)),
    ("DAE Gare de Namur", "Place de la Station", "1", "Gare", 1, "public", "oui", "24/7", "2017-06-01", (-150, 420)),
    ("DAE Piscine de Jambes", "Avenue Prince de Liège", "91", "Piscine", 1, "public", "non", "Mo-Su 07:00-21:00", "2019-09-30", (1450, -600)),
    ("DAE Place d'Armes", "Place d'Armes", "1", None, 0, "public", "oui", "24/7", "2020-01-15", (230, -120)),
    ("DAE Citadelle", "Route Merveilleuse", "8", "Centre du visiteur", 1, "public", "non", "Mo-Su 10:00-18:00", "2021-05-20", (420, -900)),
    ("DAE Hall omnisports", "Rue Saint-Nicolas", "20", "Hall omnisports", 1, "public", "non", "Mo-Fr 09:00-22:00; Sa-Su 08:00-20:00", "2016-11-03", (-700, -250)),
    ("DAE Bibliothèque", "Boulevard Cauchy", "44", "Bibliothèque communale", 1, "public", "non", "Tu-Sa 10:00-18:00", "2022-02-01", (-380, 150)),
    ("DAE Parc Louise-Marie", "Avenue de la Plante", "2", None, 0, "public", "oui", "24/7", "2023-04-18", (600, -1500)),
    ("DAE Administration Erpent", "Chaussée de Marche", "470", "Administration", 1, "prive", "non", "Mo-Fr 08:00-17:00", "2015-08-24", (3400, -2800)),
    ("DAE Théâtre", "Place du Théâtre", "2", "Théâtre royal", 1, "public", "non", "Tu-Su 12:00-23:00", "2019-01-10", (180, 40)),
    ("DAE Rue des Brasseurs", "Rue des Brasseurs", "175", "Maison de quartier", 1, "public", "non", "Mo-Fr 09:00-17:00", "2024-06-03", (320, -60)),
    ("DAE Chaussée de Louvain", "Chaussée de Louvain", "210", "Pharmacie", 1, "prive", "non", "Mo-Sa 08:30-19:00", "2018-10-09", (-900, 1300)),
]

LIEGE = [
    ("DEA Place Saint-Lambert", "Place Saint-Lambert", "18", "Palais provincial", "Oui", "Public", "Non", "Mo-Fr 08:00-18:00", dt.date(2019, 4, 2), (0, 0)),
    ("DEA Gare des Guillemins", "Place des Guillemins", "2", "Gare", "Oui", "Public", "Oui", "24/7", dt.date(2017, 9, 15), (-600, -1900)),
    ("DEA Boverie", "Quai de la Boverie", "3", "Musée de la Boverie", "Oui", "Public", "Non", "Tu-Su 10:00-18:00", dt.date(2020, 7, 1), (900, -1700)),
    ("DEA Féronstrée", "Rue Féronstrée", "136", "Grand Curtius", "Oui", "Public", "Non", "We-Mo 10:00-18:00", dt.date(2018, 1, 22), (650, 250)),
    ("DEA Place du Marché", "Place du Marché", "2", "Hôtel de Ville", "oui", "public", "non", "Mo-Fr 08:30-16:30", dt.date(2016, 5, 9), (300, 40)),
    ("DEA Boulevard d'Avroy", "Boulevard d'Avroy", "1", None, "Non", "Public", "Oui", "24/7", dt.date(2021, 3, 30), (-700, -600)),
    ("DEA Piscine de Jonfosse", "Rue Grétry", "50", "Piscine", "Oui", "Public", "Non", "Mo-Su 08:00-20:00", dt.date(2022, 11, 14), (600, -1200)),
    ("DEA Rue Léopold", "Rue Léopold", "4", "Commerce", "Oui", "Privé", "Non", "Mo-Sa 09:30-18:30", dt.date(2023, 2, 6), (200, -80)),
    ("DEA Sauvenière", "Boulevard de la Sauvenière", "130", "Cinéma", "Oui", "Public", "Non", "Mo-Su 13:00-23:30", dt.date(2019, 12, 2), (-350, -200)),
    # Defects, on purpose: the demo shows how a commune is told what to fix.
    ("", "Rue Saint-Gilles", "64", "Salle de quartier", "Oui", "Public", "Non", "Mo-Fr 09:00-17:00", dt.date(2020, 9, 1), (-900, -300)),
    ("DEA Fragnée", "Rue de Fragnée", "11", None, "Non", "Publique", "Oui", "24/7", "31/02/2021", (-300, -2400)),
]

MONS = [
    ("DAE Grand-Place", "Grand-Place", "22", "Hôtel de Ville", "true", "Public", "N", "Mo-Fr 08:00-16:00", "14/02/2018", (0, 0)),
    ("DAE Gare de Mons", "Place Léopold", "1", "Gare", "true", "Public", "Y", "24/7", "01/06/2019", (-650, -280)),
    ("DAE Mons Arena", "Avenue Thomas Edison", "2", "Mons Arena", "true", "Public", "N", "Mo-Su 09:00-23:00", "20/10/2017", (-1900, 900)),
    ("DAE Rue de Nimy", "Rue de Nimy", "53", "Université", "true", "Public", "N", "Mo-Fr 08:00-20:00", "03/09/2020", (250, 380)),
    ("DAE Parc du Waux-Hall", "Avenue Reine Astrid", "1", None, "false", "Public", "Y", "24/7", "11/05/2021", (500, -900)),
    ("DAE Piscine du Grand Large", "Chemin du Grand Large", "1", "Piscine", "true", "Public", "N", "Mo-Su 07:30-21:00", "28/03/2016", (-600, 2000)),
    ("DAE Beffroi", "Rue des Gades", "1", "Beffroi", "true", "Public", "N", "Tu-Su 10:00-18:00", "15/07/2019", (-100, -150)),
    ("DAE Rue d'Havré", "Rue d'Havré", "97", "Maison de repos", "true", "Privé", "N", "Mo-Su 08:00-20:00", "07/12/2022", (520, -60)),
    ("DAE Boulevard Dolez", "Boulevard Dolez", "31", "Centre sportif", "true", "Public", "N", "Mo-Fr 09:00-22:00", "22/04/2023", (-500, -700)),
    ("DAE Place du Parc", "Place du Parc", "1", None, "false", "Public", "Y", "24/7", "30/08/2024", (-280, 450)),
]

CENTRES = {"namur": (4.8671, 50.4651), "liege": (5.5707, 50.6451), "mons": (3.9517, 50.4542)}


def _offset(centre: tuple[float, float], metres: tuple[float, float]) -> tuple[float, float]:
    lon, lat = centre
    return round(lon + metres[0] / 71_000, 6), round(lat + metres[1] / 111_200, 6)


def _lambert72(lon: float, lat: float) -> tuple[float, float]:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(lon, lat)
    return round(x, 2), round(y, 2)


def make_namur(path: Path) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE dae (numero INTEGER PRIMARY KEY, nom TEXT, rue TEXT, code_rue TEXT, num_police TEXT,"
            " lambert_x REAL, lambert_y REAL, interieur INTEGER, batiment TEXT, etage INTEGER, acces TEXT,"
            " h24 TEXT, horaires TEXT, date_installation TEXT, marque TEXT, modele TEXT)"
        )
        for n, (name, street, number, building, indoor, access, h24, hours, installed, off) in enumerate(NAMUR, start=101):
            x, y = _lambert72(*_offset(CENTRES["namur"], off))
            db.execute(
                "INSERT INTO dae VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (n, name, street, str(7730000 + n), number, x, y, indoor, building, 0 if indoor else None,
                 access, h24, hours, installed, "Philips" if n % 2 else "Zoll", "HeartStart FRx" if n % 2 else "AED Plus"),
            )


def make_liege(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "DEA"
    sheet.append(["Ville de Liège — Défibrillateurs externes automatiques (DEA)"])
    sheet.append(["Inventaire tenu par le service Prévention ; coordonnées GPS (WGS84)"])
    sheet.append(["N°", "Dénomination", "Rue", "Code rue BeST", "N° police", "Latitude", "Longitude",
                  "Intérieur", "Bâtiment", "Accès", "Accessible 24h/24", "Horaires", "Date d'installation"])
    for n, (name, street, number, building, indoor, access, h24, hours, installed, off) in enumerate(LIEGE, start=1):
        lon, lat = _offset(CENTRES["liege"], off)
        if n == 3:
            lon, lat = lat, lon  # a classic: latitude typed in the longitude column
        sheet.append([n, name or None, street, str(8620000 + n), number, lat, lon, indoor, building, access, h24, hours, installed])
    for column, width in zip("ABCDEFGHIJKLM", (5, 30, 28, 14, 9, 11, 11, 10, 22, 9, 18, 24, 18)):
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=4, min_col=13, max_col=13):
        row[0].number_format = "DD/MM/YYYY"
    book.save(path)


def make_mons(path: Path) -> None:
    features = []
    for n, (name, street, number, building, indoor, access, permanent, hours, installed, off) in enumerate(MONS, start=1):
        x, y = _lambert72(*_offset(CENTRES["mons"], off))
        properties = {"ident": f"DAE-{n:03d}", "libelle": name, "rue": street, "code_rue": str(5300000 + n),
                      "num_police": number, "interieur": indoor, "batiment": building, "accessibilite": access,
                      "permanent": permanent, "horaires": hours, "date_pose": installed}
        features.append({"type": "Feature", "properties": properties, "geometry": {"type": "Point", "coordinates": [x, y]}})
    collection = {"type": "FeatureCollection", "name": "defibrillateurs",
                  "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::31370"}}, "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    (DATA / "wfs").mkdir(parents=True, exist_ok=True)
    make_namur(DATA / "namur_dae.sqlite")
    make_liege(DATA / "liege_dea.xlsx")
    make_mons(DATA / "wfs" / "defibrillateurs.geojson")
    print(f"demo sources written to {DATA}")


if __name__ == "__main__":
    main()

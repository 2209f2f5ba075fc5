"""SpreadsheetSource on real xlsx, ods and csv files made by the tests, and over loopback HTTP."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import pydantic
import pytest

from omv_pipelines.sources.base import HARVESTED_AT, SOURCE_ID, SOURCE_ROW, SourceError
from omv_pipelines.sources.spreadsheet import SpreadsheetSource
from omv_pipelines.sources.spreadsheet.harvest import harvest_spreadsheet


def _dea_xlsx(path: Path) -> Path:
    """A workbook as a commune makes it: a merged title, a two-level merged header, a gap row, two sheets."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "DEA"
    ws["A1"] = "Défibrillateurs de la Ville de Namur"
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(["N°", " Nom\n du lieu ", "Coordonnées", None, "Contrôlé le", "Code postal"])
    ws.append([None, None, "Longitude", "Latitude", None, None])
    for cell in ("A3:A4", "B3:B4", "C3:D3", "E3:E4", "F3:F4"):
        ws.merge_cells(cell)
    ws.append([1, "Hôtel de ville", 4.8662, 50.4646, dt.datetime(2024, 3, 1), "5000"])
    ws.append([2, "Piscine", 4.85, 50.47, dt.datetime(2024, 4, 15), "05000"])
    ws.append([])
    ws.append([3, "Gare", 4.8627, 50.4686, "à vérifier", None])
    ws.cell(row=20, column=9).number_format = "0.00"  # a formatted but empty cell far away
    other = book.create_sheet("Autres")
    other.append(["code", "valeur"])
    other.append(["a", 1.5])
    book.save(path)
    return path


def _ods(path: Path) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()

    def row(*cells):
        tr = TableRow()
        for cell in cells:
            if cell is None:
                tc = TableCell()
            elif isinstance(cell, dt.date):
                tc = TableCell(valuetype="date", datevalue=cell.isoformat())
                tc.addElement(P(text=cell.strftime("%d/%m/%Y")))
            elif isinstance(cell, int | float):
                tc = TableCell(valuetype="float", value=str(cell))
                tc.addElement(P(text=str(cell)))
            else:
                tc = TableCell(valuetype="string")
                tc.addElement(P(text=cell))
            tr.addElement(tc)
        return tr

    first = Table(name="Emplacements PMR")
    for cells in [
        (None,),
        ("Liste des emplacements",),
        ("id", "rue", "places", "depuis"),
        (1, "Rue de Fer", 2, dt.date(2023, 6, 1)),
        (2, "Place d'Armes", None, dt.date(2022, 1, 10)),
    ]:
        first.addElement(row(*cells))
    second = Table(name="Notes")
    second.addElement(row("a", "b"))
    second.addElement(row("x", 2.5))
    doc.spreadsheet.addElement(first)
    doc.spreadsheet.addElement(second)
    doc.save(str(path))
    return path


CSV_TEXT = (
    "Liste des arceaux vélos\n"
    "id;nom;lon;lat;remarque\n"
    '1;Arceau Saint-Aubain;4,8601;50,4632;"près de l\'entrée; côté rue"\n'
    '2;Gare;4,8627;50,4686;"deux\nlignes"\n'
    ";;;;\n"
)


def _harvest(tmp_path: Path, **config) -> pd.DataFrame:
    return harvest_spreadsheet(SpreadsheetSource(**config), source_id="92094/x", base_dir=tmp_path).frame


# --- xlsx ---------------------------------------------------------------------------------------------


def test_xlsx_title_rows_merged_two_level_header_and_office_row_numbers(tmp_path):
    _dea_xlsx(tmp_path / "dea.xlsx")
    harvest = harvest_spreadsheet(
        SpreadsheetSource(path="dea.xlsx"), source_id="92094/dea", base_dir=tmp_path
    )
    frame = harvest.frame
    assert list(frame.columns) == [
        "N°",
        "Nom du lieu",
        "Longitude",
        "Latitude",
        "Contrôlé le",
        "Code postal",
        SOURCE_ID,
        HARVESTED_AT,
        SOURCE_ROW,
    ]
    assert frame[SOURCE_ROW].tolist() == [5, 6, 8]  # the gap row 7 is dropped, the numbers stay the sheet's
    assert frame["N°"].tolist() == [1, 2, 3]
    assert frame["Nom du lieu"].tolist() == ["Hôtel de ville", "Piscine", "Gare"]
    assert frame["Longitude"].tolist() == [4.8662, 4.85, 4.8627]
    assert frame["Code postal"].tolist()[:2] == ["5000", "05000"]  # text stays text
    assert pd.isna(frame["Code postal"].iloc[2])
    dates = frame["Contrôlé le"].tolist()
    assert dates[:2] == [pd.Timestamp(2024, 3, 1), pd.Timestamp(2024, 4, 15)]
    assert all(isinstance(d, pd.Timestamp) for d in dates[:2]) and dates[2] == "à vérifier"
    assert (frame[SOURCE_ID] == "92094/dea").all() and frame[HARVESTED_AT].notna().all()
    assert harvest.location == str((tmp_path / "dea.xlsx").resolve())
    assert harvest.stats | {"duration_s": 0} == {
        "format": "xlsx",
        "bytes": (tmp_path / "dea.xlsx").stat().st_size,
        "sheet": "DEA",
        "header_row": 4,
        "rows": 3,
        "duration_s": 0,
    }


def test_xlsx_explicit_header_row_on_the_group_row_names_the_duplicate_cell(tmp_path):
    _dea_xlsx(tmp_path / "dea.xlsx")
    with pytest.raises(
        SourceError,
        match=r"Sheet 'DEA', cell D3: column name 'Coordonnées' is already used in "
        r"cell C3 — give every column a distinct name",
    ):
        _harvest(tmp_path, path="dea.xlsx", header_row=3)


def test_xlsx_second_sheet_by_name_and_by_index(tmp_path):
    _dea_xlsx(tmp_path / "dea.xlsx")
    for sheet in ("Autres", 1):
        frame = _harvest(tmp_path, path="dea.xlsx", sheet=sheet)
        assert frame[["code", "valeur"]].to_dict("list") == {"code": ["a"], "valeur": [1.5]}
        assert frame[SOURCE_ROW].tolist() == [2]
    with pytest.raises(SourceError, match=r"no sheet named 'DAE'; the sheets are \['DEA', 'Autres'\]"):
        _harvest(tmp_path, path="dea.xlsx", sheet="DAE")
    with pytest.raises(SourceError, match="no sheet number 2"):
        _harvest(tmp_path, path="dea.xlsx", sheet=2)


def test_xlsx_empty_header_cell_over_data_is_named(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Velos"
    for values in (["id", "nom", None, "places"], [1, "Gare", "x", 4], [2, "Parc", None, 6]):
        book.active.append(values)
    book.save(tmp_path / "v.xlsx")
    with pytest.raises(
        SourceError, match=r"Sheet 'Velos', cell C1: the header cell of a column with data is empty"
    ):
        _harvest(tmp_path, path="v.xlsx")


def test_xlsx_table_away_from_a1_empty_sheets_and_header_only_sheets(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active["B2"], book.active["C2"], book.active["B3"], book.active["C4"] = "id", "nom", 7, "Parc"
    book.create_sheet("vide")
    book.create_sheet("entete").append(["a", "b"])
    book.save(tmp_path / "t.xlsx")
    frame = _harvest(tmp_path, path="t.xlsx")
    assert (
        frame["id"].iloc[0] == 7
        and str(frame["id"].dtype) == "int64[pyarrow]"
        and pd.isna(frame["id"].iloc[1])
    )
    assert pd.isna(frame["nom"].iloc[0]) and frame["nom"].iloc[1] == "Parc"
    assert frame[SOURCE_ROW].tolist() == [3, 4]
    with pytest.raises(SourceError, match="Sheet 'vide' is empty"):
        _harvest(tmp_path, path="t.xlsx", sheet="vide")
    frame = _harvest(tmp_path, path="t.xlsx", sheet="entete")
    assert list(frame.columns[:2]) == ["a", "b"] and len(frame) == 0
    with pytest.raises(SourceError, match="header_row 9 is empty"):
        _harvest(tmp_path, path="t.xlsx", header_row=9)


def test_xlsx_duplicated_header(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "DEA"
    for values in (["Titre"], [], ["id", "nom", " nom ", "x"], [1, "a", "b", 2]):
        book.active.append(values)
    book.save(tmp_path / "d.xlsx")
    with pytest.raises(
        SourceError, match=r"Sheet 'DEA', cell C3: column name 'nom' is already used in cell B3"
    ) as info:
        _harvest(tmp_path, path="d.xlsx")
    assert "'92094/x'" in str(info.value)


def test_broken_workbooks_say_what_was_expected(tmp_path):
    data = _dea_xlsx(tmp_path / "dea.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.xlsx").write_text("id;nom\n1;a\n")
    (tmp_path / "old.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    (tmp_path / "cut.ods").write_bytes(_ods(tmp_path / "ok.ods").read_bytes()[:300])
    with pytest.raises(SourceError, match=r"cut.xlsx is unreadable as xlsx .* complete xlsx file"):
        _harvest(tmp_path, path="cut.xlsx")
    with pytest.raises(SourceError, match=r"text.xlsx is unreadable as xlsx"):
        _harvest(tmp_path, path="text.xlsx")
    with pytest.raises(SourceError, match=r"old.xlsx is an old .xls .* save it as .xlsx"):
        _harvest(tmp_path, path="old.xlsx")
    with pytest.raises(SourceError, match=r"cut.ods is unreadable as ods"):
        _harvest(tmp_path, path="cut.ods")


def test_missing_file_names_the_resolved_path(tmp_path):
    with pytest.raises(SourceError, match=f"file not found: {tmp_path.resolve()}/data/absent.xlsx"):
        _harvest(tmp_path, path="data/absent.xlsx")


# --- ods ----------------------------------------------------------------------------------------------


def test_ods_first_and_second_sheet(tmp_path):
    _ods(tmp_path / "pmr.ods")
    harvest = harvest_spreadsheet(SpreadsheetSource(path="pmr.ods"), source_id="s", base_dir=tmp_path)
    frame = harvest.frame
    assert harvest.stats["sheet"] == "Emplacements PMR" and harvest.stats["header_row"] == 3
    assert frame[SOURCE_ROW].tolist() == [4, 5]
    assert frame["id"].tolist() == [1, 2]
    assert frame["rue"].tolist() == ["Rue de Fer", "Place d'Armes"]
    assert frame["places"].iloc[0] == 2 and pd.isna(frame["places"].iloc[1])
    assert frame["depuis"].tolist() == [pd.Timestamp(2023, 6, 1), pd.Timestamp(2022, 1, 10)]
    notes = _harvest(tmp_path, path="pmr.ods", sheet="Notes")
    assert notes[["a", "b"]].to_dict("list") == {"a": ["x"], "b": [2.5]}


# --- csv ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_csv_encodings_and_semicolons_detected(tmp_path, encoding):
    (tmp_path / "velos.csv").write_bytes(CSV_TEXT.encode(encoding))
    harvest = harvest_spreadsheet(SpreadsheetSource(path="velos.csv"), source_id="s", base_dir=tmp_path)
    frame = harvest.frame
    assert harvest.stats["encoding"] == encoding and harvest.stats["separator"] == ";"
    assert harvest.stats["header_row"] == 2
    assert list(frame.columns[:5]) == ["id", "nom", "lon", "lat", "remarque"]
    assert frame["nom"].tolist() == ["Arceau Saint-Aubain", "Gare"]
    assert frame["lon"].tolist() == ["4,8601", "4,8627"]  # csv cells stay text for the mapping to cast
    assert frame["remarque"].tolist() == ["près de l'entrée; côté rue", "deux\nlignes"]
    assert frame[SOURCE_ROW].tolist() == [3, 4]


def test_tsv_and_comma_csv(tmp_path):
    (tmp_path / "a.tsv").write_text("id\tnom\n1\tGare\n2\t\n", encoding="utf-8")
    frame = _harvest(tmp_path, path="a.tsv")
    assert frame["nom"].iloc[0] == "Gare" and pd.isna(frame["nom"].iloc[1])
    (tmp_path / "b.csv").write_text('id,nom,"lon"\n1,"Rue, 5",4.86\n', encoding="utf-8")
    frame = _harvest(tmp_path, path="b.csv")
    assert frame[["id", "nom", "lon"]].to_dict("list") == {"id": ["1"], "nom": ["Rue, 5"], "lon": ["4.86"]}


def test_csv_with_explicit_encoding_and_separator(tmp_path):
    (tmp_path / "x.txt").write_bytes("nom|ville\nÉcole|Namur\n".encode("latin-1"))
    frame = _harvest(tmp_path, path="x.txt", encoding="latin-1", separator="|")
    assert frame[["nom", "ville"]].to_dict("list") == {"nom": ["École"], "ville": ["Namur"]}
    with pytest.raises(SourceError, match=r"x.txt is not valid utf-8 .* set `encoding`"):
        _harvest(tmp_path, path="x.txt", encoding="utf-8")


# --- over HTTP ----------------------------------------------------------------------------------------


def test_url_download_and_http_errors(tmp_path, http_dir):
    base, folder = http_dir
    _dea_xlsx(folder / "dea.xlsx")
    (folder / "velos.csv").write_bytes(CSV_TEXT.encode("cp1252"))
    # The catalogue refuses secret-looking query parameters (#11); the harvest still masks one given to it.
    tokened = SpreadsheetSource.model_construct(url=f"{base}/dea.xlsx?token=abc123", path=None)
    harvest = harvest_spreadsheet(tokened, source_id="s")
    assert harvest.frame["N°"].tolist() == [1, 2, 3]
    assert harvest.location == f"{base}/dea.xlsx?token=***"
    frame = harvest_spreadsheet(SpreadsheetSource(url=f"{base}/velos.csv"), source_id="s").frame
    assert frame["nom"].tolist() == ["Arceau Saint-Aubain", "Gare"]
    with pytest.raises(
        SourceError, match=r"downloading .*/absent.csv\?apikey=\*\*\* failed: HTTP 404"
    ) as info:
        config = SpreadsheetSource.model_construct(url=f"{base}/absent.csv?apikey=s3cret", path=None)
        harvest_spreadsheet(config, source_id="s")
    assert "s3cret" not in str(info.value)


@pytest.fixture()
def etag_server(tmp_path, loopback):
    """A loopback server that gives a strong ETag (hash of the content), answers a matching If-None-Match
    with 304 and no body, ignores If-Modified-Since, and logs (path, status, If-None-Match) per request."""
    import hashlib

    folder = tmp_path / "etag"
    folder.mkdir()
    log: list[tuple[str, int, str | None]] = []

    def app(method, path, query, headers, body):
        file = folder / path.lstrip("/")
        asked = headers.get("If-None-Match")
        if not file.is_file():
            status, data, answer_headers = 404, b"no such file", {}
        else:
            data = file.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            status = 304 if asked == etag else 200
            answer_headers = {"ETag": etag}
        target = path + (f"?{urlencode(query)}" if query else "")
        log.append((target, status, asked))
        return status, answer_headers, b"" if status == 304 else data

    server = loopback(app)
    yield server.base_url, folder, log


def test_unchanged_url_is_not_downloaded_again(tmp_path, etag_server):
    base, folder, log = etag_server
    state = tmp_path / "state"
    _dea_xlsx(folder / "dea.xlsx")
    config = SpreadsheetSource.model_construct(url=f"{base}/dea.xlsx?token=s3cret", path=None)
    first = harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert first.stats["not_modified"] is False and log[-1][1:] == (200, None)
    second = harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert second.stats["not_modified"] is True and log[-1][1] == 304 and log[-1][2]  # sent the ETag
    data = [c for c in first.frame.columns if c != HARVESTED_AT]
    pd.testing.assert_frame_equal(first.frame[data], second.frame[data])
    assert second.stats["bytes"] == first.stats["bytes"]
    assert not any("s3cret" in p.name for p in state.iterdir())

    # A changed file is downloaded and read afresh, and becomes the new copy.
    book = __import__("openpyxl").load_workbook(folder / "dea.xlsx")
    book["DEA"]["B5"] = "Hôtel de ville (hall)"
    book.save(folder / "dea.xlsx")
    third = harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert third.stats["not_modified"] is False and log[-1][1] == 200
    assert third.frame["Nom du lieu"].iloc[0] == "Hôtel de ville (hall)"
    assert harvest_spreadsheet(config, source_id="s", state_dir=state).stats["not_modified"] is True
    assert [status for _, status, _ in log] == [200, 304, 200, 304]

    # Without a state folder every run downloads, unconditionally.
    plain = harvest_spreadsheet(config, source_id="s")
    assert "not_modified" not in plain.stats and log[-1][1:] == (200, None)


def test_a_broken_download_does_not_replace_the_good_copy(tmp_path, etag_server):
    base, folder, log = etag_server
    state = tmp_path / "state"
    (folder / "velos.csv").write_bytes(CSV_TEXT.encode("utf-8"))
    config = SpreadsheetSource(url=f"{base}/velos.csv", encoding="utf-8")
    harvest_spreadsheet(config, source_id="s", state_dir=state)
    kept = {p.name: p.read_bytes() for p in state.iterdir()}
    (folder / "velos.csv").write_bytes(CSV_TEXT.encode("cp1252"))  # re-saved by another office suite
    with pytest.raises(SourceError, match="velos.csv is not valid utf-8"):
        harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert {p.name: p.read_bytes() for p in state.iterdir()} == kept
    # the copy in the state folder is damaged: the next run downloads without asking "changed since?"
    (folder / "velos.csv").write_bytes(CSV_TEXT.encode("utf-8"))
    next(state.glob("*.download")).write_bytes(b"partial")
    again = harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert again.stats["not_modified"] is False and log[-1][1:] == (200, None)
    assert again.frame["nom"].tolist() == ["Arceau Saint-Aubain", "Gare"]


def test_last_modified_is_used_when_there_is_no_etag(tmp_path, http_dir):
    # Python's own http.server sends Last-Modified, no ETag, and honours If-Modified-Since.
    base, folder = http_dir
    (folder / "velos.csv").write_bytes(CSV_TEXT.encode("cp1252"))
    config = SpreadsheetSource(url=f"{base}/velos.csv")
    state = tmp_path / "state"
    assert harvest_spreadsheet(config, source_id="s", state_dir=state).stats["not_modified"] is False
    again = harvest_spreadsheet(config, source_id="s", state_dir=state)
    assert again.stats["not_modified"] is True and again.frame["nom"].tolist() == [
        "Arceau Saint-Aubain",
        "Gare",
    ]


# --- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"path": "a.csv", "url": "http://h/a.csv"}, "exactly one of path or url"),
        ({"url": "ftp://h/a.csv"}, "http:// or https://"),
        ({"path": "a.dat"}, "cannot tell the format"),
        ({"path": "a.xls"}, "save the file as .xlsx"),
        ({"path": "a.csv", "sheet": 1}, "not to csv"),
        ({"path": "a.xlsx", "separator": ";"}, "csv files only"),
        ({"path": "a.csv", "encoding": "klingon"}, "unknown encoding"),
        ({"path": "a.csv", "header_row": 0}, "greater than or equal to 1"),
        ({"path": "a.csv", "sheets": 1}, "Extra inputs"),
    ],
)
def test_config_errors(config, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        SpreadsheetSource(**config)


def test_format_overrides_the_extension(tmp_path):
    (tmp_path / "export.dat").write_text("a,b\n1,2\n")
    assert _harvest(tmp_path, path="export.dat", format="csv")["b"].tolist() == ["2"]


def test_json_schema_describes_every_field():
    schema = SpreadsheetSource.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values()), schema["properties"]


def test_import_does_not_load_heavy_readers():
    code = (
        "import sys, omv_pipelines.sources.spreadsheet.harvest\n"
        "loaded = {'openpyxl', 'requests', 'odf'} & set(sys.modules)\n"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

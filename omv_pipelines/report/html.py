"""The scorecard as a static HTML report: `index.html` for the region, one page per participating commune.

Every page is one self-contained file: inline CSS, inline SVG (maps and bar charts generated here, in
Python), a few lines of inline JavaScript (table sorting, map colouring by coverage or score). No CDN,
no web font, no tile server, no request at view time: it opens from a file share, a mail attachment or
the export folder, and can be archived as is. Every text taken from the data is escaped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from omv_pipelines.files import atomic_write
from omv_pipelines.report import geo
from omv_pipelines.report.geometries import Shape, problem_points_stacked, published_shapes_stacked
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard.model import FRESH_DAYS, STALE_DAYS, STATE_LABELS, WEIGHTS, Scorecard

MAP_WIDTH = 900
COMMUNE_MAP_WIDTH = 760
MAX_MAP_LABELS = 30  # participating communes named on the region map (beyond, hover only)
MAX_ROWS_TO_FIX = 300  # per dataset on a commune page; the full list is the report CSV
NOT_PARTICIPATING = "#e6e6e6"
COVERAGE_COLOURS = ["#fff7bc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#253494", "#081d58"]
SCORE_CLASSES = [
    (0, "#d7191c", "< 40"),
    (40, "#fdae61", "40–55"),
    (55, "#fee08b", "55–70"),
    (70, "#a6d96a", "70–85"),
    (85, "#1a9641", "≥ 85"),
]
DATASET_COLOURS = ["#1f77b4", "#9467bd", "#17becf", "#2ca02c", "#8c564b", "#e377c2", "#7f7f7f"]
OK, WARNING, REJECTED = "#1f5fbf", "#f28e00", "#d62728"

CSS = """
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
margin:0;color:#1d1d1d;background:#fafafa}header{background:#14375e;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}header a{color:#fff}
main{padding:16px 24px;max-width:1400px}section{background:#fff;border:1px solid #ddd;border-radius:6px;
padding:12px 16px;margin:0 0 16px}h2{font-size:17px;margin:4px 0 10px}.cols{display:flex;gap:16px;
flex-wrap:wrap;align-items:flex-start}.cols>section{flex:1 1 420px}svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #eee;
text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
th[data-sort]{cursor:pointer;user-select:none;white-space:nowrap}th[data-sort]:after{content:" ⇅";
color:#999}th[data-dir=asc]:after{content:" ▲"}th[data-dir=desc]:after{content:" ▼"}
.legend[hidden]{display:none}.legend{display:flex;gap:10px;flex-wrap:wrap;font-size:12px;margin:6px 0}
.legend span{display:inline-flex;
align-items:center;gap:4px}.sw{width:14px;height:14px;border:1px solid #999;display:inline-block}
.dot{width:10px;height:10px;border-radius:50%;display:inline-block}.bar{background:#eee;height:10px;
width:120px;display:inline-block;vertical-align:middle}.bar i{display:block;height:10px}
.state-published,.state-unchanged{color:#1a7f37}.state-blocked,.state-failed,.state-not_published{color:#b42318;
font-weight:600}.state-not_provided{color:#888}.raw{font-family:ui-monospace,monospace;word-break:break-all}
.muted{color:#666}.kpi{display:flex;gap:24px;flex-wrap:wrap}.kpi div{min-width:120px}.kpi b{display:block;
font-size:24px}#map path[data-ins]{stroke:#fff;stroke-width:.6}#map path.participating{stroke:#111;
stroke-width:1.4}#map .labels{font-size:13px;font-weight:600;text-anchor:middle;pointer-events:none;
paint-order:stroke;stroke:#fff;stroke-width:3px}#map a:hover path,#map path:hover{opacity:.8}
footer{padding:8px 24px 24px;color:#666;
font-size:12px}
"""

JS = """
(function(){
  function value(cell, numeric){
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent;
    if (!numeric) return v.toLowerCase();
    var n = parseFloat(v);
    return isNaN(n) ? null : n;
  }
  document.querySelectorAll('table.sortable th[data-sort]').forEach(function(th){
    th.addEventListener('click', function(){
      var table = th.closest('table'), body = table.tBodies[0];
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var numeric = th.getAttribute('data-sort') === 'num';
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th[data-dir]').forEach(function(o){ o.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = value(a.cells[index], numeric), y = value(b.cells[index], numeric);
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * (asc ? 1 : -1);
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
  document.querySelectorAll('input[name=colour]').forEach(function(radio){
    radio.addEventListener('change', function(){
      document.querySelectorAll('#map path[data-ins]').forEach(function(p){
        p.setAttribute('fill', p.getAttribute('data-fill-' + radio.value));
      });
      document.querySelectorAll('.legend[data-legend]').forEach(function(l){
        l.hidden = l.getAttribute('data-legend') !== radio.value;
      });
    });
  });
})();
"""


@dataclass(frozen=True)
class ReportResult:
    index: Path
    pages: dict[str, Path]  # INS code → commune page
    size_bytes: int  # all files written
    seconds: float


def _num(value: float | int | None, digits: int = 0, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f") + suffix


def _v(value: object) -> str:
    """The sort key of a cell (data-v): numbers as is, missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    return escape(str(value))


def _page(title: str, heading: str, subtitle: str, body: str, generated: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{heading}</h1><p>{subtitle}</p></header><main>{body}</main>"
        f"<footer>Ouvrir ma ville — tableau de bord construit le {escape(generated)}. Limites communales : "
        f"{escape(geo.ATTRIBUTION)}.</footer><script>{JS}</script></body></html>\n"
    )


def coverage_colour(provided: int) -> str:
    return COVERAGE_COLOURS[max(0, min(provided, len(COVERAGE_COLOURS) - 1))]


def score_colour(score: float) -> str:
    if score is None or math.isnan(score):
        return COVERAGE_COLOURS[0]
    return [colour for threshold, colour, _ in SCORE_CLASSES if score >= threshold][-1]


def freshness_colour(days: float) -> str:
    if days is None or math.isnan(days):
        return REJECTED
    return "#1a9641" if days <= FRESH_DAYS else ("#fdae61" if days <= STALE_DAYS else REJECTED)


def _days(days: float) -> str:
    if days is None or math.isnan(days):
        return "jamais"
    return "aujourd'hui" if days < 1 else f"il y a {days:.0f} j"


def _page_name(ins_code: str) -> str:
    return f"commune-{ins_code}.html"


# -- region ---------------------------------------------------------------------------------------------


def _region_map(scorecard: Scorecard) -> str:
    region = geo.communes()
    projection = geo.Projection.fit(geo.region_bbox(), MAP_WIDTH, margin=0.01)
    communes = scorecard.communes.set_index("ins_code")
    back, front, labels = [], [], []
    for code, commune in region.items():
        d = projection.path(commune.rings)
        if code in communes.index:
            row = communes.loc[code]
            cover, score = coverage_colour(int(row["datasets_provided"])), score_colour(float(row["score"]))
            tip = (
                f"{commune.name} ({code}) — {int(row['datasets_provided'])}/7 jeux, "
                f"score {_num(float(row['score']), 1)}"
            )
            front.append(
                f'<a href="{_page_name(code)}"><path class="participating" data-ins="{code}" '
                f'data-coverage="{int(row["datasets_provided"])}" data-score="{_v(row["score"])}" '
                f'data-fill-coverage="{cover}" data-fill-score="{score}" fill="{cover}" d="{d}">'
                f"<title>{escape(tip)}</title></path></a>"
            )
            x, y = projection.xy(*commune.label)
            labels.append(f'<text x="{float(x):.1f}" y="{float(y) - 8:.1f}">{escape(commune.name)}</text>')
        else:
            back.append(
                f'<path data-ins="{code}" data-coverage="0" data-fill-coverage="{NOT_PARTICIPATING}" '
                f'data-fill-score="{NOT_PARTICIPATING}" fill="{NOT_PARTICIPATING}" d="{d}">'
                f"<title>{escape(commune.name)} ({code}) — ne participe pas encore</title></path>"
            )
    coverage_legend = "".join(
        f'<span><i class="sw" style="background:{coverage_colour(n)}"></i>{n}/7</span>' for n in range(1, 8)
    )
    score_legend = "".join(
        f'<span><i class="sw" style="background:{colour}"></i>{escape(label)}</span>'
        for _, colour, label in SCORE_CLASSES
    )
    absent = f'<span><i class="sw" style="background:{NOT_PARTICIPATING}"></i>ne participe pas</span>'
    return (
        '<div><label><input type="radio" name="colour" value="coverage" checked> couverture (jeux fournis)'
        '</label> <label><input type="radio" name="colour" value="score"> score de qualité</label></div>'
        f'<div class="legend" data-legend="coverage">{coverage_legend}{absent}</div>'
        f'<div class="legend" data-legend="score" hidden>{score_legend}{absent}</div>'
        f'<svg id="map" viewBox="0 0 {MAP_WIDTH} {projection.height:g}" width="{MAP_WIDTH}" '
        f'height="{projection.height:g}" role="img" aria-label="Carte des communes wallonnes">'
        f"<g>{''.join(back)}</g><g>{''.join(front)}</g>"
        + (f'<g class="labels">{"".join(labels)}</g>' if len(labels) <= MAX_MAP_LABELS else "")
        + "</svg>"
    )


def _commune_table(scorecard: Scorecard) -> str:
    rows = []
    for row in scorecard.communes.itertuples(index=False):
        rows.append(
            f'<tr data-ins="{escape(row.ins_code)}"><td><a href="{_page_name(row.ins_code)}">'
            f"{escape(row.municipality)}</a></td><td>{escape(row.ins_code)}</td>"
            f'<td class="n" data-col="provided" data-v="{row.datasets_provided}">'
            f"{row.datasets_provided}/7</td>"
            f'<td class="n" data-col="score" data-v="{_v(row.score)}">{_num(row.score, 1)}</td>'
            f'<td class="n" data-col="freshness" data-v="{_v(row.oldest_success_days)}">'
            f"{_days(row.oldest_success_days)}</td>"
            f'<td class="n" data-col="rows_online" data-v="{row.rows_online}">{_num(row.rows_online)}</td>'
            f'<td class="n" data-col="rows_rejected" data-v="{row.rows_rejected}">'
            f"{_num(row.rows_rejected)}</td>"
            f'<td class="n" data-v="{_v(row.completeness)}">{_num(row.completeness * 100, 0, " %")}</td>'
            f'<td class="n" data-v="{row.datasets_blocked + row.datasets_failed}">'
            f"{row.datasets_blocked + row.datasets_failed or ''}</td></tr>"
        )
    return (
        '<table class="sortable" id="communes"><thead><tr><th data-sort="text">Commune</th>'
        '<th data-sort="text">INS</th><th class="n" data-sort="num">Couverture</th>'
        '<th class="n" data-sort="num">Score</th><th class="n" data-sort="num">Plus ancienne publication</th>'
        '<th class="n" data-sort="num">Lignes en ligne</th><th class="n" data-sort="num">Lignes rejetées</th>'
        '<th class="n" data-sort="num">Complétude</th><th class="n" data-sort="num">Bloqués / en échec</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _dataset_totals(scorecard: Scorecard) -> str:
    d = scorecard.datasets
    rows = []
    for key, title in DATASETS.items():
        part = d[(d["dataset"] == key) & d["provided"]]
        completeness = part["completeness"].mean() * 100 if len(part) else float("nan")
        score = part["score"].mean() if len(part) else float("nan")
        troubled = int(part["state"].isin(["blocked", "failed", "not_published"]).sum())
        rows.append(
            f'<tr data-dataset="{escape(key)}"><td>{escape(title)}</td>'
            f'<td class="n" data-col="communes">{len(part)}</td>'
            f'<td class="n">{int((part["rows_online"] > 0).sum())}</td>'
            f'<td class="n" data-col="rows_online">{_num(int(part["rows_online"].sum()))}</td>'
            f'<td class="n" data-col="rows_rejected">{_num(int(part["rows_rejected"].sum()))}</td>'
            f'<td class="n">{_num(completeness, 0, " %")}</td><td class="n">{_num(score, 1)}</td>'
            f'<td class="n">{troubled or ""}</td>'
            "</tr>"
        )
    return (
        '<table id="datasets"><thead><tr><th>Jeu de données</th><th class="n">Communes</th>'
        '<th class="n">En ligne</th><th class="n">Lignes en ligne</th><th class="n">Lignes rejetées</th>'
        '<th class="n">Complétude moyenne</th><th class="n">Score moyen</th><th class="n">Bloqués / en échec'
        f"</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _formula() -> str:
    w = WEIGHTS
    return (
        "<p class='muted'>Score d'un jeu fourni = 100 × ("
        f"{w['validity']:g} × lignes valides / (valides + rejetées) + {w['completeness']:g} × complétude des "
        f"champs recommandés + {w['freshness']:g} × fraîcheur), la fraîcheur valant 1 jusqu'à "
        f"{FRESH_DAYS:g} jours après la dernière publication réussie puis baissant linéairement jusqu'à 0 à "
        f"{STALE_DAYS:g} jours ; 0 si rien n'est en ligne. "
        "Score de la commune = moyenne de ses jeux fournis. "
        "Couverture = jeux fournis sur 7.</p>"
    )


def region_page(scorecard: Scorecard, generated: str, scorecard_csv: str | None) -> str:
    c = scorecard.communes
    total_rows, rejected = int(c["rows_online"].sum()), int(c["rows_rejected"].sum())
    kpi = (
        f'<div class="kpi"><div><b id="kpi-communes">{len(c)}</b>communes participantes sur '
        f"{len(geo.communes())}</div><div><b>{_num(c['score'].mean(), 1)}</b>score moyen</div>"
        f"<div><b>{_num(total_rows)}</b>lignes en ligne</div>"
        f"<div><b>{_num(rejected)}</b>lignes rejetées</div>"
        f"<div><b>{_num(int(c['datasets_provided'].sum()))}</b>jeux fournis "
        f"sur {len(c) * len(DATASETS)}</div>"
        "</div>"
    )
    download = (
        f'<p>Les données de ce tableau de bord : <a href="{escape(scorecard_csv)}">'
        f"{escape(scorecard_csv)}</a> "
        "(une ligne par commune et par jeu de données, publiée sur ODWB).</p>"
        if scorecard_csv
        else ""
    )
    body = (
        f"<section>{kpi}</section>"
        f'<div class="cols"><section><h2>Carte des {len(geo.communes())} communes wallonnes</h2>'
        f"{_region_map(scorecard)}</section>"
        f"<section><h2>Communes participantes</h2><p class='muted'>Cliquer un en-tête pour trier.</p>"
        f"{_commune_table(scorecard)}{_formula()}</section></div>"
        f"<section><h2>Totaux par jeu de données</h2>{_dataset_totals(scorecard)}{download}</section>"
    )
    return _page(
        "Ouvrir ma ville — tableau de bord",
        "Ouvrir ma ville — tableau de bord régional",
        "Ce qui est ouvert, sa qualité et sa fraîcheur, commune par commune.",
        body,
        generated,
    )


# -- commune --------------------------------------------------------------------------------------------


def _shape_svg(shape: Shape, projection: geo.Projection, colour: str, css: str, radius: float = 4.5) -> str:
    title = f"<title>{escape(shape.title)}</title>"
    if shape.kind == "point":
        out = []
        for part in shape.coordinates:
            (lon, lat) = part[0]
            x, y = projection.xy(lon, lat)
            out.append(
                f'<circle class="{css}" cx="{float(x):.1f}" cy="{float(y):.1f}" r="{radius}" fill="{colour}" '
                f'stroke="#fff" stroke-width="1">{title}</circle>'
            )
        return "".join(out)
    paths = []
    for part in shape.coordinates:
        x, y = projection.xy([p[0] for p in part], [p[1] for p in part])
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x.tolist(), y.tolist(), strict=True))
        paths.append(f"M{points}")
    return (
        f'<path class="{css}" d="{"".join(paths)}" fill="none" stroke="{colour}" stroke-width="3">'
        f"{title}</path>"
    )


def _commune_map(prepared: _Prepared, ins_code: str) -> tuple[str, int, int, int]:
    region = geo.communes()
    commune = region.get(ins_code)
    published = prepared.published.get(ins_code, [])
    problems = prepared.problems.get(ins_code, [])
    unplaced = prepared.unplaced.get(ins_code, 0)
    if commune is None:
        return (
            "<p>Pas de limite communale connue pour ce code INS.</p>",
            len(published),
            len(problems),
            unplaced,
        )
    lon_min, lat_min, lon_max, lat_max = commune.bbox
    wallonia = geo.region_bbox()
    for shape, _ in published + problems:  # widen to what lies outside, if it is in Wallonia
        for part in shape.coordinates:
            for lon, lat in part:
                if wallonia[0] <= lon <= wallonia[2] and wallonia[1] <= lat <= wallonia[3]:
                    lon_min, lon_max = min(lon_min, lon), max(lon_max, lon)
                    lat_min, lat_max = min(lat_min, lat), max(lat_max, lat)
    projection = geo.Projection.fit((lon_min, lat_min, lon_max, lat_max), COMMUNE_MAP_WIDTH, margin=0.06)
    box = np.array([lon_min, lat_min, lon_max, lat_max])
    neighbours = []
    for code, other in region.items():
        if code == ins_code:
            continue
        b = other.bbox
        if b[0] <= box[2] and b[2] >= box[0] and b[1] <= box[3] and b[3] >= box[1]:
            neighbours.append(
                f'<path d="{projection.path(other.rings)}" fill="#f2f2f2" stroke="#c8c8c8" stroke-width="1">'
                f"<title>{escape(other.name)} ({code})</title></path>"
            )
    outline = (
        f'<path id="outline" d="{projection.path(commune.rings)}" fill="#fff" stroke="#14375e" '
        'stroke-width="2.5">'
        f"<title>{escape(commune.name)} ({ins_code})</title></path>"
    )
    shapes = [_shape_svg(s, projection, colour, "published") for s, colour in published]
    shapes += [
        _shape_svg(
            s,
            projection,
            REJECTED if severity == "error" else WARNING,
            "rejected" if severity == "error" else "warning",
            5.5,
        )
        for s, severity in problems
    ]
    svg = (
        f'<svg id="commune-map" viewBox="0 0 {COMMUNE_MAP_WIDTH} {projection.height:g}" '
        f'width="{COMMUNE_MAP_WIDTH}" height="{projection.height:g}" role="img" '
        f'aria-label="Carte de {escape(commune.name)}"><rect width="100%" height="100%" fill="#eaf2f8"/>'
        f"{''.join(neighbours)}{outline}{''.join(shapes)}</svg>"
    )
    return svg, len(published), len(problems), unplaced


def _reasons_chart(scorecard: Scorecard, ins_code: str) -> str:
    groups = []
    for key, title in DATASETS.items():
        state = scorecard.state(ins_code, key)
        if state is not None and state.rejected_reasons:
            groups.append(
                (key, title, sorted(state.rejected_reasons.items(), key=lambda kv: (-kv[1], kv[0])))
            )
    if not groups:
        return '<p id="no-rejects">Aucune ligne rejetée lors de la dernière validation.</p>'
    top = max(count for _, _, reasons in groups for _, count in reasons)
    label_w, bar_w, row_h = 200, 360, 20
    y, parts = 0, []
    for key, title, reasons in groups:
        y += 18
        parts.append(f'<text x="0" y="{y}" font-weight="600">{escape(title)}</text>')
        for reason, count in reasons:
            y += 4
            width = max(2.0, bar_w * count / top)
            parts.append(
                f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end">{escape(reason)}</text>'
                f'<rect class="reject-bar" data-dataset="{escape(key)}" data-reason="{escape(reason)}" '
                f'data-count="{count}" x="{label_w}" y="{y}" width="{width:.1f}" height="{row_h - 4}" '
                f'fill="{REJECTED}">'
                f"<title>{escape(title)} — {escape(reason)} : {count}</title></rect>"
                f'<text x="{label_w + width + 4:.1f}" y="{y + 13}">{count}</text>'
            )
            y += row_h - 4
        y += 6
    total_w = label_w + bar_w + 40
    return (
        f'<svg id="reasons" viewBox="0 0 {total_w} {y}" width="{total_w}" height="{y}" font-size="12" '
        f'role="img" aria-label="Rejets par motif">{"".join(parts)}</svg>'
    )


def _dataset_rows(scorecard: Scorecard) -> dict[str, list[str]]:
    """The rows of every commune's datasets table, in one pass over the scorecard (INS code → rows)."""
    out: dict[str, list[str]] = {}
    for row in scorecard.datasets.itertuples(index=False):
        days = row.days_since_success
        fresh = 0.0 if math.isnan(days) else max(0.0, 1 - days / STALE_DAYS)
        bar = (
            f'<span class="bar" title="{escape(_days(days))}"><i style="width:{max(fresh, 0.04) * 100:.0f}%;'
            f'background:{freshness_colour(days)}"></i></span> '
            if row.provided
            else ""
        )
        last = "" if pd.isna(row.last_success) else row.last_success.strftime("%d/%m/%Y %H:%M UTC")
        out.setdefault(row.ins_code, []).append(
            f'<tr data-dataset="{escape(row.dataset)}"><td>{escape(row.dataset_title)}'
            f'<div class="muted">{escape(row.dataset_id)}</div></td>'
            f'<td class="state-{escape(row.state)}">{escape(STATE_LABELS[row.state])}</td>'
            f"<td>{escape(row.source_kind)}</td>"
            f'<td class="n" data-col="rows_online">{row.rows_online if row.provided else ""}</td>'
            f'<td class="n" data-col="rows_rejected">{row.rows_rejected if row.provided else ""}</td>'
            f'<td class="n">{_num(row.completeness * 100, 0, " %") if row.provided else ""}'
            f'<div class="muted">{escape(row.emptiest_fields)}</div></td>'
            f'<td class="n">{row.points_outside_commune if row.provided else ""}</td>'
            f"<td>{bar}{escape(_days(days)) if row.provided else ''}"
            f"<div class='muted'>{escape(last)}</div></td>"
            f'<td class="n" data-col="score">{_num(row.score, 1) if row.provided else ""}</td></tr>'
        )
    return out


def _datasets_table(rows: list[str]) -> str:
    return (
        '<table id="commune-datasets"><thead><tr><th>Jeu de données</th><th>État</th><th>Source</th>'
        '<th class="n">En ligne</th><th class="n">Rejetées</th>'
        '<th class="n">Complétude (champs les moins remplis)'
        '</th><th class="n">Hors commune</th><th>Fraîcheur</th><th class="n">Score</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _rows_to_fix(scorecard: Scorecard, exports_href: str | None) -> dict[str, str]:
    """Every commune's "rows to fix" section, from the validation reports stacked once (INS code → HTML).
    Errors first (the rows rejected), then warnings; at most MAX_ROWS_TO_FIX per dataset."""
    out: dict[str, list[str]] = {}
    stacked = scorecard.problems
    if stacked is None:
        return {}
    columns = ("severity", "source_row", "record_id", "field", "error_type", "message", "raw_value")
    text = {name: stacked.text(name) for name in columns}
    escaped = {name: [escape(v) for v in values] for name, values in text.items()}
    warning = text["severity"] != "error"
    for k, state in enumerate(stacked.states):
        rows_here = np.arange(stacked.start[k], stacked.stop[k])
        ordered = rows_here[np.argsort(warning[rows_here], kind="stable")]
        shown = ordered[:MAX_ROWS_TO_FIX]
        e = escaped
        rows = "".join(
            f'<tr class="fix-{e["severity"][j]}"><td>{e["source_row"][j]}</td>'
            f"<td>{e['record_id'][j]}</td><td>{e['field'][j]}</td>"
            f"<td>{'avertissement' if warning[j] else 'erreur (ligne rejetée)'}</td>"
            f"<td>{e['error_type'][j]}</td><td>{e['message'][j]}</td>"
            f'<td class="raw">{e["raw_value"][j]}</td></tr>'
            for j in shown.tolist()
        )
        more = ""
        source = (
            f"{exports_href}/{state.dataset_id}.report.csv" if state.dataset_id and exports_href else None
        )
        if len(ordered) > len(shown):
            more = f"<p>… et {len(ordered) - len(shown)} autres : voir le rapport complet.</p>"
        link = f' — <a href="{escape(source)}">rapport CSV</a>' if source else ""
        out.setdefault(state.ins_code, []).append(
            f'<h3>{escape(DATASETS[state.dataset])}{link}</h3><table class="sortable fix" '
            f'data-dataset="{escape(state.dataset)}">'
            '<thead><tr><th data-sort="num">Ligne source</th><th data-sort="text">Identifiant</th>'
            '<th data-sort="text">Champ'
            '</th><th data-sort="text">Gravité</th><th data-sort="text">Type</th><th>Message</th>'
            f"<th>Valeur lue</th></tr></thead><tbody>{rows}</tbody></table>{more}"
        )
    return {code: "".join(parts) for code, parts in out.items()}


@dataclass
class _Prepared:
    """What the commune pages need, computed once for all communes (one pass per dataset)."""

    communes: dict[str, dict]  # INS code → its row of scorecard.communes
    published: dict[str, list[tuple[Shape, str]]]  # INS code → geometries online and their colour
    problems: dict[str, list[tuple[Shape, str]]]  # INS code → located problems and their severity
    unplaced: dict[str, int]  # INS code → geometry problems without readable coordinates
    dataset_rows: dict[str, list[str]]
    fixes: dict[str, str]


def _prepare(scorecard: Scorecard, exports_href: str | None) -> _Prepared:
    published: dict[str, list[tuple[Shape, str]]] = {}
    for i, key in enumerate(DATASETS):
        stacked = scorecard.published_rows.get(key)
        if stacked is not None:
            for owner, shape in published_shapes_stacked(stacked, key):
                published.setdefault(stacked.states[owner].ins_code, []).append((shape, DATASET_COLOURS[i]))
    problems: dict[str, list[tuple[Shape, str]]] = {}
    unplaced: dict[str, int] = {}
    if scorecard.problems is not None:
        located, missing = problem_points_stacked(scorecard.problems)
        for owner, shape, severity in located:
            problems.setdefault(scorecard.problems.states[owner].ins_code, []).append((shape, severity))
        for owner, count in missing.items():
            code = scorecard.problems.states[owner].ins_code
            unplaced[code] = unplaced.get(code, 0) + count
    return _Prepared(
        communes={str(r["ins_code"]): r for r in scorecard.communes.to_dict("records")},
        published=published,
        problems=problems,
        unplaced=unplaced,
        dataset_rows=_dataset_rows(scorecard),
        fixes=_rows_to_fix(scorecard, exports_href),
    )


def commune_page(
    scorecard: Scorecard,
    ins_code: str,
    generated: str,
    exports_href: str | None = None,
    prepared: _Prepared | None = None,
) -> str:
    """One commune's page; `prepared` (from `_prepare`) is shared by all pages of a report."""
    prepared = prepared or _prepare(scorecard, exports_href)
    row = prepared.communes[ins_code]
    name = str(row["municipality"])
    svg, n_published, n_problems, unplaced = _commune_map(prepared, ins_code)
    legend = (
        '<div class="legend">'
        + "".join(
            f'<span><i class="dot" style="background:{DATASET_COLOURS[i]}"></i>{escape(title)}</span>'
            for i, (key, title) in enumerate(DATASETS.items())
            if (s := scorecard.state(ins_code, key)) is not None and s.provided
        )
        + f'<span><i class="dot" style="background:{REJECTED}"></i>rejeté</span>'
        f'<span><i class="dot" style="background:{WARNING}"></i>publié avec avertissement</span></div>'
    )
    note = (
        f"<p class='muted'>{n_published} géométries publiées, {n_problems} problèmes localisés"
        + (f", {unplaced} problèmes de géométrie sans coordonnées lisibles" if unplaced else "")
        + ". Survoler un point pour son identifiant ou le motif du problème.</p>"
    )
    kpi = (
        f'<div class="kpi"><div><b id="kpi-provided">{int(row["datasets_provided"])}/7</b>jeux fournis</div>'
        f'<div><b id="kpi-score">{_num(float(row["score"]), 1)}</b>score</div>'
        f'<div><b id="kpi-rows">{_num(int(row["rows_online"]))}</b>lignes en ligne</div>'
        f'<div><b id="kpi-rejected">{_num(int(row["rows_rejected"]))}</b>lignes rejetées</div>'
        f"<div><b>{_days(float(row['oldest_success_days']))}</b>plus ancienne publication</div></div>"
    )
    body = (
        f"<section>{kpi}</section>"
        f'<div class="cols"><section><h2>Carte</h2>{legend}{svg}{note}</section>'
        f"<section><h2>Rejets par motif</h2>{_reasons_chart(scorecard, ins_code)}</section></div>"
        "<section><h2>Jeux de données et fraîcheur</h2>"
        f"{_datasets_table(prepared.dataset_rows.get(ins_code, []))}</section>"
        f"<section><h2>Lignes à corriger</h2>{prepared.fixes.get(ins_code) or '<p>Rien à corriger.</p>'}"
        "</section>"
    )
    return _page(
        f"{name} — Ouvrir ma ville",
        f"{escape(name)} <small>({escape(ins_code)})</small>",
        '<a href="index.html">← tableau de bord régional</a>',
        body,
        generated,
    )


def write_report(
    scorecard: Scorecard,
    out_dir: Path | str,
    *,
    scorecard_csv: str | None = None,
    exports_href: str | None = None,
) -> ReportResult:
    """Write `index.html` and one `commune-<INS>.html` per commune of the scorecard into `out_dir`.

    `scorecard_csv`: a link (relative to `out_dir`) to the published scorecard, shown on the index;
    `exports_href`: the export folder relative to `out_dir` (e.g. ".."), to link each validation report.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = scorecard.now.strftime("%d/%m/%Y à %H:%M UTC")
    size = 0
    index_html = region_page(scorecard, generated, scorecard_csv).encode("utf-8")
    atomic_write(out / "index.html", index_html)
    (out / "index.html").chmod(0o644)
    size += len(index_html)
    pages = {}
    prepared = _prepare(scorecard, exports_href)
    for code in scorecard.communes["ins_code"]:
        page = commune_page(scorecard, code, generated, exports_href, prepared).encode("utf-8")
        pages[code] = out / _page_name(code)
        atomic_write(pages[code], page)
        pages[code].chmod(0o644)  # meant to be read by people and served as is
        size += len(page)
    return ReportResult(out / "index.html", pages, size, time.perf_counter() - started)

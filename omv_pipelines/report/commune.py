"""A participating commune's page: its map (published geometries and located problems over its
boundary), its rejects by reason, its datasets and their freshness, and the rows it has to fix.

What all commune pages need is computed once per report (`prepare`: one pass per dataset over the
stacked scorecard), then each page is cut from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from omv_pipelines.report import geo
from omv_pipelines.report.geometries import Shape, problem_points_stacked, published_shapes_stacked
from omv_pipelines.report.page import (
    DATASET_COLOURS,
    REJECTED,
    WARNING,
    days_ago,
    freshness_colour,
    html_page,
    number,
)
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard.model import STALE_DAYS, STATE_LABELS, Scorecard

COMMUNE_MAP_WIDTH = 760
MAX_ROWS_TO_FIX = 300  # per dataset on a commune page; the full list is the report CSV


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


def _commune_map(prepared: Prepared, ins_code: str) -> tuple[str, int, int, int]:
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
            f'<span class="bar" title="{escape(days_ago(days))}">'
            f'<i style="width:{max(fresh, 0.04) * 100:.0f}%;'
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
            f'<td class="n">{number(row.completeness * 100, 0, " %") if row.provided else ""}'
            f'<div class="muted">{escape(row.emptiest_fields)}</div></td>'
            f'<td class="n">{row.points_outside_commune if row.provided else ""}</td>'
            f"<td>{bar}{escape(days_ago(days)) if row.provided else ''}"
            f"<div class='muted'>{escape(last)}</div></td>"
            f'<td class="n" data-col="score">{number(row.score, 1) if row.provided else ""}</td></tr>'
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
class Prepared:
    """What the commune pages need, computed once for all communes (one pass per dataset)."""

    communes: dict[str, dict]  # INS code → its row of scorecard.communes
    published: dict[str, list[tuple[Shape, str]]]  # INS code → geometries online and their colour
    problems: dict[str, list[tuple[Shape, str]]]  # INS code → located problems and their severity
    unplaced: dict[str, int]  # INS code → geometry problems without readable coordinates
    dataset_rows: dict[str, list[str]]
    fixes: dict[str, str]


def prepare(scorecard: Scorecard, exports_href: str | None) -> Prepared:
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
    return Prepared(
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
    prepared: Prepared | None = None,
) -> str:
    """One commune's page; `prepared` (from `prepare`) is shared by all pages of a report."""
    prepared = prepared or prepare(scorecard, exports_href)
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
        f'<div><b id="kpi-score">{number(float(row["score"]), 1)}</b>score</div>'
        f'<div><b id="kpi-rows">{number(int(row["rows_online"]))}</b>lignes en ligne</div>'
        f'<div><b id="kpi-rejected">{number(int(row["rows_rejected"]))}</b>lignes rejetées</div>'
        f"<div><b>{days_ago(float(row['oldest_success_days']))}</b>plus ancienne publication</div></div>"
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
    return html_page(
        f"{name} — Ouvrir ma ville",
        f"{escape(name)} <small>({escape(ins_code)})</small>",
        '<a href="index.html">← tableau de bord régional</a>',
        body,
        generated,
    )

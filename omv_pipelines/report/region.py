"""The region's page (`index.html`): the map of Wallonia coloured by coverage or score, the participating
communes and the totals per dataset.

One module per page: the region page reads only the scorecard's summary tables, the commune pages the
geometries and problem rows as well.
"""

from __future__ import annotations

from html import escape

from omv_pipelines.report import geo
from omv_pipelines.report.page import (
    SCORE_CLASSES,
    coverage_colour,
    days_ago,
    html_page,
    number,
    page_name,
    score_colour,
    sort_value,
)
from omv_pipelines.schemas import DATASETS
from omv_pipelines.scorecard.model import FRESH_DAYS, STALE_DAYS, WEIGHTS, Scorecard

MAP_WIDTH = 900
MAX_MAP_LABELS = 30  # participating communes named on the region map (beyond, hover only)
NOT_PARTICIPATING = "#e6e6e6"


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
                f"score {number(float(row['score']), 1)}"
            )
            front.append(
                f'<a href="{page_name(code)}"><path class="participating" data-ins="{code}" '
                f'data-coverage="{int(row["datasets_provided"])}" data-score="{sort_value(row["score"])}" '
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
            f'<tr data-ins="{escape(row.ins_code)}"><td><a href="{page_name(row.ins_code)}">'
            f"{escape(row.municipality)}</a></td><td>{escape(row.ins_code)}</td>"
            f'<td class="n" data-col="provided" data-v="{row.datasets_provided}">'
            f"{row.datasets_provided}/7</td>"
            f'<td class="n" data-col="score" data-v="{sort_value(row.score)}">{number(row.score, 1)}</td>'
            f'<td class="n" data-col="freshness" data-v="{sort_value(row.oldest_success_days)}">'
            f"{days_ago(row.oldest_success_days)}</td>"
            f'<td class="n" data-col="rows_online" data-v="{row.rows_online}">{number(row.rows_online)}</td>'
            f'<td class="n" data-col="rows_rejected" data-v="{row.rows_rejected}">'
            f"{number(row.rows_rejected)}</td>"
            f'<td class="n" data-v="{sort_value(row.completeness)}">'
            f"{number(row.completeness * 100, 0, ' %')}</td>"
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
            f'<td class="n" data-col="rows_online">{number(int(part["rows_online"].sum()))}</td>'
            f'<td class="n" data-col="rows_rejected">{number(int(part["rows_rejected"].sum()))}</td>'
            f'<td class="n">{number(completeness, 0, " %")}</td><td class="n">{number(score, 1)}</td>'
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
        f"{len(geo.communes())}</div><div><b>{number(c['score'].mean(), 1)}</b>score moyen</div>"
        f"<div><b>{number(total_rows)}</b>lignes en ligne</div>"
        f"<div><b>{number(rejected)}</b>lignes rejetées</div>"
        f"<div><b>{number(int(c['datasets_provided'].sum()))}</b>jeux fournis "
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
    return html_page(
        "Ouvrir ma ville — tableau de bord",
        "Ouvrir ma ville — tableau de bord régional",
        "Ce qui est ouvert, sa qualité et sa fraîcheur, commune par commune.",
        body,
        generated,
    )

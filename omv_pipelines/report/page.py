"""What every page of the HTML report shares: the frame (inline CSS and JS, header, footer), the colour
scales and how a number or a date reads in a cell.

Kept apart so that the region page and the commune pages look and read the same, and so that either page
can change without touching the other.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from omv_pipelines.report import geo
from omv_pipelines.scorecard.model import FRESH_DAYS, STALE_DAYS

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


def number(value: float | int | None, digits: int = 0, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f") + suffix


def sort_value(value: object) -> str:
    """The sort key of a cell (data-v): numbers as is, missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    return escape(str(value))


def html_page(title: str, heading: str, subtitle: str, body: str, generated: str) -> str:
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


def days_ago(days: float) -> str:
    if days is None or math.isnan(days):
        return "jamais"
    return "aujourd'hui" if days < 1 else f"il y a {days:.0f} j"


def page_name(ins_code: str) -> str:
    return f"commune-{ins_code}.html"

"""The shape of the code location, kept in a committed snapshot so that a change to it shows in review.

Asset keys (group, partitions, kinds), check keys, jobs with the assets they select, schedules with their
cron and sensors, loaded with the bundled demo catalogue. A deliberate change is recorded with
`OMV_UPDATE_SNAPSHOTS=1 pytest omv_pipelines_tests/test_defs/test_definitions_snapshot.py` and the
rewritten snapshots/definitions.json is committed with it.
"""

import difflib
import json
import os
from pathlib import Path

import dagster as dg

from omv_pipelines.catalog.loader import DEMO_CATALOG

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"
# Everything build_definitions() reads from the environment, so that the user's own setup cannot leak in.
CLEARED = (
    "ODWB_URL",
    "ODWB_API_KEY",
    "ODWB_LICENSE_ID",
    "ODWB_THEME_ID",
    "OMV_DEMO_WFS_URL",
    "OMV_UI_URL",
    "OMV_SMTP_HOST",
    "OMV_ALERT_EMAIL_TO",
    "OMV_SMTP_FROM",
    "OMV_SMTP_USER",
    "OMV_SMTP_PASSWORD",
    "OMV_SMTP_PORT",
)


def _partitions(definition: dg.PartitionsDefinition | None) -> str | None:
    if definition is None:
        return None
    return getattr(definition, "name", None) or str(definition)


def describe(defs: dg.Definitions) -> dict:
    """What a reviewer should see change: names and wiring, nothing that depends on the machine."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "kinds": sorted(node.kinds),
        }
    checks = sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys)
    jobs = {}
    for name in sorted(job.name for job in defs.jobs or []):
        selected = defs.resolve_job_def(name).asset_layer.selected_asset_keys
        jobs[name] = sorted(k.to_user_string() for k in selected)
    schedules = {
        s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
        for s in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    sensors = sorted(s.name for s in defs.sensors or [])
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def render(value, indent: str = "", prefix: str = "") -> str:
    """JSON with a value on one line when it fits in 110 columns: one asset, schedule, check per line."""
    compact = json.dumps(value, ensure_ascii=False)
    if len(indent + prefix + compact) <= 110 or not isinstance(value, (dict, list)) or not value:
        return indent + prefix + compact
    inner = indent + "  "
    if isinstance(value, dict):
        items = [render(v, inner, json.dumps(k, ensure_ascii=False) + ": ") for k, v in value.items()]
    else:
        items = [render(v, inner) for v in value]
    opening, closing = "{}" if isinstance(value, dict) else "[]"
    return indent + prefix + opening + "\n" + ",\n".join(items) + "\n" + indent + closing


def test_definitions_match_the_committed_snapshot(tmp_path, monkeypatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMV_CATALOG", str(DEMO_CATALOG))
    monkeypatch.setenv("OMV_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OMV_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hooks/snapshot")  # as deployed: alerts on
    from omv_pipelines.definitions import build_definitions

    text = render(describe(build_definitions())) + "\n"
    if os.environ.get("OMV_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.is_file(), f"no {SNAPSHOT.name}: run with OMV_UPDATE_SNAPSHOTS=1 to write it"
    committed = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True), text.splitlines(keepends=True), "committed", "loaded"
        )
    )
    assert text == committed, (
        f"the definitions changed; if on purpose, rerun with OMV_UPDATE_SNAPSHOTS=1 and commit:\n{diff}"
    )

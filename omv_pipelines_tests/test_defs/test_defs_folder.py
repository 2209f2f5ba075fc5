"""The code location reads the defs/ folder as `dg` does, so nothing declared there is silently ignored."""

from pathlib import Path

import dagster as dg

import omv_pipelines
from omv_pipelines.definitions import defs_folder, resources


def _graph(definitions: dg.Definitions) -> dict[str, list[str]]:
    definitions = dg.Definitions.merge(definitions, resources())
    return {
        "assets": sorted(
            key.to_user_string() for key in definitions.resolve_asset_graph().get_all_asset_keys()
        ),
        "checks": sorted(str(key) for key in definitions.resolve_asset_graph().asset_check_keys),
        "jobs": sorted(job.name for job in definitions.jobs or []),
        "schedules": sorted(schedule.name for schedule in definitions.schedules or []),
        "sensors": sorted(sensor.name for sensor in definitions.sensors or []),
    }


def test_our_loader_sees_what_dg_load_from_defs_folder_sees():
    ours = _graph(defs_folder())
    theirs = _graph(dg.load_from_defs_folder(path_within_project=Path(omv_pipelines.__file__).parent))
    assert ours == theirs
    assert len(ours["assets"]) == 36 and "nightly_commune_sync" in ours["schedules"]


def test_a_module_added_to_the_defs_folder_is_picked_up():
    added = Path(omv_pipelines.defs.__file__).parent / "zz_scaffolded_for_test.py"
    added.write_text(
        "import dagster as dg\n\n\n"
        "@dg.asset(group_name='scaffolded')\ndef scaffolded_asset():\n    return 1\n"
    )
    try:
        assert "scaffolded_asset" in _graph(defs_folder())["assets"]
    finally:
        added.unlink()

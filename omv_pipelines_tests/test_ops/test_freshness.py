"""Published datasets declare a freshness policy; each commune's own limit is checked per partition."""

import time
from datetime import timedelta

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.freshness import CHECK_NAME, commune_freshness_sensor, late_communes
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.local import run_commune
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.schemas import DATASETS
from omv_pipelines_tests.test_ops.helpers import add_commune, demo_catalog, edit_commune

DEFIBRILLATORS = "resilience/defibrillateurs"


def test_every_published_dataset_is_late_after_36_hours_by_default():
    from omv_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    for dataset_key in DATASETS:
        for key in (DatasetKeys.of(dataset_key).odwb, DatasetKeys.of(dataset_key).regional):
            policy = graph.get(key).freshness_policy
            assert isinstance(policy, dg.FreshnessPolicy)
            assert policy.fail_window.to_timedelta() == timedelta(hours=36)
        checks = {
            c.name for c in graph.asset_check_keys if c.asset_key == DatasetKeys.of(dataset_key).regional
        }
        assert CHECK_NAME in checks


@pytest.mark.integration
def test_late_communes_are_flagged_by_their_own_limit(pipeline_factory):
    pipeline = pipeline_factory(catalog_dir=demo_catalog(pipeline_factory.base / "catalog", ["92094"]))
    catalog_dir = pipeline.catalog_dir
    namur = run_commune(pipeline.defs, pipeline.instance, load_catalog(catalog_dir).get("92094").config)
    assert namur.success
    checked = {
        e.event_specific_data.check_name
        for e in namur.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checked and CHECK_NAME not in checked  # a commune's run does not judge the other communes
    add_commune(catalog_dir, "62063")  # joined, not yet harvested
    now = time.time()

    assert late_communes(pipeline.instance, load_catalog(catalog_dir), DEFIBRILLATORS, now) == {
        "62063": "Liège (62063): never published"
    }
    later = late_communes(pipeline.instance, load_catalog(catalog_dir), DEFIBRILLATORS, now + 37 * 3600)
    assert later["92094"] == "Namur (92094): last published 37 h ago (limit 36 h)"

    edit_commune(catalog_dir, "92094", freshness_hours=48)
    edit_commune(catalog_dir, "62063", active=False)
    assert late_communes(pipeline.instance, load_catalog(catalog_dir), DEFIBRILLATORS, now + 37 * 3600) == {}
    assert (
        late_communes(pipeline.instance, load_catalog(catalog_dir), "mobility/travaux_voiries", now) == {}
    )  # nobody provides it

    context = dg.build_sensor_context(
        instance=pipeline.instance, resources={"catalog": CatalogResource(folder=str(catalog_dir))}
    )
    result = commune_freshness_sensor(context)
    evaluations = {e.asset_key: e for e in result.asset_events}
    assert set(evaluations) == {DatasetKeys.of(d).regional for d in DATASETS}
    assert all(e.passed and e.check_name == CHECK_NAME for e in evaluations.values())

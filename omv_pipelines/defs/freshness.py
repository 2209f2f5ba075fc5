"""Per-commune freshness: which communes' publications are older than their `freshness_hours`.

Dagster's freshness policy (assets.py) is judged on an asset's last materialisation of *any* partition,
so one fresh commune would hide 261 late ones. This check looks at each commune's `odwb/*` partition
against the commune's own limit. It is declared on the `regional/*` asset of the dataset (the regional
dataset is as fresh as its communes): it runs with every regional rebuild, after the night's commune
runs, and `commune_freshness_sensor` records it hourly without launching a run. (On `odwb/*` it would be
pulled into every commune's run, which should not judge the other communes.)
"""

import time

import dagster as dg

from omv_pipelines.catalog.loader import Catalog
from omv_pipelines.defs.keys import DatasetKeys
from omv_pipelines.defs.partitions import commune_key
from omv_pipelines.defs.resources import CatalogResource
from omv_pipelines.schemas import DATASETS

CHECK_NAME = "commune_freshness"


def late_communes(
    instance: dg.DagsterInstance, catalog: Catalog, dataset_key: str, now: float
) -> dict[str, str]:
    """INS code → why it is late, among the active communes that provide the dataset."""
    key = DatasetKeys.of(dataset_key).odwb
    expected = {code: e.config for code, e in catalog.active.items() if dataset_key in e.config.datasets}
    if not expected:
        return {}
    partitions = {code: commune_key(code) for code in expected}
    latest = instance.get_latest_storage_id_by_partition(
        key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(partitions.values())
    )
    published: dict[str, float] = {}
    if latest:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
        ).records
        published = {r.partition_key: r.timestamp for r in records if r.partition_key}
    late = {}
    for code, config in sorted(expected.items()):
        name = f"{config.commune.name} ({code})"
        when = published.get(partitions[code])
        if when is None:
            late[code] = f"{name}: never published"
        elif (age_h := (now - when) / 3600) > config.freshness_hours:
            late[code] = f"{name}: last published {age_h:.0f} h ago (limit {config.freshness_hours:g} h)"
    return late


def late_markdown(late: dict[str, str]) -> str:
    """One line per late commune, readable in the UI without opening a JSON pop-up."""
    if not late:
        return "Every active commune providing this dataset is fresh."
    return f"**{len(late)} late:**\n\n" + "\n".join(f"- {why}" for _, why in sorted(late.items()))


def evaluation(
    instance: dg.DagsterInstance, catalog: Catalog, dataset_key: str, now: float
) -> dg.AssetCheckEvaluation:
    late = late_communes(instance, catalog, dataset_key, now)
    return dg.AssetCheckEvaluation(
        asset_key=DatasetKeys.of(dataset_key).regional,
        check_name=CHECK_NAME,
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(late)} late: "
            + "; ".join(why for _, why in sorted(late.items())[:5])
            + (f" and {len(late) - 5} more" if len(late) > 5 else "")
            if late
            else "every active commune providing this dataset published it within its freshness_hours"
        ),
        metadata={"late_communes": len(late), "late": dg.MetadataValue.md(late_markdown(late))},
    )


def build_freshness_check(dataset_key: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=DatasetKeys.of(dataset_key).regional,
        name=CHECK_NAME,
        description="Every active commune providing this dataset published it "
        "within its freshness_hours (default 36).",
    )
    def commune_freshness(
        context: dg.AssetCheckExecutionContext, catalog: CatalogResource
    ) -> dg.AssetCheckResult:
        result = evaluation(context.instance, catalog.load(), dataset_key, time.time())
        return dg.AssetCheckResult(
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )

    return commune_freshness


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [build_freshness_check(dataset_key) for dataset_key in DATASETS]


freshness_check_defs = freshness_checks()  # module level: the defs folder loader collects them


@dg.sensor(
    name="commune_freshness_sensor",
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Hourly: records the commune_freshness check of every published dataset (no run needed).",
)
def commune_freshness_sensor(context: dg.SensorEvaluationContext, catalog: CatalogResource):
    loaded, now = catalog.load(), time.time()
    return dg.SensorResult(
        asset_events=[evaluation(context.instance, loaded, dataset_key, now) for dataset_key in DATASETS]
    )

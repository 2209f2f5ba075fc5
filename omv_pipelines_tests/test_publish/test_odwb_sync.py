"""publish_table end to end against the loopback Opendatasoft emulator."""

from __future__ import annotations

import csv
import hashlib
import io

import pytest

from omv_pipelines.publish.odwb import OdwbClient, OdwbError
from omv_pipelines.publish.odwb_sync import (
    DatasetNotOwned,
    ProcessingFailed,
    PublishTimeout,
    ReadBackMismatch,
    publish_table,
)
from omv_pipelines_tests.odwb_emulator import OdsEmulator
from omv_pipelines_tests.test_publish import record_retry_waits

DATASET = "stationnements-velos-92094"
FIELDS = [
    {"name": "id", "type": "string", "title": "Identifiant", "description": "<ins_code>-<numéro local>"},
    {"name": "name", "type": "string", "title": "Nom"},
    {"name": "ins_code", "type": "string"},
    {"name": "capacity", "type": "integer", "description": "Nombre de places"},
    {"name": "coordinates", "type": "geojson", "title": "Coordonnées"},
]
METADATA = {
    "title": "Stationnements vélos — Namur",
    "description": "Emplacements de stationnement pour vélos.",
    "keyword": ["mobilité", "vélo"],
    "publisher": "Ville de Namur",
    "language": "fr",
    "timezone": "Europe/Brussels",
}


def table(rows: int, capacity: int = 4) -> dict:
    """The keyword arguments of publish_table for a small bike-parking table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f["name"] for f in FIELDS])
    for n in range(rows):
        point = f'{{"type": "Point", "coordinates": [{4.86 + n / 1000:.4f}, 50.46]}}'
        writer.writerow([f"92094-{n + 1}", f"Arceau {n + 1}", "92094", capacity + n, point])
    data = out.getvalue().encode()
    return {
        "dataset_id": DATASET,
        "csv_bytes": data,
        "content_hash": hashlib.sha256(data).hexdigest(),
        "row_count": rows,
        "metadata": dict(METADATA),
        "fields": FIELDS,
        "poll_interval_s": 0.01,
        "max_wait_s": 10,
    }


@pytest.fixture
def ods():
    with OdsEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(ods, monkeypatch):
    record_retry_waits(monkeypatch)  # retries without waiting
    with OdwbClient(ods.url, ods.api_key, timeout_s=5, retries=2, backoff_s=0.01) as c:
        yield c


def data_requests(ods) -> tuple[int, int, int]:
    """(uploads, resource writes, publications) so far."""
    return (
        ods.count("POST", r"/resources/files/$"),
        ods.count("POST", r"/resources/$") + ods.count("PUT", r"/resources/re_[^/]+/$"),
        ods.count("POST", r"/publish/$"),
    )


def test_first_publication_creates_configures_publishes_and_reads_back(ods, client):
    result = publish_table(client, **table(3))
    assert result.status == "published" and result.record_count == 3
    assert result.url == f"{ods.url}/explore/dataset/{DATASET}/"
    assert result.steps == (
        "create",
        "upload",
        "resource",
        "fields",
        "publish",
        "processing",
        "verify",
        "mark",
    )
    dataset = ods.dataset(DATASET)
    assert result.uid == dataset.uid and dataset.is_published and not dataset.is_restricted
    assert len(dataset.resources) == 1
    assert {k: v["value"] for k, v in dataset.metadata["default"].items()} == METADATA
    records = client.export_json(DATASET)
    assert records[0] == {
        "id": "92094-1",
        "name": "Arceau 1",
        "ins_code": "92094",
        "capacity": 4,
        "coordinates": {"type": "Point", "coordinates": [4.86, 50.46]},
    }
    fields = {f["name"]: f for f in client.explore_dataset(DATASET)["fields"]}
    assert [name for name in fields] == [f["name"] for f in FIELDS]
    assert fields["coordinates"]["type"] == "geo_shape" and fields["capacity"]["type"] == "int"
    assert fields["id"]["annotations"] == {"id": True} and fields["id"]["label"] == "Identifiant"
    assert fields["capacity"]["description"] == "Nombre de places"


def test_identical_second_run_is_unchanged_without_upload_or_publish(ods, client):
    publish_table(client, **table(3))
    before = data_requests(ods)
    progress: list[tuple[str, str]] = []
    result = publish_table(
        client, **table(3), on_progress=lambda step, detail: progress.append((step, detail))
    )
    assert result.status == "unchanged" and result.record_count == 3 and result.steps == ("find", "unchanged")
    assert data_requests(ods) == before
    assert ods.count("PUT", r"/metadata/") == 0 and ods.count("POST", r"/fields/$") == len(
        ods.dataset(DATASET).field_configs
    )
    assert progress[-1][0] == "unchanged" and table(3)["content_hash"] in progress[-1][1]


def test_metadata_change_alone_updates_fields_one_by_one_and_publishes_metadata(ods, client):
    publish_table(client, **table(2))
    changed = table(2)
    changed["metadata"]["title"] = "Arceaux vélos — Namur"
    result = publish_table(client, **changed)
    assert result.status == "unchanged" and result.steps == (
        "find",
        "metadata",
        "publish_metadata",
        "mark",
        "unchanged",
    )
    assert ods.count("PUT", r"/metadata/default/title/$") == 1 and ods.count("PUT", r"/metadata/") == 1
    assert ods.count("POST", r"/publish_metadata/$") == 1 and ods.count("POST", r"/resources/files/$") == 1
    assert ods.dataset(DATASET).metadata["default"]["keyword"] == {"value": ["mobilité", "vélo"]}  # untouched


def test_changed_content_is_republished_through_the_same_resource(ods, client):
    first = publish_table(client, **table(3))
    resource_uid = next(iter(ods.dataset(DATASET).resources))
    second = publish_table(client, **table(5, capacity=10))
    assert second.status == "published" and second.record_count == 5 and second.uid == first.uid
    assert list(ods.dataset(DATASET).resources) == [resource_uid]
    assert [r["capacity"] for r in client.export_json(DATASET)] == [10, 11, 12, 13, 14]
    assert "fields" not in second.steps  # field configurations already right


def test_field_configuration_follows_the_schema_and_spares_foreign_configs(ods, client):
    publish_table(client, **table(2))
    uid = ods.dataset(DATASET).uid
    client.create_field_config(
        uid, {"type": "annotate", "label": "manual: sortable name", "field": "name", "annotation": "sortable"}
    )
    changed = table(3)
    changed["fields"] = [dict(f, description=None) if f["name"] == "capacity" else f for f in FIELDS]
    publish_table(client, **changed)
    labels = [c["label"] for c in ods.dataset(DATASET).field_configs]
    assert "manual: sortable name" in labels and "omv: description of capacity" not in labels
    assert "omv: description of id" in labels


class Crash(Exception):
    pass


@pytest.mark.parametrize(
    "crash_after", ["create", "fields", "upload", "resource", "publish", "processing", "verify"]
)
def test_rerun_after_a_crash_at_any_step_converges(ods, client, crash_after):
    def crash(step: str, detail: str) -> None:
        if step == crash_after:
            raise Crash(step)

    with pytest.raises(Crash):
        publish_table(client, **table(4), on_progress=crash)
    ods.wait_idle()
    result = publish_table(client, **table(4))
    assert result.status == "published" and result.record_count == 4
    dataset = ods.dataset(DATASET)  # asserts there is exactly one
    assert len(dataset.resources) == 1 and len(client.export_json(DATASET)) == 4
    assert publish_table(client, **table(4)).status == "unchanged"


def test_rerun_after_a_failure_following_the_upload_converges(ods, client):
    ods.inject(r"/resources/$", 500, times=3, method="POST")  # every attempt of this run fails
    with pytest.raises(OdwbError) as info:
        publish_table(client, **table(2))
    assert info.value.status == 500
    assert ods.count("POST", r"/resources/files/$") == 1 and not ods.dataset(DATASET).resources
    result = publish_table(client, **table(2))
    assert result.status == "published" and len(ods.dataset(DATASET).resources) == 1


def test_duplicate_resources_of_ours_are_removed(ods, client):
    publish_table(client, **table(2))
    uid = ods.dataset(DATASET).uid
    file_uid = client.upload_file(uid, "dup.csv", table(2)["csv_bytes"])["uid"]
    client.create_resource(uid, OdwbClient.csvfile_resource(f"{DATASET}.csv [staged other]", file_uid))
    result = publish_table(client, **table(3))
    assert result.record_count == 3 and len(ods.dataset(DATASET).resources) == 1


@pytest.mark.parametrize("final_status", ["error", "limit_reached"])
def test_processing_failure_reports_records_errors(ods, client, final_status):
    errors = [
        {"record_id": "2", "field_uid": "capacity", "processor_uid": "pr_1", "message": "invalid integer 'x'"}
    ]
    ods.fail_processing("Processing failed on 1 record", errors, status=final_status)
    with pytest.raises(ProcessingFailed) as info:
        publish_table(client, **table(2))
    assert info.value.status == final_status and info.value.records_errors == errors
    assert "invalid integer 'x'" in str(info.value) and DATASET in str(info.value)
    assert publish_table(client, **table(2)).status == "published"  # the next run retries the publication


def test_busy_dataset_is_waited_for(ods, client):
    publish_table(client, **table(2))
    client.publish(ods.dataset(DATASET).uid)  # someone else's processing is running when the sync starts
    ods.inject(r"/publish/$", 400, times=2)  # then the portal still says invalid_dataset_status twice
    result = publish_table(client, **table(3))
    assert result.status == "published" and result.record_count == 3
    assert ods.count("POST", r"/publish/$", status=400) == 2


def test_timeout_says_the_next_run_resumes_and_it_does(client):
    with OdsEmulator(processing_delay_s=0.6) as slow, OdwbClient(slow.url, slow.api_key) as c:
        with pytest.raises(PublishTimeout) as info:
            publish_table(c, **dict(table(2), max_wait_s=0.1))
        assert "next run resumes" in str(info.value) and info.value.retryable
        result = publish_table(c, **table(2))
        assert (
            result.status == "published"
            and "upload" in result.steps
            and slow.count("POST", r"/resources/files/$") == 1
        )


@pytest.mark.parametrize("published", [True, False])
def test_a_dataset_id_owned_by_another_publisher_is_refused(ods, client, published):
    ods.add_dataset(DATASET, owner="another-publisher", records=[{"id": "1"}], published=published)
    with pytest.raises(DatasetNotOwned) as info:
        publish_table(client, **table(2))
    assert "cannot edit it" in str(info.value) and "nothing was changed" in str(info.value)
    assert not info.value.retryable and info.value.context == {"dataset_id": DATASET}  # needs a person
    other = ods.dataset(DATASET)
    assert other.owner == "another-publisher" and other.records == [{"id": "1"}] and not other.resources
    assert ods.count("POST", r"/resources/files/$") == 0


def test_read_back_mismatch_is_an_error(client):
    with pytest.raises(ReadBackMismatch) as info:
        publish_table(client, **dict(table(3), row_count=4))
    assert "3 records but the table has 4 rows" in str(info.value)


def test_unknown_record_id_field_is_refused_before_any_request(ods, client):
    with pytest.raises(ValueError, match="record_id_field 'uuid'"):
        publish_table(client, **table(1), record_id_field="uuid")
    assert ods.exchanges == []


def test_content_hash_must_be_one_token(ods, client):
    with pytest.raises(ValueError, match="content_hash"):
        publish_table(client, **dict(table(1), content_hash="abc] def"))
    assert ods.exchanges == []

"""Publish one CSV table as one ODWB dataset, so that re-running after any crash converges.

Flow: find the dataset by `dataset_id` (or create it, public) → wait while it is busy → set the metadata
field by field (only fields that differ) → configure fields (types, labels, descriptions, record id) →
upload the CSV → point the single csvfile resource at it → publish → poll until idle (bounded) → read back
through Explore and check the record count.

Where the content hash lives: in the title of our csvfile resource, as `[staged <hash>]` when the resource is
pointed at a new file and `[published <hash>]` once that file was published and read back. Why there:
- the `default` template has no private free-text field (its fields are public and meaningful: `references` is
  a URL), `internal` only holds licence, themes and draft, and a custom template must first be created by a
  domain administrator, which ODWB publishers cannot count on;
- the resource is ours (one per dataset, created by this module), is not shown on the public portal, and its
  title is free text; writing the staged hash in the same PUT that swaps the datasource keeps hash and data
  consistent, and writing `published` only after the read-back means a crash at any step leaves either no
  match (full run) or a staged match (skip the upload, publish again) — never a false "unchanged".
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from omv_pipelines.errors import OmvError
from omv_pipelines.publish.odwb import (
    OdwbBusy,
    OdwbClient,
    OdwbNotFound,
    OdwbValidationError,
)

BUSY_STATES = ("queued", "processing", "aborting_processing", "deleting", "saving_version")
CONFIG_LABEL_PREFIX = "omv: "  # marks the field configurations this module owns
_MARKER = re.compile(r" \[(staged|published) ([^\]]+)\]$")

# Table Schema type → Opendatasoft field type. Booleans, times and durations stay text (no such ODS type).
# Note: ODS reads a geo_point_2d cell as "lat,lon" text, whereas a Table Schema geopoint is "lon, lat".
ODS_TYPES = {
    "string": "text",
    "integer": "int",
    "number": "double",
    "year": "int",
    "date": "date",
    "datetime": "datetime",
    "geojson": "geo_shape",
    "geopoint": "geo_point_2d",
}


@dataclass(frozen=True)
class PublishResult:
    dataset_id: str
    uid: str
    url: str
    content_hash: str
    status: str  # "published" | "unchanged"
    record_count: int
    steps: tuple[str, ...]
    records_errors: tuple[dict, ...] = ()  # values ODS could not convert (published as empty), if any


class PublishError(OmvError):
    """Publishing a dataset failed; the message names the dataset and says what to do.

    Retryable by default (the sync converges when run again); subclasses that a retry cannot fix say so.
    """

    retryable = True

    def __init__(self, dataset_id: str, message: str, hint: str = "", *, retryable: bool | None = None):
        self.dataset_id = dataset_id
        message = f"ODWB dataset {dataset_id!r}: {message}"
        super().__init__(message, hint or None, retryable=retryable, dataset_id=dataset_id)


class DatasetNotOwned(PublishError):
    """The dataset_id exists on the portal but this key cannot edit it: reported, never overwritten."""

    retryable = False


class ProcessingFailed(PublishError):
    """ODWB ended the processing in `error` or `limit_reached` (retryable: a portal-side failure may pass)."""

    def __init__(self, dataset_id: str, status: dict):
        self.status = status.get("status")
        self.records_errors = list(status.get("records_errors") or [])
        shown = "; ".join(
            f"record {e.get('record_id')} field {e.get('field_uid')}: {e.get('message')}"
            for e in self.records_errors[:5]
        )
        more = f" (+{len(self.records_errors) - 5} more)" if len(self.records_errors) > 5 else ""
        detail = f"; records errors: {shown}{more}" if shown else ""
        params = f"; {status.get('params')}" if status.get("params") else ""
        super().__init__(
            dataset_id,
            f"processing ended in {self.status!r}: {status.get('message') or 'no message'}{detail}{params}",
            "fix the data (or the portal limit) and run again",
        )


class PublishTimeout(PublishError):
    """The dataset stayed busy longer than the allowed wait; the next run resumes."""


class ReadBackMismatch(PublishError):
    """Explore returned a different number of records from the table's rows."""


def publish_table(
    client: OdwbClient,
    *,
    dataset_id: str,
    csv_bytes: bytes,
    content_hash: str,
    row_count: int,
    metadata: dict[str, object],
    fields: list[dict],
    record_id_field: str | None = "id",
    poll_interval_s: float = 2.0,
    max_wait_s: float = 600,
    on_progress: Callable[[str, str], None] | None = None,
) -> PublishResult:
    """Make dataset `dataset_id` publish exactly this CSV (UTF-8, `,`) with this metadata and field schema.

    `metadata` keys are fields of the `default` template (title, description, keyword, publisher, language,
    timezone, references, …) or `template.field` for another template; None values are left alone.
    `fields` are Table Schema fields (name, type, title, description). Returns "unchanged" without uploading
    or publishing when the published content already has `content_hash`.
    """
    if record_id_field is not None and record_id_field not in {f["name"] for f in fields}:
        raise ValueError(f"record_id_field {record_id_field!r} is not one of the table's fields")
    if not re.fullmatch(r"[\w:.+=/-]+", content_hash):
        raise ValueError(f"content_hash {content_hash!r} must be a single token (e.g. a hex digest)")
    run = _Run(client, dataset_id, poll_interval_s, max_wait_s, on_progress)
    dataset = run.find_or_create(metadata)
    uid = dataset["uid"]
    status = run.settle(uid)
    resources = [r for r in client.list_resources(uid) if r.get("type") == "csvfile"]
    ours = next(
        (r for r in resources if _MARKER.search(r.get("title") or "")), resources[0] if resources else None
    )
    stage, staged_hash = _marker(ours)
    changed = run.sync_metadata(uid, metadata)
    is_published = status.get("is_published")
    if is_published is None:  # the status schema allows null: fall back on the dataset's own flag
        is_published = dataset.get("is_published")

    if (stage, staged_hash) == ("published", content_hash) and status["status"] == "idle" and is_published:
        if changed:
            run.when_idle(client.publish_metadata, uid)
            run.step("publish_metadata", ", ".join(changed))
        count = client.count_records(dataset_id)
        run.step("unchanged", f"content {content_hash} already published ({count} records)")
        return run.result(uid, content_hash, "unchanged", count, status)

    run.sync_fields(uid, fields, record_id_field)
    title = f"{dataset_id}.csv"
    if staged_hash == content_hash and ours is not None:
        file_uid = ours["datasource"]["file"]["uid"]
        run.step("upload", f"skipped: {content_hash} already uploaded as {file_uid}")
    else:
        file_uid = client.upload_file(uid, f"{dataset_id}.csv", csv_bytes)["uid"]
        run.step("upload", f"{len(csv_bytes)} bytes as file {file_uid}")
        body = client.csvfile_resource(f"{title} [staged {content_hash}]", file_uid)
        if ours is None:
            ours = run.when_idle(client.create_resource, uid, body)
            run.step("resource", f"created {ours['uid']}")
        else:
            ours = run.when_idle(client.update_resource, uid, ours["uid"], body)
            run.step("resource", f"replaced the datasource of {ours['uid']}")
    for extra in resources:  # duplicates left by a retried creation: never keep a second resource of ours
        if extra["uid"] != ours["uid"] and _MARKER.search(extra.get("title") or ""):
            run.when_idle(client.delete_resource, uid, extra["uid"])
            run.step("resource", f"deleted duplicate {extra['uid']}")

    run.when_idle(client.publish, uid)
    run.step("publish", "requested")
    status = run.settle(uid)
    if status["status"] != "idle":
        raise ProcessingFailed(dataset_id, status)
    run.step("processing", "idle")

    count = len(client.export_json(dataset_id))
    if count != row_count:
        raise ReadBackMismatch(
            dataset_id,
            f"Explore returns {count} records but the table has {row_count} rows",
            "check the dataset's resources and processors on the portal; the next run publishes again",
        )
    run.step("verify", f"{count} records")
    run.when_idle(
        client.update_resource,
        uid,
        ours["uid"],
        client.csvfile_resource(f"{title} [published {content_hash}]", file_uid),
    )
    run.step("mark", f"published {content_hash}")
    return run.result(uid, content_hash, "published", count, status)


def published_state(client: OdwbClient, dataset_id: str) -> tuple[int, str | None] | None:
    """What is online: (Explore's record count, the content hash our resource marks as published, if this
    key can see it), or None when the dataset is not publicly visible."""
    try:
        count = client.count_records(dataset_id)
    except OdwbNotFound:
        return None
    found = client.find_dataset(dataset_id)
    markers = [_marker(r) for r in client.list_resources(found["uid"])] if found else []
    return count, next((h for stage, h in markers if stage == "published"), None)


def ods_field_name(name: str) -> str:
    """The technical name ODS gives a CSV column: accents dropped, lower case, `_` for anything else."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9_]+", "_", ascii_name.strip().lower()).strip("_")


def desired_field_configs(fields: list[dict], record_id_field: str | None) -> list[dict]:
    """The field configurations (processors) giving the published fields their types, labels, descriptions."""
    configs = []
    for spec in fields:
        name = ods_field_name(spec["name"])
        configs.append(
            {
                "type": "type",
                "label": f"{CONFIG_LABEL_PREFIX}type of {name}",
                "field": name,
                "type_param": ODS_TYPES.get(spec.get("type", "string"), "text"),
            }
        )
        if spec.get("title"):
            configs.append(
                {
                    "type": "rename",
                    "label": f"{CONFIG_LABEL_PREFIX}label of {name}",
                    "from_name": name,
                    "to_name": name,
                    "field_label": spec["title"],
                }
            )
        if spec.get("description"):
            configs.append(
                {
                    "type": "description",
                    "label": f"{CONFIG_LABEL_PREFIX}description of {name}",
                    "field": name,
                    "description": spec["description"],
                }
            )
        if record_id_field is not None and spec["name"] == record_id_field:
            configs.append(
                {
                    "type": "annotate",
                    "label": f"{CONFIG_LABEL_PREFIX}record id {name}",
                    "field": name,
                    "annotation": "id",
                }
            )
    return configs


def _marker(resource: dict | None) -> tuple[str | None, str | None]:
    match = _MARKER.search((resource or {}).get("title") or "")
    return (match.group(1), match.group(2)) if match else (None, None)


def _split_metadata(metadata: dict[str, object]) -> dict[str, dict[str, object]]:
    """{"title": …, "internal.license_id": …} → {"default": {"title": …}, "internal": {"license_id": …}}."""
    by_template: dict[str, dict[str, object]] = {"default": {}}
    for key, value in metadata.items():
        if value is None:
            continue
        template, _, name = key.rpartition(".")
        by_template.setdefault(template or "default", {})[name] = value
    return by_template


class _Run:
    """One publication: the step log, the deadline, and the waits that respect it."""

    def __init__(
        self, client: OdwbClient, dataset_id: str, poll_interval_s: float, max_wait_s: float, on_progress
    ):
        self.client = client
        self.dataset_id = dataset_id
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self.deadline = time.monotonic() + max_wait_s
        self.on_progress = on_progress
        self.steps: list[str] = []

    def step(self, name: str, detail: str) -> None:
        self.steps.append(name)
        if self.on_progress is not None:
            self.on_progress(name, detail)

    def result(self, uid: str, content_hash: str, outcome: str, count: int, status: dict) -> PublishResult:
        return PublishResult(
            dataset_id=self.dataset_id,
            uid=uid,
            url=self.client.dataset_page_url(self.dataset_id),
            content_hash=content_hash,
            status=outcome,
            record_count=count,
            steps=tuple(self.steps),
            records_errors=tuple(status.get("records_errors") or ()),
        )

    def _wait_or_give_up(self, state: str) -> None:
        if time.monotonic() + self.poll_interval_s > self.deadline:
            raise PublishTimeout(
                self.dataset_id,
                f"still {state!r} after waiting {self.max_wait_s:g} s",
                "nothing is lost: the next run resumes (it waits for this processing, "
                "then publishes what is missing)",
            )
        time.sleep(self.poll_interval_s)

    def settle(self, uid: str) -> dict:
        """Poll the status until the dataset is no longer busy; return that status."""
        while True:
            status = self.client.status(uid)
            if status["status"] not in BUSY_STATES:
                return status
            self._wait_or_give_up(status["status"])

    def when_idle(self, call: Callable, *args: object):
        """Run an action, waiting and retrying while ODWB answers invalid_dataset_status (busy)."""
        while True:
            try:
                return call(*args)
            except OdwbBusy:
                self._wait_or_give_up("busy")

    def find_or_create(self, metadata: dict[str, object]) -> dict:
        client, dataset_id = self.client, self.dataset_id
        found = client.find_dataset(dataset_id)
        if found is not None:
            self.step("find", f"found {found['uid']}")
            return found
        not_owned = DatasetNotOwned(
            dataset_id,
            "this dataset_id already exists on the portal but the API key cannot edit it "
            "(another publisher's dataset)",
            "choose another dataset_id, or ask its owner to grant edit rights to the key's user; "
            "nothing was changed",
        )
        if client.explore_dataset(dataset_id) is not None:
            raise not_owned
        try:
            created = client.create_dataset(dataset_id, _split_metadata(metadata), is_restricted=False)
        except OdwbValidationError as exc:
            if not isinstance(exc.detail, dict) or "dataset_id" not in exc.detail:
                raise
            again = client.find_dataset(dataset_id)  # a retried creation that had in fact succeeded
            if again is None:
                raise not_owned from None
            created = again
        self.step("create", f"created {created['uid']}")
        return created

    def sync_metadata(self, uid: str, metadata: dict[str, object]) -> list[str]:
        """Set each metadata field whose value differs, one PUT per field; return those set."""
        current = self.client.get_metadata(uid)
        changed = []
        for template, values in _split_metadata(metadata).items():
            for name, value in values.items():
                if (current.get(template) or {}).get(name, {}).get("value") != value:
                    self.when_idle(self.client.set_metadata_field, uid, template, name, value)
                    changed.append(f"{template}.{name}")
        if changed:
            self.step("metadata", ", ".join(changed))
        return changed

    def sync_fields(self, uid: str, fields: list[dict], record_id_field: str | None) -> None:
        """Make our field configurations (labelled `omv: …`) exactly the desired ones; leave others alone."""
        client = self.client
        existing = {
            c["label"]: c
            for c in client.list_field_configs(uid)
            if c.get("label", "").startswith(CONFIG_LABEL_PREFIX)
        }
        desired = desired_field_configs(fields, record_id_field)
        done = 0
        for config in desired:
            old = existing.pop(config["label"], None)
            if old is None:
                self.when_idle(client.create_field_config, uid, config)
                done += 1
            elif any(old.get(k) != v for k, v in config.items()):
                self.when_idle(client.update_field_config, uid, old["uid"], config)
                done += 1
        for stale in existing.values():
            self.when_idle(client.delete_field_config, uid, stale["uid"])
            done += 1
        if done:
            self.step("fields", f"{done} field configuration(s) changed")

"""Publish one CSV table as one ODWB dataset, so that re-running after any crash converges.

Flow: find the dataset by `dataset_id` (or create it, public) → wait while it is busy → set the metadata
field by field (only fields that differ) → configure fields (types, labels, descriptions, record id) →
upload the CSV → point the single csvfile resource at it → publish → poll until idle (bounded) → read back
through Explore and check the record count.

Where the publication's fingerprint lives: in the title of our csvfile resource, as
`[staged <data hash> m=<metadata> f=<fields>]` when the resource is pointed at a new file and
`[published …]` once that file was published and read back. The fingerprint covers everything we set: the
CSV (the caller's content hash), the metadata values and the field configurations, so "unchanged" means
all three are; its parts say what a run must do (data: upload; fields: process again; metadata: set the
fields and publish the metadata, no processing). Why the resource title:
- the `default` template has no private free-text field (its fields are public and meaningful: `references` is
  a URL), `internal` only holds licence, themes and draft, and a custom template must first be created by a
  domain administrator, which ODWB publishers cannot count on;
- the resource is ours (one per dataset, created by this module), is not shown on the public portal, and its
  title is free text; writing the staged hash in the same PUT that swaps the datasource keeps hash and data
  consistent, and writing `published` only after the read-back means a crash at any step leaves either no
  match (full run) or a staged match (skip the upload, publish again) — never a false "unchanged".
A marker written before fingerprints (`[published <hash>]`) reads as data-only: one more processing.

Requests: field configurations are diffed against the portal's (one paged list) and, for the fields we have
none of ours for, against what the extractor already yields (one resource preview), so only differences are
sent; the read-back checks the published schema and configures explicitly any field whose default did not
hold. `POST …/publish/` and creations are never resent blindly: after a lost answer the sync reads the
status (or the list) and waits for the processing already started.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from omv_pipelines.errors import OmvError
from omv_pipelines.publish.odwb import (
    OdwbBusy,
    OdwbClient,
    OdwbError,
    OdwbNotFound,
    OdwbValidationError,
)

BUSY_STATES = ("queued", "processing", "aborting_processing", "deleting", "saving_version")
CONFIG_LABEL_PREFIX = "omv: "  # marks the field configurations this module owns
_MARKER = re.compile(r" \[(staged|published) ([^\]\s]+)(?: m=(\w+) f=(\w+))?\]$")

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
class Fingerprint:
    """What a publication set: the data (caller's content hash), the metadata and the field configurations."""

    data: str | None
    metadata: str | None = None
    fields: str | None = None

    def __str__(self) -> str:
        return f"{self.data} m={self.metadata} f={self.fields}"

    def marker(self, stage: str) -> str:
        return f" [{stage} {self}]"


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
    `fields` are Table Schema fields (name, type, title, description). `content_hash` is the caller's hash
    of `csv_bytes`. Returns "unchanged" without uploading or processing when the publication's fingerprint
    (data, metadata, field configuration) is the one last published; a metadata-only change is published
    without processing.
    """
    if record_id_field is not None and record_id_field not in {f["name"] for f in fields}:
        raise ValueError(f"record_id_field {record_id_field!r} is not one of the table's fields")
    if not re.fullmatch(r"[\w:.+=/-]+", content_hash):
        raise ValueError(f"content_hash {content_hash!r} must be a single token (e.g. a hex digest)")
    desired = desired_field_configs(fields, record_id_field)
    want = Fingerprint(content_hash, _digest(_split_metadata(metadata)), _digest(desired))
    run = _Run(client, dataset_id, poll_interval_s, max_wait_s, on_progress)
    dataset, created = run.find_or_create(metadata)
    uid = dataset["uid"]
    status = run.settle(uid)
    resources = [r for r in client.list_resources(uid) if r.get("type") == "csvfile"]
    ours = next(
        (r for r in resources if _MARKER.search(r.get("title") or "")), resources[0] if resources else None
    )
    stage, have = _marker(ours)
    is_published = status.get("is_published")
    if is_published is None:  # the status schema allows null: fall back on the dataset's own flag
        is_published = dataset.get("is_published")
    online = stage == "published" and status["status"] == "idle" and bool(is_published)

    if online and have == want:
        count = client.count_records(dataset_id)
        run.step("unchanged", f"content {content_hash} already published ({count} records)")
        return run.result(uid, content_hash, "unchanged", count, status)

    changed = [] if created or have.metadata == want.metadata else run.sync_metadata(uid, metadata)
    title = f"{dataset_id}.csv"
    if online and (have.data, have.fields) == (want.data, want.fields):  # only the metadata differ
        assert ours is not None  # online: its "published" marker was read from our resource
        if changed:
            run.when_idle(client.publish_metadata, uid)
            run.step("publish_metadata", ", ".join(changed))
        run.when_idle(client.update_resource, uid, ours["uid"], _resource(title, want, "published", ours))
        run.step("mark", f"published {want}")
        count = client.count_records(dataset_id)
        run.step("unchanged", f"content {content_hash} already published ({count} records)")
        return run.result(uid, content_hash, "unchanged", count, status)

    if have.data == want.data and ours is not None:
        file_uid = ours["datasource"]["file"]["uid"]
        run.step("upload", f"skipped: {content_hash} already uploaded as {file_uid}")
    else:
        file_uid = client.upload_file(uid, f"{dataset_id}.csv", csv_bytes)["uid"]
        run.step("upload", f"{len(csv_bytes)} bytes as file {file_uid}")
        body = client.csvfile_resource(f"{title}{want.marker('staged')}", file_uid)
        if ours is None:
            ours = run.once(
                client.create_resource, uid, body, applied=lambda: _resource_reading(client, uid, file_uid)
            )
            run.step("resource", f"created {ours['uid']}")
        else:
            ours = run.when_idle(client.update_resource, uid, ours["uid"], body)
            run.step("resource", f"replaced the datasource of {ours['uid']}")
    for extra in resources:  # duplicates left by a retried creation: never keep a second resource of ours
        if extra["uid"] != ours["uid"] and _MARKER.search(extra.get("title") or ""):
            run.when_idle(client.delete_resource, uid, extra["uid"])
            run.step("resource", f"deleted duplicate {extra['uid']}")

    run.sync_fields(uid, ours["uid"], desired)
    status = run.publish(uid, status)
    count = len(client.export_json(dataset_id))
    if count != row_count:
        raise ReadBackMismatch(
            dataset_id,
            f"Explore returns {count} records but the table has {row_count} rows",
            "check the dataset's resources and processors on the portal; the next run publishes again",
        )
    wrong = _schema_differences(client.explore_dataset(dataset_id), desired)
    if wrong:  # a default the preview promised did not hold: configure those fields explicitly, once
        run.sync_fields(uid, ours["uid"], desired, force=wrong)
        status = run.publish(uid, status)
        wrong = _schema_differences(client.explore_dataset(dataset_id), desired)
        if wrong:
            raise ReadBackMismatch(
                dataset_id,
                f"the published fields {', '.join(sorted(wrong))} differ from the schema",
                "check the dataset's field configurations on the portal (another processor may override "
                "ours); the next run publishes again",
            )
    run.step("verify", f"{count} records")
    run.when_idle(client.update_resource, uid, ours["uid"], _resource(title, want, "published", ours))
    run.step("mark", f"published {want}")
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
    return count, next((h.data for stage, h in markers if stage == "published"), None)


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


def _marker(resource: dict | None) -> tuple[str | None, Fingerprint]:
    match = _MARKER.search((resource or {}).get("title") or "")
    return (match.group(1), Fingerprint(*match.group(2, 3, 4))) if match else (None, Fingerprint(None))


def _digest(value: object) -> str:
    """A short, stable hash of JSON-able settings (keys sorted), for the fingerprint."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resource(title: str, fingerprint: Fingerprint, stage: str, resource: dict) -> dict:
    """Our csvfile resource, still reading its file, with a new marker."""
    file_uid = resource["datasource"]["file"]["uid"]
    return OdwbClient.csvfile_resource(f"{title}{fingerprint.marker(stage)}", file_uid)


def _resource_reading(client: OdwbClient, uid: str, file_uid: str) -> dict | None:
    """The resource reading this uploaded file, if a creation whose answer was lost did create it."""
    for resource in client.list_resources(uid):
        if ((resource.get("datasource") or {}).get("file") or {}).get("uid") == file_uid:
            return resource
    return None


def _gives(config: dict, extracted: dict | None) -> bool:
    """Whether the extractor's field (from a resource preview) already has what this configuration sets."""
    if extracted is None:
        return False
    kind = config["type"]
    if kind == "type":
        return extracted.get("type") == config["type_param"]
    if kind == "rename":
        return config["from_name"] == config["to_name"] and extracted.get("label") == config["field_label"]
    if kind == "description":
        return (extracted.get("description") or None) == config["description"]
    if kind == "annotate":
        return any(a.get("name") == config["annotation"] for a in extracted.get("annotations") or ())
    return False


def _configured_field(config: dict) -> str:
    return config.get("field") or config.get("from_name") or ""


def _schema_differences(published: dict | None, desired: list[dict]) -> set[str]:
    """Fields whose published type, label, description or id annotation is not what we configure."""
    fields = {f.get("name"): f for f in (published or {}).get("fields") or []}
    wrong = set()
    for config in desired:
        name = _configured_field(config)
        field = fields.get(name)
        if field is None:
            wrong.add(name)
            continue
        kind = config["type"]
        ok = (
            (kind == "type" and field.get("type") == config["type_param"])
            or (kind == "rename" and field.get("label") == config["field_label"])
            or (kind == "description" and field.get("description") == config["description"])
            or (kind == "annotate" and config["annotation"] in (field.get("annotations") or {}))
        )
        if not ok:
            wrong.add(name)
    return wrong


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

    def note(self, name: str, detail: str) -> None:
        """Progress that is not a step of its own (e.g. a lost answer recovered)."""
        if self.on_progress is not None:
            self.on_progress(name, detail)

    def once(self, call: Callable, *args: object, applied: Callable[[], object]):
        """Run an action that must not be applied twice. After a lost answer (or a 5xx) ask `applied()`
        whether the portal did act; send again only if it did not."""
        attempts = self.client.retries + 1
        for attempt in range(attempts):
            try:
                return self.when_idle(call, *args)
            except OdwbError as exc:
                if not exc.outcome_unknown or attempt == attempts - 1:
                    raise
                found = applied()
                if found is not None:
                    self.note("recovered", f"{exc.action}: the answer was lost but the portal had done it")
                    return found
                self.note("retry", f"{exc.action}: not done by the portal, sending it again")
                time.sleep(min(self.client.backoff_s * 2**attempt, 30))
        raise AssertionError("unreachable")

    def publish(self, uid: str, before: dict) -> dict:
        """Publish once and wait for the processing; `before` is the idle status read before publishing.

        A lost answer is not followed by a second publish: the status says whether a processing started
        (busy, or another `since`) and the sync then waits for that one."""

        def started() -> dict | None:
            now = self.client.status(uid)
            moved = (now["status"], now.get("since")) != (before["status"], before.get("since"))
            return now if moved else None

        self.once(self.client.publish, uid, applied=started)
        self.step("publish", "requested")
        status = self.settle(uid)
        if status["status"] != "idle":
            raise ProcessingFailed(self.dataset_id, status)
        self.step("processing", "idle")
        return status

    def when_idle(self, call: Callable, *args: object):
        """Run an action, waiting and retrying while ODWB answers invalid_dataset_status (busy)."""
        while True:
            try:
                return call(*args)
            except OdwbBusy:
                self._wait_or_give_up("busy")

    def find_or_create(self, metadata: dict[str, object]) -> tuple[dict, bool]:
        """(the dataset, whether this run created it with `metadata`)."""
        client, dataset_id = self.client, self.dataset_id
        found = client.find_dataset(dataset_id)
        if found is not None:
            self.step("find", f"found {found['uid']}")
            return found, False
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
            created = self.once(
                client.create_dataset,
                dataset_id,
                _split_metadata(metadata),
                applied=lambda: client.find_dataset(dataset_id),
            )
        except OdwbValidationError as exc:
            if not isinstance(exc.detail, dict) or "dataset_id" not in exc.detail:
                raise
            again = client.find_dataset(dataset_id)  # a retried creation that had in fact succeeded
            if again is None:
                raise not_owned from None
            created = again
        self.step("create", f"created {created['uid']}")
        return created, True

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

    def sync_fields(
        self, uid: str, resource_uid: str, desired: list[dict], force: AbstractSet[str] = frozenset()
    ):
        """Make our field configurations (labelled `omv: …`) the desired ones, sending only differences.

        A desired configuration we have none of is skipped when the extractor already yields its effect
        (one resource preview, read only if needed), unless its field is in `force`. Ours that are no longer
        desired are deleted; others' are left alone."""
        client = self.client
        existing = {
            c["label"]: c
            for c in client.list_field_configs(uid)
            if c.get("label", "").startswith(CONFIG_LABEL_PREFIX)
        }
        extracted: dict[str, dict] | None = None
        if any(c["label"] not in existing for c in desired):
            preview = client.preview_resource(uid, resource_uid)
            extracted = {f.get("name"): f for f in preview.get("fields") or []}
        done = skipped = 0
        for config in desired:
            old = existing.pop(config["label"], None)
            if old is not None:
                if any(old.get(k) != v for k, v in config.items()):
                    self.when_idle(client.update_field_config, uid, old["uid"], config)
                    done += 1
            elif _configured_field(config) not in force and _gives(
                config, (extracted or {}).get(_configured_field(config))
            ):
                skipped += 1
            else:
                self.once(
                    client.create_field_config,
                    uid,
                    config,
                    applied=functools.partial(self._config, uid, config),
                )
                done += 1
        for stale in existing.values():
            self.when_idle(client.delete_field_config, uid, stale["uid"])
            done += 1
        if done:
            self.step("fields", f"{done} field configuration(s) changed, {skipped} left to the defaults")

    def _config(self, uid: str, config: dict) -> dict | None:
        """Our configuration with this label, if a creation whose answer was lost did create it."""
        for found in self.client.list_field_configs(uid):
            if found.get("label") == config["label"]:
                return found
        return None

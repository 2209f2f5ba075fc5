"""The one publish interface: a schema table → a published dataset, on ODWB or in the export folder.

Dagster assets and the `omv` command line get a `Target` and call `publish` and `last_publication` on it,
whatever the destination; flow.py only harvests, normalises and consolidates. Free of Dagster and of
communes: a target receives a dataset id and ready-made metadata.

Every `publish` holds the drop guard itself (publish/safety.py), so no caller can bypass it: an empty
table is always refused, and a drop of `max_row_drop` or more against what is online unless `force=True`;
both raise `PublicationRefused` and leave the last publication online.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from omv_pipelines.errors import OmvError
from omv_pipelines.publish.csv_format import render, report_counts, report_csv
from omv_pipelines.publish.export import dataset_lock, export_dataset, previous_export
from omv_pipelines.publish.odwb import OdwbClient, OdwbError, OdwbNotFound
from omv_pipelines.publish.odwb_sync import PublishError, publish_table, published_state
from omv_pipelines.publish.safety import PublicationRefused, guard
from omv_pipelines.schemas import DatasetSchema

__all__ = [
    "ExportTarget",
    "LastPublication",
    "OdwbTarget",
    "Publication",
    "PublicationFailed",
    "PublicationRefused",
    "Target",
]

# Fields of our metadata that the Opendatasoft "default" template does not have (kept in exports only).
_NOT_IN_DEFAULT_TEMPLATE = ("contact_name", "contact_email")


@dataclass(frozen=True)
class Publication:
    """What a target did with one table."""

    dataset_id: str
    target: str  # "export" or "odwb"
    location: str  # file path or dataset URL
    content_hash: str
    row_count: int
    status: str  # "published" or "unchanged"
    uid: str | None = None


@dataclass(frozen=True)
class LastPublication:
    """What is online now for a dataset, for the guard that refuses a sudden drop of rows."""

    row_count: int
    content_hash: str | None  # None when the target cannot tell


class PublicationFailed(OmvError):
    """A target could not publish; the last good publication stays online. Retryable as its cause is."""

    def __init__(self, dataset_id: str, target: str, cause: OmvError):
        self.dataset_id, self.cause = dataset_id, cause
        super().__init__(
            f"{dataset_id}: publication to {target} failed: {cause}",
            "the last good publication stays online",
            retryable=cause.retryable,
            **(cause.context | {"dataset_id": dataset_id}),
        )


class Target(Protocol):
    name: str  # "export" or "odwb", as in Publication.target

    def publish(
        self,
        table: pd.DataFrame,
        schema: DatasetSchema,
        *,
        dataset_id: str,
        metadata: dict[str, object],
        report: pd.DataFrame | None = None,
        on_progress: Callable[[str], None] | None = None,
        max_row_drop: float = 0.5,
        force: bool = False,
    ) -> Publication:
        """Publish `table` as `dataset_id` (unchanged content is not published again).

        Raises `PublicationRefused` for an empty table, or for a drop of `max_row_drop` or more against
        `last_publication` unless `force` (a person's decision; never for an empty table)."""
        ...

    def last_publication(self, dataset_id: str) -> LastPublication | None:
        """What is online for `dataset_id`, or None if nothing is."""
        ...


class ExportTarget:
    """The export folder: what publication does when no ODWB API key is set (see publish/export.py)."""

    name = "export"

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def __str__(self) -> str:
        return f"export folder {self.folder}"

    def publish(
        self,
        table: pd.DataFrame,
        schema: DatasetSchema,
        *,
        dataset_id: str,
        metadata: dict[str, object],
        report: pd.DataFrame | None = None,
        on_progress: Callable[[str], None] | None = None,
        max_row_drop: float = 0.5,
        force: bool = False,
    ) -> Publication:
        """Write the export; refused (`PublicationRefused`) as the protocol says. Read, compare and write
        happen under the dataset's lock, so two writers of one dataset take turns."""
        data, digest = render(table, schema)
        with dataset_lock(self.folder, dataset_id):
            online = self.last_publication(dataset_id)
            guard(
                dataset_id,
                len(table),
                online.row_count if online is not None else None,
                max_row_drop=max_row_drop,
                force=force,
            )
            result = export_dataset(
                self.folder,
                dataset_id,
                data,
                content_hash=digest,
                row_count=len(table),
                metadata=metadata | {"schema": schema.key, "standard": schema.standard},
                report_csv=None if report is None else report_csv(report),
                report_counts=None if report is None else report_counts(report),
            )
        return Publication(
            dataset_id, self.name, str(result.csv_path), result.content_hash, len(table), result.status
        )

    def last_publication(self, dataset_id: str) -> LastPublication | None:
        previous = previous_export(self.folder, dataset_id)
        if previous is None or previous.get("row_count") is None:
            return None
        return LastPublication(int(previous["row_count"]), previous.get("content_hash"))


def odwb_metadata(
    metadata: dict[str, object], *, license_id: str | None, theme_id: str | None
) -> dict[str, object]:
    """Our metadata in the sync's terms; licence and theme are per-portal opaque ids from configuration."""
    result = {k: v for k, v in metadata.items() if k not in _NOT_IN_DEFAULT_TEMPLATE}
    if license_id:
        result["internal.license_id"] = license_id
    if theme_id:
        result["internal.theme_id"] = [theme_id]
    return result


class OdwbTarget:
    """One Opendatasoft portal, through the Automation API (publish/odwb_sync.py does the converging)."""

    name = "odwb"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        license_id: str | None = None,
        theme_id: str | None = None,
        max_wait_s: float = 600,
    ):
        self.base_url = base_url
        self.__api_key = api_key
        self.license_id = license_id
        self.theme_id = theme_id
        self.max_wait_s = max_wait_s

    def __str__(self) -> str:
        return f"ODWB ({self.base_url})"

    def __repr__(self) -> str:
        return f"OdwbTarget(base_url={self.base_url!r}, api_key='***')"

    def client(self) -> OdwbClient:
        return OdwbClient(self.base_url, self.__api_key)

    def publish(
        self,
        table: pd.DataFrame,
        schema: DatasetSchema,
        *,
        dataset_id: str,
        metadata: dict[str, object],
        report: pd.DataFrame | None = None,  # the validation report is kept in exports only
        on_progress: Callable[[str], None] | None = None,
        max_row_drop: float = 0.5,
        force: bool = False,
    ) -> Publication:
        """Publish through the sync; any ODWB failure is raised as `PublicationFailed`, a refusal of the
        drop guard (judged on Explore's record count of the public dataset) as `PublicationRefused`."""
        data, digest = render(table, schema)
        try:
            with self.client() as client:
                guard(
                    dataset_id,
                    len(table),
                    _online_rows(client, dataset_id) if len(table) else None,  # empty: refused anyway
                    max_row_drop=max_row_drop,
                    force=force,
                )
                result = publish_table(
                    client,
                    dataset_id=dataset_id,
                    csv_bytes=data,
                    content_hash=digest,
                    row_count=len(table),
                    metadata=odwb_metadata(metadata, license_id=self.license_id, theme_id=self.theme_id),
                    fields=schema.fields,
                    record_id_field=schema.primary_key,
                    max_wait_s=self.max_wait_s,
                    on_progress=(
                        (lambda step, message: on_progress(f"{dataset_id}: {step} — {message}"))
                        if on_progress
                        else None
                    ),
                )
        except (PublishError, OdwbError) as exc:
            raise PublicationFailed(dataset_id, "ODWB", exc) from exc
        return Publication(
            dataset_id=result.dataset_id,
            target=self.name,
            location=result.url,
            content_hash=result.content_hash,
            row_count=result.record_count,
            status=result.status,
            uid=result.uid,
        )

    def last_publication(self, dataset_id: str) -> LastPublication | None:
        """Explore's record count of the public dataset and, if this key can edit it, its content hash."""
        with self.client() as client:
            state = published_state(client, dataset_id)
        return LastPublication(*state) if state is not None else None


def _online_rows(client: OdwbClient, dataset_id: str) -> int | None:
    """Explore's record count of the public dataset (the guard's one extra request), None if not public."""
    try:
        return client.count_records(dataset_id)
    except OdwbNotFound:
        return None

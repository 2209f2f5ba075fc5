"""The ODWB target: a schema table → one Opendatasoft dataset, through the Automation API.

Glue between the table world (schema, CSV bytes, content hash) and the ODWB sync, which knows nothing
of communes or schemas.
"""

from __future__ import annotations

from omv_pipelines.publish.csv_format import render
from omv_pipelines.schemas import DatasetSchema

# Fields of our metadata that the Opendatasoft "default" template does not have (kept in exports only).
_NOT_IN_DEFAULT_TEMPLATE = ("contact_name", "contact_email")


def odwb_metadata(metadata: dict[str, object], *, license_id: str | None, theme_id: str | None) -> dict[str, object]:
    """Our metadata in the sync's terms; licence and theme are per-portal opaque ids from configuration."""
    result = {k: v for k, v in metadata.items() if k not in _NOT_IN_DEFAULT_TEMPLATE}
    if license_id:
        result["internal.license_id"] = license_id
    if theme_id:
        result["internal.theme_id"] = [theme_id]
    return result


def publish_to_odwb(
    table,
    schema: DatasetSchema,
    *,
    base_url: str,
    api_key: str,
    dataset_id: str,
    metadata: dict[str, object],
    license_id: str | None = None,
    theme_id: str | None = None,
    max_wait_s: float = 600,
    log=None,
):
    from omv_pipelines.flow import Publication
    from omv_pipelines.publish.odwb import OdwbClient
    from omv_pipelines.publish.odwb_sync import publish_table

    data, digest = render(table, schema)
    with OdwbClient(base_url, api_key) as client:
        result = publish_table(
            client,
            dataset_id=dataset_id,
            csv_bytes=data,
            content_hash=digest,
            row_count=len(table),
            metadata=odwb_metadata(metadata, license_id=license_id, theme_id=theme_id),
            fields=schema.fields,
            record_id_field=schema.primary_key,
            max_wait_s=max_wait_s,
            on_progress=(lambda step, message: log.info(f"{dataset_id}: {step} — {message}")) if log else None,
        )
    return Publication(
        dataset_id=result.dataset_id, target="odwb", location=result.url, content_hash=result.content_hash,
        row_count=result.record_count, status=result.status, uid=result.uid,
    )

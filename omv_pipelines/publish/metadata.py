"""What a published dataset says about itself: title, description, keywords, publisher, standard.

Used by both targets (export folder and ODWB) so that a dataset reads the same wherever it lands.
Keys follow the Opendatasoft "default" metadata template (title, description, keyword, publisher,
language, timezone, references, ...).
"""

from __future__ import annotations

from omv_pipelines.region import TIMEZONE
from omv_pipelines.schemas import THEMES, DatasetSchema

LANGUAGE = "fr"


def dataset_metadata(
    schema: DatasetSchema,
    *,
    publisher: str,
    area: str,
    contact_name: str | None = None,
    contact_email: str | None = None,
) -> dict[str, object]:
    """Metadata of one published dataset; `area` is a commune's name or "Wallonie" for a regional one."""
    standard = schema.standard
    follows = (
        f"Conforme au standard {standard['author']} « {standard['name']} »"
        f" version {standard['version']} ({standard['homepage']})."
        if standard
        else f"Schéma « {schema.key} » version {schema.descriptor.get('version')}"
        " du programme Ouvrir ma ville."
    )
    description = f"{schema.title} — {area}. {schema.descriptor.get('description', '')} {follows}".strip()
    metadata: dict[str, object] = {
        "title": f"{schema.title} — {area}",
        "description": description,
        "keyword": sorted(
            {schema.title.lower(), THEMES[schema.theme].lower(), "ouvrir ma ville", area.lower()}
        ),
        "publisher": publisher,
        "language": LANGUAGE,
        "timezone": TIMEZONE,
    }
    if standard:
        metadata["references"] = standard["homepage"]
    if contact_name:
        metadata["contact_name"] = contact_name
    if contact_email:
        metadata["contact_email"] = contact_email
    return metadata

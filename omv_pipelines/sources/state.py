"""What sources remember between runs, in one local folder: how its files are named.

Incremental SQL reads keep their last table and watermark there, spreadsheet downloads their last copy
and its HTTP validators; they write them with omv_pipelines.files.atomic_write, so a crash leaves either
the old state or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import re


def state_name(label: str, identity: str | None = None) -> str:
    """A file-name-safe, collision-free name: a readable slug of `label` (at most 60 characters) and a hash
    of `identity` (default: the label). A URL with a token passes its masked form as the label and the
    full URL as the identity, so that no secret reaches a file name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._")[:60]
    return f"{slug}-{hashlib.sha256((identity or label).encode()).hexdigest()[:16]}"

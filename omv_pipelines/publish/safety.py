"""The rule that keeps the last good publication online.

A broken source typically yields an empty table or a fraction of the usual rows. Publishing that would
replace good open data with bad, so it is refused unless a person explicitly forces it: a drop of
`max_row_drop` or more (exactly half the rows with the default 0.5) is refused, an empty table always.
"""

from __future__ import annotations

from omv_pipelines.errors import OmvError

# A drop computed from row counts is a float (1 - 8/10 = 0.19999999999999996): the boundary case must
# still count as reaching the limit.
_EPSILON = 1e-9


def refusal_reason(row_count: int, previous_row_count: int | None, max_row_drop: float) -> str | None:
    """Why this table must not replace the previous publication, or None if it may.

    A drop can be forced by a person (see `can_force`); an empty table never replaces a publication.
    """
    if row_count == 0:
        return "the table is empty: publishing it would replace the last good publication with nothing"
    if previous_row_count and row_count < previous_row_count:
        drop = 1 - row_count / previous_row_count
        if drop >= max_row_drop - _EPSILON:
            return (
                f"the table has {row_count} rows against {previous_row_count} at the last publication "
                f"(-{drop:.0%}, a drop of {max_row_drop:.0%} or more is refused)"
            )
    return None


def can_force(row_count: int) -> bool:
    """A person may force a shrunken table through, never an empty one."""
    return row_count > 0


class PublicationRefused(OmvError):
    """A target refused to replace what is online: an empty table, or a drop beyond the allowed share.

    Not retryable: publishing the same table again cannot change the answer; a person fixes the source or
    forces the drop (never an empty table).
    """

    retryable = False

    def __init__(
        self,
        dataset_id: str,
        *,
        rows: int,
        online_rows: int | None,
        max_row_drop: float,
        reason: str,
    ):
        self.dataset_id, self.rows, self.online_rows = dataset_id, rows, online_rows
        self.max_row_drop = max_row_drop
        hint = (
            "an empty table is never published: fix the source"
            if not can_force(rows)
            else "fix the source, or force it: publish(..., force=True) from Python, "
            "or re-run with the tag omv/force_publish=true in Dagster"
        )
        super().__init__(
            f"{dataset_id}: not published, {reason} (now {rows} rows, online "
            f"{online_rows if online_rows is not None else 'none'}, allowed drop below "
            f"{max_row_drop:.0%}); the last good publication stays online",
            hint,
            retryable=False,
            dataset_id=dataset_id,
            rows=str(rows),
            online_rows=str(online_rows),
        )


def guard(
    dataset_id: str,
    rows: int,
    online_rows: int | None,
    *,
    max_row_drop: float,
    force: bool,
) -> None:
    """Raise `PublicationRefused` unless `rows` may replace `online_rows` (forcing never lets an empty
    table through)."""
    reason = refusal_reason(rows, online_rows, max_row_drop)
    if reason is None or (force and can_force(rows)):
        return
    raise PublicationRefused(
        dataset_id, rows=rows, online_rows=online_rows, max_row_drop=max_row_drop, reason=reason
    )

"""The rule that keeps the last good publication online.

A broken source typically yields an empty table or a fraction of the usual rows. Publishing that would
replace good open data with bad, so it is refused unless a person explicitly forces it.
"""

from __future__ import annotations


def refusal_reason(row_count: int, previous_row_count: int | None, max_row_drop: float) -> str | None:
    """Why this table must not replace the previous publication, or None if it may.

    A drop can be forced by a person (see `can_force`); an empty table never replaces a publication.
    """
    if row_count == 0:
        return "the table is empty: publishing it would replace the last good publication with nothing"
    if previous_row_count:
        drop = 1 - row_count / previous_row_count
        if drop > max_row_drop:
            return (
                f"the table has {row_count} rows against {previous_row_count} at the last publication "
                f"(-{drop:.0%}, more than the allowed {max_row_drop:.0%})"
            )
    return None


def can_force(row_count: int) -> bool:
    """A person may force a shrunken table through, never an empty one."""
    return row_count > 0

"""The one place where the project's errors become Dagster failures.

Every layer raises an `OmvError` that says what happened, what to do and whether a retry can help;
here it becomes a `dg.Failure` with that text as its description (so the UI shows our words, not a
traceback) and `allow_retries` set from the error, so the run's RetryPolicy only retries what can
change (a busy portal), never what needs a person (a wrong mapping, a refused drop, a wrong key).
"""

from typing import Any

import dagster as dg

from omv_pipelines.errors import OmvError


def to_failure(exc: OmvError, *, about: str | None = None, **metadata: Any) -> dg.Failure:
    """`about` (e.g. "Namur (92094) — resilience/defibrillateurs") starts the description when the error
    does not already name it, so the UI's first line says whose failure it is."""
    context: dict[str, Any] = dict(exc.context)
    text = str(exc)
    return dg.Failure(
        description=f"{about}: {text}" if about and not text.startswith(about) else text,
        metadata={**context, **metadata},
        allow_retries=exc.retryable,
    )

"""The one place where the project's errors become Dagster failures.

Every layer raises an `OmvError` that says what happened, what to do and whether a retry can help;
here it becomes a `dg.Failure` with that text as its description (so the UI shows our words, not a
traceback) and `allow_retries` set from the error, so the run's RetryPolicy only retries what can
change (a busy portal), never what needs a person (a wrong mapping, a refused drop, a wrong key).
"""

from typing import Any

import dagster as dg

from omv_pipelines.errors import OmvError


def to_failure(exc: OmvError, **metadata: Any) -> dg.Failure:
    context: dict[str, Any] = dict(exc.context)
    return dg.Failure(
        description=str(exc),
        metadata={**context, **metadata},
        allow_retries=exc.retryable,
    )

"""What a pipeline run did, in words, for the command line: counts per dataset, where each dataset went,
and the real cause of each failed step.

Dagster's step failure after retries says only `Exceeded max_retries of 2`; the description our code gave
(`dg.Failure`, see defs/failures.py) is in the failure's user data and in the error's cause chain. This
module digs it out. It reads events and materialisation metadata only (`valid_rows`, `dataset_id`,
`status`, `url`/`path`), never asset key names, so it does not depend on how the assets are named.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Dagster's wrappers around the error our code raised: their message says nothing about the cause.
_WRAPPERS = ("RetryRequestedFromPolicy", "RetryRequested", "DagsterExecutionStepExecutionError")


@dataclass(frozen=True)
class StepFailure:
    step_key: str
    cause: str


def _value(metadata: dict[str, Any], name: str) -> Any:
    value = metadata.get(name)
    return getattr(value, "value", value)


def _error_text(error: Any) -> str:
    """The innermost meaningful message of a SerializableErrorInfo: the cause Dagster wrapped."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    for item in reversed(chain):
        if item.cls_name in _WRAPPERS:
            continue
        message = item.message.strip()
        # "dagster._core.definitions.events.Failure: the description" → "the description"; another error
        # keeps its class ("KeyError: 'x'" says more than "'x'").
        head, sep, rest = message.partition("Failure: ")
        if item.cls_name == "Failure" and sep and "\n" not in head:
            message = rest.strip()
        if message:
            return message
    return chain[0].message.strip() if chain else "no error recorded"


def failure_cause(event: Any) -> str:
    """The cause of a STEP_FAILURE event: our `dg.Failure` description when there is one (also after
    retries ran out), else the innermost error message."""
    data = event.step_failure_data
    if data is None:
        return event.message or "no error recorded"
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip()
    if data.error is None:
        return "no error recorded"
    return _error_text(data.error)


def step_failures(events: Iterable[Any]) -> list[StepFailure]:
    """Each failed step with its cause, and how many attempts it had when the retry policy ran."""
    events = list(events)
    retries: dict[str, int] = {}
    for e in events:
        if e.event_type_value == "STEP_UP_FOR_RETRY" and e.step_key:
            retries[e.step_key] = retries.get(e.step_key, 0) + 1
    failures = []
    for e in events:
        if e.is_step_failure:
            cause = failure_cause(e)
            if retries.get(e.step_key or ""):
                cause += f" (after {retries[e.step_key] + 1} attempts)"
            failures.append(StepFailure(e.step_key or "?", cause))
    return failures


def run_failure_reason(result: Any) -> str | None:
    """Why a run failed: its failed steps with their causes, else the run failure's own message (e.g. a
    step skipped because what it needs failed earlier, or an error before any step ran)."""
    if result.success:
        return None
    failures = step_failures(result.all_events)
    if failures:
        return "; ".join(f"{f.step_key}: {f.cause}" for f in failures)
    for event in result.all_events:
        if event.event_type_value == "PIPELINE_FAILURE":
            data = event.event_specific_data
            error = getattr(data, "error", None)
            return _error_text(error) if error is not None else (event.message or "run failed")
    skipped = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    if skipped:
        return "steps skipped: " + ", ".join(sorted(set(skipped)))
    return "run failed (no failure event recorded)"


def summary_lines(result: Any) -> list[str]:
    """One line per dataset validated (rows read, valid, rejected, warnings), one per dataset published
    (status and where: the ODWB dataset URL or the exported file), one per failed step with its cause."""
    lines = []
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = "/".join(materialization.asset_key.path)
        metadata = materialization.metadata
        if "valid_rows" in metadata:
            read, valid = _value(metadata, "source_rows"), _value(metadata, "valid_rows")
            lines.append(
                f"{name}: {read} rows read, {valid} valid, "
                f"{_value(metadata, 'rejected_rows')} rejected, {_value(metadata, 'warnings')} warnings"
            )
        elif "dataset_id" in metadata and "status" in metadata:
            where = _value(metadata, "url") or _value(metadata, "path") or "(no location recorded)"
            lines.append(f"{_value(metadata, 'dataset_id')}: {_value(metadata, 'status')} → {where}")
    failures = step_failures(result.all_events)
    lines += [f"step {f.step_key} failed: {f.cause}" for f in failures]
    if not result.success and not failures:
        lines.append(f"run failed: {run_failure_reason(result)}")
    return lines


def publications(result: Any) -> list[tuple[str, str, str]]:
    """(dataset id, status, URL or path) of every dataset the run published or found unchanged."""
    found = []
    for event in result.get_asset_materialization_events():
        metadata = event.step_materialization_data.materialization.metadata
        if "dataset_id" in metadata and "status" in metadata:
            where = _value(metadata, "url") or _value(metadata, "path") or ""
            found.append((str(_value(metadata, "dataset_id")), str(_value(metadata, "status")), str(where)))
    return found

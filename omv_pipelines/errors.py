"""The project's one error family: a message, what to do about it, and whether a retry can help.

Every layer raises a subclass (`SourceError`, `MappingError`, `FlowError`, `PublishError`, `OdwbError`,
`CatalogError`, …); the Dagster layer turns any of them into a `dg.Failure` in one place
(`defs/failures.py`), so the UI always shows the project's own words and a retry is attempted only
where it can change the outcome.
"""

from __future__ import annotations

from omv_pipelines.secrets import redact


class OmvError(Exception):
    """Base of the project's errors.

    `message` says what happened, `hint` what a person should do, and `retryable` whether running the
    same step again later may succeed (a busy server) or not (a wrong mapping, a refused drop).
    `context` holds a few identifying facts (commune, dataset, source) shown as failure metadata.
    Every text is redacted here (`secrets.redact`): an error is what most often carries a server's
    answer, a URL or a connection string into logs, events and the UI.
    """

    retryable: bool = False

    def __init__(
        self, message: str, hint: str | None = None, *, retryable: bool | None = None, **context: str
    ):
        self.message = redact(message)
        self.hint = redact(hint) if hint is not None else None
        if retryable is not None:
            self.retryable = retryable
        self.context: dict[str, str] = {k: redact(v) for k, v in context.items() if v is not None}
        super().__init__(str(self))

    @property
    def text(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return redact(self.text)  # subclasses word `text` from their own attributes: redact the whole

"""The one way the project speaks HTTP: a `requests` session with urllib3's retry and backoff.

WFS servers, ODWB, spreadsheet URLs and alert webhooks all go through `session()`: connection errors,
429 and 5xx answers are retried with exponential backoff (honouring `Retry-After`, capped), and the
last answer is returned rather than raised, so each caller turns it into its own clear error.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
NOT_PROCESSED_STATUS = frozenset({429})  # the server says it did not act: safe to resend whatever the method
MAX_BACKOFF_S = 30.0  # never wait longer than this between two attempts, whatever the server says
USER_AGENT = "omv_pipelines (Ouvrir ma ville)"


def retry_policy(
    retries: int,
    backoff_s: float = 0.5,
    *,
    methods: Collection[str] | None = None,
    max_retry_after_s: float = MAX_BACKOFF_S,
):
    """urllib3 `Retry`: `retries` more attempts after the first, waits of backoff_s × 2^n (+ jitter);
    a server's `Retry-After` is honoured up to `max_retry_after_s`.

    Methods left out of `methods` are still retried when nothing was sent (connection refused) or the
    server said it did not act (429), never after a lost answer or a 5xx: the request may have been applied.
    """
    return _retry_class()(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=5,
        backoff_factor=backoff_s,
        backoff_max=MAX_BACKOFF_S,
        backoff_jitter=backoff_s / 2,
        status_forcelist=RETRY_STATUS,
        allowed_methods=frozenset(m.upper() for m in methods) if methods is not None else None,  # None: all
        respect_retry_after_header=True,
        retry_after_max=int(max_retry_after_s),
        raise_on_status=False,  # hand the last answer back: the caller knows how to word the error
        raise_on_redirect=False,
    )


@functools.cache
def _retry_class():
    """urllib3's Retry, resending any method on a status that means "not processed" (429)."""
    from urllib3.util.retry import Retry

    class NotProcessedRetry(Retry):
        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if status_code in NOT_PROCESSED_STATUS and status_code in (self.status_forcelist or ()):
                return True
            return super().is_retry(method, status_code, has_retry_after)

    return NotProcessedRetry


def session(
    *,
    retries: int = 3,
    backoff_s: float = 0.5,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    methods: Collection[str] | None = None,
    max_retry_after_s: float = MAX_BACKOFF_S,
) -> requests.Session:
    """A session whose every request is retried on connection errors, 429 and 5xx (`methods`: which
    HTTP methods may be retried after a lost answer or a 5xx; None = all, for APIs whose writes are
    idempotent or checked after;
    `max_retry_after_s`: the longest `Retry-After` obeyed, for APIs whose quotas ask for longer waits)."""
    import requests
    from requests.adapters import HTTPAdapter

    http = requests.Session()
    adapter = HTTPAdapter(
        max_retries=retry_policy(retries, backoff_s, methods=methods, max_retry_after_s=max_retry_after_s)
    )
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    if headers:
        http.headers.update(headers)
    if auth:
        http.auth = auth
    return http

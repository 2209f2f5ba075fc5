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


# Bounds on one download (#11): requests' timeout applies to each read, so a server trickling a byte a
# second never times out; these bound the whole answer. Raised or lowered by the operator's environment.
def env_number(name: str, default: float) -> float:
    import os

    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


DEADLINE_S = env_number("OMV_HTTP_DEADLINE_S", 120.0)  # one request, from asking to the last byte
READ_CHUNK = 64 * 1024


class LimitExceeded(Exception):
    """A download broke a bound. `limit` says which, in words fit for a person ("120 s per request")."""

    def __init__(self, message: str, limit: str, received: int = 0):
        super().__init__(message)
        self.limit, self.received = limit, received


class TooSlow(LimitExceeded):
    """The answer did not arrive whole before the deadline."""


class TooLarge(LimitExceeded):
    """The answer is (or says it is) larger than allowed."""


def url_secrets(url: str) -> list[str]:
    """The secret values a URL carries (its password, the values of secret-looking query parameters),
    registered with `secrets.register` so that a server echoing them back is masked everywhere."""
    from urllib.parse import parse_qsl, urlsplit

    from omv_pipelines import secrets

    parts = urlsplit(url)
    values = [parts.password or ""]
    values += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if secrets.SECRET_PARAM.search(k)]
    found = [v for v in values if v]
    secrets.register(*found)
    return found


def bounded_get(
    http: requests.Session,
    url: str,
    *,
    params=None,
    headers: Mapping[str, str] | None = None,
    timeout: float | tuple[float, float],
    deadline_s: float = DEADLINE_S,
    until: float | None = None,
    max_bytes: int,
) -> tuple[requests.Response, bytes]:
    """GET `url` and read its body whole, within bounds: `deadline_s` for the whole request (and the
    `until` time.monotonic() instant, if sooner), and `max_bytes` of body (decoded), a larger
    `Content-Length` being refused before anything is read. A breach raises `TooSlow` or `TooLarge`; the
    response's status is left to the caller (its body is read the same way, error pages included)."""
    import time

    started = time.monotonic()
    end = started + deadline_s
    limit_text = f"{deadline_s:g} s per request"
    if until is not None and until < end:
        end, limit_text = until, "the time allowed for the whole source"
    if isinstance(timeout, tuple):
        timeout = (min(timeout[0], max(end - started, 0.001)), min(timeout[1], max(end - started, 0.001)))
    else:
        timeout = min(timeout, max(end - started, 0.001))
    if end <= started:
        raise TooSlow("no time left before the deadline", limit_text)
    response = http.get(url, params=params, headers=headers, timeout=timeout, stream=True)
    with response:
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"the server announces {int(declared):,} bytes", f"{max_bytes:,} bytes")
        chunks: list[bytes] = []
        received = 0
        while True:
            if time.monotonic() > end:
                raise TooSlow(f"{received:,} bytes received before the deadline", limit_text, received)
            chunk = _read1(response)
            if not chunk:
                break
            received += len(chunk)
            if received > max_bytes:
                raise TooLarge(f"more than {max_bytes:,} bytes received", f"{max_bytes:,} bytes", received)
            chunks.append(chunk)
        if time.monotonic() > end:
            raise TooSlow(f"{received:,} bytes received after the deadline", limit_text, received)
    body = b"".join(chunks)
    response._content = body  # `response.content` and `.text` give what was fetched
    return response, body


def _read1(response: requests.Response) -> bytes:
    """At most READ_CHUNK bytes, from one read of the socket (never waiting to fill the chunk), with
    urllib3's errors turned into the requests errors callers already handle."""
    import requests
    from urllib3.exceptions import HTTPError, ReadTimeoutError

    try:
        return response.raw.read1(READ_CHUNK, decode_content=True)
    except ReadTimeoutError as err:
        raise requests.exceptions.ReadTimeout(err) from None
    except HTTPError as err:
        raise requests.exceptions.ConnectionError(err) from None

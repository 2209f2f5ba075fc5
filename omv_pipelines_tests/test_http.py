"""omv_pipelines.http.session on a loopback server: what is retried, how long it waits, what it returns."""

import time

import pytest

from omv_pipelines import http


@pytest.fixture()
def waits(monkeypatch) -> list[float]:
    """The pauses urllib3 takes between attempts, recorded instead of slept."""
    import urllib3.util.retry

    recorded: list[float] = []

    class Clock:
        time = staticmethod(time.time)

        @staticmethod
        def sleep(seconds: float) -> None:
            recorded.append(seconds)

    monkeypatch.setattr(urllib3.util.retry, "time", Clock)
    return recorded


def _failing(times: int, status: int = 503, headers: dict | None = None):
    """An app answering `status` to the first `times` requests, then 200."""
    seen = []

    def app(method, path, query, request_headers, body):
        seen.append(path)
        if len(seen) <= times:
            return status, {"Content-Type": "text/plain", **(headers or {})}, b"busy"
        return 200, {"Content-Type": "text/plain"}, b"ok"

    return app


def test_503_then_200_is_retried(loopback, waits):
    server = loopback(_failing(2))
    with http.session(retries=3, backoff_s=0.01) as session:
        response = session.get(server.url("/data.csv"), timeout=5)
    assert (response.status_code, response.text) == (200, "ok")
    assert len(server.requests) == 3
    assert server.requests[0].headers["User-Agent"] == http.USER_AGENT


def test_retry_after_is_honoured_and_capped(loopback, waits):
    server = loopback(_failing(1, 503, {"Retry-After": "2"}))
    with http.session(retries=1, backoff_s=0.01) as session:
        assert session.get(server.url("/"), timeout=5).status_code == 200
    assert waits == [2]
    server = loopback(_failing(1, 429, {"Retry-After": "86400"}))  # a day: not obeyed as such
    with http.session(retries=1, backoff_s=0.01) as session:
        assert session.get(server.url("/"), timeout=5).status_code == 200
    assert waits[-1] <= http.MAX_BACKOFF_S


def test_last_5xx_answer_is_returned_after_the_retries(loopback, waits):
    server = loopback(_failing(100, 502))
    with http.session(retries=2, backoff_s=0.01) as session:
        response = session.get(server.url("/"), timeout=5)
    assert (response.status_code, response.text) == (502, "busy")  # returned, not raised
    assert len(server.requests) == 3  # the first attempt and two retries


def test_client_errors_are_not_retried(loopback, waits):
    server = loopback(_failing(100, 404))
    with http.session(retries=3) as session:
        assert session.get(server.url("/"), timeout=5).status_code == 404
    assert len(server.requests) == 1 and waits == []


def test_methods_limit_what_is_retried(loopback, waits):
    server = loopback(_failing(1))
    with http.session(retries=2, backoff_s=0.01, methods=("GET",)) as session:
        assert session.post(server.url("/"), data=b"x", timeout=5).status_code == 503
    assert len(server.requests) == 1

"""The shared loopback server does what the tests that use it rely on."""

import threading
import time
import urllib.error
import urllib.request

import pytest

from omv_pipelines_tests.support.loopback import serve, serve_directory


def _get(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_callable_app_sees_method_path_query_headers_body_and_requests_are_recorded():
    seen = []

    def app(method, path, query, headers, body):
        seen.append((method, path, query, headers["X-Test"], body))
        return 201, {"Content-Type": "application/json"}, '{"ok": true}'

    with serve(app) as srv:
        status, headers, body = _get(srv.url("/hooks/t?a=1&a=2&b="), b'{"n": 1}', {"X-Test": "yes"})
    assert (status, headers["Content-Type"], body) == (201, "application/json", b'{"ok": true}')
    assert seen == [("POST", "/hooks/t", {"a": "1", "b": ""}, "yes", b'{"n": 1}')]
    [request] = srv.requests
    assert request.target == "/hooks/t?a=1&a=2&b=" and request.json() == {"n": 1}
    assert request.headers["x-test"] == "yes"  # case-insensitive


def test_route_table_answers_by_method_and_path_and_404_otherwise():
    routes = {("GET", "/a"): (200, {}, b"A"), "/b": lambda *_: (200, {}, "B"), ("POST", "/a"): (405, {}, b"")}
    with serve(routes) as srv:
        assert _get(srv.url("/a"))[::2] == (200, b"A")
        assert _get(srv.url("/b"))[::2] == (200, b"B")
        assert _get(srv.url("/a"), data=b"x")[0] == 405
        assert _get(srv.url("/c"))[0] == 404


def test_304_has_no_body():
    with serve(lambda *_: (304, {"ETag": '"x"'}, b"ignored")) as srv:
        status, headers, body = _get(srv.url("/"))
    assert (status, headers["ETag"], body) == (304, '"x"', b"")


def test_a_raising_app_answers_500_and_fails_the_test_when_the_server_stops():
    def broken(*_):
        raise KeyError("typo in the fake")

    with pytest.raises(AssertionError, match="typo in the fake"):
        with serve(broken) as srv:
            assert _get(srv.url("/"))[0] == 500


def test_stops_promptly_while_an_answer_is_still_sleeping_and_waits_for_requests():
    def slow(*_):
        time.sleep(3)
        return 200, {}, b"late"

    with serve(slow) as srv:
        client = threading.Thread(target=lambda: _get(srv.url("/slow")), daemon=True)
        client.start()
        assert srv.wait_for_requests(1, timeout=5)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    assert not srv.wait_for_requests(2, timeout=0.1)


def test_directory_server_serves_files_with_last_modified_and_records_requests(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    with serve_directory(tmp_path) as srv:
        status, headers, body = _get(srv.url("/a.csv?token=s"))
        assert (status, body) == (200, b"x\n1\n") and "Last-Modified" in headers
        again = _get(srv.url("/a.csv"), headers={"If-Modified-Since": headers["Last-Modified"]})
        assert again[0] == 304
    assert [(r.path, r.query) for r in srv.requests] == [("/a.csv", {"token": "s"}), ("/a.csv", {})]


def test_loopback_fixture_stops_its_servers_at_teardown(loopback):
    srv = loopback(lambda *_: (200, {}, b"ok"))
    assert _get(srv.url())[::2] == (200, b"ok")

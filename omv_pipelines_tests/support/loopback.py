"""One loopback HTTP server for the tests, instead of a hand-written `BaseHTTPRequestHandler` per file.

    def app(method, path, query, headers, body):
        return 200, {"Content-Type": "text/csv"}, b"a,b\\n"

    with serve(app) as srv:
        harvest(srv.url("/data.csv"))
    assert srv.requests[0].path == "/data.csv"

    with serve({("GET", "/wfs"): (200, {}, CAPABILITIES), "/other": answer_fn}) as srv: ...

    with serve_directory(folder) as srv: ...   # Python's file server: Last-Modified, If-Modified-Since

An app is a callable `(method, path, query, headers, body) -> (status, headers, body)` or a route table
whose keys are `(method, path)` or `path` (any method) and whose values are a response tuple or such a
callable; an unrouted request gets 404. `query` maps each parameter to its first value (the raw query is
in `Request.target`); `headers` is case-insensitive; a `str` body is sent as UTF-8. The server binds
127.0.0.1 port 0, serves from a daemon thread, records every request in `requests`, and stops on exit
even while a slow answer is still sleeping. An exception raised by the app answers 500 and is raised
again when the server stops, so a broken fake fails its test instead of looking like a server error.
The `loopback` fixture (root conftest) starts servers that stop at the test's teardown.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Response = tuple[int, Mapping[str, str], bytes | str]
App = Callable[[str, str, dict[str, str], Message, bytes], Response]
Routes = Mapping[tuple[str, str] | str, Response | App]

_NO_BODY = {204, 304}  # statuses that must not carry a body (nor, here, a Content-Length)


@dataclass(frozen=True)
class Request:
    """One request the server received, as the app saw it."""

    method: str
    target: str  # path and query as sent
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def routed(routes: Routes) -> App:
    """An app answering from a route table: `(method, path)` before `path`; 404 for the rest."""

    def app(method: str, path: str, query: dict[str, str], headers: Message, body: bytes) -> Response:
        answer = routes.get((method, path), routes.get(path))
        if answer is None:
            return 404, {"Content-Type": "text/plain"}, f"no route for {method} {path}"
        return answer(method, path, query, headers, body) if callable(answer) else answer

    return app


class Loopback:
    """A running server: `url(path)`, the `requests` it got, `wait_for_requests(n)` from another thread."""

    def __init__(self, server: ThreadingHTTPServer):
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._changed = threading.Condition()
        self.requests: list[Request] = []
        self.errors: list[str] = []  # tracebacks of app exceptions

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def wait_for_requests(self, count: int = 1, timeout: float = 10.0) -> bool:
        """True once `count` requests have arrived (their answers may still be on their way)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout)

    def _record(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def start(self) -> Loopback:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; raise what the app raised, if anything."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        if self.errors:
            raise AssertionError("the loopback app raised:\n" + "\n".join(self.errors))

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.stop()
        else:  # keep the test's own exception in front
            self.errors.clear()
            self.stop()


class _Quiet:
    """No request log on the test output, and TCP_NODELAY so a keep-alive client never waits on Nagle."""

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class _AppHandler(_Quiet, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # every answer has a Content-Length (or no body), so keep-alive works
    app: App
    loopback: Loopback

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, value)
        self.loopback._record(Request(self.command, self.path, parts.path, query, self.headers, body))
        try:
            status, headers, data = self.app(self.command, parts.path, dict(query), self.headers, body)
        except Exception:
            self.loopback.errors.append(traceback.format_exc())
            status, headers, data = 500, {"Content-Type": "text/plain"}, b"the test's app raised"
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if status in _NO_BODY:
                self.end_headers()
            else:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass  # the client gave up (its timeout fired, or the test killed it): nothing to answer

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


class _DirectoryHandler(_Quiet, SimpleHTTPRequestHandler):
    loopback: Loopback

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok:
            parts = urlsplit(self.path)
            query: dict[str, str] = {}
            for name, value in parse_qsl(parts.query, keep_blank_values=True):
                query.setdefault(name, value)
            self.loopback._record(Request(self.command, self.path, parts.path, query, self.headers, b""))
        return ok


def _start(handler: type[BaseHTTPRequestHandler], factory: Callable[..., Any] | None = None) -> Loopback:
    server = ThreadingHTTPServer(("127.0.0.1", 0), factory or handler)
    server.daemon_threads = True  # a slow answer still sleeping does not hold the shutdown
    loopback = Loopback(server)
    handler.loopback = loopback  # type: ignore[attr-defined]
    return loopback


def loopback_server(app: App | Routes) -> Loopback:
    """A server for `app` (callable or route table), not yet started: use it as a context manager."""
    answer = routed(app) if isinstance(app, Mapping) else app
    handler = type("Handler", (_AppHandler,), {"app": staticmethod(answer)})
    return _start(handler)


def directory_server(folder: Path | str) -> Loopback:
    """Python's file server over `folder` (Last-Modified, If-Modified-Since, 304), not yet started."""
    handler = type("Handler", (_DirectoryHandler,), {})
    return _start(handler, functools.partial(handler, directory=str(folder)))


@contextmanager
def serve(app: App | Routes) -> Iterator[Loopback]:
    """`with serve(app) as srv:` — the server runs inside the block and is stopped after it."""
    with loopback_server(app) as server:
        yield server


@contextmanager
def serve_directory(folder: Path | str) -> Iterator[Loopback]:
    """`with serve_directory(folder) as srv:` — serves the files in `folder` inside the block."""
    with directory_server(folder) as server:
        yield server

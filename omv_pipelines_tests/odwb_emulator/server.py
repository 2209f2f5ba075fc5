"""An Opendatasoft portal on loopback: the Automation v1.0 and Explore v2.1 endpoints the project uses.

Status codes, bodies and pagination follow the official specifications (the conformance test checks them).
State is in memory; publishing runs in a background thread through queued → processing → idle. Tests steer
it from Python: keys with permission sets, datasets owned by someone else, injected faults (any status,
body, header, delay, or an answer lost after the request was applied) and processing failures, and a log of
every request.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from .model import (
    ANNOTATIONS,
    BUSY_STATES,
    FIELD_CONFIG_TYPES,
    TYPE_PARAMS,
    ApiKey,
    Dataset,
    ProcessingFailure,
    csv_cell,
    extract,
    new_uid,
    now_iso,
    process,
)

AUTOMATION = "/api/automation/v1.0"
EXPLORE = "/api/explore/v2.1"
PUBLISHER_PERMISSIONS = frozenset({"create_dataset", "edit_dataset", "publish_dataset"})
_DEFAULT_ERRORS = {
    400: (
        "invalid_dataset_status",
        "Invalid precondition, dataset status is 'processing' but must be one of 'idle'",
    ),
    401: ("authentication_failed", "Authentication credentials were not provided or are invalid."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    429: ("too_many_requests", "Too many requests."),
}


class HttpError(Exception):
    """Ends a request with an error status and an Opendatasoft-shaped body."""

    def __init__(self, status: int, error_code: str, message: str, detail: object = None, headers=None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body: dict = {"error_code": error_code, "message": message}
        if detail is not None:
            self.body["detail"] = detail


@dataclass
class Fault:
    """An injected answer for requests whose path matches `pattern` (and `method`, if given)."""

    pattern: re.Pattern
    status: int | None  # None: only the delay, then the normal answer
    times: int | None  # None: forever
    body: object = None
    headers: dict = field(default_factory=dict)
    method: str | None = None
    delay_s: float = 0.0
    drop: bool = False  # apply the request, then close the connection without answering
    hits: int = 0


@dataclass
class Exchange:
    """One logged request: what came in, which spec operation it was, what went out."""

    method: str
    path: str
    query: dict[str, list[str]]
    api: str  # "automation" | "explore"
    template: str  # the spec's path template, e.g. "/datasets/{dataset_uid}/status/"
    status: int
    content_type: str
    request_json: object = None
    response_json: object = None
    dropped: bool = False  # applied, but the connection was closed instead of answering


@dataclass
class _Route:
    method: str
    api: str
    template: str
    regex: re.Pattern
    handler: Callable
    permission: str | None  # the key permission the action needs


class OdsEmulator:
    """`with OdsEmulator() as ods:` serves a portal at `ods.url`; `ods.api_key` is a publisher's key."""

    def __init__(
        self,
        *,
        username: str = "omv-publisher",
        queue_delay_s: float = 0.02,
        processing_delay_s: float = 0.05,
    ):
        self.username = username
        self.queue_delay_s = queue_delay_s
        self.processing_delay_s = processing_delay_s
        self.lock = threading.RLock()
        self.keys: dict[str, ApiKey] = {}
        self.datasets: dict[str, Dataset] = {}  # by uid
        self.faults: list[Fault] = []
        self.exchanges: list[Exchange] = []
        self._processing_failures: list[ProcessingFailure] = []
        self._threads: list[threading.Thread] = []
        self.api_key = self.add_key(PUBLISHER_PERMISSIONS, username=username)
        self._server: ThreadingHTTPServer | None = None
        self._routes = self._build_routes()

    # ---- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> OdsEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ods-emulator",
            daemon=True,
        )
        serve.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> OdsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the emulator first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- steering from tests -----------------------------------------------------------------------------

    def add_key(self, permissions: Iterable[str], *, username: str | None = None) -> str:
        """A new API key for `username` (default: the publisher) holding exactly these permissions."""
        key = secrets.token_hex(20)
        self.keys[key] = ApiKey(key, username or self.username, frozenset(permissions))
        return key

    def add_dataset(
        self,
        dataset_id: str,
        *,
        owner: str | None = None,
        records: list[dict] | None = None,
        published: bool = True,
        is_restricted: bool = False,
    ) -> str:
        """Create a dataset directly (e.g. one owned by another publisher); returns its uid."""
        with self.lock:
            dataset = Dataset(
                uid=new_uid("da"),
                dataset_id=dataset_id,
                owner=owner or self.username,
                is_restricted=is_restricted,
                metadata={"default": {"title": {"value": dataset_id}}},
            )
            dataset.records = list(records or [])
            names = list(dict.fromkeys(n for r in dataset.records for n in r))
            dataset.fields = [{"name": n, "label": n, "type": "text", "annotations": {}} for n in names]
            dataset.is_published = published
            self.datasets[dataset.uid] = dataset
            return dataset.uid

    def inject(
        self,
        path_regex: str,
        status: int | None = 500,
        *,
        times: int | None = 1,
        body: object = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
        delay_s: float = 0.0,
        drop: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` after `delay_s` (None: delay only).

        Without `body`, the body is the Opendatasoft error for that status (400 → invalid_dataset_status).
        `drop=True` (with status None): the portal applies the request, then the connection is closed
        before any answer — what a client sees when a proxy or the network loses the answer.
        """
        if drop and status is not None:
            raise ValueError("a dropped answer has no status: pass status=None with drop=True")
        fault = Fault(re.compile(path_regex), status, times, body, dict(headers or {}), method, delay_s, drop)
        with self.lock:
            self.faults.append(fault)
        return fault

    def fail_processing(
        self, message: str, records_errors: list[dict] | None = None, *, status: str = "error", params=None
    ) -> None:
        """Make the next publication end in `status` (error or limit_reached) with these records errors."""
        self._processing_failures.append(
            ProcessingFailure(status, message, list(records_errors or []), params)
        )

    def dataset(self, dataset_id: str) -> Dataset:
        """The (single) dataset with this dataset_id, for assertions."""
        found = [d for d in self.datasets.values() if d.dataset_id == dataset_id]
        assert len(found) == 1, f"{len(found)} datasets with dataset_id {dataset_id!r}"
        return found[0]

    def count(self, method: str, path_regex: str, *, status: int | None = None) -> int:
        """How many logged requests match; e.g. count("POST", r"/publish/$")."""
        pattern = re.compile(path_regex)
        return sum(
            1
            for e in self.exchanges
            if e.method == method and pattern.search(e.path) and (status is None or e.status == status)
        )

    def served_operations(self) -> list[tuple[str, str, str]]:
        """(api, method, spec path template) of every endpoint the emulator answers."""
        return [(r.api, r.method, r.template) for r in self._routes]

    def wait_idle(self, timeout_s: float = 10) -> None:
        """Wait until no dataset is processing (for tests that publish without the sync's polling)."""
        deadline = time.monotonic() + timeout_s
        while any(d.status in BUSY_STATES for d in self.datasets.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("emulator still processing")
            time.sleep(0.01)

    # ---- request handling --------------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        a, e = "automation", "explore"
        table = [
            ("GET", a, "/datasets/", self._list_datasets, None),
            ("POST", a, "/datasets/", self._create_dataset, "create_dataset"),
            ("GET", a, "/datasets/{dataset_uid}/", self._get_dataset, None),
            ("POST", a, "/datasets/{dataset_uid}/publish/", self._publish, "publish_dataset"),
            ("POST", a, "/datasets/{dataset_uid}/unpublish/", self._unpublish, "publish_dataset"),
            (
                "POST",
                a,
                "/datasets/{dataset_uid}/publish_metadata/",
                self._publish_metadata,
                "publish_dataset",
            ),
            ("GET", a, "/datasets/{dataset_uid}/status/", self._status, None),
            ("GET", a, "/datasets/{dataset_uid}/metadata/", self._get_metadata, None),
            (
                "GET",
                a,
                "/datasets/{dataset_uid}/metadata/{template_name}/{template_field_name}/",
                self._get_meta_field,
                None,
            ),
            (
                "PUT",
                a,
                "/datasets/{dataset_uid}/metadata/{template_name}/{template_field_name}/",
                self._put_meta_field,
                "edit_dataset",
            ),
            ("POST", a, "/datasets/{dataset_uid}/resources/files/", self._upload_file, "edit_dataset"),
            ("GET", a, "/datasets/{dataset_uid}/resources/", self._list_resources, None),
            ("POST", a, "/datasets/{dataset_uid}/resources/", self._create_resource, "edit_dataset"),
            ("GET", a, "/datasets/{dataset_uid}/resources/{resource_uid}/", self._get_resource, None),
            (
                "GET",
                a,
                "/datasets/{dataset_uid}/resources/{resource_uid}/preview/",
                self._preview_resource,
                None,
            ),
            (
                "PUT",
                a,
                "/datasets/{dataset_uid}/resources/{resource_uid}/",
                self._put_resource,
                "edit_dataset",
            ),
            (
                "DELETE",
                a,
                "/datasets/{dataset_uid}/resources/{resource_uid}/",
                self._delete_resource,
                "edit_dataset",
            ),
            ("GET", a, "/datasets/{dataset_uid}/fields/", self._list_fields, None),
            ("POST", a, "/datasets/{dataset_uid}/fields/", self._create_field, "edit_dataset"),
            ("GET", a, "/datasets/{dataset_uid}/fields/{field_uid}/", self._get_field, None),
            ("PUT", a, "/datasets/{dataset_uid}/fields/{field_uid}/", self._put_field, "edit_dataset"),
            ("DELETE", a, "/datasets/{dataset_uid}/fields/{field_uid}/", self._delete_field, "edit_dataset"),
            ("GET", e, "/catalog/datasets/{dataset_id}", self._explore_dataset, None),
            ("GET", e, "/catalog/datasets/{dataset_id}/records", self._explore_records, None),
            ("GET", e, "/catalog/datasets/{dataset_id}/exports/{format}", self._explore_export, None),
        ]
        routes = []
        for method, api, template, handler, permission in table:
            pattern = re.sub(r"\\\{[a-z_]+\\\}", r"([^/]+)", re.escape(template))
            routes.append(_Route(method, api, template, re.compile(f"^{pattern}$"), handler, permission))
        return routes

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, dict, bytes, Exchange]:
        """Answer one HTTP request: (status, headers, body, logged exchange)."""
        split = urlsplit(raw_path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        exchange = Exchange(method, path, query, "", "", 0, "")
        if headers.get("Content-Type", "").startswith("application/json") and body:
            try:
                exchange.request_json = json.loads(body)
            except ValueError:
                exchange.request_json = None
        try:
            fault = self._take_fault(method, path)
            if fault is not None and fault.delay_s:
                time.sleep(fault.delay_s)
            route, args = self._route(method, path, exchange)
            if fault is not None and fault.status is not None:
                raise self._fault_error(fault, route)
            with self.lock:
                user = self._authenticate(headers, query, route)
                status, payload = route.handler(user, query, headers, body, *args)
            exchange.dropped = fault is not None and fault.drop
        except HttpError as exc:
            status, payload, extra = exc.status, exc.body, exc.headers
        else:
            extra = {}
        if isinstance(payload, bytes | str):
            data = payload.encode() if isinstance(payload, str) else payload
            content_type = extra.pop("Content-Type", "text/csv; charset=utf-8")
        else:
            data = json.dumps(payload, ensure_ascii=False).encode()
            content_type = (
                "application/json; charset=utf-8" if exchange.api == "explore" else "application/json"
            )
            exchange.response_json = payload
        exchange.status, exchange.content_type = status, content_type
        with self.lock:
            self.exchanges.append(exchange)
        return status, {"Content-Type": content_type, **extra}, data, exchange

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if (fault.method is None or fault.method == method) and fault.pattern.search(path):
                    fault.hits += 1
                    return fault
        return None

    def _fault_error(self, fault: Fault, route: _Route) -> HttpError:
        error = HttpError(fault.status, "", "", headers=dict(fault.headers))
        if fault.body is not None:
            error.body = fault.body
        else:
            code, message = _DEFAULT_ERRORS.get(fault.status, ("internal_error", "A server error occurred."))
            error.body = {"error_code": code, "message": message}
        return error

    def _route(self, method: str, path: str, exchange: Exchange) -> tuple[_Route, tuple[str, ...]]:
        for prefix, api in ((AUTOMATION, "automation"), (EXPLORE, "explore")):
            if path.startswith(prefix + "/"):
                sub = path[len(prefix) :]
                exchange.api = api
                known = False
                for route in self._routes:
                    match = route.regex.match(sub) if route.api == api else None
                    if match:
                        known = True
                        if route.method == method:
                            exchange.template = route.template
                            return route, match.groups()
                if known:
                    raise HttpError(405, "method_not_allowed", f"Method {method} not allowed.")
        raise HttpError(404, "not_found", "Not found.")

    def _authenticate(self, headers, query, route: _Route) -> ApiKey | None:
        """The caller's key (Authorization: Apikey … or ?apikey=…); anonymous only on Explore."""
        supplied = None
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "apikey ":
            supplied = auth[7:].strip()
        elif "apikey" in query:
            supplied = query["apikey"][0]
        if supplied is None:
            if route.api == "explore":
                return None
            raise HttpError(401, "authentication_required", "Authentication credentials were not provided.")
        key = self.keys.get(supplied)
        if key is None:
            raise HttpError(401, "invalid_api_key", "The API key is invalid or has been revoked.")
        if route.permission and route.permission not in key.permissions:
            raise HttpError(
                403, "permission_denied", f"This API key does not have the '{route.permission}' permission."
            )
        return key

    # ---- helpers -----------------------------------------------------------------------------------------

    def _own(self, user: ApiKey, uid: str) -> Dataset:
        dataset = self.datasets.get(uid)
        if dataset is None:
            raise HttpError(404, "not_found", "Not found.")
        if dataset.owner != user.username:
            raise HttpError(403, "permission_denied", "You do not have permission to edit this dataset.")
        return dataset

    @staticmethod
    def _not_busy(dataset: Dataset) -> None:
        if dataset.status in BUSY_STATES:
            raise HttpError(
                400,
                "invalid_dataset_status",
                f"Invalid precondition, dataset status is '{dataset.status}' "
                "but must be one of 'idle, error, limit_reached'",
            )

    @staticmethod
    def _json(body: bytes) -> dict:
        try:
            value = json.loads(body or b"null")
        except ValueError:
            raise HttpError(
                400, "validation_error", "Invalid input", {"non_field_errors": ["Invalid JSON body."]}
            ) from None
        if not isinstance(value, dict):
            raise HttpError(
                400, "validation_error", "Invalid input", {"non_field_errors": ["Expected an object."]}
            )
        return value

    def _page(self, query, items: list, path: str) -> dict:
        """Automation pagination: {total_count, next, previous, results}, 0 ≤ limit ≤ 1000."""
        try:
            limit = int(query.get("limit", ["20"])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            raise HttpError(
                400, "validation_error", "Invalid input", {"limit": ["A valid integer is required."]}
            ) from None
        if not 0 <= limit <= 1000 or offset < 0:
            raise HttpError(
                400,
                "validation_error",
                "Invalid input",
                {"limit": ["Ensure 0 <= limit <= 1000 and offset >= 0."]},
            )

        def link(at: int) -> str:
            others = {k: v[0] for k, v in query.items() if k not in ("limit", "offset", "apikey")}
            return f"{self.url}{AUTOMATION}{path}?{urlencode({**others, 'limit': limit, 'offset': at})}"

        more = limit > 0 and offset + limit < len(items)
        return {
            "total_count": len(items),
            "next": link(offset + limit) if more else None,
            "previous": link(max(0, offset - limit)) if offset > 0 and limit > 0 else None,
            "results": items[offset : offset + limit],
        }

    # ---- Automation: datasets ----------------------------------------------------------------------------

    def _list_datasets(self, user, query, headers, body):
        wanted = query.get("dataset_id", [None])[0]
        items = [
            d.as_json()
            for d in self.datasets.values()
            if d.owner == user.username and (wanted is None or d.dataset_id == wanted)
        ]
        return 200, self._page(query, items, "/datasets/")

    def _create_dataset(self, user, query, headers, body):
        data = self._json(body)
        dataset_id = data.get("dataset_id") or new_uid("ds")
        errors = {}
        if not re.fullmatch(r"[a-z0-9_-]+", dataset_id):
            errors["dataset_id"] = ["Only lower-case letters, digits, '-' and '_' are allowed."]
        elif any(d.dataset_id == dataset_id for d in self.datasets.values()):
            errors["dataset_id"] = ["A dataset with this dataset_id already exists."]
        metadata = data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("default"), dict):
            errors["metadata"] = ["This field is required and must contain the 'default' template."]
        if errors:
            raise HttpError(400, "validation_error", "Invalid input", errors)
        dataset = Dataset(
            new_uid("da"), dataset_id, user.username, bool(data.get("is_restricted", True)), metadata
        )
        self.datasets[dataset.uid] = dataset
        return 201, dataset.as_json()

    def _get_dataset(self, user, query, headers, body, uid):
        return 200, self._own(user, uid).as_json()

    def _publish(self, user, query, headers, body, uid):
        dataset = self._own(user, uid)
        self._not_busy(dataset)
        dataset.set_status("queued")
        dataset.message, dataset.records_errors, dataset.params = None, [], {}
        failure = self._processing_failures.pop(0) if self._processing_failures else None
        thread = threading.Thread(target=self._run_processing, args=(dataset, failure), daemon=True)
        self._threads.append(thread)
        thread.start()
        return 200, {"detail": "ok"}

    def _run_processing(self, dataset: Dataset, failure: ProcessingFailure | None) -> None:
        time.sleep(self.queue_delay_s)
        with self.lock:
            dataset.set_status("processing")
        time.sleep(self.processing_delay_s)
        with self.lock:
            try:
                if failure is not None:
                    raise failure
                records, fields, errors = process(dataset)
            except ProcessingFailure as exc:
                dataset.message, dataset.records_errors, dataset.params = (
                    exc.message,
                    exc.records_errors,
                    exc.params,
                )
                dataset.set_status(exc.status)
                return
            dataset.records, dataset.fields, dataset.records_errors = records, fields, errors
            dataset.is_published = True
            dataset.set_status("idle")

    def _unpublish(self, user, query, headers, body, uid):
        dataset = self._own(user, uid)
        self._not_busy(dataset)
        dataset.is_published, dataset.records = False, []
        return 200, {"detail": "ok"}

    def _publish_metadata(self, user, query, headers, body, uid):
        self._not_busy(self._own(user, uid))
        return 200, {"detail": "ok"}

    def _status(self, user, query, headers, body, uid):
        return 200, self._own(user, uid).status_json()

    # ---- Automation: metadata ----------------------------------------------------------------------------

    def _get_metadata(self, user, query, headers, body, uid):
        return 200, self._own(user, uid).metadata

    def _get_meta_field(self, user, query, headers, body, uid, template, name):
        value = self._own(user, uid).metadata.get(template, {}).get(name)
        if value is None:
            raise HttpError(404, "not_found", "Not found.")
        return 200, value

    def _put_meta_field(self, user, query, headers, body, uid, template, name):
        dataset = self._own(user, uid)
        data = self._json(body)
        if "value" not in data:
            raise HttpError(400, "validation_error", "Invalid input", {"value": ["This field is required."]})
        dataset.metadata.setdefault(template, {})[name] = {"value": data["value"]}
        dataset.updated_at = now_iso()
        return 200, dataset.metadata[template][name]

    # ---- Automation: files and resources -----------------------------------------------------------------

    def _upload_file(self, user, query, headers, body, uid):
        dataset = self._own(user, uid)
        filename, mimetype, content = _multipart_file(headers.get("Content-Type", ""), body)
        file = {"uid": new_uid("fi"), "filename": filename, "mimetype": mimetype, "created_at": now_iso()}
        dataset.files[file["uid"]] = {**file, "content": content}
        return 201, file

    def _resource_json(self, resource: dict) -> dict:
        return {k: v for k, v in resource.items() if not k.startswith("_")}

    def _check_resource(self, dataset: Dataset, data: dict) -> dict:
        errors = {k: ["This field is required."] for k in ("type", "title") if not data.get(k)}
        datasource = data.get("datasource")
        if data.get("type") == "csvfile":
            if not isinstance(datasource, dict) or datasource.get("type") != "uploaded_file":
                errors["datasource"] = ["The emulator serves csvfile resources from uploaded files only."]
            elif (datasource.get("file") or {}).get("uid") not in dataset.files:
                errors["datasource"] = [f"Unknown file {(datasource.get('file') or {}).get('uid')!r}."]
        if errors:
            raise HttpError(400, "validation_error", "Invalid input", errors)
        file = dataset.files[datasource["file"]["uid"]]
        return {
            "type": data["type"],
            "title": data["title"],
            "display_name": data["title"],
            "extraction_infos": {"label": "CSV File", "type": "csvfile"},
            "origin": {"label": "Uploaded file", "type": "uploaded_file"},
            "params": data.get("params") or {},
            "datasource": {
                "type": "uploaded_file",
                "file": {k: file[k] for k in ("uid", "filename", "mimetype", "created_at")},
            },
            "updated_at": now_iso(),
        }

    def _list_resources(self, user, query, headers, body, uid):
        items = [self._resource_json(r) for r in self._own(user, uid).resources.values()]
        return 200, self._page(query, items, f"/datasets/{uid}/resources/")

    def _create_resource(self, user, query, headers, body, uid):
        dataset = self._own(user, uid)
        self._not_busy(dataset)
        resource = {"uid": new_uid("re"), **self._check_resource(dataset, self._json(body))}
        dataset.resources[resource["uid"]] = resource
        return 201, self._resource_json(resource)

    def _get_resource(self, user, query, headers, body, uid, resource_uid):
        resource = self._own(user, uid).resources.get(resource_uid)
        if resource is None:
            raise HttpError(404, "not_found", "Not found.")
        return 200, self._resource_json(resource)

    def _preview_resource(self, user, query, headers, body, uid, resource_uid):
        """The extractor's fields (guessed types, header labels; no field configuration) and 20 records."""
        dataset = self._own(user, uid)
        resource = dataset.resources.get(resource_uid)
        if resource is None:
            raise HttpError(404, "not_found", "Not found.")
        records, fields = extract([resource], dataset.files)
        shown = [
            {
                "name": f["name"],
                "label": f["label"],
                "type": f["type"],
                "original_name": f["label"],
                "annotations": [],
            }
            for f in fields
        ]
        return 200, {"fields": shown, "records": records[:20]}

    def _put_resource(self, user, query, headers, body, uid, resource_uid):
        dataset = self._own(user, uid)
        if resource_uid not in dataset.resources:
            raise HttpError(404, "not_found", "Not found.")
        self._not_busy(dataset)
        dataset.resources[resource_uid] = {
            "uid": resource_uid,
            **self._check_resource(dataset, self._json(body)),
        }
        return 200, self._resource_json(dataset.resources[resource_uid])

    def _delete_resource(self, user, query, headers, body, uid, resource_uid):
        dataset = self._own(user, uid)
        if resource_uid not in dataset.resources:
            raise HttpError(404, "not_found", "Not found.")
        self._not_busy(dataset)
        del dataset.resources[resource_uid]
        return 204, b""

    # ---- Automation: field configurations ----------------------------------------------------------------

    @staticmethod
    def _check_field_config(data: dict) -> dict:
        errors = {k: ["This field is required."] for k in ("type", "label") if not data.get(k)}
        kind = data.get("type")
        if kind and kind not in FIELD_CONFIG_TYPES:
            errors["type"] = [f"'{kind}' is not one of {', '.join(FIELD_CONFIG_TYPES)}."]
        required = {
            "rename": ("from_name", "to_name", "field_label"),
            "type": ("field", "type_param"),
            "annotate": ("field", "annotation"),
            "description": ("field", "description"),
            "delete": ("field",),
        }.get(kind, ())
        errors.update({k: ["This field is required."] for k in required if not data.get(k)})
        if kind == "type" and data.get("type_param") and data["type_param"] not in TYPE_PARAMS:
            errors["type_param"] = [f"'{data['type_param']}' is not a valid type."]
        if kind == "annotate" and data.get("annotation") and data["annotation"] not in ANNOTATIONS:
            errors["annotation"] = [f"'{data['annotation']}' is not a valid annotation."]
        if errors:
            raise HttpError(400, "validation_error", "Invalid input", errors)
        return {k: v for k, v in data.items() if k != "uid"}

    def _field(self, dataset: Dataset, config_uid: str) -> int:
        for index, config in enumerate(dataset.field_configs):
            if config["uid"] == config_uid:
                return index
        raise HttpError(404, "not_found", "Not found.")

    def _list_fields(self, user, query, headers, body, uid):
        return 200, self._page(query, list(self._own(user, uid).field_configs), f"/datasets/{uid}/fields/")

    def _create_field(self, user, query, headers, body, uid):
        dataset = self._own(user, uid)
        self._not_busy(dataset)
        config = {"uid": new_uid("pr"), **self._check_field_config(self._json(body))}
        dataset.field_configs.append(config)
        return 201, config

    def _get_field(self, user, query, headers, body, uid, config_uid):
        dataset = self._own(user, uid)
        return 200, dataset.field_configs[self._field(dataset, config_uid)]

    def _put_field(self, user, query, headers, body, uid, config_uid):
        dataset = self._own(user, uid)
        index = self._field(dataset, config_uid)
        self._not_busy(dataset)
        dataset.field_configs[index] = {"uid": config_uid, **self._check_field_config(self._json(body))}
        return 200, dataset.field_configs[index]

    def _delete_field(self, user, query, headers, body, uid, config_uid):
        dataset = self._own(user, uid)
        index = self._field(dataset, config_uid)
        self._not_busy(dataset)
        del dataset.field_configs[index]
        return 204, b""

    # ---- Explore -----------------------------------------------------------------------------------------

    def _visible(self, user: ApiKey | None, dataset_id: str) -> Dataset:
        for dataset in self.datasets.values():
            if dataset.dataset_id != dataset_id or not dataset.is_published:
                continue
            if not dataset.is_restricted or (user is not None and user.username == dataset.owner):
                return dataset
        raise HttpError(404, "NotFound", f"Unknown dataset: {dataset_id}")

    def _explore_dataset(self, user, query, headers, body, dataset_id):
        dataset = self._visible(user, dataset_id)
        default = dataset.metadata.get("default", {})
        return 200, {
            "dataset_id": dataset.dataset_id,
            "dataset_uid": dataset.uid,
            "attachments": [],
            "has_records": bool(dataset.records),
            "data_visible": True,
            "features": ["analyze"]
            + (["geo"] if any(f["type"].startswith("geo") for f in dataset.fields) else []),
            "metas": {
                "default": {k: v.get("value") for k, v in default.items()}
                | {"records_count": len(dataset.records)}
            },
            "fields": dataset.fields,
        }

    def _explore_records(self, user, query, headers, body, dataset_id):
        dataset = self._visible(user, dataset_id)
        try:
            limit = int(query.get("limit", ["10"])[0])
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            raise HttpError(400, "InvalidRESTParameterError", "limit and offset must be integers.") from None
        limit = 100 if limit == -1 else limit
        if not 0 <= limit <= 100:
            raise HttpError(
                400,
                "InvalidRESTParameterError",
                f"Invalid value for limit: {limit}; expected -1 <= limit <= 100.",
            )
        if offset < 0 or offset + limit > 10000:
            raise HttpError(
                400,
                "InvalidRESTParameterError",
                "offset + limit must not exceed 10000: use the exports endpoint instead.",
            )
        return 200, {"total_count": len(dataset.records), "results": dataset.records[offset : offset + limit]}

    def _explore_export(self, user, query, headers, body, dataset_id, fmt):
        dataset = self._visible(user, dataset_id)
        limit = int(query.get("limit", ["-1"])[0])
        records = dataset.records if limit < 0 else dataset.records[:limit]
        if fmt == "json":
            return 200, records
        if fmt == "jsonl":
            return 200, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if fmt == "csv":
            delimiter = query.get("delimiter", [";"])[0]
            with_bom = query.get("with_bom", ["true"])[0].lower() != "false"
            out = io.StringIO()
            writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
            names = [f["name"] for f in dataset.fields]
            writer.writerow(names)
            writer.writerows([csv_cell(r.get(n)) for n in names] for r in records)
            return 200, ("\ufeff" if with_bom else "") + out.getvalue()
        raise HttpError(400, "InvalidRESTParameterError", f"The emulator does not export {fmt!r}.")


def _multipart_file(content_type: str, body: bytes) -> tuple[str, str, bytes]:
    """The `file` part of a multipart/form-data body: (filename, mimetype, content)."""
    if not content_type.startswith("multipart/form-data"):
        raise HttpError(
            400, "validation_error", "Invalid input", {"file": ["Send the file as multipart/form-data."]}
        )
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            return (
                part.get_filename() or "upload",
                part.get_content_type(),
                part.get_payload(decode=True) or b"",
            )
    raise HttpError(400, "validation_error", "Invalid input", {"file": ["No file was submitted."]})


class _Handler(BaseHTTPRequestHandler):
    emulator: OdsEmulator
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response: no Nagle/delayed-ACK stall between headers and body

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, data, exchange = self.emulator.handle(self.command, self.path, self.headers, body)
        if exchange.dropped:  # the request was applied; the answer is lost
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired during an injected delay)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

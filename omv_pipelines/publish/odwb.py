"""Client for an Opendatasoft portal (ODWB): Automation API v1.0 manages datasets, Explore v2.1 reads back.

It knows Opendatasoft's paths and payload shapes, nothing of communes or schemas. Transient failures
(429, 5xx, connection errors, timeouts) are retried by the project's one HTTP session
(`omv_pipelines.http`: exponential backoff with jitter, honouring `Retry-After` up to a cap); other 4xx
are raised at once as typed errors. Requests that must not run twice (publish, creations) are sent with
`resend=False`: retried only when the portal cannot have acted (connection refused, 429); after a lost
answer or a 5xx the error says `outcome_unknown` and the caller reads the portal's state instead.
The API key travels only in the `Authorization` header, is registered with `omv_pipelines.secrets` and
masked in every message and repr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from omv_pipelines import http, secrets
from omv_pipelines.errors import OmvError

if TYPE_CHECKING:
    import requests

AUTOMATION = "/api/automation/v1.0/"
EXPLORE = "/api/explore/v2.1/"
PAGE_LIMIT = 1000  # the Automation API's maximum page size
ONCE_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")  # resent after a lost answer; POST is not
MAX_RETRY_AFTER_S = 300.0  # never sleep longer than this on a server's say-so (Explore quotas ask for more)


class OdwbError(OmvError):
    """An ODWB request failed. `status` is None when no HTTP answer came back (connection error, timeout).

    Retryable when no answer came back or the portal answered 429/5xx; other 4xx answers are final
    (subclasses say otherwise where a later attempt can succeed).
    """

    def __init__(
        self,
        status: int | None,
        error_code: str | None,
        message: str,
        detail: object = None,
        *,
        action: str = "",
        url: str = "",
    ):
        self.status = status
        self.error_code = error_code
        self.detail = detail
        self.action = action
        self.url = url
        transient = status is None or status == 429 or status >= 500
        context: dict[str, str] = {}
        if action:
            context["action"] = action
        if url:
            context["url"] = url
        if status is not None:
            context["http_status"] = str(status)
        super().__init__(
            message,
            retryable=transient if type(self) is OdwbError else None,  # subclasses say it themselves
            **context,
        )

    @property
    def outcome_unknown(self) -> bool:
        """No answer or a 5xx: the portal may have applied the request (read its state before resending)."""
        return self.status is None or self.status >= 500

    @property
    def text(self) -> str:
        head = f"ODWB {self.action} failed" if self.action else "ODWB request failed"
        where = f" ({self.url})" if self.url else ""
        code = f"HTTP {self.status}" if self.status is not None else "no HTTP answer"
        if self.error_code:
            code += f" {self.error_code}"
        text = f"{head}{where}: {code}: {self.message}"
        if self.detail:
            text += f" — detail: {json.dumps(self.detail, ensure_ascii=False, default=str)[:1000]}"
        return text


class OdwbAuthError(OdwbError):
    """401: the API key is missing or wrong; 403: the key is valid but lacks a permission. Needs a person."""

    retryable = False


class OdwbNotFound(OdwbError):
    """404: no such dataset, resource, file or field configuration for this key."""

    retryable = False


class OdwbBusy(OdwbError):
    """400 invalid_dataset_status: the dataset is processing; the action can be retried once it is idle."""

    retryable = True


class OdwbValidationError(OdwbError):
    """400 validation_error: the request body was refused; `detail` maps each field to its problems."""

    retryable = False


class OdwbRateLimited(OdwbError):
    """429 after every retry: the portal's quota is exhausted; a later run may find it renewed."""

    retryable = True


class OdwbClient:
    """A session against one portal. `base_url` is the portal root, e.g. `https://www.odwb.be`.

    `retries` more attempts follow a failed one (connection error, timeout, 429, 5xx); requests sent with
    `resend=False` are retried only where the portal cannot have acted (see the module docstring).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 30,
        retries: int = 4,
        backoff_s: float = 0.5,
    ):
        if not api_key:
            raise ValueError("ODWB API key is empty: set ODWB_API_KEY to a key with dataset permissions")
        secrets.register(api_key)
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.__api_key = api_key
        self._session: requests.Session | None = None
        self._once_session: requests.Session | None = None

    def __repr__(self) -> str:
        return f"OdwbClient(base_url={secrets.redact_url(self.base_url)!r}, api_key='***')"

    def close(self) -> None:
        for session in (self._session, self._once_session):
            if session is not None:
                session.close()
        self._session = self._once_session = None

    def __enter__(self) -> OdwbClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing ----------------------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """Resends every method after a lost answer or a 5xx."""
        if self._session is None:
            self._session = self._new_session(methods=None)
        return self._session

    @property
    def once_session(self) -> requests.Session:
        """Never resends a POST once it may have reached the portal (see `resend=False`)."""
        if self._once_session is None:
            self._once_session = self._new_session(methods=ONCE_METHODS)
        return self._once_session

    def _new_session(self, methods: tuple[str, ...] | None) -> requests.Session:
        return http.session(
            retries=self.retries,
            backoff_s=self.backoff_s,
            headers={"Authorization": f"Apikey {self.__api_key}", "Accept": "application/json"},
            methods=methods,
            max_retry_after_s=MAX_RETRY_AFTER_S,
        )

    def _redact(self, text: str) -> str:
        return secrets.redact(text, self.__api_key)

    def _url(self, api: str, path: str) -> str:
        return f"{self.base_url}{api}{path.lstrip('/')}"

    def request(
        self,
        method: str,
        url: str,
        *,
        action: str,
        params: dict[str, Any] | None = None,
        json_body: object = None,
        files: dict[str, Any] | None = None,
        stream: bool = False,
        resend: bool = True,
    ) -> requests.Response:
        """Send one request (retried by the session); return the 2xx response or raise a typed OdwbError.

        `resend=False`: a POST the portal must not process twice is not resent after a lost answer or 5xx.
        """
        import requests

        shown = secrets.redact(secrets.redact_url(url), self.__api_key)
        try:
            response = (self.session if resend else self.once_session).request(
                method,
                url,
                params=params,
                json=json_body,
                files=files,
                timeout=self.timeout_s,
                stream=stream,
            )
        except requests.RequestException as exc:
            cause = _root_cause(exc)
            kind = "timed out" if _timed_out(exc, cause) else "could not connect"
            raise OdwbError(
                None,
                None,
                f"{kind} after {self.retries + 1} attempts ({type(cause).__name__}); "
                "check ODWB_URL and the network, then run again",
                action=action,
                url=shown,
            ) from None
        if response.status_code >= 400:
            raise self._error(response, action, shown)
        return response

    def _error(self, response: requests.Response, action: str, shown: str) -> OdwbError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        # Automation and Explore errors say `error_code`; Explore quota errors say `errorcode` and `error`.
        code = body.get("error_code") or body.get("errorcode")
        code = str(code) if code is not None else None
        message = (
            body.get("message") or body.get("error") or (response.text or "").strip()[:300] or response.reason
        )
        message = self._redact(str(message))
        detail = body.get("detail")
        if isinstance(detail, str | dict | list):
            detail = json.loads(self._redact(json.dumps(detail)))
        args = (status, code, message, detail)
        if status == 401:
            hint = "the API key was refused (missing, wrong or revoked): check ODWB_API_KEY"
            return OdwbAuthError(
                status, code, f"{hint} — server said: {message}", detail, action=action, url=shown
            )
        if status == 403:
            hint = f"the API key is valid but lacks the permission to {action}: grant it to the key's user"
            return OdwbAuthError(
                status, code, f"{hint} — server said: {message}", detail, action=action, url=shown
            )
        if status == 404:
            return OdwbNotFound(*args, action=action, url=shown)
        if status == 429:
            return OdwbRateLimited(*args, action=action, url=shown)
        if status == 400 and code == "invalid_dataset_status":
            return OdwbBusy(*args, action=action, url=shown)
        if status == 400 and code == "validation_error":
            return OdwbValidationError(*args, action=action, url=shown)
        return OdwbError(*args, action=action, url=shown)

    def _auto(self, method: str, path: str, *, action: str, **kwargs: Any) -> Any:
        response = self.request(method, self._url(AUTOMATION, path), action=action, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _pages(self, path: str, *, action: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Yield every item of a paginated Automation list, following `next` links."""
        url: str | None = self._url(AUTOMATION, path)
        query: dict[str, Any] | None = {"limit": PAGE_LIMIT, "offset": 0, **(params or {})}
        while url:
            page = self.request("GET", url, action=action, params=query).json()
            yield from page.get("results") or []
            url, query = page.get("next"), None  # `next` already carries the query

    # ---- datasets ----------------------------------------------------------------------------------------

    def find_dataset(self, dataset_id: str) -> dict | None:
        """The dataset with this `dataset_id` among those this key can edit, or None."""
        for dataset in self._pages(
            "datasets/", action=f"find dataset {dataset_id!r}", params={"dataset_id": dataset_id}
        ):
            if dataset.get("dataset_id") == dataset_id:
                return dataset
        return None

    def get_dataset(self, uid: str) -> dict:
        return self._auto("GET", f"datasets/{uid}/", action=f"read dataset {uid}")

    def create_dataset(
        self, dataset_id: str, metadata: dict[str, dict[str, object]], *, is_restricted: bool = False
    ) -> dict:
        """Create a dataset; `metadata` maps template → field → value (e.g. {"default": {"title": "…"}})."""
        body = {
            "dataset_id": dataset_id,
            "is_restricted": is_restricted,
            "metadata": {t: {f: {"value": v} for f, v in fields.items()} for t, fields in metadata.items()},
        }
        return self._auto(
            "POST", "datasets/", action=f"create dataset {dataset_id!r}", json_body=body, resend=False
        )

    def publish(self, uid: str) -> None:
        """Start a processing; never resent (a second call would process again): see `outcome_unknown`."""
        self._auto("POST", f"datasets/{uid}/publish/", action=f"publish dataset {uid}", resend=False)

    def publish_metadata(self, uid: str) -> None:
        self._auto(
            "POST", f"datasets/{uid}/publish_metadata/", action=f"publish the metadata of dataset {uid}"
        )

    def unpublish(self, uid: str) -> None:
        self._auto("POST", f"datasets/{uid}/unpublish/", action=f"unpublish dataset {uid}")

    def status(self, uid: str) -> dict:
        """{status, previous, next, since, is_published, message, records_errors, params}."""
        return self._auto("GET", f"datasets/{uid}/status/", action=f"read the status of dataset {uid}")

    # ---- metadata: field by field, because PUT on the whole metadata deletes omitted fields ----------------

    def get_metadata(self, uid: str) -> dict[str, dict[str, dict]]:
        """Every template of the dataset: template → field → {"value": …}."""
        return self._auto("GET", f"datasets/{uid}/metadata/", action=f"read the metadata of dataset {uid}")

    def get_metadata_field(self, uid: str, template: str, field: str) -> object:
        path = f"datasets/{uid}/metadata/{template}/{field}/"
        return self._auto("GET", path, action=f"read metadata {template}.{field} of dataset {uid}")["value"]

    def set_metadata_field(self, uid: str, template: str, field: str, value: object) -> None:
        path = f"datasets/{uid}/metadata/{template}/{field}/"
        self._auto(
            "PUT",
            path,
            action=f"set metadata {template}.{field} of dataset {uid}",
            json_body={"value": value},
        )

    # ---- files and resources -----------------------------------------------------------------------------

    def upload_file(self, uid: str, filename: str, content: bytes, mimetype: str = "text/csv") -> dict:
        """Upload a file to the dataset (multipart `file`); returns {uid, filename, mimetype, created_at}."""
        files = {"file": (filename, content, mimetype)}
        return self._auto(
            "POST",
            f"datasets/{uid}/resources/files/",
            action=f"upload {filename} to dataset {uid}",
            files=files,
        )

    def list_resources(self, uid: str) -> list[dict]:
        return list(self._pages(f"datasets/{uid}/resources/", action=f"list the resources of dataset {uid}"))

    def create_resource(self, uid: str, resource: dict) -> dict:
        """Never resent (a second call adds a second resource): see `outcome_unknown`."""
        return self._auto(
            "POST",
            f"datasets/{uid}/resources/",
            action=f"add a resource to dataset {uid}",
            json_body=resource,
            resend=False,
        )

    def preview_resource(self, uid: str, resource_uid: str) -> dict:
        """{fields, records}: the fields as the extractor yields them (name, label, type, …) before any
        field configuration, and the first records."""
        path = f"datasets/{uid}/resources/{resource_uid}/preview/"
        return self._auto("GET", path, action=f"preview resource {resource_uid} of dataset {uid}")

    def update_resource(self, uid: str, resource_uid: str, resource: dict) -> dict:
        path = f"datasets/{uid}/resources/{resource_uid}/"
        return self._auto(
            "PUT", path, action=f"update resource {resource_uid} of dataset {uid}", json_body=resource
        )

    def delete_resource(self, uid: str, resource_uid: str) -> None:
        path = f"datasets/{uid}/resources/{resource_uid}/"
        self._auto("DELETE", path, action=f"delete resource {resource_uid} of dataset {uid}")

    @staticmethod
    def csvfile_resource(title: str, file_uid: str, *, separator: str = ",", encoding: str = "utf-8") -> dict:
        """A `csvfile` resource reading an uploaded file, with explicit parameters instead of guessed ones."""
        return {
            "type": "csvfile",
            "title": title,
            "params": {
                "encoding": encoding,
                "separator": separator,
                "headers_first_row": True,
                "first_row_no": 1,
                "doublequote": True,
            },
            "datasource": {"type": "uploaded_file", "file": {"uid": file_uid}},
        }

    # ---- field configurations (processors applied to fields: type, label, description, annotations) -----

    def list_field_configs(self, uid: str) -> list[dict]:
        return list(
            self._pages(f"datasets/{uid}/fields/", action=f"list the field configurations of dataset {uid}")
        )

    def create_field_config(self, uid: str, config: dict) -> dict:
        """Never resent (a second call appends a duplicate processor): see `outcome_unknown`."""
        return self._auto(
            "POST",
            f"datasets/{uid}/fields/",
            action=f"configure a field of dataset {uid}",
            json_body=config,
            resend=False,
        )

    def update_field_config(self, uid: str, config_uid: str, config: dict) -> dict:
        path = f"datasets/{uid}/fields/{config_uid}/"
        return self._auto(
            "PUT", path, action=f"update field configuration {config_uid} of dataset {uid}", json_body=config
        )

    def delete_field_config(self, uid: str, config_uid: str) -> None:
        path = f"datasets/{uid}/fields/{config_uid}/"
        self._auto("DELETE", path, action=f"delete field configuration {config_uid} of dataset {uid}")

    # ---- Explore (public read side) ----------------------------------------------------------------------

    def dataset_page_url(self, dataset_id: str) -> str:
        return f"{self.base_url}/explore/dataset/{dataset_id}/"

    def explore_dataset(self, dataset_id: str) -> dict | None:
        """The published dataset as the public catalogue shows it, or None if it is not visible there."""
        try:
            return self.request(
                "GET",
                self._url(EXPLORE, f"catalog/datasets/{dataset_id}"),
                action=f"look up {dataset_id!r} in the catalogue",
            ).json()
        except OdwbNotFound:
            return None

    def count_records(self, dataset_id: str) -> int:
        url = self._url(EXPLORE, f"catalog/datasets/{dataset_id}/records")
        page = self.request(
            "GET", url, action=f"count the records of {dataset_id!r}", params={"limit": 0}
        ).json()
        return int(page["total_count"])

    def export_json(self, dataset_id: str) -> list[dict]:
        """Every published record (Explore `exports/json`: no 10 000-record window, unlike `records`)."""
        url = self._url(EXPLORE, f"catalog/datasets/{dataset_id}/exports/json")
        return self.request("GET", url, action=f"export {dataset_id!r} as JSON").json()

    def export_csv(self, dataset_id: str, *, delimiter: str = ",") -> bytes:
        url = self._url(EXPLORE, f"catalog/datasets/{dataset_id}/exports/csv")
        params = {"delimiter": delimiter, "with_bom": "false"}
        return self.request("GET", url, action=f"export {dataset_id!r} as CSV", params=params).content


def _root_cause(exc: BaseException) -> BaseException:
    """The urllib3 error behind a requests error (after retries: MaxRetryError.reason), else `exc`."""
    inner = exc.args[0] if exc.args else None
    if not isinstance(inner, BaseException):
        return exc
    return getattr(inner, "reason", None) or inner


def _timed_out(exc: BaseException, cause: BaseException) -> bool:
    import requests
    import urllib3.exceptions

    # NewConnectionError (connection refused) derives from ConnectTimeoutError in urllib3 2.x: not a timeout.
    if isinstance(cause, urllib3.exceptions.NewConnectionError):
        return False
    return isinstance(exc, requests.Timeout) or isinstance(cause, urllib3.exceptions.TimeoutError)

"""GET requests to one WFS endpoint, and the server's own words when it refuses (OGC exception reports).

Every request goes to the URL the catalogue gives (not to the host the capabilities name, often an
internal one), through the project's one HTTP session: connection errors, 429 and 5xx are retried there.
"""

from __future__ import annotations

import os
import re
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from omv_pipelines import http, secrets
from omv_pipelines.sources.base import SourceError

if TYPE_CHECKING:
    from lxml.etree import _Element as Element

    from omv_pipelines.sources.wfs.config import WfsSource

# Bounds (#11): each request must arrive whole within REQUEST_DEADLINE_S and weigh at most MAX_PAGE_BYTES;
# the whole harvest (capabilities, schema, every page) must end within HARVEST_DEADLINE_S.
REQUEST_DEADLINE_S = http.env_number("OMV_WFS_REQUEST_DEADLINE_S", http.DEADLINE_S)
HARVEST_DEADLINE_S = http.env_number("OMV_WFS_HARVEST_DEADLINE_S", 1800.0)
MAX_PAGE_BYTES = int(http.env_number("OMV_WFS_MAX_PAGE_BYTES", 100_000_000))
URL_SCHEMES = ("http", "https")


class Refused(SourceError):
    """The server answered, but refused the request (HTTP 400 or an OGC exception report)."""


class Client:
    """GET requests to one WFS endpoint, retried by the HTTP session, with errors that say what to do."""

    def __init__(self, config: WfsSource, source_id: str, url: str):
        self.config, self.source_id = config, source_id
        parts = urlsplit(url)
        self.base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.fixed = parse_qsl(parts.query, keep_blank_values=True)  # e.g. map=... kept on every call
        self.safe = secrets.redact_url(url)
        self.hidden = http.url_secrets(url)  # registered before any request: echoed copies are masked
        if parts.scheme.lower() not in URL_SCHEMES:
            scheme = f"{parts.scheme}:" if parts.scheme else "(none)"
            raise SourceError(
                source_id,
                f"the WFS url scheme {scheme} is refused: only http and https are read",
                "give the service's http(s) URL (in `url`, or in the variable named by url_env)",
            )
        self.until = time.monotonic() + HARVEST_DEADLINE_S
        auth = None
        if config.username_env:
            auth = (env_value(config.username_env, source_id), env_value(config.password_env, source_id))
            secrets.register(auth[1])
        # `retries` more attempts after a connection error, 429 or 5xx, with growing pauses.
        self.session = http.session(retries=config.retries, auth=auth, methods=("GET",))
        self.bytes = 0

    def get(self, params: dict[str, Any], what: str) -> bytes:
        import requests

        ours = {k.upper() for k in params}
        query = [(k, v) for k, v in self.fixed if k.upper() not in ours] + list(params.items())
        shown = f"{self.safe} ({what})"
        try:
            resp, content = http.bounded_get(
                self.session,
                self.base,
                params=query,
                timeout=self.config.timeout_s,
                deadline_s=REQUEST_DEADLINE_S,
                until=self.until,
                max_bytes=MAX_PAGE_BYTES,
            )
        except http.TooSlow as err:
            whole = err.limit.startswith("the time allowed")
            limit = f"{HARVEST_DEADLINE_S:g} s per source" if whole else err.limit
            setting = "OMV_WFS_HARVEST_DEADLINE_S" if whole else "OMV_WFS_REQUEST_DEADLINE_S"
            raise SourceError(
                self.source_id,
                f"the WFS at {shown} took longer than the limit of {limit} ({setting}); {err}: refused",
                "the server is too slow or trickles its answer: retry later, lower page_size, or ask its "
                "administrator",
                retryable=True,
            ) from None
        except http.TooLarge as err:
            raise SourceError(
                self.source_id,
                f"the answer of the WFS at {shown} was refused: {err}, above the limit of {err.limit} per "
                "request (OMV_WFS_MAX_PAGE_BYTES)",
                "lower page_size so that each page is smaller, or ask the operator to raise the limit",
            ) from None
        except (requests.ConnectionError, requests.Timeout) as err:
            raise SourceError(
                self.source_id,
                f"cannot reach the WFS at {shown}: {type(err).__name__}: {_strip_urls(str(err))}",
                "check the URL, that the server is up and reachable from here, or raise timeout_s",
                retryable=True,
            ) from None
        self.bytes += len(content)
        if resp.status_code >= 400:
            hint = {
                401: "check the credentials named by username_env/password_env",
                403: "the account (or this machine) is not allowed to read this service",
                404: "check the service URL",
            }.get(resp.status_code, "check the request parameters in the catalogue, or retry later")
            error = Refused if resp.status_code == 400 else SourceError
            raise error(
                self.source_id,
                f"the WFS at {shown} answered HTTP {resp.status_code}: "
                + secrets.redact(server_message(content), *self.hidden),
                hint,
                retryable=resp.status_code in http.RETRY_STATUS,  # still failing after the retries
            )
        raise_ogc_exception(content, self.source_id, shown, self.hidden)
        return content


def env_value(name: str | None, source_id: str) -> str:
    """The value of a variable the catalogue names (a URL, a user name, a password), or a clear error."""
    value = os.environ.get(name or "")
    if not value:
        raise SourceError(source_id, f"environment variable {name} is not set", f"set {name} and retry")
    return value


def _strip_urls(text: str) -> str:
    """requests puts the full URL (with query) in its messages: keep only host and port."""
    return secrets.redact(re.sub(r"url: \S+", "", text).strip())


@lru_cache(maxsize=4096)  # a page repeats the same few dozen tags tens of thousands of times
def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(content: bytes) -> Element:
    """Parse untrusted XML with libxml2 (lxml): no entity expansion, no network, and a document that
    declares entities is refused. libxml2 builds the tree in C, several times faster than defusedxml,
    whose parser calls back into Python for every element (most of the time of a GML harvest)."""
    from lxml import etree

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True, remove_pis=True
    )
    root = etree.fromstring(content, parser)
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise ValueError("XML entity declarations are refused (possible entity expansion attack)")
    return root


def server_message(content: bytes) -> str:
    """The text of an OGC exception report, or the start of whatever the server sent."""
    try:
        root = parse_xml(content)
    except Exception:  # not XML: show the start of the text
        text = re.sub(r"<[^>]+>", " ", content[:2000].decode("utf-8", "replace"))
        return " ".join(text.split())[:300] or "(empty answer)"
    if "Exception" in local_name(root.tag):
        return _exception_text(root)
    return " ".join(" ".join(root.itertext()).split())[:300] or "(empty answer)"


def _exception_text(root: Element) -> str:
    parts = []
    for node in root.iter():
        if local_name(node.tag) in ("ServiceException", "Exception"):
            code = node.get("exceptionCode") or node.get("code")
            locator = node.get("locator")
            text = " ".join(" ".join(node.itertext()).split())
            label = ", ".join(x for x in (code, f"locator {locator}" if locator else None) if x)
            parts.append(f"[{label}] {text}" if label else text)
    return "; ".join(parts) or "(empty exception report)"


def raise_ogc_exception(content: bytes, source_id: str, shown: str, hidden: list[str] | None = None) -> None:
    """WFS servers often report errors with HTTP 200 and an exception report body (its text is redacted
    with the URL's `hidden` secrets: servers echo the request URL in it)."""
    head = content[:1000]
    if b"ExceptionReport" in head and content.lstrip()[:1] == b"<":
        raise Refused(
            source_id,
            f"the WFS at {shown} reported an error: "
            + secrets.redact(server_message(content), *(hidden or ())),
            "check typename, version, srs and output_format against the server's capabilities",
        )

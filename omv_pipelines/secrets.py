"""Keeping secrets out of every text a person or a log can see.

One place knows what a secret looks like: the password of a URL's user info, query values whose name
says key/token/password/secret/signature, `Authorization` header values, and every value registered at
run time with `register` (the ODWB API key, database passwords, webhook URLs read from the environment).
`redact` is applied to anything that can reach a log, an event, metadata, an exception or a file.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

MASK = "***"
# Query parameter names that carry secrets (apikey, access_token, password, client_secret, sig, …).
SECRET_PARAM = re.compile(r"key|token|pass|pwd|secret|auth|sig|credential", re.IGNORECASE)
# Shortest registered value that is replaced as is: shorter ones would mask ordinary words.
MIN_SECRET_LENGTH = 4

_USERINFO = re.compile(
    r"(?P<scheme>\b[a-z][a-z0-9+.\-]*://)(?P<user>[^/\s:@]*)(?::(?P<password>[^/\s@]*))?@", re.IGNORECASE
)
_QUERY_VALUE = re.compile(
    r"(?P<name>[?&;\s\"'](?:[\w.\-]*(?:key|token|pass|pwd|secret|auth|sig|credential)[\w.\-]*))=(?P<value>[^&#\s\"']*)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\r\n\"',}]+)", re.IGNORECASE
)

_registered: set[str] = set()
_lock = threading.Lock()


def register(*values: str | None) -> None:
    """Remember secret values (and their URL-encoded forms) so that `redact` masks them everywhere."""
    with _lock:
        for value in values:
            if value and len(value) >= MIN_SECRET_LENGTH:
                _registered.update({value, quote(value, safe=""), quote_plus(value)})


def registered() -> frozenset[str]:
    return frozenset(_registered)


def redact(text: object, *secrets: str | None) -> str:
    """`text` with every secret shape masked: user:password@, secret query values, Authorization
    headers, the `secrets` given and every registered value."""
    out = str(text)
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} | _registered
    for value in sorted(values, key=len, reverse=True):  # longest first: a secret may contain another
        out = out.replace(value, MASK)
    out = _USERINFO.sub(
        lambda m: f"{m['scheme']}{m['user']}:{MASK}@" if m["password"] is not None else m[0], out
    )
    out = _QUERY_VALUE.sub(lambda m: f"{m['name']}={MASK}", out)
    return _AUTH_HEADER.sub(lambda m: f"{m['name']}{MASK}", out)


def redact_url(url: str) -> str:
    """A URL fit to show: no user info at all, secret-looking query values masked, no fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    # Registered values are masked decoded: re-encoding may spell them unlike either form `register` knows.
    query = urlencode([(k, MASK if SECRET_PARAM.search(k) else redact(v)) for k, v in pairs], safe=":/,*")
    return redact(urlunsplit((parts.scheme, host, parts.path, query, "")))


def has_credentials(url: str) -> bool:
    """True when a URL carries a user name or password in its user info (refused in catalogue files)."""
    parts = urlsplit(url)
    return bool(parts.username or parts.password)

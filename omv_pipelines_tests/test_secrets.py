"""Every secret shape `omv_pipelines.secrets` knows is masked, whatever text it appears in."""

import uuid
from urllib.parse import quote

import pytest

from omv_pipelines import secrets
from omv_pipelines.secrets import MASK, redact, redact_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # user:password in URLs of any scheme
        ("https://bob:s3cret@geo.example.org/ows", f"https://bob:{MASK}@geo.example.org/ows"),
        ("postgresql+psycopg://omv:Sup3r-s3cret@db:5432/omv", f"postgresql+psycopg://omv:{MASK}@db:5432/omv"),
        ("mysql+pymysql://root:pw@127.0.0.1/test", f"mysql+pymysql://root:{MASK}@127.0.0.1/test"),
        ("ftp://anon:x@files.example.org/a.csv", f"ftp://anon:{MASK}@files.example.org/a.csv"),
        ("error at sftp://u:p4ss@h:22/x, retry", f"error at sftp://u:{MASK}@h:22/x, retry"),
        ("https://bob@geo.example.org/ows", "https://bob@geo.example.org/ows"),  # no password to hide
        # secret query values
        ("https://h/a.csv?apikey=abc123", f"https://h/a.csv?apikey={MASK}"),
        ("https://h/x?map=/a.map&token=t0k&n=1", f"https://h/x?map=/a.map&token={MASK}&n=1"),
        ("https://h/x?password=pw&user=u", f"https://h/x?password={MASK}&user=u"),
        ("https://h/x?access_token=ya29.a0", f"https://h/x?access_token={MASK}"),
        ("https://blob.example/f?sv=2024&sig=AbC%2Bd", f"https://blob.example/f?sv=2024&sig={MASK}"),
        ("GET /api?APIKEY=K3y HTTP/1.1", f"GET /api?APIKEY={MASK} HTTP/1.1"),
        # SQLAlchemy URLs with the password in the query
        (
            "mysql+pymysql://root@db/test?password=s3cret&charset=utf8",
            f"mysql+pymysql://root@db/test?password={MASK}&charset=utf8",
        ),
        # Authorization headers, as text and as a dict's repr
        ("Authorization: Bearer eyJhbGciOi.x.y", f"Authorization: {MASK}"),
        ("Proxy-Authorization: Basic Ym9iOnB3", f"Proxy-Authorization: {MASK}"),
        (
            "{'Authorization': 'Apikey 0123456789abcdef', 'Accept': '*/*'}",
            f"{{'Authorization': '{MASK}', 'Accept': '*/*'}}",
        ),
        ('{"authorization": "Bearer abc"}', f'{{"authorization": "{MASK}"}}'),
        # ordinary text stays as it is
        ("page 3 of defibrillateurs: 27 features", "page 3 of defibrillateurs: 27 features"),
    ],
)
def test_redact_masks_every_secret_shape(text, expected):
    assert redact(text) == expected


def test_given_and_registered_values_are_masked_also_url_encoded():
    given = f"given-{uuid.uuid4().hex[:8]}"
    assert redact(f"connect failed for {given}", given) == f"connect failed for {MASK}"
    value = f"p@ss/{uuid.uuid4().hex[:8]}!"  # characters that URL encoding changes
    secrets.register(value)
    assert value in secrets.registered()
    text = f"raw {value}; quoted {quote(value, safe='')}; form {quote(value, safe='').replace('%20', '+')}"
    assert redact(text) == f"raw {MASK}; quoted {MASK}; form {MASK}"
    assert redact_url(f"https://h/x?q={quote(value, safe='')}") == f"https://h/x?q={MASK}"


def test_short_values_are_not_registered_as_such():
    """A two-letter password replaced everywhere would mask ordinary words; its URL shape still hides it."""
    secrets.register("pw")
    assert "pw" not in secrets.registered()
    assert redact("the pw column") == "the pw column"
    assert redact("postgresql://u:pw@h/db") == f"postgresql://u:{MASK}@h/db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://bob:pw@geo.example.org:8443/ows?map=/srv/a.map&apikey=abc123&Token=xyz",
            f"https://geo.example.org:8443/ows?map=/srv/a.map&apikey={MASK}&Token={MASK}",
        ),
        ("https://bob@h/a.csv#frag", "https://h/a.csv"),  # no user info at all, no fragment
        ("http://[::1]:8080/wfs?SERVICE=WFS", "http://[::1]:8080/wfs?SERVICE=WFS"),
        (
            "https://h/f.xlsx?sv=1&sig=abc&access_token=t&client_secret=s&pwd=p",
            f"https://h/f.xlsx?sv=1&sig={MASK}&access_token={MASK}&client_secret={MASK}&pwd={MASK}",
        ),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_has_credentials():
    assert secrets.has_credentials("https://bob:pw@h/x") and secrets.has_credentials("https://bob@h/x")
    assert not secrets.has_credentials("https://h/x?apikey=a")

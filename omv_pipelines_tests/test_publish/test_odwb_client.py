"""The ODWB client against the loopback Opendatasoft emulator: retries, typed errors, pagination, secrets."""

from __future__ import annotations

import socket

import pytest

from omv_pipelines import secrets
from omv_pipelines.errors import OmvError
from omv_pipelines.publish import odwb
from omv_pipelines.publish.odwb import (
    MAX_RETRY_AFTER_S,
    OdwbAuthError,
    OdwbBusy,
    OdwbClient,
    OdwbError,
    OdwbNotFound,
    OdwbRateLimited,
    OdwbValidationError,
)
from omv_pipelines_tests.odwb_emulator import OdsEmulator
from omv_pipelines_tests.test_publish import record_retry_waits


@pytest.fixture
def ods():
    with OdsEmulator() as emulator:
        yield emulator


@pytest.fixture
def delays(monkeypatch) -> list[float]:
    """The session's waits before each retry, recorded instead of slept."""
    return record_retry_waits(monkeypatch)


@pytest.fixture
def client(ods, delays):
    with OdwbClient(ods.url, ods.api_key, timeout_s=5, retries=3, backoff_s=0.1) as c:
        yield c


def test_server_error_is_retried_with_growing_jittered_backoff(ods, client, delays):
    ods.inject(r"/datasets/$", 500, times=2, method="GET")
    assert client.find_dataset("absent") is None
    assert ods.count("GET", r"/automation/v1.0/datasets/$") == 3
    assert len(delays) == 2
    # urllib3: the first retry at once, then backoff_s * 2**(n-1) + jitter < backoff_s / 2
    assert delays[0] == 0 and 0.2 <= delays[1] <= 0.25


def test_retry_after_of_a_429_is_honoured(ods, client, delays):
    ods.inject(r"/datasets/$", 429, headers={"Retry-After": "7"}, method="GET")
    assert client.find_dataset("absent") is None
    assert delays == [7.0]


def test_retry_after_is_capped(ods, client, delays):
    ods.inject(r"/datasets/$", 429, headers={"Retry-After": "86400"}, method="GET")
    assert client.find_dataset("absent") is None
    assert delays == [MAX_RETRY_AFTER_S]


def test_retries_exhausted_raise_with_status_and_server_message(ods, client, delays):
    ods.inject(
        r"/status/$", 503, times=None, body={"error_code": "unavailable", "message": "maintenance until noon"}
    )
    uid = client.create_dataset("ds", {"default": {"title": "T"}})["uid"]
    with pytest.raises(OdwbError) as info:
        client.status(uid)
    assert info.value.status == 503 and info.value.error_code == "unavailable"
    assert "maintenance until noon" in str(info.value) and f"read the status of dataset {uid}" in str(
        info.value
    )
    assert ods.count("GET", r"/status/$") == 4 and len(delays) == 3


def test_not_found_is_not_retried(ods, client, delays):
    with pytest.raises(OdwbNotFound) as info:
        client.get_dataset("da_missing")
    assert info.value.status == 404 and info.value.error_code == "not_found"
    assert ods.count("GET", r"/datasets/da_missing/$") == 1 and delays == []


def test_wrong_key_says_the_key_is_refused_and_never_shows_it(ods, delays):
    wrong = "0123456789abcdef-not-a-key"
    with OdwbClient(ods.url, wrong, retries=3) as c, pytest.raises(OdwbAuthError) as info:
        c.find_dataset("any")
    message = str(info.value)
    assert info.value.status == 401 and "ODWB_API_KEY" in message
    assert wrong not in message and wrong not in repr(c)
    assert delays == []  # a 4xx other than 429 is final
    assert isinstance(info.value, OmvError) and not info.value.retryable  # a person must fix the key


def test_missing_permission_names_the_attempted_action(ods, client):
    reader = ods.add_key({"create_dataset", "edit_dataset"})  # no publish_dataset
    uid = client.create_dataset("ds", {"default": {"title": "T"}})["uid"]
    with OdwbClient(ods.url, reader) as c, pytest.raises(OdwbAuthError) as info:
        c.publish(uid)
    assert info.value.status == 403
    assert f"lacks the permission to publish dataset {uid}" in str(info.value)
    assert reader not in str(info.value)


def test_timeout_is_retried_then_succeeds(ods, delays):
    ods.inject(r"/datasets/$", None, delay_s=1.0, method="GET")
    with OdwbClient(ods.url, ods.api_key, timeout_s=0.2, retries=2) as c:
        assert c.find_dataset("absent") is None
    assert len(delays) == 1


def test_timeouts_exhausted_say_so(ods, delays):
    ods.inject(r"/datasets/$", None, times=2, delay_s=1.0, method="GET")
    with OdwbClient(ods.url, ods.api_key, timeout_s=0.2, retries=1) as c, pytest.raises(OdwbError) as info:
        c.find_dataset("absent")
    assert info.value.status is None and "timed out after 2 attempts" in str(info.value)
    assert info.value.retryable


def test_connection_refused_is_retried_then_reported_without_the_key(delays):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "secret-key-for-refused-port"
    with OdwbClient(f"http://127.0.0.1:{port}", key, retries=2) as c, pytest.raises(OdwbError) as info:
        c.find_dataset("any")
    assert info.value.status is None and "could not connect" in str(info.value)
    assert len(delays) == 2 and key not in str(info.value)


def test_server_echo_of_the_key_is_masked(ods, client):
    ods.inject(
        r"/datasets/$",
        400,
        method="GET",
        body={"error_code": "bad_request", "message": f"bad key {ods.api_key} in ?apikey={ods.api_key}&x=1"},
    )
    with pytest.raises(OdwbError) as info:
        client.find_dataset("any")
    assert ods.api_key not in str(info.value) and "apikey=***" in str(info.value)


def test_urls_shown_hide_apikey_parameters():
    assert (
        secrets.redact_url("https://p/api/x?limit=2&apikey=abc123&offset=4")
        == "https://p/api/x?limit=2&apikey=***&offset=4"
    )
    assert secrets.redact("https://p/?APIKEY=zz") == "https://p/?APIKEY=***"


def test_errors_say_whether_a_retry_can_help():
    assert OdwbError(503, None, "down").retryable and OdwbError(None, None, "no answer").retryable
    assert OdwbBusy(400, "invalid_dataset_status", "busy").retryable
    assert OdwbRateLimited(429, None, "quota").retryable
    assert not OdwbError(400, "bad_request", "no").retryable
    assert not OdwbValidationError(400, "validation_error", "no").retryable
    assert not OdwbAuthError(403, None, "no").retryable


def test_lists_follow_next_links(ods, client, monkeypatch):
    monkeypatch.setattr(odwb, "PAGE_LIMIT", 2)
    uid = client.create_dataset("ds", {"default": {"title": "T"}})["uid"]
    for n in range(5):
        client.create_field_config(
            uid, {"type": "annotate", "label": f"c{n}", "field": f"f{n}", "annotation": "sortable"}
        )
    assert [c["label"] for c in client.list_field_configs(uid)] == ["c0", "c1", "c2", "c3", "c4"]
    assert ods.count("GET", r"/fields/$") == 3


def test_dataset_lifecycle_upload_resource_publish_and_read_back(ods, client):
    created = client.create_dataset("velos", {"default": {"title": "Vélos", "keyword": ["mobilité"]}})
    uid = created["uid"]
    assert created["dataset_id"] == "velos" and created["is_restricted"] is False
    assert client.find_dataset("velos")["uid"] == uid
    file = client.upload_file(uid, "velos.csv", "id,nom\n1,Gare\n2,Hôtel de ville\n".encode())
    resource = client.create_resource(uid, OdwbClient.csvfile_resource("velos.csv", file["uid"]))
    assert resource["params"]["separator"] == "," and resource["params"]["encoding"] == "utf-8"
    assert [r["uid"] for r in client.list_resources(uid)] == [resource["uid"]]
    client.set_metadata_field(uid, "default", "publisher", "Ville de Namur")
    assert client.get_metadata_field(uid, "default", "publisher") == "Ville de Namur"
    assert client.get_metadata(uid)["default"]["keyword"] == {"value": ["mobilité"]}
    client.publish(uid)
    with pytest.raises(OdwbBusy):
        client.publish(uid)
    ods.wait_idle()
    assert client.status(uid)["status"] == "idle"
    records = client.export_json("velos")  # no field configuration: the extractor guessed `id` is an int
    assert records == [{"id": 1, "nom": "Gare"}, {"id": 2, "nom": "Hôtel de ville"}]
    assert client.export_csv("velos") == "id,nom\r\n1,Gare\r\n2,Hôtel de ville\r\n".encode()
    assert client.count_records("velos") == 2
    assert client.explore_dataset("velos")["dataset_uid"] == uid
    client.unpublish(uid)
    assert client.explore_dataset("velos") is None


def test_duplicate_dataset_id_is_a_validation_error_with_detail(client):
    client.create_dataset("ds", {"default": {"title": "T"}})
    with pytest.raises(OdwbValidationError) as info:
        client.create_dataset("ds", {"default": {"title": "T"}})
    assert info.value.status == 400 and "dataset_id" in info.value.detail and not info.value.retryable


def test_explore_quota_error_uses_errorcode(ods, delays):
    quota = {
        "errorcode": 10002,
        "reset_time": "2025-01-01T00:00:00Z",
        "limit_time_unit": "day",
        "call_limit": 10000,
        "error": "Too many requests on the domain. Please contact the domain administrator.",
    }
    ods.inject(r"/records$", 429, times=None, body=quota, headers={"Retry-After": "1"})
    with OdwbClient(ods.url, ods.api_key, retries=1) as c, pytest.raises(OdwbRateLimited) as info:
        c.count_records("anything")
    assert info.value.error_code == "10002" and "Too many requests on the domain" in str(info.value)
    assert delays == [1.0]


def test_records_window_limits_are_enforced(ods, client):
    ods.add_dataset("big", records=[{"n": str(i)} for i in range(3)])
    url = f"{ods.url}/api/explore/v2.1/catalog/datasets/big/records"
    for params in ({"limit": 101}, {"limit": 100, "offset": 9901}):
        with pytest.raises(OdwbError) as info:
            client.request("GET", url, action="query records", params=params)
        assert info.value.status == 400
    page = client.request("GET", url, action="query records", params={"limit": 100, "offset": 9900}).json()
    assert page == {"total_count": 3, "results": []}

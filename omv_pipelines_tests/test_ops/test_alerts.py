"""Run-failure alerts reach a webhook and an SMTP server on loopback, with the run's facts and no secret."""

import dagster as dg
import pytest

from omv_pipelines.catalog.loader import load_catalog
from omv_pipelines.defs.alerts import (
    AlertError,
    AlertResource,
    alert_on_run_failure,
    alert_resource_from_env,
    dataset_of_step,
)
from omv_pipelines.defs.local import run_commune
from omv_pipelines_tests.support.loopback import loopback_server
from omv_pipelines_tests.test_ops.helpers import demo_catalog, free_port

TOKEN = "T000-secret-token"


class _Webhook:
    """A loopback webhook (the shared helper) recording POSTed JSON bodies; answers `status`."""

    def __init__(self, status: int = 200):
        self.server = loopback_server(lambda *_: (status, {}, b"ok" if status < 300 else b"invalid_token"))

    @property
    def bodies(self) -> list[dict]:
        return [request.json() for request in self.server.requests if request.method == "POST"]

    def __enter__(self):
        self.server.__enter__()
        self.url = self.server.url(f"/hooks/{TOKEN}")
        return self

    def __exit__(self, *exc):
        self.server.__exit__(*exc)


@pytest.fixture
def webhook():
    with _Webhook() as server:
        yield server


@pytest.fixture
def smtp():
    """An aiosmtpd server on a free loopback port, collecting messages."""
    from aiosmtpd.controller import Controller

    class Collect:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode("utf-8")))
            return "250 OK"

    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


@pytest.fixture
def failed_run(pipeline_factory):
    """A real failed commune run: Namur's defibrillator database file has gone."""
    pipeline = pipeline_factory(catalog_dir=demo_catalog(pipeline_factory.base / "catalog", ["92094"]))
    (pipeline.catalog_dir / "data" / "namur_dae.sqlite").unlink()
    result = run_commune(
        pipeline.defs, pipeline.instance, load_catalog(pipeline.catalog_dir).get("92094").config
    )
    assert not result.success
    return pipeline.instance, pipeline.instance.get_run_by_id(result.run_id), result.get_run_failure_event()


def _sensor_tick(instance, run, event, alerts: AlertResource):
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"alerts": alerts},
    ).for_run_failure()
    return alert_on_run_failure(context)


def test_steps_map_back_to_their_dataset():
    assert dataset_of_step("raw__resilience__defibrillateurs_raw") == "resilience/defibrillateurs"
    assert (
        dataset_of_step("normalise_publish_mobility_stationnements_velos") == "mobility/stationnements_velos"
    )
    assert (
        dataset_of_step("regional__participation__projets_budget_participatif_regional")
        == "participation/projets_budget_participatif"
    )
    assert dataset_of_step("something_else") is None


@pytest.mark.integration
def test_a_failed_run_posts_commune_dataset_step_error_and_link_to_the_webhook_and_by_email(
    failed_run, webhook, smtp
):
    instance, run, event = failed_run
    controller, mailbox = smtp
    alerts = AlertResource(
        ui_url="https://dagster.example.org/",
        webhook_url=webhook.url,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_from="omv@example.org",
        email_to="ops@example.org, data@example.org",
    )
    _sensor_tick(instance, run, event, alerts)

    [body] = webhook.bodies
    assert set(body) == {"text"}  # Slack / Mattermost / Teams workflow format
    text = body["text"]
    lines = text.splitlines()
    assert lines[0] == "[omv] commune_sync failed — Namur (92094)"
    [step] = [line for line in lines if line.startswith("• ")]
    assert step.startswith("• resilience/defibrillateurs — step raw__resilience__defibrillateurs_raw: ")
    assert "namur_dae.sqlite" in step
    assert lines[-1] == f"https://dagster.example.org/runs/{run.run_id}"

    [(sender, recipients, content)] = mailbox.messages
    assert sender == "omv@example.org" and recipients == ["ops@example.org", "data@example.org"]
    assert "Subject: [omv] commune_sync failed" in content and f"/runs/{run.run_id}" in content


@pytest.mark.integration
def test_an_unreachable_channel_is_reported_without_its_secret_url_and_the_other_still_gets_the_alert(
    failed_run, smtp
):
    instance, run, event = failed_run
    controller, mailbox = smtp
    with _Webhook(status=403) as refusing:
        alerts = AlertResource(
            webhook_url=refusing.url,
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            email_to="ops@example.org",
        )
        with pytest.raises(AlertError) as raised:
            _sensor_tick(instance, run, event, alerts)
    assert "webhook answered HTTP 403" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert len(mailbox.messages) == 1


def test_the_sensor_exists_only_when_a_channel_is_configured_and_takes_secrets_through_envvar(
    tmp_path, monkeypatch
):
    from omv_pipelines.definitions import build_definitions

    catalog_dir = demo_catalog(tmp_path / "catalog", ["92094"])
    monkeypatch.setenv("OMV_CATALOG", str(catalog_dir))
    for name in (
        "OMV_ALERT_WEBHOOK_URL",
        "OMV_SMTP_HOST",
        "OMV_ALERT_EMAIL_TO",
        "OMV_SMTP_PASSWORD",
        "OMV_SMTP_USER",
    ):
        monkeypatch.delenv(name, raising=False)
    assert "alert_on_run_failure" not in {s.name for s in build_definitions().sensors}
    assert alert_resource_from_env({}) is None

    env = {
        "OMV_ALERT_WEBHOOK_URL": f"http://127.0.0.1:9/hooks/{TOKEN}",
        "OMV_SMTP_HOST": "127.0.0.1",
        "OMV_ALERT_EMAIL_TO": "ops@example.org",
        "OMV_SMTP_USER": "omv",
        "OMV_SMTP_PASSWORD": "pw-secret",
        "OMV_SMTP_PORT": "2525",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions()
    assert "alert_on_run_failure" in {s.name for s in defs.sensors}
    resource = alert_resource_from_env(env)
    # The definitions hold the names of environment variables, resolved by Dagster at run time.
    assert resource.webhook_url == dg.EnvVar("OMV_ALERT_WEBHOOK_URL")
    assert resource.smtp_password == dg.EnvVar("OMV_SMTP_PASSWORD")
    assert TOKEN not in repr(resource) and "pw-secret" not in repr(resource)
    assert resource.channels == ["webhook", "email"]

"""Alerts: when a run fails, tell the team by chat webhook and/or email, with a link to the run.

Configured from the environment (read only to decide whether the sensor exists; the values reach the
resource through EnvVar, so Dagster resolves them at run time and never displays them):

    OMV_ALERT_WEBHOOK_URL   Slack / Mattermost incoming webhook, or a Teams workflow webhook ({"text": ...})
    OMV_SMTP_HOST, OMV_SMTP_PORT (default 25; 465 = implicit TLS), OMV_SMTP_FROM, OMV_ALERT_EMAIL_TO
                            (comma-separated), optional OMV_SMTP_USER / OMV_SMTP_PASSWORD (STARTTLS first
                            when the server offers it)
    OMV_UI_URL              base URL of the Dagster UI for run links (default http://127.0.0.1:3000)

The webhook URL is a secret too (it carries the channel's token): errors name the channel, never the URL.
The webhook is posted through the project's one HTTP session (retries on connection errors, 429, 5xx).
"""

import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import dagster as dg

from omv_pipelines import http, secrets
from omv_pipelines.defs import tags
from omv_pipelines.defs.keys import dataset_of
from omv_pipelines.defs.partitions import commune_label
from omv_pipelines.errors import OmvError

DEFAULT_UI_URL = "http://127.0.0.1:3000"


WEBHOOK_RETRIES = 2  # a duplicated chat message is better than a lost alert


class AlertError(OmvError):
    """A channel refused or could not be reached; the message names the channel and the reason only.
    Retryable when the channel was unreachable or busy, not when it refused (a revoked token)."""


class AlertResource(dg.ConfigurableResource):
    """Where failure alerts go. Every field may come from an EnvVar; nothing is logged but channel names."""

    ui_url: str = DEFAULT_UI_URL
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    email_to: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    timeout_s: float = 10

    @property
    def channels(self) -> list[str]:
        return (["webhook"] if self.webhook_url else []) + (
            ["email"] if self.smtp_host and self.email_to else []
        )

    def send(self, subject: str, text: str) -> list[str]:
        """Try every channel, then raise one AlertError naming those that failed."""
        secrets.register(self.webhook_url, self.smtp_password)  # resolved from EnvVars: mask them everywhere
        problems, transient = [], []
        for channel, deliver in (("webhook", self._post), ("email", self._mail)):
            if channel not in self.channels:
                continue
            try:
                deliver(subject, text)
            except Exception as exc:  # one channel down must not silence the other
                problems.append(f"{channel}: {secrets.redact(exc, self.webhook_url, self.smtp_password)}")
                transient.append(_transient(exc))
        if problems:
            raise AlertError("alert not delivered through " + "; ".join(problems), retryable=all(transient))
        return self.channels

    def _post(self, subject: str, text: str) -> None:
        import requests

        if self.webhook_url is None:  # send() only posts when the webhook channel is configured
            raise AlertError("no webhook_url configured")
        try:
            with http.session(retries=WEBHOOK_RETRIES) as session:
                response = session.post(self.webhook_url, json={"text": text}, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise AlertError(f"webhook unreachable ({type(exc).__name__})", retryable=True) from None
        if response.status_code >= 300:
            raise AlertError(
                f"webhook answered HTTP {response.status_code}: {response.text[:200]}",
                retryable=response.status_code == 429 or response.status_code >= 500,
            )

    def _mail(self, subject: str, text: str) -> None:
        import smtplib
        from email.message import EmailMessage

        if self.smtp_host is None:  # send() only mails when the email channel is configured
            raise AlertError("no smtp_host configured")
        message = EmailMessage()
        message["Subject"], message["From"] = subject, self.smtp_from or f"omv-pipelines@{self.smtp_host}"
        message["To"] = ", ".join(_recipients(self.email_to))
        message.set_content(text)
        client = smtplib.SMTP_SSL if self.smtp_port == 465 else smtplib.SMTP
        with client(self.smtp_host, self.smtp_port, timeout=self.timeout_s) as smtp:
            if client is smtplib.SMTP:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
            if self.smtp_user:
                smtp.login(self.smtp_user, self.smtp_password or "")
            smtp.send_message(message)


def _recipients(value: str | None) -> list[str]:
    return [address.strip() for address in (value or "").split(",") if address.strip()]


def _transient(exc: Exception) -> bool:
    """Whether sending again later may succeed: an unreachable or busy channel, an SMTP 4xx answer."""
    import smtplib

    if isinstance(exc, OmvError):
        return exc.retryable
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPException):  # refused recipients, no AUTH or STARTTLS on the server…
        return isinstance(exc, smtplib.SMTPServerDisconnected)
    return isinstance(exc, OSError)  # connection refused, timeout, TLS handshake


@cache
def _dataset_by_step() -> dict[str, str]:
    """Each asset step (its op's name) → the dataset it belongs to, read from the assets themselves."""
    from omv_pipelines.defs.assets import dataset_assets

    return {
        asset.node_def.name: dataset
        for asset in dataset_assets
        if (dataset := dataset_of(next(iter(asset.keys))))
    }


def dataset_of_step(step_key: str) -> str | None:
    """The dataset ("theme/dataset") whose asset a step materialises, or None for any other step."""
    return _dataset_by_step().get(step_key)


def _commune(run: dg.DagsterRun) -> str | None:
    code = run.tags.get(tags.COMMUNE) or run.tags.get(tags.PARTITION)
    return commune_label(code) if code else None


def failure_message(
    run: dg.DagsterRun, step_failures: Sequence[dg.DagsterEvent], run_failure: str | None, ui_url: str
) -> tuple[str, str]:
    """(subject, text): commune, then one line per failed step (dataset, step, first line of the error)."""
    commune = _commune(run)
    subject = f"[omv] {run.job_name} failed" + (f" — {commune}" if commune else "")
    lines = [subject]
    for event in step_failures:
        error = event.step_failure_data.error if event.step_failure_data else None
        first = (error.message.strip().splitlines() or [""])[0] if error else "(no error message)"
        dataset = dataset_of_step(event.step_key or "")
        lines.append(f"• {dataset or 'step'} — step {event.step_key}: {first}")
    if not step_failures:
        lines.append(f"• run: {(run_failure or 'failed').strip().splitlines()[0]}")
    lines.append(f"{ui_url.rstrip('/')}/runs/{run.run_id}")
    return subject, "\n".join(lines)


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts a short message (commune, dataset, step, error, link) "
    "to the configured webhook and/or email.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertResource) -> None:
    """Watches every job of this code location: commune_sync, regional_rebuild, and the runs the UI
    launches for a selection of assets (backfills run under Dagster's implicit asset job)."""
    subject, text = failure_message(
        context.dagster_run, context.get_step_failure_events(), context.failure_event.message, alerts.ui_url
    )
    sent = alerts.send(subject, text)
    context.log.info(f"alert for run {context.dagster_run.run_id} sent through {', '.join(sent)}")


def alert_resource_from_env(env: Mapping[str, str] | None = None) -> AlertResource | None:
    """The resource wired to EnvVars for what is configured, or None when no channel is set."""
    env = os.environ if env is None else env
    webhook = bool(env.get("OMV_ALERT_WEBHOOK_URL"))
    email = all(env.get(name) for name in ("OMV_SMTP_HOST", "OMV_ALERT_EMAIL_TO"))
    if not (webhook or email):
        return None
    fields: dict[str, Any] = {"ui_url": dg.EnvVar("OMV_UI_URL")} if env.get("OMV_UI_URL") else {}
    if webhook:
        fields["webhook_url"] = dg.EnvVar("OMV_ALERT_WEBHOOK_URL")
    if email:
        fields |= {"smtp_host": dg.EnvVar("OMV_SMTP_HOST"), "email_to": dg.EnvVar("OMV_ALERT_EMAIL_TO")}
        optional = {
            "smtp_from": "OMV_SMTP_FROM",
            "smtp_user": "OMV_SMTP_USER",
            "smtp_password": "OMV_SMTP_PASSWORD",
        }
        fields |= {field: dg.EnvVar(name) for field, name in optional.items() if env.get(name)}
        if env.get("OMV_SMTP_PORT"):
            fields["smtp_port"] = dg.EnvVar.int("OMV_SMTP_PORT")
    return AlertResource(**fields)


@dg.definitions
def failure_alerts() -> dg.Definitions:
    """The sensor and its resource exist only when a channel is configured.

    (No sensor shouting into the void.)
    """
    alerts = alert_resource_from_env()
    return (
        dg.Definitions(sensors=[alert_on_run_failure], resources={"alerts": alerts})
        if alerts
        else dg.Definitions()
    )

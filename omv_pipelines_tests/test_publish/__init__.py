"""Helpers shared by the publish tests."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import urllib3.util.retry as urllib3_retry


def record_retry_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What urllib3's Retry (behind `omv_pipelines.http.session`) waits before each retry, recorded
    instead of slept: one entry per retry, 0.0 when urllib3 retries at once."""
    waits: list[float] = []
    slept: list[float] = []
    monkeypatch.setattr(urllib3_retry, "time", SimpleNamespace(sleep=slept.append, time=time.time))
    real_sleep = urllib3_retry.Retry.sleep

    def sleep(self, response=None) -> None:
        slept.clear()
        real_sleep(self, response)
        waits.append(float(sum(slept)))

    monkeypatch.setattr(urllib3_retry.Retry, "sleep", sleep)
    return waits

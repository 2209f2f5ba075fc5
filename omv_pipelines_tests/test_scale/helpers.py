"""Helpers of the Celery tests: where redis-server and the Celery commands are; waiting for a condition."""

import shutil
import sys
import time
from pathlib import Path

import pytest

REDIS = shutil.which("redis-server")
BIN = Path(sys.executable).parent  # celery, dagster-celery of this environment
NEEDS_REDIS = pytest.mark.skipif(
    not REDIS, reason="apt-get install redis-server (scripts/bootstrap.sh --dev)"
)


def wait(predicate, what: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")

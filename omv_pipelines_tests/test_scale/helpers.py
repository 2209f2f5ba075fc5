"""Helpers of the Celery tests: where redis-server is, and waiting for a condition."""

import shutil
import time

REDIS = shutil.which("redis-server")


def wait(predicate, what: str, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")

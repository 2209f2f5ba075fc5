"""A real redis-server on loopback for the Celery tests (the broker of deploy/README.md "A whole night")."""

import subprocess

import pytest

from omv_pipelines_tests.test_ops.helpers import free_port
from omv_pipelines_tests.test_scale.helpers import REDIS, wait


@pytest.fixture
def redis_url(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait(up, "redis-server")
    yield f"redis://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)

"""dagster-webserver and dagster-daemon as real processes on loopback, for the operations tests."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from omv_pipelines_tests.test_ops.helpers import free_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).parents[2]


class DagsterProcesses:
    """Starts the services with one DAGSTER_HOME and environment; `stop()` ends every process it started."""

    def __init__(self, home: Path, env: dict[str, str], instance_yaml: Path = REPO / "dagster.yaml"):
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(instance_yaml, home / "dagster.yaml")
        self.home = home
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(home)}
        for name in ("ODWB_URL", "ODWB_API_KEY", "OMV_ALERT_WEBHOOK_URL", "OMV_SMTP_HOST"):
            self.env.pop(name, None)
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = free_port()

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")
        # A session of its own: stopping it ends the code server and run workers it spawned as well.
        process = subprocess.Popen(
            command, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def start_webserver(self, timeout_s: float = 90) -> None:
        self._start(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-m",
                "omv_pipelines.definitions",
            ],
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.graphql("{ version }").get("version"):
                    return
            except OSError:
                pass
            if self.processes["webserver"].poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(
            f"dagster-webserver did not answer on port {self.port}: {self.log('webserver')[-3000:]}"
        )

    def start_daemon(self) -> subprocess.Popen:
        return self._start("daemon", [str(BIN / "dagster-daemon"), "run", "-m", "omv_pipelines.definitions"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def repository(self) -> dict[str, str]:
        data = self.graphql(
            "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
        )
        [node] = data["repositoriesOrError"]["nodes"]
        return {"repositoryName": node["name"], "repositoryLocationName": node["location"]["name"]}

    def wait_for(self, what: str, check, timeout_s: float, interval_s: float = 2):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if value := check():
                return value
            time.sleep(interval_s)
        raise AssertionError(
            f"timed out after {timeout_s:.0f} s waiting for {what}; "
            f"daemon log tail:\n{self.log('daemon')[-4000:]}"
        )

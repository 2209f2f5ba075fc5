"""A whole night for N communes × 7 datasets: the work itself (flow.py in one process) vs the Dagster night.

    python benchmarks/nightly.py --communes 10            # one size; last line: the summary
    python benchmarks/nightly.py                          # N = 10 and 40, per-commune cost fitted
    python benchmarks/nightly.py --all                    # N = 10, 40 and 261
    python benchmarks/nightly.py --communes 40 --postgres # the production instance (deploy/) on PostgreSQL
    python benchmarks/nightly.py --communes 10 --instance my.yaml   # another instance config to compare

Sources (benchmarks/nightly_data.py): real INS codes, SQLite, xlsx/csv and one loopback MapServer WFS
served from this process, with municipal sizes. Both sides read the same sources.

Floor: one subprocess that, for every commune and dataset, harvests, normalises and exports
(`flow.harvest_dataset`, `flow.normalise_dataset`, `ExportTarget.publish`), then builds and exports
the seven regional datasets (`flow.consolidate`).

Dagster: a throwaway DAGSTER_HOME with the project's instance config (`dagster.yaml`, or
`deploy/dagster.production.yaml` on a scratch PostgreSQL database with `--postgres`), a code server
(`dagster api grpc`, as deploy/systemd runs it), `dagster-daemon run` and `dagster-webserver` on
a gRPC workspace. The communes' partitions exist (as after their first night); each catalogue file names a
cron a minute or two ahead, so the daemon's scheduler ticks it for real and the QueuedRunCoordinator
launches the runs; the `regional_after_communes` sensor then requests the regional rebuild. Measured from
the scheduled tick to the end of the regional run. CPU is the whole process tree's: the services, every
run worker and step process (resource.getrusage(RUSAGE_CHILDREN) once every process has exited and been
reaped), minus the services' CPU until the tick (their start-up, reported apart). Peak RSS: the largest
sum of the tree's resident sets, sampled every 0.5 s.

After the night, GraphQL queries the UI makes are timed through the webserver (asset partitions page,
runs list, asset checks), and the event log is measured (events and MB per commune-night).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nightly_data  # noqa: E402

BIN = Path(sys.executable).parent

BRUSSELS = ZoneInfo("Europe/Brussels")
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def run_worker_args(unit: Path = REPO / "deploy" / "systemd" / "omv-run-worker.service") -> list[str]:
    """The run worker's command line as the deployed unit gives it (after the `celery` executable), with
    a process per core of this machine: the benchmark measures what is deployed."""
    text = unit.read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    args = shlex.split(line.removeprefix("ExecStart="))[1:]
    cores = f"--concurrency={os.cpu_count() or 2}"
    return [cores if a.startswith("--concurrency=") else a.replace("%%H", "%h") for a in args]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------- floor


def floor_worker(catalog_dir: str, out: str) -> None:
    """The work itself, in this one process; prints a JSON line with its peak RSS."""
    from omv_pipelines import flow
    from omv_pipelines.catalog.loader import load_catalog
    from omv_pipelines.publish.targets import ExportTarget
    from omv_pipelines.schemas import get_schema

    target = ExportTarget(Path(out) / "export")
    catalog = load_catalog(Path(catalog_dir))
    published: dict[str, dict] = {}
    for code, entry in sorted(catalog.active.items()):
        for dataset in sorted(entry.config.datasets):
            schema = get_schema(dataset)
            harvested = flow.harvest_dataset(entry, dataset)
            result = flow.normalise_dataset(entry, dataset, harvested.frame)
            report = flow.report_table(result)
            target.publish(
                result.valid,
                schema,
                dataset_id=entry.config.dataset_id(dataset),
                metadata=flow.commune_metadata(entry, schema),
                report=report,
            )
            published.setdefault(dataset, {})[code] = result.valid
    for dataset, tables in published.items():
        schema = get_schema(dataset)
        target.publish(
            flow.consolidate(tables, schema),
            schema,
            dataset_id=flow.regional_dataset_id(dataset),
            metadata=flow.regional_metadata(schema),
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": peak}))


def run_floor(catalog_dir: Path, work: Path) -> dict:
    before, started = children_cpu(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--floor-worker", str(catalog_dir), str(work / "floor")],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    peak = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    return {"wall_s": wall, "cpu_s": children_cpu() - before, "peak_rss_mb": peak}


# ------------------------------------------------------------------------------------- process tree


class Tree:
    """Samples the resident set of every process under the services; remembers the CPU at a moment."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.roots: list[int] = []
        self.names: dict[str, int] = {}  # service → its root process
        self.peak_rss = 0.0
        self.peak_pss = 0.0
        self.peak_pss_by_service: dict[str, int] = {}
        self.at_peak: list[tuple[str, int]] = []  # (process, PSS MB) at the sample of the peak PSS
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def processes(self):
        found = []
        for pid in self.roots:
            try:
                root = self.psutil.Process(pid)
                found += [root, *root.children(recursive=True)]
            except self.psutil.NoSuchProcess:
                pass
        return found

    def cpu(self) -> float:
        """CPU so far of the live tree and of the children its processes reaped."""
        total = 0.0
        for process in self.processes():
            try:
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
            except self.psutil.NoSuchProcess:
                pass
        return total

    def by_service(self, services: dict[str, int]) -> dict[str, float]:
        """CPU so far per service: the process, its live descendants and the children it reaped."""
        found = {}
        for name, pid in services.items():
            try:
                root = self.psutil.Process(pid)
                total = 0.0
                for process in [root, *root.children(recursive=True)]:
                    times = process.cpu_times()
                    total += times.user + times.system + times.children_user + times.children_system
                found[name] = round(total, 1)
            except self.psutil.NoSuchProcess:
                pass
        return found

    def _sample(self) -> None:
        """RSS counts the pages a forked worker shares with its parent twice; PSS shares them out, so the
        PSS sum is the memory the tree really holds. Both are reported; the summary line keeps RSS. Each
        service's own peak PSS (with its descendants) says where the memory is."""
        while not self._stop.wait(0.5):
            rss, pss, count = 0, 0, 0
            sample: list[tuple[str, int]] = []
            for name, root in self.names.items():
                try:
                    tree = [self.psutil.Process(root)]
                    tree += tree[0].children(recursive=True)
                except self.psutil.NoSuchProcess:
                    continue
                service_pss = 0
                for process in tree:
                    try:
                        full = process.memory_full_info()
                    except (self.psutil.NoSuchProcess, self.psutil.AccessDenied):
                        continue
                    rss += full.rss
                    service_pss += getattr(full, "pss", full.rss)
                    count += 1
                    sample.append((f"{name}:{process.pid}", round(getattr(full, "pss", full.rss) / 2**20)))
                pss += service_pss
                self.peak_pss_by_service[name] = max(
                    self.peak_pss_by_service.get(name, 0), round(service_pss / 2**20)
                )
            self.peak_rss = max(self.peak_rss, rss / 2**20)
            if pss / 2**20 > self.peak_pss:
                self.at_peak = sorted(sample, key=lambda item: -item[1])
            self.peak_pss = max(self.peak_pss, pss / 2**20)
            self.peak_processes = max(self.peak_processes, count)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------- dagster


def psutil_error() -> type[Exception]:
    import psutil

    return psutil.NoSuchProcess


class Services:
    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env = home, env
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")
        process = subprocess.Popen(
            command, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def stop(self) -> None:
        """SIGTERM to each service's session, then wait: every process is reaped, so its CPU is counted."""
        names = ["webserver", "daemon", "code_server"]
        extra = sorted((n for n in self.processes if n not in names), key=lambda n: n == "redis")
        for name in [*names, *extra]:  # the Celery workers before their broker
            if process := self.processes.get(name):
                try:
                    if name == "run_worker":
                        # The worker's main process only: it stops and reaps its pool processes (whose
                        # CPU then counts); a signal to the whole group would orphan them.
                        process.terminate()
                    else:
                        os.killpg(process.pid, signal.SIGTERM)
                except (ProcessLookupError, psutil_error()):
                    pass
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def wait_for_code_server(port: int, services: Services, timeout_s: float = 180) -> None:
    """The daemon and the webserver load the workspace at start: the code server must answer first."""
    from dagster._grpc.client import DagsterGrpcClient

    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            client.list_repositories()
            return
        except Exception:
            if services.processes["code_server"].poll() is not None:
                break
            time.sleep(0.5)
    raise RuntimeError(f"the code server did not answer: {services.log('code_server')}")


def graphql(port: int, query: str, variables: dict | None = None) -> tuple[float, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    elapsed = time.perf_counter() - started
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    return elapsed, body["data"]


# What the UI asks when a person opens these pages (trimmed to the fields that cost: statuses of every
# partition, the run list with tags, every check's latest execution).
UI_QUERIES = {
    "asset_partitions": """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
        partitionKeysByDimension { partitionKeys }
        assetPartitionStatuses { ... on DefaultPartitionStatuses {
          materializedPartitions materializingPartitions failedPartitions } }
        partitionStats { numMaterialized numPartitions numFailed numMaterializing } } } }""",
    "asset_latest": """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
        assetMaterializations(limit: 50) { partition runId timestamp metadataEntries { label } } } } }""",
    "runs_list": """{ runsOrError(limit: 25) { ... on Runs { results { runId status jobName
        tags { key value } assetSelection { path } startTime endTime } } } }""",
    "runs_count_queued": """{ runsOrError(filter: {statuses: [QUEUED, STARTED]}) {
        ... on Runs { count } } }""",
    "asset_checks": """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
        assetChecksOrError { ... on AssetChecks { checks { name canExecuteIndividually
          executionForLatestMaterialization { status runId timestamp } } } } } } }""",
    "asset_catalog": """{ assetNodes { assetKey { path } partitionStats { numMaterialized numFailed }
        assetChecksOrError { ... on AssetChecks { checks { name } } } } }""",
}


def time_ui(port: int) -> dict[str, float]:
    key = {"path": ["mobility", "stationnements_velos"]}
    timings = {}
    for name, query in UI_QUERIES.items():
        variables = {"key": key} if "$key" in query else None
        graphql(port, query, variables)  # warm
        timings[name] = max(graphql(port, query, variables)[0] for _ in range(3))
    return timings


def event_log_size(instance, home: Path, postgres_url: str | None) -> tuple[int, float]:
    """(events, MB) of the event log storage."""
    if postgres_url:
        import sqlalchemy as sa

        engine = sa.create_engine(postgres_url)
        with engine.connect() as con:
            events = con.execute(sa.text("SELECT count(*) FROM event_logs")).scalar()
            size = con.execute(
                sa.text(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
                )
            ).scalar()
        engine.dispose()
        return int(events), float(size) / 1e6
    import sqlite3

    events, size = 0, 0
    for path in (home / "history").rglob("*.db"):
        size += path.stat().st_size
        if path.parent.name == "runs" and path.name != "index.db" or path.name == "index.db":
            with sqlite3.connect(path) as con:
                try:
                    events += con.execute("SELECT count(*) FROM event_logs").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
    for path in (home / "storage").rglob("*"):
        if path.is_file():
            size += path.stat().st_size
    return events, size / 1e6


def postgres_server_cpu() -> float:
    """CPU of the local PostgreSQL server so far: the postmaster and the backends it reaped (one per
    connection: dagster-postgres opens one per operation). Other users of the server count too."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] in ("postgres", "postmaster") and process.info["ppid"] == 1:
            for each in [process, *process.children()]:
                try:
                    t = each.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
                except psutil.NoSuchProcess:
                    pass
    return total


def scratch_postgres() -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"omv_nightly_{os.getpid()}"
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return name, PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def drop_postgres(name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


def set_cron(catalog_dir: Path, at: datetime) -> None:
    """Every commune on one cron, at `at` (Europe/Brussels): the daemon's scheduler ticks it for real."""
    cron = f"{at.minute} {at.hour} * * *"
    for path in catalog_dir.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("datasets:\n", f"schedule: '{cron}'\ndatasets:\n", 1), encoding="utf-8")


def run_dagster(catalog_dir: Path, work: Path, n: int, args: argparse.Namespace) -> dict:
    import dagster as dg

    from omv_pipelines.defs.local import ensure_partitions

    home = work / "dagster_home"
    home.mkdir(parents=True)
    pg_name = pg_url = None
    instance_yaml = Path(args.instance) if args.instance else REPO / "dagster.yaml"
    if args.postgres:
        pg_name, pg_url = scratch_postgres()
        instance_yaml = REPO / "deploy" / "dagster.production.yaml"
    shutil.copy(instance_yaml, home / "dagster.yaml")
    redis_port = free_port()
    broker = f"redis://127.0.0.1:{redis_port}"
    if args.launcher == "celery":
        # Runs as Celery tasks in a run worker that imports the code location once (deploy/README.md
        # "A whole night"); its broker is given to it by OMV_CELERY_BROKER / OMV_CELERY_BACKEND below.
        with open(home / "dagster.yaml", "a", encoding="utf-8") as out:
            out.write(
                "\nrun_launcher:\n  module: dagster_celery.launcher\n  class: CeleryRunLauncher\n"
                f"  config:\n    default_queue: dagster\n    broker: {broker}/0\n    backend: {broker}/1\n"
            )
    code_port, web_port = free_port(), free_port()
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server: {{host: 127.0.0.1, port: {code_port}, location_name: omv_pipelines}}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OMV_CATALOG": str(catalog_dir),
        "OMV_DATA_DIR": str(work / "dagster_data"),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMV_CELERY_BROKER": f"{broker}/0",
        "OMV_CELERY_BACKEND": f"{broker}/1",
        **({"DAGSTER_PG_URL": pg_url} if pg_url else {}),
    }
    for name in ("ODWB_URL", "ODWB_API_KEY", "OMV_ALERT_WEBHOOK_URL", "OMV_SMTP_HOST"):
        env.pop(name, None)
    os.environ["DAGSTER_HOME"] = str(home)
    if pg_url:
        os.environ["DAGSTER_PG_URL"] = pg_url
    instance = dg.DagsterInstance.get()
    codes = sorted(p.name[:5] for p in catalog_dir.glob("*.yaml"))
    ensure_partitions(instance, codes)  # as after their first night (the catalogue sensor adds them)

    # The tick: the first whole minute at least `lead` seconds away (the services load meanwhile).
    lead = 50
    now = datetime.now(BRUSSELS)
    tick = (now + timedelta(seconds=lead + 60)).replace(second=0, microsecond=0)
    set_cron(catalog_dir, tick)

    services = Services(home, env)
    tree = Tree()
    before = children_cpu()
    started_services = time.perf_counter()
    ws = str(home / "workspace.yaml")
    services.start(
        "code_server",
        [str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(code_port)]
        + ["-m", "omv_pipelines.definitions", "--location-name", "omv_pipelines"],
    )
    wait_for_code_server(code_port, services)
    if args.launcher == "celery":
        services.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(home),
            ],
        )
        # As deploy/systemd/omv-run-worker.service starts it: one worker, a process per core for the runs,
        # forked from a main process that has the code location loaded (omv_pipelines/run_worker.py).
        services.start("run_worker", [str(BIN / "celery"), *run_worker_args()])
    services.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", ws])
    services.start(
        "webserver", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", ws]
    )
    tree.roots = [p.pid for p in services.processes.values()]
    tree.names = {name: p.pid for name, p in services.processes.items()}
    tree.start()
    result: dict = {}
    try:
        while datetime.now(BRUSSELS) < tick:
            time.sleep(0.2)
        startup_cpu = tree.cpu()
        pg_before = postgres_server_cpu() if pg_url else 0.0
        result["startup_cpu_by_service"] = tree.by_service({k: p.pid for k, p in services.processes.items()})
        result["services_startup_s"] = time.perf_counter() - started_services
        tick_mono = time.perf_counter()
        deadline = tick_mono + args.timeout
        regional = None
        last_commune_end = None
        while time.perf_counter() < deadline:
            runs = instance.get_runs(dg.RunsFilter(job_name="regional_rebuild"))
            if runs and runs[0].is_finished:
                regional = runs[0]
                break
            for name, process in services.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {services.log(name)}")
            time.sleep(2)
        if regional is None:
            raise RuntimeError(f"no regional rebuild within {args.timeout} s: {services.log('daemon')}")
        wall = time.perf_counter() - tick_mono
        if pg_url:
            result["postgres_server_cpu_s"] = postgres_server_cpu() - pg_before
        commune_records = instance.get_run_records(dg.RunsFilter(job_name="commune_sync"))
        statuses: dict[str, int] = {}
        for record in commune_records:
            statuses[record.dagster_run.status.value] = statuses.get(record.dagster_run.status.value, 0) + 1
        first_create = min(r.create_timestamp.timestamp() for r in commune_records)
        last_commune_end = max(r.end_time or 0 for r in commune_records)
        regional_record = instance.get_run_record_by_id(regional.run_id)
        # How busy the run slots were: the commune runs' summed durations over the commune phase.
        first_start = min(r.start_time or 0 for r in commune_records)
        busy = sum((r.end_time or 0) - (r.start_time or 0) for r in commune_records)
        tick_ts = tick.timestamp()
        result.update(
            commune_runs=statuses,
            regional_status=regional.status.value,
            tick_to_first_run_s=first_create - tick_ts,
            tick_to_communes_done_s=last_commune_end - tick_ts,
            mean_runs_in_flight=busy / max(last_commune_end - first_start, 1e-9),
            sensor_wait_s=regional_record.create_timestamp.timestamp() - last_commune_end,
            regional_run_s=(regional_record.end_time or 0) - (regional_record.start_time or 0),
            wall_s=wall,
        )
        result["cpu_by_service"] = tree.by_service({k: p.pid for k, p in services.processes.items()})
        result["ui"] = time_ui(web_port)
        events, mb = event_log_size(instance, home, pg_url)
        result.update(events=events, event_log_mb=mb)
    finally:
        services.stop()
        tree.stop()
        instance.dispose()
        if pg_name and not args.keep:
            drop_postgres(pg_name)
    # The Dagster path: every process of the tree, and the PostgreSQL server's share when it is used.
    result["cpu_s"] = children_cpu() - before - startup_cpu + result.get("postgres_server_cpu_s", 0.0)
    result["startup_cpu_s"] = startup_cpu
    result["peak_rss_mb"] = tree.peak_rss
    result["peak_pss_mb"] = tree.peak_pss
    result["peak_pss_mb_by_service"] = tree.peak_pss_by_service
    result["pss_mb_at_peak"] = dict(tree.at_peak)
    result["peak_processes"] = tree.peak_processes
    return result


# ---------------------------------------------------------------------------------------------- main


def measure(n: int, args: argparse.Namespace) -> dict:
    from omv_pipelines.demo.mapserver import MapServerWfs, WfsLayer

    work = Path(tempfile.mkdtemp(prefix=f"omv-nightly-{n}-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/wfs"
    try:
        catalog_dir = work / "catalog"
        layers = nightly_data.write(catalog_dir, url, n)
        rows = sum(sum(c.rows.values()) for c in nightly_data.communes(n))
        wfs = [
            WfsLayer(name, path, epsg=31370, feature_id=fid, geometry_type="point")
            for name, path, fid in layers
        ]
        with MapServerWfs(wfs, port=port):
            print(f"N={n}: {rows} source rows, {len(layers)} WFS layers; floor…", flush=True)
            floor = run_floor(catalog_dir, work)
            print(f"  floor: {json.dumps(floor)}", flush=True)
            print("  dagster night…", flush=True)
            night = run_dagster(catalog_dir, work, n, args)
        print(f"  dagster: {json.dumps(night)}", flush=True)
        return {"n": n, "rows": rows, "floor": floor, "dagster": night}
    finally:
        if args.keep:
            print(f"  kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares: value = a + b·N (a single point: b = value/N, a = 0)."""
    if len(points) == 1:
        n, v = points[0]
        return 0.0, v / n
    ns = [p[0] for p in points]
    vs = [p[1] for p in points]
    mean_n, mean_v = sum(ns) / len(ns), sum(vs) / len(vs)
    b = sum((x - mean_n) * (y - mean_v) for x, y in zip(ns, vs, strict=True)) / sum(
        (x - mean_n) ** 2 for x in ns
    )
    return mean_v - b * mean_n, b


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--communes", type=int, action="append", help="N communes (repeatable)")
    parser.add_argument("--all", action="store_true", help="also N = 261")
    parser.add_argument(
        "--postgres", action="store_true", help="deploy/dagster.production.yaml on PostgreSQL"
    )
    parser.add_argument("--instance", help="another instance YAML for DAGSTER_HOME (default: dagster.yaml)")
    parser.add_argument(
        "--launcher",
        choices=["default", "celery"],
        default="default",
        help="default: a process per run next to the code server; celery: CeleryRunLauncher, workers reused",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the regional run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (and scratch database)")
    parser.add_argument("--floor-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanups: stop the services
    if args.floor_worker:
        floor_worker(*args.floor_worker)
        return
    sizes = sorted(set(args.communes or [10, 40]) | ({261} if args.all else set()))
    print(f"load before: {os.getloadavg()}; {os.cpu_count()} cores", flush=True)
    results = [measure(n, args) for n in sizes]
    print(f"load after: {os.getloadavg()}")
    floor_a, floor_b = fit([(r["n"], r["floor"]["cpu_s"]) for r in results])
    dag_a, dag_b = fit([(r["n"], r["dagster"]["cpu_s"]) for r in results])
    # Wall: the commune phase scales with N; the sensor wait (≤ its interval, counted whole) and the
    # regional run are added as measured at the largest N (the regional run reads every commune: linear).
    from omv_pipelines.defs.sensors import regional_rebuild_sensor

    sensor_s = regional_rebuild_sensor.minimum_interval_seconds or 30
    phase_a, phase_b = fit([(r["n"], r["dagster"]["tick_to_communes_done_s"]) for r in results])
    last = results[-1]
    night = last["dagster"]
    regional_per_commune = night["regional_run_s"] / last["n"]
    projected = phase_a + phase_b * 261 + sensor_s + regional_per_commune * 261
    print(
        f"fitted CPU-s: floor {floor_a:.1f} + {floor_b:.2f}/commune; "
        f"dagster {dag_a:.1f} + {dag_b:.2f}/commune (ratio of slopes {dag_b / floor_b:.2f})"
    )
    print(
        f"fitted wall-s, tick → last commune run: {phase_a:.1f} + {phase_b:.2f}/commune; "
        f"projected 261 with the sensor's {sensor_s} s and the regional run: {projected:.0f} s"
    )
    for r in results:
        d = r["dagster"]
        ui = ", ".join(f"{k} {v:.2f}s" for k, v in d["ui"].items())
        print(
            f"N={r['n']}: floor {r['floor']['cpu_s']:.1f} CPU-s {r['floor']['wall_s']:.1f} s; dagster "
            f"{d['cpu_s']:.1f} CPU-s {d['wall_s']:.1f} s "
            f"(communes done {d['tick_to_communes_done_s']:.0f} s, "
            f"sensor wait {d['sensor_wait_s']:.0f} s, regional {d['regional_run_s']:.0f} s), "
            f"ratio {d['cpu_s'] / r['floor']['cpu_s']:.2f}; events {d['events']} "
            f"({d['events'] / r['n']:.0f}/commune), event log {d['event_log_mb']:.1f} MB "
            f"({d['event_log_mb'] / r['n']:.2f} MB/commune); peak RSS {d['peak_rss_mb']:.0f} MB, "
            f"PSS {d['peak_pss_mb']:.0f} MB; UI: {ui}"
        )
    r = last
    print(
        f"nightly: communes={r['n']} floor_cpu_s={r['floor']['cpu_s']:.1f} "
        f"dagster_cpu_s={night['cpu_s']:.1f} "
        f"cpu_ratio={night['cpu_s'] / r['floor']['cpu_s']:.2f} dagster_wall_s={night['wall_s']:.1f} "
        f"projected_261_wall_s={projected:.0f} peak_rss_mb={night['peak_rss_mb']:.0f}"
    )


if __name__ == "__main__":
    main()

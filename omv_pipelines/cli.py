"""`omv`: the command line for people, next to the Dagster UI.

omv demo                   run the bundled demo end to end (MapServer WFS on loopback, export folder)
omv ui                     open the Dagster UI on this project (same instance as `omv demo`)
omv validate [FOLDER]      check a catalogue folder and say what to fix
omv preview FILE           harvest and validate one commune's datasets, publish nothing
omv catalog-schema         print the JSON Schema of a commune file (for editors)
omv report                 build the scorecard and its HTML report from the export folder
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

# The code location, named as workspace.yaml and pyproject.toml [tool.dagster] name it: `omv ui` serves the
# same location as `dagster dev` run in the project folder.
DEFINITIONS_MODULE = "omv_pipelines.definitions"
LOCATION_NAME = "omv_pipelines"
PROJECT_DIR = Path(__file__).resolve().parent.parent  # the checkout, for an editable install


def _project_file(name: str) -> Path | None:
    """A project file (dagster.yaml) from the current folder, else from the checkout this code runs from."""
    for folder in (Path.cwd(), PROJECT_DIR):
        if (folder / name).is_file():
            return folder / name
    return None


def _dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to ./.dagster_home seeded with the project's dagster.yaml (without one,
    Dagster warns and runs with default settings: no run queue limits, no run monitoring)."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    settings_file = _project_file("dagster.yaml")
    if not (home / "dagster.yaml").exists() and settings_file is not None:
        shutil.copy(settings_file, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_validate(args: argparse.Namespace) -> int:
    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import load_catalog

    folder = Path(args.folder) if args.folder else settings.from_environment().catalog_dir
    catalog = load_catalog(folder)
    for code, entry in sorted(catalog.entries.items()):
        datasets = ", ".join(sorted(entry.config.datasets))
        print(f"ok     {entry.path.name}: {entry.config.commune.name} ({code}) — {datasets}")
    for error in catalog.errors:
        print(f"ERROR  {error}", file=sys.stderr)
    print(f"{len(catalog.entries)} commune(s) valid, {len(catalog.errors)} file(s) with errors in {folder}")
    return 1 if catalog.errors else 0


def cmd_catalog_schema(args: argparse.Namespace) -> int:
    from omv_pipelines.catalog.loader import catalog_json_schema

    text = catalog_json_schema()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


PREVIEW_ROWS = 20  # problem rows printed per dataset without --verbose


def _shown(value: object) -> str:
    """A report value as typed, or "(vide)" for a missing one: never `<NA>`, `nan` or `None`."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "(vide)"
    return str(value)


def top_reasons(report, limit: int = 3) -> str:
    """'invalid_date 12, missing_value 3' — the most frequent error types of a report, with their counts."""
    if report.empty:
        return ""
    counts = report.groupby(["severity", "error_type"]).size().sort_values(ascending=False, kind="stable")
    return ", ".join(
        f"{error_type} ({severity}) {n}" for (severity, error_type), n in counts.head(limit).items()
    )


def cmd_preview(args: argparse.Namespace) -> int:
    """Harvest and validate without publishing: what a data officer runs before activation."""
    from omv_pipelines import flow
    from omv_pipelines.catalog.loader import CatalogEntry, CatalogError, load_file
    from omv_pipelines.publish.csv_format import report_csv

    path = Path(args.file).resolve()
    try:
        entry = CatalogEntry(config=load_file(path), path=path)
    except CatalogError as exc:
        print(f"ERROR  {exc}", file=sys.stderr)
        return 1
    failed = False
    datasets = sorted(entry.config.datasets)
    summary: list[tuple[str, str]] = []  # (dataset, what happened)
    for number, dataset_key in enumerate(datasets, start=1):
        print(
            f"[{number}/{len(datasets)}] {entry.config.commune.name} — {dataset_key}: harvesting…", flush=True
        )
        try:
            harvested = flow.harvest_dataset(entry, dataset_key)
            print(
                f"        {len(harvested.frame)} rows harvested in {harvested.duration_s:.1f}s; validating…",
                flush=True,
            )
            result = flow.normalise_dataset(entry, dataset_key, harvested.frame)
        except flow.FlowError as exc:
            print(f"ERROR  {exc}", file=sys.stderr)
            summary.append((dataset_key, f"FAILED: {exc}"))
            failed = True
            continue
        report = flow.report_table(result)
        print(
            f"        {len(result.valid)} valid, {result.rejected_rows} rejected, "
            f"{len(result.warnings)} warnings"
        )
        if result.unknown_columns:
            print(f"        columns not in the standard (left out): {', '.join(result.unknown_columns)}")
        shown = report if args.verbose else report.head(PREVIEW_ROWS)
        for row in shown.itertuples(index=False):
            print(
                f"        row {_shown(row.source_row)} [{row.severity}] {row.field}: {_shown(row.message)} "
                f"(value: {_shown(row.raw_value)})"
            )
        out = None
        if args.report_dir:
            out = Path(args.report_dir) / f"{entry.config.dataset_id(dataset_key)}.report.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(report_csv(report))  # formulas neutralised, as in the export folder
        if len(report) > len(shown):
            where = f"see the report {out}" if out else "see the report (--report-dir) or --verbose"
            print(f"        … and {len(report) - len(shown)} more, {where}")
        if out:
            print(f"        report written to {out}")
        reasons = top_reasons(report)
        summary.append(
            (
                dataset_key,
                f"{result.source_rows} rows, {len(result.valid)} valid, {result.rejected_rows} rejected, "
                f"{len(result.warnings)} warnings" + (f"; top reasons: {reasons}" if reasons else ""),
            )
        )
    print(f"\nSummary — {entry.config.commune.name} ({entry.config.ins_code}):")
    width = max((len(key) for key, _ in summary), default=0)
    for dataset_key, line in summary:
        print(f"  {dataset_key:{width}}  {line}")
    return 1 if failed else 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Materialise the demo catalogue into the Dagster instance, so that the UI shows it afterwards."""
    os.environ.setdefault("OMV_DATA_DIR", str(Path(args.data_dir).resolve()))
    home = _dagster_home()
    import dagster as dg

    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import load_catalog
    from omv_pipelines.definitions import build_definitions
    from omv_pipelines.defs import tags
    from omv_pipelines.defs.local import run_commune, run_regional
    from omv_pipelines.demo import DEMO_WFS_ENV, demo_wfs_layers
    from omv_pipelines.demo.mapserver import MapServerWfs
    from omv_pipelines.run_report import publications, run_failure_reason, summary_lines

    config = settings.from_environment()
    catalog = load_catalog(config.catalog_dir)
    catalog.raise_errors()
    defs = build_definitions()
    instance = dg.DagsterInstance.get()
    failures = []
    published: list[tuple[str, str, str]] = []
    with MapServerWfs(demo_wfs_layers()) as wfs:
        os.environ[DEMO_WFS_ENV] = wfs.url
        print(f"Demo WFS (MapServer) serving on {wfs.url}")
        for code, entry in sorted(catalog.active.items()):
            result = run_commune(defs, instance, entry.config, tags={tags.REASON: "demo"})
            print(
                f"{'ok' if result.success else 'FAILED':6} {entry.config.commune.name} ({code}) "
                f"run {result.run_id}"
            )
            for line in summary_lines(result):
                print(f"         {line}")
            if not result.success:
                failures.append(code)
            published += publications(result)
        provided = sorted({key for entry in catalog.active.values() for key in entry.config.datasets})
        regional = run_regional(defs, instance, provided, scorecard=True)
        print(
            f"{'ok' if regional.success else 'FAILED':6} regional datasets + scorecard run {regional.run_id}"
        )
        for line in summary_lines(regional):
            print(f"         {line}")
        if not regional.success:
            failures.append("regional")
            print(f"         the regional run failed: {run_failure_reason(regional)}")  # why, in one line
        published += publications(regional)
    _print_scorecard(regional)
    # Where each dataset went is in the run lines above (the ODWB URL or the exported file).
    if not published:
        print("\nNo dataset was published (see the failures above).")
    exported = [p for p in config.export_dir.glob("*") if not p.name.startswith(".")]
    if exported:
        print(f"\nExport folder: {config.export_dir} ({len(exported)} files and folders)")
    print(f"Dagster instance: {home}  (open the UI with: omv ui, or DAGSTER_HOME={home} dagster dev)")
    return 1 if failures else 0


def _print_scorecard(result) -> None:
    """What the scorecard asset of a regional run published and where its report is."""
    from omv_pipelines.defs.scorecard import SCORECARD_KEY

    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key != SCORECARD_KEY:
            continue
        metadata = {name: getattr(value, "value", value) for name, value in materialization.metadata.items()}
        print(f"Scorecard {metadata['status']}: {metadata.get('path') or metadata.get('url')}")
        print(
            f"Report: {metadata['report']} ({metadata['report_files'] - 1} commune page(s), "
            f"{metadata['report_size_mb']:.1f} MB, {metadata['timings_s']['report']:.1f}s)"
        )
        return
    print(
        "Scorecard not built (a regional dataset failed first): omv report builds it from the export folder"
    )


def _scorecard_and_report(export_dir: Path, catalog, out_dir: Path | None, *, publish: bool) -> None:
    """The scorecard (exported as a dataset when `publish`) and the HTML report, with what was done."""
    from omv_pipelines.report import report_from_export_folder

    built = report_from_export_folder(export_dir, catalog, out_dir, publish=publish)
    if built.publication is not None:
        print(f"Scorecard {built.publication.status}: {built.publication.location}")
    report = built.report
    print(
        f"Report: {report.index} ({len(report.pages)} commune page(s), "
        f"{report.size_bytes / 1e6:.1f} MB, {report.seconds:.1f}s)"
    )


def cmd_report(args: argparse.Namespace) -> int:
    from omv_pipelines import settings
    from omv_pipelines.catalog.loader import load_catalog

    config = settings.from_environment()
    export_dir = Path(args.export_dir) if args.export_dir else config.export_dir
    if not export_dir.is_dir():
        print(f"ERROR  {export_dir} is not a folder: run the pipelines (or omv demo) first", file=sys.stderr)
        return 1
    catalog = load_catalog(Path(args.catalog) if args.catalog else config.catalog_dir)
    for error in catalog.errors:
        print(f"WARNING  {error} (this commune is left out)", file=sys.stderr)
    _scorecard_and_report(export_dir, catalog, Path(args.out) if args.out else None, publish=args.publish)
    return 0


def _workspace_file(home: Path) -> Path:
    """A workspace file in DAGSTER_HOME naming the code location as workspace.yaml does, so that the UI
    shows `omv_pipelines` whatever folder `omv ui` is started from."""
    path = home / "workspace.yaml"
    path.write_text(
        "# Written by `omv ui`: the same code location as the project's workspace.yaml.\n"
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {DEFINITIONS_MODULE}\n"
        f"      location_name: {LOCATION_NAME}\n",
        encoding="utf-8",
    )
    return path


# `dagster dev` warns that `dg dev` supersedes it; `dg` needs a dg project, which this is not.
_QUIET_WARNINGS = "ignore:Function `dev_command` is superseded"


def ui_command(home: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(_workspace_file(home)),
        "-h",
        host,
        "-p",
        str(port),
    ]


def cmd_ui(args: argparse.Namespace) -> int:
    home = _dagster_home()
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS"), _QUIET_WARNINGS) if w)
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}); Ctrl-C stops it", flush=True)
    try:
        return subprocess.call(ui_command(home, args.host, args.port), env=env)
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omv", description="Ouvrir ma ville pipelines")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the bundled demo end to end")
    demo.add_argument(
        "--data-dir",
        default=os.environ.get("OMV_DATA_DIR", "data"),
        help="tables and exports (default: ./data)",
    )
    demo.set_defaults(func=cmd_demo)
    ui = commands.add_parser("ui", help="open the Dagster UI (dagster dev) on the demo's instance")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=3000, help="port (default: 3000)")
    ui.set_defaults(func=cmd_ui)
    validate = commands.add_parser("validate", help="check a catalogue folder")
    validate.add_argument("folder", nargs="?", help="default: $OMV_CATALOG or the demo catalogue")
    validate.set_defaults(func=cmd_validate)
    preview = commands.add_parser("preview", help="harvest and validate one commune file without publishing")
    preview.add_argument("file")
    preview.add_argument("--report-dir", help="also write each dataset's full report CSV here")
    preview.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help=f"print every problem row (default: the first {PREVIEW_ROWS} per dataset)",
    )
    preview.set_defaults(func=cmd_preview)
    schema = commands.add_parser("catalog-schema", help="print the JSON Schema of a commune file")
    schema.add_argument("-o", "--output")
    schema.set_defaults(func=cmd_catalog_schema)
    report = commands.add_parser("report", help="scorecard and HTML report from the export folder")
    report.add_argument(
        "--export-dir", help="default: the export folder of the settings ($OMV_DATA_DIR/export)"
    )
    report.add_argument("--out", help="where to write the report (default: <export-dir>/report)")
    report.add_argument("--catalog", help="catalogue folder (default: $OMV_CATALOG or the demo catalogue)")
    report.add_argument(
        "--publish", action="store_true", help="also export the scorecard dataset to the export folder"
    )
    report.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

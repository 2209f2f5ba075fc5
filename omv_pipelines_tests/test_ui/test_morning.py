"""The data engineer's morning in the real UI: which commune failed, what is stale, what was rejected.

A failing night (scenario.py: a shrunken source, a mapping typo in a new commune, an unreachable WFS, a
late commune) is run in process on a throwaway DAGSTER_HOME; then `dagster-webserver` serves it, GraphQL
is asked what the pictures must show, and headless Chromium (Debian's, through Playwright; no browser is
downloaded) takes the screenshots kept in `build/test-artifacts/ui/` (not committed):

    1-asset-graph.png         the resilience group: five distinct nodes per dataset, failed partitions
    2-partitions.png          the defibrillators table's partitions, keyed 92094-namur, 92142-gembloux…
    3-check-partition.png     the Checks tab, the drop check for Namur's partition (failed, its words)
    4-rejected-rows.png       the Checks tab, rows rejected for Liège (WARN, count and top reasons)
    5-runs.png                the runs list: commune names in the tags
    6-blocked-run.png         Namur's run: the publication refused in the project's words
    7-this-morning.png        the scorecard's `this_morning` grid (Markdown)
    8-needs-attention.png     the scorecard's metadata: what needs a person
"""

import os
import re
import shutil
from pathlib import Path

import pytest

from omv_pipelines_tests.test_ops.services import DagsterProcesses
from omv_pipelines_tests.test_ui.scenario import build

REPO = Path(__file__).parents[2]
ARTIFACTS = REPO / "build" / "test-artifacts" / "ui"
CHROMIUM = "/usr/bin/chromium"
TABLE = ["resilience", "defibrillateurs"]

CHECKS = """
query($key: AssetKeyInput!, $check: String!, $partition: String) {
  assetCheckExecutions(assetKey: $key, checkName: $check, partition: $partition, limit: 5) {
    partition status evaluation { success severity description partition }
  }
}"""

PARTITIONS = """
query($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { partitionKeys owners { ... on TeamAssetOwner { team } } description }
  }
}"""

LATEST_OF_PARTITION = """
query($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode { assetMaterializations(partitions: [$partition], limit: 1) { runId } }
  }
}"""

RUNS = """
{ runsOrError(limit: 50) { ... on Runs { results { runId status jobName tags { key value } } } } }"""

RUN_FAILURE = """
query($runId: ID!) {
  logsForRun(runId: $runId, limit: 2000) {
    ... on EventConnection { events { __typename
      ... on ExecutionStepFailureEvent { stepKey failureMetadata { description } } } }
  }
}"""

SCORECARD = """
{ assetNodeOrError(assetKey: {path: ["regional", "tableau_de_bord"]}) {
    ... on AssetNode { assetMaterializations(limit: 1) { metadataEntries {
      label ... on MarkdownMetadataEntry { mdStr } ... on JsonMetadataEntry { jsonString } } } }
} }"""

GRAPH = """
{ assetNodes { assetKey { path } } }"""


@pytest.fixture(scope="module")
def morning(tmp_path_factory, demo_wfs):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    base = tmp_path_factory.mktemp("morning")
    scenario = build(base, demo_wfs.url)
    services = DagsterProcesses(scenario.home, scenario.env, instance_yaml=scenario.instance_yaml)
    try:
        services.start_webserver(timeout_s=120)
        yield scenario, services
    finally:
        services.stop()


def _tags(run) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_graphql_says_what_the_pictures_show(morning):
    scenario, services = morning
    # Partition keys carry the commune's name; owners and description on every node.
    node = services.graphql(PARTITIONS, {"key": {"path": TABLE}})["assetNodeOrError"]
    assert sorted(node["partitionKeys"]) == ["53053-mons", "62063-liege", "92094-namur", "92142-gembloux"]
    assert {"team": "ouvrir-ma-ville"} in node["owners"] and node["description"]
    # Five distinct node names per dataset.
    names = [n["assetKey"]["path"][-1] for n in services.graphql(GRAPH)["assetNodes"]]
    assert len(names) == len(set(names))
    assert {"defibrillateurs_raw", "defibrillateurs_quarantine", "defibrillateurs_publication"} <= set(names)

    # Check results per commune partition, each naming the commune.
    def executions(check, partition):
        variables = {"key": {"path": TABLE}, "check": check, "partition": partition}
        return services.graphql(CHECKS, variables)["assetCheckExecutions"]

    [drop, *_] = executions("no_unexplained_row_drop", "92094-namur")
    assert drop["partition"] == "92094-namur" and drop["evaluation"]["success"] is False
    assert drop["evaluation"]["description"].startswith("Namur (92094): the table has 2 rows against 12")
    [rejected, *_] = executions("no_rejected_rows", "62063-liege")
    assert rejected["evaluation"]["severity"] == "WARN" and rejected["evaluation"]["success"] is False
    assert re.match(r"Liège \(62063\): 2 of 11 source rows rejected", rejected["evaluation"]["description"])
    roadworks = services.graphql(
        CHECKS,
        {
            "key": {"path": ["mobility", "travaux_voiries"]},
            "check": "schema_conformance",
            "partition": "62063-liege",
        },
    )["assetCheckExecutions"]
    assert roadworks[0]["evaluation"]["description"] == "not provided by Liège (62063)"

    # Runs: the commune's name in the tags; the blocked one fails in the project's words.
    runs = services.graphql(RUNS)["runsOrError"]["results"]
    commune_runs = [r for r in runs if r["jobName"] == "commune_sync"]
    assert all(_tags(r).get("omv/commune_name") for r in commune_runs)
    by_id = {r["runId"]: r for r in runs}
    assert _tags(by_id[scenario.runs["gembloux"]])["omv/commune_name"] == "Gembloux"
    assert _tags(by_id[scenario.runs["mons"]])["omv/wfs_host"] == "127.0.0.1"
    events = services.graphql(RUN_FAILURE, {"runId": scenario.runs["namur"]})["logsForRun"]["events"]
    failures = [e for e in events if e["__typename"] == "ExecutionStepFailureEvent"]
    [refusal] = [
        e["failureMetadata"]["description"]
        for e in failures
        if e["stepKey"] == "normalise_publish_resilience_defibrillateurs"
    ]
    assert refusal.startswith(
        "Namur (92094) — resilience/defibrillateurs: namur-defibrillateurs: not published"
    )
    assert "now 2 rows, online 12, allowed drop below 50%" in refusal and "omv/force_publish=true" in refusal
    # The refused table never became current: Namur's table and publication are an earlier run's.
    for key in (TABLE, ["odwb", *TABLE[:-1], f"{TABLE[-1]}_publication"]):
        node = services.graphql(LATEST_OF_PARTITION, {"key": {"path": key}, "partition": "92094-namur"})
        [latest] = node["assetNodeOrError"]["assetMaterializations"]
        assert latest["runId"] != scenario.runs["namur"], key

    # This morning: every active commune × dataset, as Markdown.
    [latest] = services.graphql(SCORECARD)["assetNodeOrError"]["assetMaterializations"]
    entries = {e["label"]: e for e in latest["metadataEntries"]}
    grid = entries["this_morning"]["mdStr"]
    rows = {line.split(" | ")[0].lstrip("| "): line for line in grid.splitlines() if line.startswith("| ")}
    assert "**blocked** · 12" in rows["Namur (92094)"]
    assert "**failed** · 0" in rows["Gembloux (92142)"] and "**failed** · 10" in rows["Mons (53053)"]
    assert "**late** · 9 · 2 rej." in rows["Liège (62063)"]
    assert rows["Gembloux (92142)"].count("not provided") == 6
    attention = entries["needs_attention"]["mdStr"]
    assert "Namur (92094) — resilience/defibrillateurs: **blocked**, 12 rows online" in attention
    assert '"blocked": 1' in entries["states"]["jsonString"]


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_screenshots_of_the_morning(morning):
    from playwright.sync_api import sync_playwright

    scenario, services = morning
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    base = f"http://127.0.0.1:{services.port}"
    location = services.repository()["repositoryLocationName"]
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.on("pageerror", lambda error: errors.append(str(error)))

        def shot(name: str) -> Path:
            path = ARTIFACTS / name
            page.screenshot(path=str(path))
            return path

        def dismiss() -> None:
            """Dagster's community pop-up comes once, a few seconds after the first page."""
            skip = page.get_by_role("button", name="Skip")
            if skip.count() and skip.first.is_visible():
                skip.first.click()
                page.wait_for_timeout(500)

        def click(text: str) -> None:
            """The last visible element showing exactly `text` (the UI also renders hidden measures)."""
            dismiss()
            page.locator(f'text="{text}" >> visible=true').last.click()

        def visit(path: str, wait_for: str) -> None:
            page.goto(base + path)
            page.get_by_text(wait_for).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # statuses and charts settle
            dismiss()

        page.goto(base + "/runs")
        page.wait_for_timeout(4000)
        dismiss()

        visit(f"/locations/{location}/asset-groups/resilience", "defibrillateurs_publication")
        shot("1-asset-graph.png")
        visit("/assets/resilience/defibrillateurs?view=partitions", "92142-gembloux")
        click("92094-namur")
        page.get_by_text("Namur (92094)").first.wait_for(timeout=30_000)
        shot("2-partitions.png")

        visit(
            "/assets/resilience/defibrillateurs?view=checks&checkDetail=no_unexplained_row_drop", "Partitions"
        )
        click("Partitions")
        click("92094-namur")
        page.get_by_text("Namur (92094): the table has 2 rows").first.wait_for(timeout=30_000)
        shot("3-check-partition.png")
        visit("/assets/resilience/defibrillateurs?view=checks&checkDetail=no_rejected_rows", "Partitions")
        click("Partitions")
        click("62063-liege")
        page.get_by_text("Liège (62063): 2 of 11 source rows rejected").first.wait_for(timeout=30_000)
        shot("4-rejected-rows.png")

        visit("/runs", "omv/commune_name: Gembloux")
        shot("5-runs.png")
        visit(f"/runs/{scenario.runs['namur']}", "commune_sync")
        page.get_by_text("not published").first.wait_for(timeout=60_000)
        shot("6-blocked-run.png")

        visit("/assets/regional/tableau_de_bord", "needs_attention")
        dismiss()
        page.get_by_text("[Show Markdown]").first.click()
        page.get_by_text("Gembloux (92142)").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # the dialog fades in: a shot taken earlier shows the page through it
        shot("7-this-morning.png")
        page.get_by_role("button", name="Close").click()
        page.get_by_text("needs_attention").first.scroll_into_view_if_needed()
        shot("8-needs-attention.png")
        browser.close()
    assert sorted(p.name for p in ARTIFACTS.iterdir()) == [
        "1-asset-graph.png",
        "2-partitions.png",
        "3-check-partition.png",
        "4-rejected-rows.png",
        "5-runs.png",
        "6-blocked-run.png",
        "7-this-morning.png",
        "8-needs-attention.png",
    ]
    assert all(os.path.getsize(ARTIFACTS / name) > 20_000 for name in os.listdir(ARTIFACTS))
    assert not errors, errors

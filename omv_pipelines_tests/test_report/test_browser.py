"""The report in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright, headless.

No browser is downloaded: Playwright launches the system one. The test fails on any console error and
on any request that is not a file:// read of the report itself. Screenshots go to
build/test-artifacts/report/ (gitignored), for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omv_pipelines.report import geo, write_report
from omv_pipelines.scorecard import build_scorecard
from omv_pipelines.scorecard.synthetic import synthetic_states

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "report"
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
PARTICIPATING = ["92094", "62063", "53053", "25121", "57081"]  # Namur, Liège, Mons, Ottignies-LLN, Tournai


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' (playwright)")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with playwright.sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    card = build_scorecard(synthetic_states(PARTICIPATING, NOW, rows=25), NOW)
    return card, write_report(card, tmp_path_factory.mktemp("report"))


def _open(browser, url: str):
    """A page at `url` that records console errors, page errors and every request made."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, problems, requests


def test_region_page(browser, report):
    card, result = report
    page, problems, requests = _open(browser, result.index.as_uri())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "index.png"), full_page=True)

    assert page.locator("#map path[data-ins]").count() == len(geo.communes()) == 261
    assert page.locator("#map path.participating").count() == len(PARTICIPATING)
    fills = page.eval_on_selector_all(
        "#map path[data-ins]", "ps => ps.map(p => [p.dataset.ins, getComputedStyle(p).fill])"
    )
    grey = {fill for code, fill in fills if code not in PARTICIPATING}
    coloured = {code: fill for code, fill in fills if code in PARTICIPATING}
    assert len(grey) == 1 and not (set(coloured.values()) & grey)

    communes = card.communes.set_index("ins_code")
    for code in PARTICIPATING:
        path = page.locator(f'#map path[data-ins="{code}"]')
        assert int(path.get_attribute("data-coverage")) == communes.loc[code, "datasets_provided"]
        assert float(path.get_attribute("data-score")) == communes.loc[code, "score"]
        row = page.locator(f'#communes tr[data-ins="{code}"]')
        assert row.locator('[data-col="rows_online"]').get_attribute("data-v") == str(
            communes.loc[code, "rows_online"]
        )
        assert float(row.locator('[data-col="score"]').get_attribute("data-v")) == communes.loc[code, "score"]

    # colour by score, then sort the table by score (descending on the second click)
    page.check("input[value=score]")
    page.click("#communes th:nth-child(4)")
    page.click("#communes th:nth-child(4)")
    order = page.eval_on_selector_all("#communes tbody tr", "rs => rs.map(r => r.dataset.ins)")
    assert order == list(card.communes.sort_values("score", ascending=False)["ins_code"])
    page.screenshot(path=str(ARTIFACTS / "index-by-score.png"), full_page=False)

    assert problems == []
    assert requests and all(url.startswith("file://") for url in requests), requests
    page.close()


def test_commune_page(browser, report):
    card, result = report
    code = "62063"
    page, problems, requests = _open(browser, result.pages[code].as_uri())
    page.screenshot(path=str(ARTIFACTS / f"commune-{code}.png"), full_page=True)

    published = sum(len(s.published) for s in card.states if s.ins_code == code and s.published is not None)
    assert page.locator("#commune-map circle.published").count() == published
    assert page.locator("#commune-map circle.rejected").count() >= 1
    assert "outside_wallonia" in page.locator("#commune-map circle.rejected title").first.text_content()
    assert page.locator("#outline").count() == 1

    datasets = card.datasets[card.datasets["ins_code"] == code].set_index("dataset")
    for key, row in datasets[datasets["provided"]].iterrows():
        tr = page.locator(f'#commune-datasets tr[data-dataset="{key}"]')
        assert tr.locator('[data-col="rows_online"]').text_content() == str(row.rows_online)
        assert tr.locator('[data-col="rows_rejected"]').text_content() == str(row.rows_rejected)
        state = card.state(code, key)
        for reason, count in state.rejected_reasons.items():
            bar = page.locator(f'#reasons rect[data-dataset="{key}"][data-reason="{reason}"]')
            assert bar.get_attribute("data-count") == str(count)
        assert page.locator(f'table.fix[data-dataset="{key}"] tbody tr').count() == (
            0 if state.quarantine is None else len(state.quarantine)
        )
    assert page.locator("script").count() == 1  # the hostile raw value is text, not a script

    assert problems == []
    assert requests and all(url.startswith("file://") for url in requests), requests
    page.close()

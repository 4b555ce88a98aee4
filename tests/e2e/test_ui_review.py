"""The review in Airflow's own UI, in a real browser: Debian's Chromium, headless, driven by
Playwright, logs in as the admin user and finds a run triggered over the REST API by its
dag_run_id: its state, its three tasks' states and its conf, in the React grid view and in the
legacy list views. Screenshots go to test-artifacts/ (git-ignored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rest_trigger_etl.names import DAG_ID, DEMO_CONF, TASK_IDS
from rest_trigger_local.settings import PROJECT_DIR

pytestmark = pytest.mark.e2e

ARTIFACTS = PROJECT_DIR / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
UI_TIMEOUT_MS = 90_000  # a 2-core machine shared with other stacks
RUN_ID = "ui-review-1"
CONF = DEMO_CONF
TASKS = TASK_IDS

# The legacy list views as {column header: cell text} rows (the filter form's table has no
# header, so only the list's rows match its header count).
LIST_ROWS_JS = """() => {
  const table = document.querySelector('table.table-bordered');
  const heads = [...table.querySelectorAll('thead th')].map(h => h.innerText.trim());
  return [...table.querySelectorAll('tbody tr')]
    .map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim()))
    .filter(cells => cells.length === heads.length)
    .map(cells => Object.fromEntries(heads.map((h, i) => [h, cells[i]])));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (`make system-deps` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def reviewed_run(airflow_stack) -> str:
    """A run created over the REST API, as another system would, and finished."""
    response = airflow_stack.trigger(RUN_ID, CONF)
    assert response.status_code == 200, response.text
    assert airflow_stack.wait_for_run(RUN_ID)["state"] == "success"
    return RUN_ID


@pytest.fixture
def page(browser, airflow_stack) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{airflow_stack.base_url}/login/")
    page.fill("input[name=username]", airflow_stack.auth[0])
    page.fill("input[name=password]", airflow_stack.auth[1])
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    try:
        yield page
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def detail_value(page: Any, label: str) -> Any:
    """The value cell of a row of the grid's details table ("Status", "Run ID", ...)."""
    row = page.locator("tr", has=page.get_by_text(label, exact=True)).first
    return row.locator("td").last


def test_grid_shows_the_run_its_conf_and_tasks(page, airflow_stack, reviewed_run) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    base = airflow_stack.base_url
    page.goto(f"{base}/dags/{DAG_ID}/grid?dag_run_id={reviewed_run}")
    expect(detail_value(page, "Run ID")).to_have_text(reviewed_run)
    expect(detail_value(page, "Status")).to_have_text("success")
    expect(detail_value(page, "Run type")).to_contain_text("manual")
    conf_cell = detail_value(page, "Run config")
    for key, value in CONF.items():
        expect(conf_cell).to_contain_text(f'"{key}":{json.dumps(value)}')
    for task in TASKS:  # the grid's task column (the collapsed DAG docs name them too)
        expect(page.get_by_text(task, exact=True).filter(visible=True)).to_have_count(1)
    conf_cell.scroll_into_view_if_needed()
    shot(page, "ui-grid-run")

    for task in TASKS:
        page.goto(f"{base}/dags/{DAG_ID}/grid?dag_run_id={reviewed_run}&task_id={task}")
        expect(detail_value(page, "Task ID")).to_have_text(task)
        expect(detail_value(page, "Run ID")).to_have_text(reviewed_run)
        expect(detail_value(page, "Status")).to_have_text("success")
        shot(page, f"ui-grid-{task}")


def test_legacy_lists_show_the_run_and_its_tasks(page, airflow_stack, reviewed_run) -> None:
    base = airflow_stack.base_url
    # FAB list filters: _flt_3_<column> is "equal to".
    page.goto(f"{base}/dagrun/list/?_flt_3_run_id={reviewed_run}")
    page.wait_for_selector("table.table-bordered")
    [run] = page.evaluate(LIST_ROWS_JS)
    assert (run["Dag Id"], run["Run Id"], run["State"]) == (DAG_ID, reviewed_run, "success")
    assert json.loads(run["Conf"]) == CONF
    shot(page, "ui-dagrun-list")

    page.goto(f"{base}/taskinstance/list/?_flt_3_run_id={reviewed_run}")
    page.wait_for_selector("table.table-bordered")
    rows = page.evaluate(LIST_ROWS_JS)
    # The Task Id cell ends with a filter icon's ligature ("main_etl filter_alt").
    states = {row["Task Id"].split()[0]: row["State"] for row in rows}
    assert states == dict.fromkeys(TASKS, "success")
    assert {row["Run Id"] for row in rows} == {reviewed_run}
    shot(page, "ui-taskinstance-list")

"""The catalog browser in a real headless Chromium: a job run through serve writes Delta tables
on the shared Spark session; the pages show catalogs → schemas → tables, columns, owner,
Delta history, the lineage graph (upstream and downstream) and the run that wrote each table."""
from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from dashboard_env import signed_in, wait_run
from serving import WorkspaceServer

from lakeloom.catalog import get_table
from lakeloom.catalog.grants import GrantStore, Securable
from lakeloom.config import Workspace

CHROMIUM = os.environ.get("LAKELOOM_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = pytest.mark.spark

WRITE = """
from pyspark.sql import SparkSession
spark = SparkSession.getActiveSession()
spark.sql("CREATE SCHEMA IF NOT EXISTS main.browse COMMENT 'browsed'")
spark.sql("CREATE OR REPLACE TABLE main.browse.src AS SELECT id, id * 2 AS amount FROM range(3)")
spark.sql("INSERT INTO main.browse.src VALUES (7, 14)")
spark.sql("CREATE OR REPLACE TABLE main.browse.dst COMMENT 'derived' AS SELECT id, amount + 1 AS total FROM main.browse.src")
spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty(60000)
"""


@pytest.fixture(scope="module")
def env(spark: Any, spark_workspace: Workspace) -> Iterator[tuple[WorkspaceServer, str, int]]:
    (spark_workspace.root / "browse_write.py").write_text(WRITE)
    srv = WorkspaceServer(spark_workspace)
    # The OS user who made the workspace is its metastore admin: its run may create the schema.
    token = srv.store.create_token(getpass.getuser(), is_admin=True)[1]
    headers = {"Authorization": f"Bearer {token}"}
    job = httpx.post(f"{srv.url}/api/2.2/jobs/create", headers=headers, json={"name": "browse-writer", "tasks": [
        {"task_key": "write", "spark_python_task": {"python_file": str(spark_workspace.root / "browse_write.py")}}]})
    run_id = httpx.post(f"{srv.url}/api/2.2/jobs/run-now", headers=headers,
                        json={"job_id": job.json()["job_id"]}).json()["run_id"]
    assert wait_run(srv, run_id, timeout=600).result_state == "SUCCESS"  # type: ignore[arg-type]
    yield srv, token, run_id
    srv.close()
    spark.sql("DROP SCHEMA IF EXISTS main.browse CASCADE")


def test_pages_hide_what_a_principal_may_not_browse(env: tuple[WorkspaceServer, str, int]) -> None:
    srv, _, _ = env
    bob = signed_in(srv, srv.store.create_token("bob")[1])  # type: ignore[arg-type]
    assert "main.browse" not in bob.get("/catalog/main").text
    assert bob.get("/catalog/main/browse/dst").status_code == 404
    grants = GrantStore(srv.service.engine.workspace)
    grants.grant(Securable.of("table", "main.browse.dst"), "bob", ["SELECT"])
    page = bob.get("/catalog/main/browse/dst")
    assert page.status_code == 200 and "<td class=\"strong\">bob</td><td>SELECT</td>" in page.text
    assert "/catalog/main/browse/src" not in bob.get("/catalog/main/browse").text  # still hidden
    grants.revoke(Securable.of("table", "main.browse.dst"), "bob", ["SELECT"])
    assert bob.get("/catalog/main/browse/dst").status_code == 404


def test_table_page_shows_its_row_filter_and_column_masks(spark: Any, env: tuple[WorkspaceServer, str, int]) -> None:
    srv, token, _ = env
    spark.sql("CREATE OR REPLACE FUNCTION main.browse.small_ids(id BIGINT) RETURN id < 5")
    spark.sql("CREATE OR REPLACE FUNCTION main.browse.hide(total BIGINT, id BIGINT) RETURN IF(id > 100, total, NULL)")
    spark.sql("ALTER TABLE main.browse.dst SET ROW FILTER main.browse.small_ids ON (id)")
    spark.sql("ALTER TABLE main.browse.dst ALTER COLUMN total SET MASK main.browse.hide USING COLUMNS (id)")
    try:
        page = signed_in(srv, token).get("/catalog/main/browse/dst").text  # type: ignore[arg-type]
    finally:
        spark.sql("ALTER TABLE main.browse.dst DROP ROW FILTER")
        spark.sql("ALTER TABLE main.browse.dst ALTER COLUMN total DROP MASK")
    assert '<p class="row-filter"><code>main.browse.small_ids</code> on (id)</p>' in page
    assert "<li><strong>total</strong>: <code>main.browse.hide</code> using (id)</li>" in page
    assert re.search(r'<td class="strong">total</td>(<td>.*?</td>){2}<td><code>main\.browse\.hide</code>', page)


def test_browse_to_a_table_its_lineage_and_the_run_that_wrote_it(env: tuple[WorkspaceServer, str, int]) -> None:
    srv, token, run_id = env
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`)")
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/catalog")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url("**/catalog")
        page.click("nav >> text=Catalog")
        page.click("table.catalog-list a:text-is('main')")
        page.click("table.catalog-list a:text-is('browse')")
        expect(page.locator("table.catalog-list")).to_contain_text("derived")
        page.click("table.catalog-list a:text-is('dst')")
        page.wait_for_url("**/catalog/main/browse/dst")
        page.screenshot(path=str(SHOTS / "catalog_table.png"), full_page=True)
        assert page.locator("table.columns-table td.strong").all_inner_texts() == ["id", "total"]
        entry = get_table(srv.service.engine.workspace, "main.browse.dst")
        assert entry is not None and entry.owner and page.locator(".owner").inner_text() == entry.owner
        expect(page.locator("table.history")).to_contain_text("CREATE OR REPLACE TABLE AS SELECT")
        writer = page.locator("table.writers a")
        assert writer.get_attribute("href") == f"/runs/{run_id}"
        expect(page.locator("table.writers")).to_contain_text("write")
        page.click("svg.lineage a[data-table='main.browse.src']")
        page.wait_for_url("**/catalog/main/browse/src")
        assert page.locator("svg.lineage [data-table='main.browse.dst']").count() == 1  # downstream
        history = page.locator("table.history tbody tr td.strong").all_inner_texts()
        assert history == ["WRITE", "CREATE OR REPLACE TABLE AS SELECT"]
        assert errors == []
        browser.close()

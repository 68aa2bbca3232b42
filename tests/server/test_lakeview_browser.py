"""The Dashboards section in real headless Chromium: a snapshot refreshed on real Spark from
a hand-written .lvdash.json with every widget type, drawn on the grid with the vendored
Vega-Lite; the filter widget re-filters the stored rows; no console error, no CSP refusal.
Screenshots go to ``test-artifacts/screenshots/``."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from dashboard_env import signed_in, start_server
from serving import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "dashboards"))
from sample_dashboard import create_orders, dashboard, write  # noqa: E402

from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.plugins.dashboards import snapshots  # noqa: E402
from lakeloom.plugins.dashboards.model import load  # noqa: E402
from lakeloom.plugins.dashboards.refresh import refresh  # noqa: E402

pytestmark = pytest.mark.spark

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DRAWN = {"text", "counter", "table", "bar", "line", "area", "scatter", "pie", "heatmap", "histogram", "combo",
         "pivot", "sankey-3d", "filter-multi-select"}


@pytest.fixture(scope="module")
def served(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("lakeview") / "ws"
    srv = start_server(root)
    create_orders(spark)
    path = write(root / "dashboards")
    result = refresh(spark, load(path), run_id=None)
    result.snapshot["run_id"] = 7  # shown as the link to its refresh run
    snapshots.save(load_workspace(root), result.snapshot)
    yield srv, srv.token("alice")
    srv.close()
    spark.sql("DROP SCHEMA IF EXISTS main.dash_sales CASCADE")


def test_pages_list_and_escape(served: tuple[LiveServer, str]) -> None:
    srv, token = served
    client = signed_in(srv, token)
    listing = client.get("/dashboards")
    assert listing.status_code == 200 and 'href="/dashboards/sales"' in listing.text and 'run 7' in listing.text
    page = client.get("/dashboards/sales")
    assert page.status_code == 200 and "/static/vendor/vega-lite.min.js" in page.text
    assert '<script type="application/json" id="lv-snapshot">' in page.text
    assert "</script><" not in page.text.split('id="lv-snapshot">', 1)[1].split("</script>", 1)[0]
    assert client.get("/dashboards/nope").status_code == 404
    assert client.get("/static/vendor/vega.min.js").status_code == 200


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_every_widget_type_draws_and_filters_requery_the_snapshot(browser: Any,
                                                                 served: tuple[LiveServer, str]) -> None:
    srv, token = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems: list[str] = []
    # a failed load shows in the console without its URL: responses say which (the favicon may 404)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.goto(f"{srv.url}/login?next=/dashboards/sales")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboards/sales")
    page.wait_for_function("window.lakeview && window.lakeview.ready && "
                           "window.lakeview.drawn >= window.lakeview.expected")
    types = set(page.evaluate("Object.keys(window.lakeview.types)"))
    assert types | {"filter-multi-select"} >= DRAWN - {"filter-multi-select"}, types
    assert page.evaluate("window.lakeview.failed") == []
    for chart in ("by_region", "daily", "daily_area", "qty_amount", "share", "heat", "amounts", "combo"):
        assert page.locator(f"#w-{chart} svg.marks").count() == 1, chart
    assert page.locator("#w-future .lv-placeholder").inner_text().startswith("Widget type “sankey-3d”")
    assert page.locator("#w-intro h2").inner_text() == "Sales"
    assert page.locator("#w-pivot tbody tr").count() == 3
    assert page.locator("#w-recent tbody tr").count() == 60
    assert page.locator("#lv-run").get_attribute("href") == "/runs/7"
    total = 2 * sum(d + r + 0.5 for d in range(10) for r in range(3))
    assert page.locator("#w-total .lv-counter").inner_text() == str(int(total))
    page.screenshot(path=str(SHOTS / "lakeview_sales.png"), full_page=True)

    page.select_option("select.lv-filter", ["north"])
    north = 2 * sum(d + 0.5 for d in range(10))
    page.wait_for_function(f"document.querySelector('#w-total .lv-counter').textContent === '{north:g}'")
    assert page.locator("#w-orders_n .lv-counter").inner_text() == "20"
    assert page.locator("#w-recent tbody tr").count() == 20  # the table returns region itself
    page.screenshot(path=str(SHOTS / "lakeview_sales_north.png"), full_page=True)
    assert problems == []
    context.close()

"""Parameter filters in real headless Chromium against a live `serve`: changing a dataset
parameter re-runs the dataset on serve's Spark session (as the signed-in viewer) and the
widgets redraw from the answer; the route wants a session and its CSRF token."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from dashboard_env import signed_in, start_server
from serving import LiveServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "dashboards"))
from sample_dashboard import TABLE, create_orders, write  # noqa: E402

from lakeloom.config import load_workspace  # noqa: E402
from lakeloom.plugins.dashboards import snapshots  # noqa: E402
from lakeloom.plugins.dashboards.model import load  # noqa: E402
from lakeloom.plugins.dashboards.refresh import refresh  # noqa: E402

pytestmark = pytest.mark.spark

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PARAM_QUERY = "parameter_dashboards/live/datasets/big_min_qty"


def _count(min_qty: int) -> int:
    """Rows of sample_dashboard's orders with qty >= min_qty (qty = (day + region) % 3 + 1)."""
    return sum(2 for d in range(10) for r in range(3) if (d + r) % 3 + 1 >= min_qty)


def live_dashboard() -> dict[str, Any]:
    counter = {"widget": {"name": "n", "queries": [{"name": "main_query", "query": {
        "datasetName": "big", "disaggregated": False, "fields": [{"name": "count(*)", "expression": "COUNT(`*`)"}]}}],
        "spec": {"version": 2, "widgetType": "counter", "encodings": {"value": {"fieldName": "count(*)"}},
                 "frame": {"showTitle": True, "title": "Orders with qty >= min_qty"}}},
        "position": {"x": 0, "y": 0, "width": 2, "height": 2}}
    param = {"widget": {"name": "min_qty_filter", "queries": [{"name": PARAM_QUERY, "query": {
        "datasetName": "big", "parameters": [{"name": "min_qty", "keyword": "min_qty"}], "disaggregated": False}}],
        "spec": {"version": 2, "widgetType": "filter-single-select",
                 "encodings": {"fields": [{"parameterName": "min_qty", "queryName": PARAM_QUERY}]},
                 "frame": {"showTitle": True, "title": "Minimum quantity"}}},
        "position": {"x": 0, "y": 0, "width": 2, "height": 1}}
    return {"datasets": [{"name": "big", "displayName": "Big orders",
                          "queryLines": [f"SELECT order_date, region FROM {TABLE}\n", "WHERE qty >= :min_qty"],
                          "parameters": [{"displayName": "min_qty", "keyword": "min_qty", "dataType": "INTEGER",
                                          "defaultSelection": {"values": {"dataType": "INTEGER",
                                                                          "values": [{"value": "2"}]}}}]}],
            "pages": [{"name": "p1", "displayName": "Live", "pageType": "PAGE_TYPE_CANVAS", "layout": [counter]},
                      {"name": "f", "displayName": "Filters", "pageType": "PAGE_TYPE_GLOBAL_FILTERS",
                       "layout": [param]}]}


@pytest.fixture(scope="module")
def served(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    root = tmp_path_factory.mktemp("lakeview_live") / "ws"
    srv = start_server(root)
    create_orders(spark)
    # live queries run as the viewer: alice may read the table (governance)
    for grant in ("USE CATALOG ON CATALOG main", "USE SCHEMA ON SCHEMA main.dash_sales",
                  "SELECT ON SCHEMA main.dash_sales"):
        spark.sql(f"GRANT {grant} TO `alice`")
    path = write(root / "dashboards", "live", live_dashboard())
    snapshots.save(load_workspace(root), refresh(spark, load(path)).snapshot)
    yield srv, srv.token("alice")
    srv.close()
    spark.sql("REVOKE USE CATALOG ON CATALOG main FROM `alice`")
    spark.sql("DROP SCHEMA IF EXISTS main.dash_sales CASCADE")


def test_live_route_needs_the_session_token(served: tuple[LiveServer, str]) -> None:
    srv, token = served
    client = signed_in(srv, token)
    page = client.get("/dashboards/live")
    assert page.status_code == 200 and 'id="lv-live"' in page.text
    assert client.post("/dashboards/live/query", json={"parameters": {"min_qty": "3"}}).status_code == 403
    csrf = page.text.split('data-csrf="', 1)[1].split('"', 1)[0]
    ok = client.post("/dashboards/live/query", json={"parameters": {"min_qty": "3"}},
                     headers={"X-CSRF-Token": csrf, "Origin": srv.url})
    assert ok.status_code == 200, ok.text
    assert ok.json()["widgets"]["n"]["queries"][0]["rows"] == [[_count(3)]]
    assert ok.json()["datasets"]["big"]["parameters"] == {"min_qty": 3}
    # the datasets run as the viewer: bob holds no grant on the table
    bob = signed_in(srv, srv.token("bob"))
    bob_csrf = bob.get("/dashboards/live").text.split('data-csrf="', 1)[1].split('"', 1)[0]
    denied = bob.post("/dashboards/live/query", json={"parameters": {"min_qty": "3"}},
                      headers={"X-CSRF-Token": bob_csrf, "Origin": srv.url}).json()
    assert "INSUFFICIENT_PERMISSIONS" in denied["datasets"]["big"]["error"], denied["datasets"]
    missing = client.post("/dashboards/nope/query", json={}, headers={"X-CSRF-Token": csrf})
    assert missing.status_code == 404
    anonymous = srv.url + "/dashboards/live/query"
    import httpx

    assert httpx.post(anonymous, json={}).status_code == 401
    # an old snapshot is a record: no live queries from its page
    (name,) = [p.name for p in snapshots.history(load_workspace(srv.service.engine.workspace.root), "live")]
    assert 'id="lv-live"' not in client.get(f"/dashboards/live?snapshot={name}").text


def test_parameter_change_requeries_the_live_session(served: tuple[LiveServer, str]) -> None:
    from playwright.sync_api import sync_playwright

    srv, token = served
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.set_default_timeout(60_000)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.goto(f"{srv.url}/login?next=/dashboards/live")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboards/live")
        page.wait_for_function("() => window.lakeview && window.lakeview.ready")
        assert page.locator("#w-n .lv-counter").inner_text() == str(_count(2))
        box = page.locator("input[data-parameter='min_qty']")
        assert box.input_value() == "2" and box.get_attribute("type") == "number"
        box.fill("3")
        box.dispatch_event("change")
        page.wait_for_function("() => window.lakeview.live >= 1 || window.lakeview.liveErrors.length > 0")
        assert page.evaluate("window.lakeview.liveErrors") == []
        page.wait_for_function(f"() => document.querySelector('#w-n .lv-counter').textContent === '{_count(3)}'")
        assert page.locator("#lv-status").inner_text().startswith("Live result of")
        page.screenshot(path=str(SHOTS / "lakeview_live_parameter.png"), full_page=True)
        browser.close()
    assert problems == []

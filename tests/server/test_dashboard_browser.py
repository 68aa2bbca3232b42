"""The dashboard in a real headless Chromium (Debian's ``chromium`` driven by playwright):
sign in, every page, Run now and watch the run finish live, a failing task's log, repair
from the page, cancel a running job. No injected payload may run: ``window.__xss`` stays
unset, no dialog opens and the Content-Security-Policy never has to block anything.
Screenshots of each page go to ``test-artifacts/screenshots/``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from dashboard_env import XSS, api, etl_job, output_run, py, start_server, wait_run
from serving import LiveServer

CHROMIUM = os.environ.get("LAKELOOM_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LIVE_WAIT_MS = 30_000


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.srv: LiveServer = start_server(root)
        self.token = self.srv.token("alice")
        self.flag = root / "etl-flag"
        self.release = root / "release"
        self.etl = api(self.srv, self.token, "create", etl_job(self.flag))["job_id"]
        self.live = api(self.srv, self.token, "create", {"name": "live job", "tasks": [
            py("wait", "slow_lines", path=str(self.release)), py("after", "chatty", ("wait",))]})["job_id"]
        self.hold = api(self.srv, self.token, "create", {"name": "hold job", "tasks": [
            py("hold", "slow_lines", path=str(root / "never"))]})["job_id"]
        self.cron = api(self.srv, self.token, "create", {"name": "nightly", "schedule": {
            "quartz_cron_expression": "0 30 2 * * ?", "timezone_id": "Europe/Amsterdam"}, "tasks": [
            py("a", "chatty"), py("b", "chatty", ("a",)), py("c", "chatty", ("a",)), py("d", "chatty", ("b", "c"))]})[
            "job_id"]
        self.first_run = api(self.srv, self.token, "run-now", {"job_id": self.etl})["run_id"]
        wait_run(self.srv, self.first_run)
        self.outputs = output_run(self.srv, self.etl)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("dash-browser") / "ws")
    yield e
    e.srv.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; "
                    f"`make test` does this)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Watch:
    """What must never happen on a page: dialogs, CSP refusals, page errors."""

    def __init__(self, page: Any) -> None:
        self.events: list[str] = []
        page.on("dialog", lambda d: (self.events.append(f"dialog: {d.message}"), d.dismiss()))
        page.on("console", lambda m: self.events.append(f"console: {m.text}")
                if "Content Security Policy" in m.text or "Refused" in m.text else None)
        page.on("pageerror", lambda e: self.events.append(f"pageerror: {e}"))


@pytest.fixture(scope="module")
def page(browser: Any, env: Env) -> Iterator[Any]:
    """One signed-in page: the sign-in starts from a run_page_url deep link to a task."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(LIVE_WAIT_MS)
    pg.watch = Watch(pg)
    task = next(t for t in api(env.srv, env.token, f"runs/get?run_id={env.first_run}")["tasks"]
                if t["task_key"] == "check")
    pg.goto(task["run_page_url"])
    assert "/login?next=" in pg.url
    pg.screenshot(path=str(SHOTS / "login.png"))
    pg.fill("#token", env.token)
    pg.click("button[type=submit]")
    pg.wait_for_url(f"**/runs/{env.first_run}?attempt={task['run_id']}**")
    assert pg.locator("#task-panel h2").inner_text().startswith("Task check")
    yield pg
    context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=LIVE_WAIT_MS)  # 5 s by default: too short on a busy 2-core CI machine
    return pw_expect(locator)


def _safe(page: Any) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.watch.events == []
    assert page.locator("img[src='x']").count() == 0


def _run_state(page: Any) -> Any:
    return page.locator("#run-live .page-head h1 .badge")


def test_every_page_renders_and_no_payload_runs(page: Any, env: Env) -> None:
    pages = {"jobs": "/", "job": f"/jobs/{env.etl}", "job_cron": f"/jobs/{env.cron}", "runs": "/runs",
             "run": f"/runs/{env.first_run}", "run_failed_task": f"/runs/{env.first_run}?task=check",
             "run_log_search": f"/runs/{env.first_run}?task=transform&q=window",
             "notebook": f"/runs/{env.outputs}?task=nb", "sql": f"/runs/{env.outputs}?task=query",
             "pipeline": f"/runs/{env.outputs}?task=pipe"}
    for width, suffix in ((1280, ""), (420, "_narrow")):
        page.set_viewport_size({"width": width, "height": 800})
        for name, path in pages.items():
            page.goto(env.srv.url + path)
            page.wait_for_load_state("load")
            page.screenshot(path=str(SHOTS / f"{name}{suffix}.png"), full_page=True)
            _safe(page)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px window"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{env.srv.url}/jobs/{env.etl}")
    assert XSS in page.locator("h1").inner_text()  # shown as text, verbatim
    page.goto(f"{env.srv.url}/runs/{env.outputs}?task=nb")
    assert page.locator(".nb-md h1").inner_text() == "Sales report"
    assert XSS in page.locator(".nb-error").inner_text()


def test_run_now_and_watch_it_finish_live(page: Any, env: Env) -> None:
    page.goto(env.srv.url + "/")
    row = page.locator("tr", has=page.locator("a", has_text="live job"))
    row.locator("button", has_text="Run now").click()
    page.wait_for_url("**/runs/*")
    page.evaluate("window.__samePage = true")
    page.locator("#run-live .node.n-running[data-task='wait']").wait_for()
    expect(page.locator("#log")).to_contain_text("tick 3")  # the log tails while the task runs
    page.screenshot(path=str(SHOTS / "run_live_running.png"), full_page=True)
    env.release.touch()
    expect(_run_state(page)).to_have_text("Succeeded")
    assert page.evaluate("window.__samePage") is True  # updated in place, never reloaded
    assert page.locator("#run-live .node.n-success").count() == 2
    page.screenshot(path=str(SHOTS / "run_live_succeeded.png"), full_page=True)
    _safe(page)


def test_failing_task_log_then_repair_from_the_page(page: Any, env: Env) -> None:
    page.goto(f"{env.srv.url}/jobs/{env.etl}")
    page.locator("summary", has_text="Run now").click()
    page.locator("input[name='param.day']").fill("friday")
    page.locator("button", has_text="Run").last.click()
    page.wait_for_url("**/runs/*")
    run_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    expect(_run_state(page)).to_have_text("Failed")
    page.locator("#run-live table.tasks a", has_text="check").click()
    page.wait_for_url("**task=check**")
    assert "checking" in page.locator("#log").inner_text()
    assert f"bad data {XSS}" in page.locator("#task-panel pre.error-text").inner_text()
    page.screenshot(path=str(SHOTS / "run_failed_task_log.png"), full_page=True)
    _safe(page)
    env.flag.touch()
    page.locator("#repair summary").click()
    page.screenshot(path=str(SHOTS / "run_repair_form.png"))
    page.locator("#repair-submit").click()
    page.wait_for_url(f"**/runs/{run_id}")
    assert "Repair 1 started." in page.locator(".flash").inner_text()
    expect(_run_state(page)).to_have_text("Succeeded")
    assert page.locator("#run-live .gantt .bar.repair").count() >= 2  # check and report, rerun
    selected = page.locator("#task-panel").get_attribute("data-selected-attempt")
    expect(page.locator("#log-section")).to_have_attribute("data-attempt", selected)  # the log follows the panel
    page.screenshot(path=str(SHOTS / "run_repaired.png"), full_page=True)
    assert wait_run(env.srv, run_id).result_state == "SUCCESS"
    _safe(page)


def test_cancel_a_running_job(page: Any, env: Env) -> None:
    page.goto(f"{env.srv.url}/jobs/{env.hold}")
    page.locator("button", has_text="Run now").click()
    page.wait_for_url("**/runs/*")
    run_id = int(page.url.rsplit("/", 1)[1].split("?")[0])
    page.locator("#run-live .node.n-running[data-task='hold']").wait_for()
    page.locator("#cancel-run").click()
    page.wait_for_url(f"**/runs/{run_id}")
    expect(_run_state(page)).to_have_text("Canceled")
    page.screenshot(path=str(SHOTS / "run_canceled.png"), full_page=True)
    assert env.srv.store.get_run(run_id).result_state == "CANCELED"
    _safe(page)


def test_no_polling_when_nothing_runs(page: Any, env: Env) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{env.srv.url}/runs/{env.first_run}")
    page.wait_for_timeout(3500)  # two poll periods
    page.goto(env.srv.url + "/runs")
    page.wait_for_timeout(3500)
    polls = [u for u in requests if "/live" in u or "fragment=" in u or "/log/" in u]
    assert polls == []
    _safe(page)


def test_screenshots_written() -> None:
    names = {p.name for p in SHOTS.glob("*.png")}
    assert {"login.png", "jobs.png", "jobs_narrow.png", "run.png", "notebook.png", "run_repaired.png",
            "run_canceled.png"} <= names
    assert (SHOTS / "run_repaired.png").stat().st_size > 10_000

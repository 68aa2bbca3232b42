"""Dashboard pages over HTTP against a live server: sign-in and sessions, CSRF, permissions,
escaping of injected payloads, task outputs, logs, run filters and keyset paging."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from dashboard_env import XSS, XSS_MARKERS, api, csrf_of, etl_job, output_run, signed_in, start_server, wait_run
from serving import LiveServer


class Env:
    def __init__(self, root: Path) -> None:
        self.srv: LiveServer = start_server(root)
        self.flag = root / "flag"
        self.admin = self.srv.token("root", admin=True)
        self.alice = self.srv.token("alice")
        self.bob = self.srv.token("bob")
        self.carol = self.srv.token("carol")
        job = etl_job(self.flag)
        job["access_control_list"] = [{"user_name": "bob", "permission_level": "CAN_VIEW"}]
        self.job_id = api(self.srv, self.alice, "create", job)["job_id"]
        self.run_id = api(self.srv, self.alice, "run-now", {"job_id": self.job_id})["run_id"]
        wait_run(self.srv, self.run_id)
        self.output_run = output_run(self.srv, self.job_id)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("dash") / "ws")
    yield e
    e.srv.close()


@pytest.fixture(scope="module")
def alice(env: Env) -> httpx.Client:
    return signed_in(env.srv, env.alice)


def _no_raw_payload(html: str) -> None:
    for marker in XSS_MARKERS:
        assert marker not in html, f"unescaped {marker!r}"


def test_sign_in_sets_a_strict_httponly_session_cookie(env: Env) -> None:
    client = httpx.Client(base_url=env.srv.url)
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"token": env.alice, "nonce": nonce, "next": "/runs"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/runs"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("lakeloom_session="))
    attrs = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/"} <= attrs
    assert env.alice not in cookie  # the cookie is a session id, not the token
    assert client.get("/runs").status_code == 200


def test_pages_need_a_session_and_bad_sign_ins_are_refused(env: Env) -> None:
    anon = httpx.Client(base_url=env.srv.url, follow_redirects=False)
    r = anon.get(f"/runs/{env.run_id}?task=check")
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/runs/{env.run_id}%3Ftask%3Dcheck"
    assert anon.get(f"/runs/{env.run_id}/live").status_code == 401
    assert anon.post(f"/runs/{env.run_id}/cancel").status_code == 401
    page = anon.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    bad = anon.post("/login", data={"token": "llt_wrong", "nonce": nonce, "next": "/"})
    assert bad.headers["location"].endswith("error=invalid")
    no_nonce = httpx.post(f"{env.srv.url}/login", data={"token": env.alice, "nonce": "x"}, follow_redirects=False)
    assert no_nonce.headers["location"].endswith("error=expired")  # login CSRF: the nonce cookie is missing
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        anon.get("/login")
        r = anon.post("/login", data={"token": env.alice, "next": evil,
                                      "nonce": anon.cookies.get("lakeloom_login") or ""})
        assert r.status_code == 303 and r.headers["location"] == "/", evil


def test_revoking_the_token_ends_its_sessions(env: Env) -> None:
    token_id, token = env.srv.store.create_token("dave", is_admin=True)
    client = signed_in(env.srv, token)
    assert client.get("/").status_code == 200
    env.srv.store.revoke_token(token_id)
    assert client.get("/").status_code == 303


def test_sign_out_needs_csrf_and_ends_the_session(env: Env) -> None:
    client = signed_in(env.srv, env.bob)
    csrf = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 303


PAGES = ["/", "/jobs/{job}", "/runs", "/runs?job_id={job}", "/runs/{run}", "/runs/{run}?task=check",
         "/runs/{run}?task=transform", "/runs/{run}?task=transform&q=window", "/runs/{run}/live",
         "/runs/{out}?task=nb", "/runs/{out}?task=query", "/runs/{out}?task=pipe"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_escapes_injected_strings(env: Env, alice: httpx.Client, path: str) -> None:
    r = alice.get(path.format(job=env.job_id, run=env.run_id, out=env.output_run))
    assert r.status_code == 200, r.text
    _no_raw_payload(r.text)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in r.text  # the payload is shown, as text
    if not path.endswith("/live"):
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        assert '<script src="/static/dashboard.js" defer></script>' in r.text
        assert len(re.findall(r"<script", r.text)) == 1  # the page's own script, nothing inline


def test_run_page_shows_dag_attempts_error_params_values_and_log(env: Env, alice: httpx.Client) -> None:
    html = alice.get(f"/runs/{env.run_id}?task=check").text
    for key in ("extract", "transform", "check", "report"):
        assert f'data-task="{key}"' in html
    assert 'class="node n-failed" data-task="check"' in html and 'n-upstream' in html
    assert "bad data &lt;script&gt;" in html and "Traceback" in html  # error and traceback
    assert "checking " in html  # its log
    html = alice.get(f"/runs/{env.run_id}?task=extract").text
    assert "mon&lt;script&gt;" in html  # the resolved {{job.parameters.day}} parameter
    assert "greeting" in html and "42" in html  # task values
    found = alice.get(f"/runs/{env.run_id}?task=transform&q=BATCH 4").text
    assert "11 matching lines" in found  # batch 4 and batch 40-49, case-insensitive
    assert "<mark>batch 4</mark>" in found
    live = alice.get(f"/runs/{env.run_id}/live?task=check").text
    assert live.startswith('<div class="live-region"') and 'data-live="0"' in live


def test_task_outputs_notebook_sql_pipeline(env: Env, alice: httpx.Client) -> None:
    nb = alice.get(f"/runs/{env.output_run}?task=nb").text
    assert "<h1>Sales report</h1>" in nb and "<strong>bold</strong>" in nb
    assert '<img alt="cell output" src="data:image/png;base64,iVBOR' in nb
    assert "href=\"javascript" not in nb and " onclick=" not in nb.replace("&lt;b onclick=", "")
    assert "<td>&lt;script&gt;" in nb or "&lt;script&gt;window.__xss=1&lt;/script&gt;" in nb
    assert "window.__xss=3" not in nb  # the display HTML's script was dropped by the sanitizer
    assert "\x1b[" not in nb and "ValueError" in nb
    sql = alice.get(f"/runs/{env.output_run}?task=query").text
    assert "<td>Oslo</td>" in sql and "bigint" in sql and "2 rows" in sql
    pipe = alice.get(f"/runs/{env.output_run}?task=pipe").text
    assert "valid_id" in pipe and '<span class="bad">2</span>' in pipe and "materialized_view" in pipe
    assert "passed / failed / dropped" in pipe and '<span class="dropped">2</span>' in pipe  # a drop expectation


def test_run_page_url_and_task_anchors(env: Env) -> None:
    run = api(env.srv, env.alice, f"runs/get?run_id={env.run_id}")
    assert run["run_page_url"] == f"{env.srv.url}/runs/{env.run_id}"
    html = signed_in(env.srv, env.alice).get(f"/runs/{env.run_id}").text
    for t in run["tasks"]:
        anchor = t["run_page_url"].split("#", 1)[1]
        assert f'id="{anchor}"' in html


def test_log_tail_and_download(env: Env, alice: httpx.Client) -> None:
    check = next(r for r in env.srv.store.task_runs(env.run_id) if r.task_key == "transform")
    tail = alice.get(f"/runs/{env.run_id}/log/{check.task_run_id}?offset=0").json()
    assert "line 0: processing batch 0" in tail["text"] and tail["active"] is False
    again = alice.get(f"/runs/{env.run_id}/log/{check.task_run_id}?offset={tail['offset']}").json()
    assert again["text"] == "" and again["offset"] == tail["offset"]
    dl = alice.get(f"/runs/{env.run_id}/log/{check.task_run_id}?download=1")
    assert dl.headers["content-type"].startswith("text/plain") and dl.headers["x-content-type-options"] == "nosniff"
    assert XSS in dl.text  # raw text, served as text/plain with nosniff: never rendered as HTML
    other = env.srv.store.task_runs(env.output_run)[0].task_run_id
    assert alice.get(f"/runs/{env.run_id}/log/{other}?offset=0").status_code == 404


def test_actions_need_the_csrf_token_and_a_same_origin(env: Env, alice: httpx.Client) -> None:
    before = env.srv.store.count_runs()
    url = f"/jobs/{env.job_id}/run-now"
    assert alice.post(url, data={}).status_code == 403
    assert alice.post(url, data={"csrf_token": "forged"}).status_code == 403
    csrf = csrf_of(alice.get("/").text)
    cross = alice.post(url, data={"csrf_token": csrf}, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert env.srv.store.count_runs() == before
    r = alice.post(url, data={"csrf_token": csrf, "param.day": "tue"})
    assert r.status_code == 303 and re.fullmatch(r"/runs/\d+", r.headers["location"])
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert env.srv.store.get_run(run_id).job_parameters == {"day": "tue"}
    wait_run(env.srv, run_id)


def test_permissions_follow_the_api(env: Env) -> None:
    bob = signed_in(env.srv, env.bob)  # CAN_VIEW
    jobs = bob.get("/").text
    assert f'href="/jobs/{env.job_id}"' in jobs and "Run now" not in jobs and ">Pause<" not in jobs
    assert "Repair run" not in bob.get(f"/runs/{env.run_id}").text
    before = env.srv.store.count_runs()
    r = bob.post(f"/jobs/{env.job_id}/run-now", data={"csrf_token": csrf_of(jobs)})
    assert r.status_code == 303 and env.srv.store.count_runs() == before
    assert "CAN_MANAGE_RUN" in bob.get(r.headers["location"]).text  # the refusal, shown once
    carol = signed_in(env.srv, env.carol)  # no permission at all
    assert "No jobs" in carol.get("/").text
    assert carol.get(f"/jobs/{env.job_id}").status_code == 403
    assert carol.get(f"/runs/{env.run_id}").status_code == 403
    assert carol.get(f"/runs/{env.run_id}/live").status_code == 403
    assert "No runs match" in carol.get("/runs").text


def _bulk_runs(env: Env, n: int) -> list[int]:
    from sqlalchemy import insert

    from lakeloom.store import schema as s

    job_id = env.srv.store.create_job("bulk", {"name": "bulk", "tasks": [{"task_key": "t", "python_task": {
        "function": "os:getcwd"}}]}, creator="root").job_id
    rows = [dict(job_id=job_id, run_name="bulk", run_type="JOB_RUN", trigger_type="PERIODIC" if i % 3 else "ONE_TIME",
                 job_parameters_json="{}", settings_json="{}", life_cycle_state="TERMINATED",
                 result_state="FAILED" if i % 10 == 0 else "SUCCESS", state_message="",
                 start_time=1_700_000_000_000 + (i // 2) * 1000, end_time=1_700_000_000_500 + (i // 2) * 1000,
                 repair_count=0, cancel_requested=False) for i in range(n)]
    with env.srv.store.engine.begin() as conn:
        conn.execute(insert(s.runs), rows)
    return [job_id]


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<a class="strong" href="/runs/(\d+)">', html)]


def test_runs_filters_and_keyset_paging(env: Env) -> None:
    admin = signed_in(env.srv, env.admin)
    (job_id,) = _bulk_runs(env, 131)  # pairs share a start time: paging must tie-break on run_id
    seen: list[int] = []
    page = admin.get(f"/runs?job_id={job_id}").text
    pages = 0
    while True:
        pages += 1
        seen += _ids(page)
        older = re.search(r'href="([^"]+)" rel="next"', page)
        if not older:
            break
        page = admin.get(older.group(1).replace("&amp;", "&")).text
    assert pages == 3 and len(seen) == 131 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    newer = re.search(r'href="([^"]+)" rel="prev"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert _ids(admin.get(newer).text) == seen[50:100]
    failed = _ids(admin.get(f"/runs?job_id={job_id}&state=FAILED").text)
    assert len(failed) == 14
    assert all(env.srv.store.get_run(r).result_state == "FAILED" for r in failed)
    manual = _ids(admin.get(f"/runs?job_id={job_id}&trigger=ONE_TIME&state=SUCCESS").text)
    assert manual and all(env.srv.store.get_run(r).trigger_type == "ONE_TIME" for r in manual)
    assert _ids(admin.get(f"/runs?job_id={job_id}&date_from=2000-01-01&date_to=2000-01-02").text) == []
    assert len(_ids(admin.get(f"/runs?job_id={job_id}&date_from=2023-11-14").text)) == 50


def test_jobs_page_shows_trigger_pause_and_next_run(env: Env) -> None:
    admin = signed_in(env.srv, env.admin)
    job = api(env.srv, env.admin, "create", {"name": "cron job", "schedule": {
        "quartz_cron_expression": "0 15 6 ? * MON-FRI", "timezone_id": "Europe/Paris"},
        "tasks": [{"task_key": "a", "python_task": {"function": "dash_tasks:chatty"}}]})["job_id"]
    html = admin.get("/").text
    assert "At 06:15 on Monday to Friday (Europe/Paris)" in html and "<time datetime=" in html
    r = admin.post(f"/jobs/{job}/pause", data={"csrf_token": csrf_of(html), "status": "PAUSED", "back": "/"})
    assert r.status_code == 303 and env.srv.store.pause_overrides()[job] == "PAUSED"
    html = admin.get("/").text
    assert "cron job paused." in html and ">Unpause<" in html
    assert "cron job paused." not in admin.get("/").text  # the notice is shown once
    job_page = admin.get(f"/jobs/{job}").text
    assert "quartz_cron_expression" in job_page and "IS_OWNER" in job_page

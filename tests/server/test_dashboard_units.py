"""Dashboard building blocks: cron in words, next fire times, DAG layout, Gantt bars,
HTML sanitizing and log reading."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from lakeloom.server.dashboard.graphs import layout_dag, layout_gantt
from lakeloom.server.dashboard.outputs import log_chunk, read_log, sanitize_html
from lakeloom.server.dashboard.render import fmt_duration
from lakeloom.server.dashboard.schedules import describe_cron, trigger_info
from lakeloom.spec.models import Job


@pytest.mark.parametrize("expr, text", [
    ("0 0 9 * * ?", "At 09:00 every day"),
    ("0 30 2 ? * MON-FRI", "At 02:30 on Monday to Friday"),
    ("0 0 6 ? * 2,4", "At 06:00 on Monday, Wednesday"),
    ("0 0/15 * * * ?", "Every 15 minutes"),
    ("0 5 * * * ?", "Every hour at minute 5"),
    ("0 0 0 1 * ?", "At 00:00 on day 1 of the month"),
    ("0 0 12 L * ?", "At 12:00 on the last day of the month"),
    ("*/10 * * * * ?", "Every 10 seconds"),
    ("0 0 8 * 3 ?", "At 08:00 every day in March"),
    ("0 0 8 ? * 6#3", "cron 0 0 8 ? * 6#3"),
    ("15 10 * * 1-5", "At 10:15 on Monday to Friday"),  # plain 5-field cron numbers Sunday 0
])
def test_describe_cron(expr: str, text: str) -> None:
    assert describe_cron(expr) == text


def _job(**fields: object) -> Job:
    return Job.model_validate({"name": "j", "tasks": [{"task_key": "a", "python_task": {"function": "m:f"}}], **fields})


def test_trigger_info_next_fire_and_pause() -> None:
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    info = trigger_info(_job(schedule={"quartz_cron_expression": "0 0 12 * * ?", "timezone_id": "Europe/Oslo"}),
                        None, now=now)
    assert info.text == "At 12:00 every day (Europe/Oslo)" and not info.paused
    assert info.next_fire_ms == int(datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc).timestamp() * 1000)
    paused = trigger_info(_job(schedule={"quartz_cron_expression": "0 0 12 * * ?"}), "PAUSED", now=now)
    assert paused.paused and paused.next_fire_ms is None
    periodic = trigger_info(_job(trigger={"periodic": {"interval": 2, "unit": "HOURS"}}), None,
                            {"since": int(now.timestamp() * 1000) - 3 * 3_600_000}, now=now)
    assert periodic.text == "Every 2 hours" and periodic.next_fire_ms == int(now.timestamp() * 1000) + 3_600_000
    files = trigger_info(_job(trigger={"file_arrival": {"url": "/Volumes/a/b"}, "pause_status": "PAUSED"}), None)
    assert files.text == "On file arrival in /Volumes/a/b" and files.paused
    assert trigger_info(_job(), None).kind == "manual"


def test_dag_layers_by_longest_path_with_outcome_labels() -> None:
    tasks = [{"task_key": "a", "python_task": {}},
             {"task_key": "cond", "condition_task": {}, "depends_on": [{"task_key": "a"}]},
             {"task_key": "yes", "python_task": {}, "depends_on": [{"task_key": "cond", "outcome": "true"}]},
             {"task_key": "end", "python_task": {}, "run_if": "ALL_DONE",
              "depends_on": [{"task_key": "a"}, {"task_key": "yes"}]}]
    dag = layout_dag(tasks, {"a": "SUCCESS", "cond": "SUCCESS", "yes": "FAILED"}, lambda k: f"#{k}",
                     notes={"cond": "outcome true"})
    x = {n.key: n.x for n in dag.nodes}
    assert x["a"] < x["cond"] < x["yes"] < x["end"]  # "end" sits after its deepest parent
    nodes = {n.key: n for n in dag.nodes}
    assert nodes["cond"].kind == "condition" and nodes["cond"].note == "outcome true"
    assert nodes["end"].note == "ALL_DONE" and nodes["end"].state == "NOT_STARTED" and nodes["yes"].cls == "failed"
    assert [e.label for e in dag.edges] == ["", "true", "", ""]
    assert dag.width > 4 * 184


def test_gantt_draws_every_attempt_and_flags_repairs() -> None:
    def a(key: str, n: int, start: int, end: int | None, state: str | None, repair: int | None = None,
          it: int | None = None) -> dict[str, object]:
        return {"task_key": key, "attempt_number": n, "start_time": start, "end_time": end, "iteration": it,
                "life_cycle_state": "TERMINATED" if end else "RUNNING", "result_state": state,
                "repair_id": repair, "task_run_id": start}

    attempts = [a("x", 0, 1000, 2000, "FAILED"), a("x", 1, 2500, 4000, "SUCCESS"),
                a("y", 0, 4000, 9000, "FAILED"), a("y", 1, 20_000, None, None, repair=1),
                a("fe", 0, 1000, 3000, "SUCCESS", it=0), a("fe", 0, 1000, 3500, "SUCCESS", it=1)]
    g = layout_gantt(attempts, 1000, 30_000, lambda r: f"?attempt={r['task_run_id']}",
                     repairs=[{"repair_id": 1, "start_time": 19_000}])
    assert [r[0] for r in g.rows] == ["x", "y", "fe [0]", "fe [1]"]
    assert len(g.bars) == 6 and [b.repair for b in g.bars].count(True) == 1
    running = g.bars[3]
    assert running.cls == "running" and running.x + running.w == pytest.approx(170 + 760, abs=0.2)
    assert g.marks and g.marks[0][1] == "repair 1" and g.ticks[0][1] == "0s"


def test_sanitizer_and_durations() -> None:
    clean = sanitize_html('<p onmouseover="x()">hi<script>alert(1)</script><iframe src="/"></iframe>'
                          '<img src="x" onerror="y()"><a href="javascript:z()">l</a></p>')
    assert clean == '<p>hi<img><a rel="noopener noreferrer nofollow">l</a></p>'
    assert [fmt_duration(v) for v in (None, 5, 1500, 65_000, 7_380_000)] == ["—", "5 ms", "1.5 s", "1m 05s", "2h 03m"]


def test_log_search_tail_and_chunks(tmp_path: Path) -> None:
    log = tmp_path / "0.log"
    log.write_text("".join(f"line {i} \x1b[31mred\x1b[0m\n" for i in range(100_000)))
    view = read_log(log)
    assert view.start > 0 and view.text.startswith("line ") and view.text.endswith("line 99999 red\n")
    hits = read_log(log, query="LINE 9999 ")
    assert hits.hit_count == 1 and hits.hits[0][0] == 10_000
    assert hits.hits[0][1] == [("", False), ("line 9999 ", True), ("red", False)]
    text, offset = log_chunk(log, 0)
    assert text.endswith("\n") and 0 < offset <= 256_000 and "\x1b" not in text
    assert log_chunk(log, log.stat().st_size) == ("", log.stat().st_size)
    assert not read_log(tmp_path / "missing.log").exists


def test_task_selection_prefers_failed_then_active_then_last_repaired() -> None:
    from lakeloom.server.dashboard.run_view import _select

    def att(key: str, trid: int, state: str, active: bool = False) -> dict[str, object]:
        return {"task_key": key, "task_run_id": trid, "state": state, "active": active, "iteration": None}

    failed = {"a": [att("a", 1, "SUCCESS")], "b": [att("b", 2, "FAILED")]}
    assert _select(failed, [], None, None)[0] == "b"
    running = {"a": [att("a", 1, "RUNNING", active=True)], "b": []}
    assert _select(running, [], None, None)[0] == "a"
    done = {"a": [att("a", 1, "SUCCESS")], "b": [att("b", 2, "FAILED"), att("b", 5, "SUCCESS")],
            "c": [att("c", 3, "SUCCESS")]}
    assert _select(done, [], None, None) == (None, None)  # a plain finished run: no panel
    key, sel = _select(done, [], None, None, repaired=True)  # a finished repair: its newest attempt
    assert key == "b" and sel is not None and sel["task_run_id"] == 5
    assert _select(done, [], "c", None)[0] == "c"  # an explicit pick wins

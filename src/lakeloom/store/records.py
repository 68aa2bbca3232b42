"""Typed rows of the run store: what the store hands out instead of raw mappings.

The ``*_json`` columns are decoded here, once, so no caller outside ``lakeloom.store``
parses JSON or validates job settings itself. Records are frozen snapshots of a row as
it was read; their dict and list fields are shared with the record, so copy before
changing them (``copy.deepcopy(record.settings)``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from lakeloom.spec.models import Job


def _decoded(raw: str | None, empty: Any = None) -> Any:
    return json.loads(raw) if raw else empty


def _job(settings: dict[str, Any]) -> Job:
    from lakeloom.spec.models import Job

    return Job.model_validate(settings)


def as_recorded(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """``value`` as it reads back from a JSON column (non-JSON values as strings); None when empty."""
    return json.loads(json.dumps(value, default=str)) if value else None


class _Record:
    def as_dict(self) -> dict[str, Any]:
        """The record's fields as a new (shallow) dict, e.g. for a page to add display values to."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredJob(_Record):
    """A row of ``jobs``: a job's current settings and where they came from.

    ``source`` is the job file the settings were loaded from (None for jobs created
    through the API), ``job_key`` the key inside a bundle file, ``deployed`` whether
    the scheduler and ``jobs/list`` see it.
    """

    job_id: int
    name: str
    source: str | None
    job_key: str | None
    settings: dict[str, Any]
    created_time: int
    updated_time: int
    creator: str | None
    deployed: bool

    @cached_property
    def job(self) -> Job:
        """The settings as a validated :class:`~lakeloom.spec.models.Job` (parsed on first use)."""
        return _job(self.settings)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredJob:
        return cls(job_id=int(row["job_id"]), name=row["name"], source=row["source"], job_key=row["job_key"],
                   settings=json.loads(row["settings_json"]), created_time=row["created_time"],
                   updated_time=row["updated_time"], creator=row["creator"], deployed=bool(row["deployed"]))


@dataclass(frozen=True)
class RunRecord(_Record):
    """A row of ``runs``: one job run, with the settings snapshot it ran with.

    ``settings`` is the job as the run recorded it (``job`` is its model);
    ``job_parameters`` the resolved parameters; ``only`` the selected task keys, None
    when the run has every task; ``trigger_info`` the trigger's details (cron time,
    new files, updated tables), None when there are none. ``owner_*`` name the process
    driving the run, for orphan detection. ``creator`` is who asked for the run (the caller
    of run-now or runs/submit, the principal a parent run runs as), None when unknown.
    """

    run_id: int
    job_id: int
    run_name: str
    run_type: str
    trigger_type: str
    trigger_info: dict[str, Any] | None
    parent_run_id: int | None
    parent_task_run_id: int | None
    job_parameters: dict[str, str]
    only: list[str] | None
    settings: dict[str, Any]
    base_dir: str | None
    life_cycle_state: str
    result_state: str | None
    state_message: str
    termination_code: str | None
    termination_type: str | None
    start_time: int
    end_time: int | None
    repair_count: int
    cancel_requested: bool
    owner_pid: int | None
    owner_host: str | None
    owner_started: str | None
    run_as: str | None
    idempotency_token: str | None
    creator: str | None = None

    @cached_property
    def job(self) -> Job:
        """The run's settings snapshot as a :class:`~lakeloom.spec.models.Job`."""
        return _job(self.settings)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRecord:
        return cls(
            run_id=int(row["run_id"]), job_id=int(row["job_id"]), run_name=row["run_name"], run_type=row["run_type"],
            trigger_type=row["trigger_type"], trigger_info=_decoded(row["trigger_info_json"]),
            parent_run_id=row["parent_run_id"], parent_task_run_id=row["parent_task_run_id"],
            job_parameters=_decoded(row["job_parameters_json"], {}), only=_decoded(row["only_json"]),
            settings=json.loads(row["settings_json"]), base_dir=row["base_dir"],
            life_cycle_state=row["life_cycle_state"], result_state=row["result_state"],
            state_message=row["state_message"] or "", termination_code=row["termination_code"],
            termination_type=row["termination_type"], start_time=row["start_time"], end_time=row["end_time"],
            repair_count=row["repair_count"] or 0, cancel_requested=bool(row["cancel_requested"]),
            owner_pid=row["owner_pid"], owner_host=row["owner_host"], owner_started=row["owner_started"],
            run_as=row["run_as"], idempotency_token=row["idempotency_token"], creator=row.get("creator"))


@dataclass(frozen=True)
class TaskRunRecord(_Record):
    """A row of ``task_runs``: one attempt of one task (or of one for_each iteration).

    ``output`` is what the task returned for ``runs/get-output`` (``{}`` when nothing),
    ``params`` the parameters it resolved (None when it had none), ``child_run_ids``
    the runs it started (run_job tasks, notebook workflows). ``iteration`` and
    ``parent_task_run_id`` are set on for_each iterations.
    """

    task_run_id: int
    run_id: int
    task_key: str
    attempt_number: int
    execution_count: int
    repair_id: int | None
    parent_task_run_id: int | None
    iteration: int | None
    life_cycle_state: str
    result_state: str | None
    state_message: str
    termination_code: str | None
    start_time: int
    end_time: int | None
    error_type: str | None
    error_trace: str | None
    output: dict[str, Any]
    condition_outcome: str | None
    params: dict[str, Any] | None
    child_run_ids: list[int]
    log_path: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TaskRunRecord:
        return cls(
            task_run_id=int(row["task_run_id"]), run_id=int(row["run_id"]), task_key=row["task_key"],
            attempt_number=row["attempt_number"], execution_count=row["execution_count"], repair_id=row["repair_id"],
            parent_task_run_id=row["parent_task_run_id"], iteration=row["iteration"],
            life_cycle_state=row["life_cycle_state"], result_state=row["result_state"],
            state_message=row["state_message"] or "", termination_code=row["termination_code"],
            start_time=row["start_time"], end_time=row["end_time"], error_type=row["error_type"],
            error_trace=row["error_trace"], output=_decoded(row["output_json"], {}),
            condition_outcome=row["condition_outcome"], params=_decoded(row["params_json"]),
            child_run_ids=_decoded(row["child_run_ids_json"], []), log_path=row["log_path"])


@dataclass(frozen=True)
class RepairRecord(_Record):
    """A row of ``repairs``: one repair of a run and the tasks it reran."""

    repair_id: int
    run_id: int
    start_time: int
    end_time: int | None
    life_cycle_state: str
    result_state: str | None
    rerun_tasks: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RepairRecord:
        return cls(repair_id=int(row["repair_id"]), run_id=int(row["run_id"]), start_time=row["start_time"],
                   end_time=row["end_time"], life_cycle_state=row["life_cycle_state"],
                   result_state=row["result_state"], rerun_tasks=json.loads(row["rerun_tasks_json"]))


@dataclass(frozen=True)
class EventRecord(_Record):
    """A row of ``events``: something that happened to a run (cancel requested, repair started, ...)."""

    event_id: int
    run_id: int
    task_run_id: int | None
    time: int
    type: str
    message: str
    data: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> EventRecord:
        return cls(event_id=int(row["event_id"]), run_id=int(row["run_id"]), task_run_id=row["task_run_id"],
                   time=row["time"], type=row["type"], message=row["message"] or "",
                   data=_decoded(row["data_json"]))

"""Tables of the run store (SQLAlchemy Core). Bump SCHEMA_VERSION on any change and
add a migration step in ``store.migrations``."""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text, UniqueConstraint)

SCHEMA_VERSION = 7

#: Task run ids are ``run_id * 10**9 + n`` (see ``store.TASK_RUN_ID_STRIDE``): past run 2 they
#: exceed 32 bits. SQLite's INTEGER is 64-bit (and ``INTEGER PRIMARY KEY`` must stay the rowid
#: alias the fast path reads back); elsewhere (PostgreSQL) they are BIGINT.
TaskRunId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table(
    "lakeloom_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

jobs = Table(
    "jobs", metadata,
    Column("job_id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("source", Text),  # job file the settings came from, if any
    Column("job_key", Text),  # key inside a bundle file
    Column("settings_json", Text, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
    Column("creator", Text),
    Column("deployed", Boolean, nullable=False, default=False),
    UniqueConstraint("name", "source", name="uq_jobs_name_source"),
    sqlite_autoincrement=True,  # ids are never reused, as on Databricks (version 5)
)

runs = Table(
    "runs", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.job_id"), nullable=False),
    Column("run_name", Text, nullable=False),
    Column("run_type", String(32), nullable=False, default="JOB_RUN"),
    Column("trigger_type", String(32), nullable=False, default="ONE_TIME"),
    Column("trigger_info_json", Text),
    Column("parent_run_id", Integer),
    Column("parent_task_run_id", TaskRunId),
    Column("job_parameters_json", Text, nullable=False, default="{}"),
    Column("only_json", Text),
    Column("settings_json", Text, nullable=False),  # snapshot of the job settings the run used
    Column("base_dir", Text),
    Column("life_cycle_state", String(32), nullable=False),
    Column("result_state", String(40)),
    Column("state_message", Text, nullable=False, default=""),
    Column("termination_code", String(40)),
    Column("termination_type", String(32)),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("repair_count", Integer, nullable=False, default=0),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("owner_pid", Integer),
    Column("owner_host", String(256)),
    Column("owner_started", String(64)),  # process start marker, defeats pid reuse
    Column("run_as", Text),
    Column("idempotency_token", String(64)),
    Column("creator", Text),  # who caused the run (version 7); run_as is whom it runs as
    Index("ix_runs_job_start", "job_id", "start_time"),
    Index("ix_runs_state", "life_cycle_state"),
    Index("ix_runs_start", "start_time"),
    sqlite_autoincrement=True,  # ids are never reused, as on Databricks (version 5)
)

task_runs = Table(
    "task_runs", metadata,
    Column("task_run_id", TaskRunId, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.run_id"), nullable=False),
    Column("task_key", Text, nullable=False),
    Column("attempt_number", Integer, nullable=False, default=0),
    Column("execution_count", Integer, nullable=False, default=1),
    Column("repair_id", Integer),
    Column("parent_task_run_id", TaskRunId),  # for_each iterations point at their for_each task run
    Column("iteration", Integer),
    Column("life_cycle_state", String(32), nullable=False),
    Column("result_state", String(40)),
    Column("state_message", Text, nullable=False, default=""),
    Column("termination_code", String(40)),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("error_type", Text),
    Column("error_trace", Text),
    Column("output_json", Text),
    Column("condition_outcome", String(8)),
    Column("params_json", Text),
    Column("child_run_ids_json", Text),
    Column("log_path", Text),
    Index("ix_task_runs_run", "run_id", "task_key", "attempt_number"),
)

task_values = Table(
    "task_values", metadata,
    Column("run_id", Integer, primary_key=True),
    Column("task_key", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value_json", Text, nullable=False),
)

repairs = Table(
    "repairs", metadata,
    Column("repair_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.run_id"), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("life_cycle_state", String(32), nullable=False),
    Column("result_state", String(40)),
    Column("rerun_tasks_json", Text, nullable=False),
)

events = Table(
    "events", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("task_run_id", TaskRunId),
    Column("time", BigInteger, nullable=False),
    Column("type", String(64), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("data_json", Text),
    Index("ix_events_run", "run_id", "event_id"),
)


# --- version 2: serve (scheduler, triggers, auth, notifications) ------------------

schedule_ticks = Table(
    "schedule_ticks", metadata,
    Column("tick_id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", Integer, nullable=False),
    Column("scheduled_time", BigInteger, nullable=False),  # epoch ms of the due tick
    Column("kind", String(32), nullable=False),
    Column("claimed_time", BigInteger, nullable=False),
    Column("owner", String(300), nullable=False),  # host:pid of the claiming process
    Column("run_id", Integer),
    UniqueConstraint("job_id", "scheduled_time", name="uq_schedule_ticks_job_time"),
)

trigger_state = Table(
    "trigger_state", metadata,
    Column("job_id", Integer, primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("version", Integer, nullable=False, default=0),  # compare-and-set guard between processes
    Column("state_json", Text, nullable=False),
    Column("updated_time", BigInteger, nullable=False),
)

job_controls = Table(
    "job_controls", metadata,
    Column("job_id", Integer, primary_key=True),
    Column("pause_status", String(16)),  # PAUSED / UNPAUSED override of the settings, or NULL
    Column("updated_time", BigInteger, nullable=False),
    Column("updated_by", Text),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("token_id", String(64), primary_key=True),
    Column("principal", Text, nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),  # sha256 hex; the token is never stored
    Column("comment", Text, nullable=False, default=""),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_time", BigInteger, nullable=False),
    Column("expiry_time", BigInteger),
    Column("revoked_time", BigInteger),
    Column("last_used_time", BigInteger),
)

notification_deliveries = Table(
    "notification_deliveries", metadata,
    Column("delivery_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("task_run_id", TaskRunId),
    Column("task_key", Text),
    Column("event_type", String(64), nullable=False),
    Column("notifier", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # DELIVERED, RETRYING, FAILED
    Column("http_status", Integer),
    Column("error", Text),
    Column("time", BigInteger, nullable=False),
    Index("ix_deliveries_run", "run_id", "delivery_id"),
)

#: Tables added by schema version 2 (created by migration step 2 on a version-1 store).
V2_TABLES = (schedule_ticks, trigger_state, job_controls, api_tokens, notification_deliveries)


# --- version 3: the monitoring dashboard ---------------------------------------------

ui_sessions = Table(
    "ui_sessions", metadata,
    Column("session_hash", String(128), primary_key=True),  # sha256 hex of the cookie value
    Column("token_id", String(64), nullable=False),  # the API token signed in with; revoking it ends the session
    Column("csrf_token", String(64), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("expiry_time", BigInteger, nullable=False),
)

#: Tables added by schema version 3 (created by migration step 3).
V3_TABLES = (ui_sessions,)

#: Indexes added by schema version 3: the dashboard's run filters (state, trigger) stay
#: index-ordered by start time, so a filtered page reads only the rows it shows.
V3_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_runs_result_start ON runs (result_state, start_time)",
    "CREATE INDEX IF NOT EXISTS ix_runs_trigger_start ON runs (trigger_type, start_time)",
    "CREATE INDEX IF NOT EXISTS ix_runs_parent ON runs (parent_run_id)",
)


#: Names that come from users (job and task names, task value keys, principals, notification
#: destinations): SQLite never enforced the VARCHAR lengths they had, PostgreSQL rejected longer
#: values; version 4 makes them unbounded TEXT there too.
V4_TEXT_COLUMNS = (
    ("jobs", "name"), ("jobs", "job_key"), ("jobs", "creator"),
    ("runs", "run_name"), ("runs", "run_as"),
    ("task_runs", "task_key"), ("task_runs", "error_type"),
    ("task_values", "task_key"), ("task_values", "key"),
    ("job_controls", "updated_by"), ("api_tokens", "principal"),
    ("notification_deliveries", "task_key"), ("notification_deliveries", "notifier"),
    ("notification_deliveries", "destination"),
)

#: Columns holding task run ids that version 4 widens to BIGINT (PostgreSQL; SQLite's INTEGER
#: already holds 64 bits).
V4_TASK_RUN_ID_COLUMNS = (
    ("runs", "parent_task_run_id"),
    ("task_runs", "task_run_id"),
    ("task_runs", "parent_task_run_id"),
    ("events", "task_run_id"),
    ("notification_deliveries", "task_run_id"),
)


#: Tables whose ids version 5 makes never-reused on SQLite (``AUTOINCREMENT``; without it SQLite
#: hands the id of a deleted newest row to the next insert). PostgreSQL sequences never reuse.
V5_AUTOINCREMENT_TABLES = ("jobs", "runs")


# --- version 6: liveness of serve processes across hosts --------------------------------

process_heartbeats = Table(
    "process_heartbeats", metadata,
    Column("host", String(256), primary_key=True),
    Column("pid", Integer, primary_key=True),
    Column("started", String(64), primary_key=True),  # process start marker, defeats pid reuse
    Column("last_beat", BigInteger, nullable=False),  # epoch ms
)

#: Tables added by schema version 6.
V6_TABLES = (process_heartbeats,)

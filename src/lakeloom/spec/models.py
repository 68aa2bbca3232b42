"""Pydantic models of jobs and tasks, with the Jobs API 2.2 field names."""
from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from lakeloom.spec.clusters import ClusterSpec, JobCluster
from lakeloom.spec.libraries import JobEnvironment, Library
from lakeloom.spec.parameters import coerce_param

# Databricks fields with no local meaning: accepted, ignored, reported as warnings.
IGNORED_TASK_FIELDS = frozenset({
    "warehouse_id", "compute", "source", "compute_key", "gen_ai_compute_task",
})
IGNORED_JOB_FIELDS = frozenset({
    "git_source", "performance_target", "budget_policy_id", "usage_policy_id",
    "edit_mode", "deployment", "parent_path", "format", "access_control_list", "lifecycle",
    "environment_variables",
})


class Strict(BaseModel):
    """Base for lakeloom's own models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _IgnoringDatabricksOnly(Strict):
    """Pops Databricks-only keys before validation and remembers them for warnings."""

    ignored_field_names: ClassVar[frozenset[str]] = frozenset()
    _ignored: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _drop_ignored(cls, data: Any, handler: Any) -> Any:
        ignored: list[str] = []
        unknown: dict[str, Any] = {}
        if isinstance(data, dict):
            ignored = [k for k in data if k in cls.ignored_field_names]
            unknown = {k: v for k, v in data.items()
                       if k not in cls.ignored_field_names and k not in cls.model_fields and not cls._extra_key_ok(k)}
            data = {k: v for k, v in data.items() if k not in cls.ignored_field_names and k not in unknown}
        # Report unknown keys together with every other error, not instead of them.
        line_errors: list[Any] = [{"type": "extra_forbidden", "loc": (k,), "input": v} for k, v in unknown.items()]
        try:
            model = handler(data)
        except ValidationError as e:
            raise ValidationError.from_exception_data(
                cls.__name__, line_errors + e.errors(include_url=False)) from None  # type: ignore[arg-type]
        if line_errors:
            raise ValidationError.from_exception_data(cls.__name__, line_errors)  # type: ignore[arg-type]
        model._ignored = ignored
        return model

    @classmethod
    def _extra_key_ok(cls, key: str) -> bool:
        return False

    @property
    def ignored_fields(self) -> list[str]:
        """Databricks-only keys that were present and ignored."""
        return list(self._ignored)


class RunIf(str, Enum):
    ALL_SUCCESS = "ALL_SUCCESS"
    AT_LEAST_ONE_SUCCESS = "AT_LEAST_ONE_SUCCESS"
    NONE_FAILED = "NONE_FAILED"
    ALL_DONE = "ALL_DONE"
    AT_LEAST_ONE_FAILED = "AT_LEAST_ONE_FAILED"
    ALL_FAILED = "ALL_FAILED"


PauseStatus = Literal["PAUSED", "UNPAUSED"]


class TaskDependency(Strict):
    task_key: str
    outcome: Literal["true", "false"] | None = None

    @field_validator("outcome", mode="before")
    @classmethod
    def _bool_outcome(cls, v: Any) -> Any:
        return str(v).lower() if isinstance(v, bool) else v


class JobParameter(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    default: str

    @field_validator("default", mode="before")
    @classmethod
    def _stringify(cls, v: Any) -> Any:
        return coerce_param(v)


class CronSchedule(Strict):
    quartz_cron_expression: str
    timezone_id: str = "UTC"
    pause_status: PauseStatus = "UNPAUSED"


class Periodic(Strict):
    interval: int = Field(gt=0)
    unit: Literal["MINUTES", "HOURS", "DAYS", "WEEKS"]


class FileArrival(Strict):
    url: str
    min_time_between_triggers_seconds: int = Field(default=0, ge=0)
    wait_after_last_change_seconds: int = Field(default=0, ge=0)


class TableUpdate(Strict):
    table_names: list[str] = Field(min_length=1)
    condition: Literal["ANY_UPDATED", "ALL_UPDATED"] = "ANY_UPDATED"
    min_time_between_triggers_seconds: int = Field(default=0, ge=0)
    wait_after_last_change_seconds: int = Field(default=0, ge=0)


class TriggerSettings(Strict):
    pause_status: PauseStatus = "UNPAUSED"
    periodic: Periodic | None = None
    file_arrival: FileArrival | None = None
    table_update: TableUpdate | None = None
    # Databricks' table trigger used to be called `table`.
    table: TableUpdate | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TriggerSettings:
        kinds = [k for k in ("periodic", "file_arrival", "table_update", "table") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"trigger needs exactly one of periodic, file_arrival, table_update (got {kinds or 'none'})")
        return self


class Continuous(Strict):
    pause_status: PauseStatus = "UNPAUSED"
    task_retry_mode: Literal["NEVER", "ON_FAILURE"] = "NEVER"


class QueueSettings(Strict):
    enabled: bool


class EmailNotifications(Strict):
    on_start: list[str] = Field(default_factory=list)
    on_success: list[str] = Field(default_factory=list)
    on_failure: list[str] = Field(default_factory=list)
    on_duration_warning_threshold_exceeded: list[str] = Field(default_factory=list)
    on_streaming_backlog_exceeded: list[str] = Field(default_factory=list)
    no_alert_for_skipped_runs: bool = False


class WebhookRef(Strict):
    id: str


class WebhookNotifications(Strict):
    on_start: list[WebhookRef] = Field(default_factory=list, max_length=3)
    on_success: list[WebhookRef] = Field(default_factory=list, max_length=3)
    on_failure: list[WebhookRef] = Field(default_factory=list, max_length=3)
    on_duration_warning_threshold_exceeded: list[WebhookRef] = Field(default_factory=list, max_length=3)
    on_streaming_backlog_exceeded: list[WebhookRef] = Field(default_factory=list, max_length=3)


class NotificationSettings(Strict):
    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False
    alert_on_last_attempt: bool = False


class HealthRule(Strict):
    metric: Literal[
        "RUN_DURATION_SECONDS", "STREAMING_BACKLOG_BYTES", "STREAMING_BACKLOG_RECORDS",
        "STREAMING_BACKLOG_SECONDS", "STREAMING_BACKLOG_FILES",
    ]
    op: Literal["GREATER_THAN"] = "GREATER_THAN"
    value: int


class Health(Strict):
    rules: list[HealthRule] = Field(default_factory=list)


class RunAs(Strict):
    user_name: str | None = None
    service_principal_name: str | None = None
    group_name: str | None = None

    @property
    def principal(self) -> str | None:
        return self.user_name or self.service_principal_name or self.group_name


class Permission(Strict):
    user_name: str | None = None
    group_name: str | None = None
    service_principal_name: str | None = None
    level: Literal["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"]


class Task(_IgnoringDatabricksOnly):
    """One task of a job. Exactly one ``<kind>_task`` block names its type."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    ignored_field_names: ClassVar[frozenset[str]] = IGNORED_TASK_FIELDS

    task_key: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$")
    description: str | None = None
    environment_key: str | None = None
    libraries: list[Library] = Field(default_factory=list)
    depends_on: list[TaskDependency] = Field(default_factory=list)
    run_if: RunIf = RunIf.ALL_SUCCESS
    disabled: bool = False
    timeout_seconds: int = Field(default=0, ge=0)
    max_retries: int = Field(default=0, ge=-1)
    min_retry_interval_millis: int = Field(default=0, ge=0)
    retry_on_timeout: bool = False
    health: Health | None = None
    email_notifications: EmailNotifications | None = None
    webhook_notifications: WebhookNotifications | None = None
    notification_settings: NotificationSettings | None = None
    #: Compute (see :mod:`lakeloom.spec.clusters`): at most one of the three.
    job_cluster_key: str | None = None
    new_cluster: ClusterSpec | None = None
    existing_cluster_id: str | None = None

    @model_validator(mode="after")
    def _one_compute(self) -> Task:
        given = [k for k in ("job_cluster_key", "new_cluster", "existing_cluster_id") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"a task uses at most one of job_cluster_key, new_cluster, existing_cluster_id "
                             f"(got {', '.join(given)})")
        return self

    @classmethod
    def _extra_key_ok(cls, key: str) -> bool:
        return key.endswith("_task")

    @property
    def task_blocks(self) -> dict[str, Any]:
        """The ``*_task`` blocks present (a valid task has exactly one)."""
        return dict(self.model_extra or {})

    @property
    def kind(self) -> str:
        """The task kind key, e.g. ``notebook_task``; validation guarantees there is one."""
        blocks = self.task_blocks
        if len(blocks) != 1:
            raise ValueError(f"task {self.task_key!r} has {len(blocks)} *_task blocks")
        return next(iter(blocks))

    @property
    def settings_raw(self) -> Any:
        return self.task_blocks[self.kind]


class Job(_IgnoringDatabricksOnly):
    """A job: the ``JobSettings`` of the Jobs API."""

    ignored_field_names: ClassVar[frozenset[str]] = IGNORED_JOB_FIELDS

    name: str
    description: str | None = None
    tasks: list[Task] = Field(min_length=1)
    parameters: list[JobParameter] = Field(default_factory=list)
    timeout_seconds: int = Field(default=0, ge=0)
    max_concurrent_runs: int = Field(default=1, ge=0, le=1000)
    tags: dict[str, str] = Field(default_factory=dict)
    job_clusters: list[JobCluster] = Field(default_factory=list)
    email_notifications: EmailNotifications | None = None
    webhook_notifications: WebhookNotifications | None = None
    notification_settings: NotificationSettings | None = None
    health: Health | None = None
    schedule: CronSchedule | None = None
    trigger: TriggerSettings | None = None
    continuous: Continuous | None = None
    queue: QueueSettings | None = None
    run_as: RunAs | None = None
    permissions: list[Permission] = Field(default_factory=list)
    environments: list[JobEnvironment] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exclusive_triggers(self) -> Job:
        if self.continuous and (self.schedule or self.trigger):
            raise ValueError("continuous cannot be combined with schedule or trigger")
        return self

    @model_validator(mode="after")
    def _known_environments(self) -> Job:
        keys = [e.environment_key for e in self.environments]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"environments: duplicate environment_key {', '.join(map(repr, duplicates))}")
        return self

    @model_validator(mode="after")
    def _known_job_clusters(self) -> Job:
        keys = [c.job_cluster_key for c in self.job_clusters]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"job_clusters: duplicate job_cluster_key {', '.join(map(repr, duplicates))}")
        return self

    def job_cluster(self, key: str | None) -> JobCluster | None:
        """The entry of ``job_clusters`` that ``key`` names (None for None or an unknown key)."""
        return next((c for c in self.job_clusters if c.job_cluster_key == key), None) if key else None

    def environment(self, key: str | None) -> JobEnvironment | None:
        """The environment ``key`` names (None for None)."""
        return next((e for e in self.environments if e.environment_key == key), None) if key else None

    def task(self, key: str) -> Task:
        for t in self.tasks:
            if t.task_key == key:
                return t
        raise KeyError(key)

    @property
    def parameter_defaults(self) -> dict[str, str]:
        return {p.name: p.default for p in self.parameters}

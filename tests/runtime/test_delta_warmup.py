"""A long-lived driver builds the Delta state of the tables it wrote in the background (real Spark + Delta)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeloom.runtime import delta_warmup

pytestmark = pytest.mark.spark

SNAPSHOT_JOB = "Compute snapshot for version"


@pytest.fixture
def warm_driver() -> Iterator[None]:
    delta_warmup.keep_warm()
    try:
        yield
    finally:
        delta_warmup.keep_warm(False)
        assert delta_warmup.wait_idle(120)


def _snapshot(spark: Any, path: Path) -> Any:
    return spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, str(path)).unsafeVolatileSnapshot()


def _last_job(spark: Any) -> int:
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    return max((int(jobs.apply(i).jobId()) for i in range(jobs.size())), default=-1)


def _snapshot_jobs_since(spark: Any, job_id: int) -> list[str]:
    """Descriptions of the state-building jobs Delta ran after ``job_id``."""
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    out = []
    for i in range(jobs.size()):
        job = jobs.apply(i)
        desc = str(job.description().get()) if job.description().isDefined() else ""
        if int(job.jobId()) > job_id and SNAPSHOT_JOB in desc:
            out.append(desc)
    return out


def _new_version(spark: Any, path: Path, rows: int) -> int:
    spark.range(rows).write.format("delta").mode("append").save(str(path))
    return int(_snapshot(spark, path).version())


def test_warmed_state_is_the_one_the_next_read_uses(spark, warm_driver: None, tmp_path: Path) -> None:
    path = tmp_path / "t"
    _new_version(spark, path, 3)

    # Without warming, the first read of a new version builds its state itself.
    version = _new_version(spark, path, 2)
    before = _last_job(spark)
    assert len(spark.read.format("delta").load(str(path)).collect()) == 5
    built = _snapshot_jobs_since(spark, before)
    assert built and all(d.endswith(f"{SNAPSHOT_JOB}: {version}") for d in built), built

    version = _new_version(spark, path, 4)
    assert not _snapshot(spark, path).stateReconstructionTriggered()
    assert delta_warmup.warm_later(spark, [str(path), str(path)]) == 1
    assert delta_warmup.wait_idle(120)
    snapshot = _snapshot(spark, path)
    assert snapshot.version() == version and snapshot.stateReconstructionTriggered()

    before = _last_job(spark)
    assert len(spark.read.format("delta").load(str(path)).collect()) == 9
    assert _snapshot_jobs_since(spark, before) == []


def test_missing_table_is_skipped_and_the_queue_goes_on(spark, warm_driver: None, tmp_path: Path) -> None:
    path = tmp_path / "t"
    _new_version(spark, path, 1)
    assert delta_warmup.warm_later(spark, [str(tmp_path / "no-such-table"), str(path)]) == 2
    assert delta_warmup.wait_idle(120)
    assert _snapshot(spark, path).stateReconstructionTriggered()
    assert delta_warmup.warm(spark, str(tmp_path / "no-such-table")) is False


def test_a_process_that_exits_after_its_command_queues_nothing(spark, tmp_path: Path) -> None:
    path = tmp_path / "t"
    _new_version(spark, path, 1)
    assert not delta_warmup.enabled()
    assert delta_warmup.warm_later(spark, [str(path)]) == 0
    assert delta_warmup.wait_idle(1)
    assert not _snapshot(spark, path).stateReconstructionTriggered()


def test_the_environment_can_turn_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKELOOM_DELTA_WARMUP", "0")
    delta_warmup.keep_warm()
    assert not delta_warmup.enabled()
    monkeypatch.delenv("LAKELOOM_DELTA_WARMUP")
    delta_warmup.keep_warm()
    try:
        assert delta_warmup.enabled()
    finally:
        delta_warmup.keep_warm(False)

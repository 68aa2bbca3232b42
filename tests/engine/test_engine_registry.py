"""Jobs contributed by pipeline packages through ``lakeloom_jobs`` are listed and run by name."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeloom import hookimpl
from lakeloom.engine.registry import resolve_job, workspace_jobs
from lakeloom.spec.loader import JobSpecError, load_job_file
from lakeloom.spec.models import Job


class Package:
    """A pipeline package: one job from its own YAML file, one built in Python."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def lakeloom_jobs(self, workspace: Any) -> list[Any]:
        from_file = load_job_file(self.folder / "jobs" / "pkg.yml")
        in_code = Job.model_validate({"name": "pkg_in_code", "tasks": [
            {"task_key": "t", "python_task": {"function": "ll_tasks:ok"}}]})
        return [from_file, (in_code, str(self.folder / "pkg_module.py"))]


@pytest.fixture
def package(tmp_path: Path) -> Package:
    pkg = tmp_path / "pkg"
    (pkg / "jobs").mkdir(parents=True)
    (pkg / "jobs" / "pkg.yml").write_text(yaml.safe_dump({"name": "pkg_from_file", "tasks": [
        {"task_key": "t", "python_task": {"function": "ll_tasks:echo", "parameters": {"x": "1"}}}]}))
    return Package(pkg)


def test_package_jobs_are_listed_with_their_sources(make_harness: Any, package: Package) -> None:
    h = make_harness(extra_plugins=(package,))
    found = {d.job.name: src for d, src, err in workspace_jobs(h.workspace, h.engine.pm) if d}
    assert found["pkg_from_file"] == str(package.folder / "jobs" / "pkg.yml")
    assert found["pkg_in_code"] == str(package.folder / "pkg_module.py")


def test_run_a_package_job_by_name(make_harness: Any, package: Package) -> None:
    h = make_harness(extra_plugins=(package,))
    run = h.engine.submit("pkg_from_file")
    assert run["state"]["result_state"] == "SUCCESS"
    assert run["run_name"] == "pkg_from_file"
    # Relative paths of a package job resolve against its own file's folder.
    assert resolve_job("pkg_from_file", h.workspace, h.engine.pm).base_dir == package.folder / "jobs"


def test_unknown_job_name_is_a_clear_error(make_harness: Any, package: Package) -> None:
    h = make_harness(extra_plugins=(package,))
    with pytest.raises(JobSpecError, match="no job file or job with that name"):
        resolve_job("nope", h.workspace, h.engine.pm)

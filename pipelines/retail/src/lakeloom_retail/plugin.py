"""Registers the package's jobs with lakeloom (entry point group ``lakeloom``)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom import hookimpl

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_api import ContributedJob

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


@hookimpl
def lakeloom_jobs(workspace: Workspace) -> list[ContributedJob]:
    from lakeloom.spec.loader import load_job_documents

    return [doc for path in sorted(JOBS_DIR.glob("*.job.yml")) for doc in load_job_documents(path)]

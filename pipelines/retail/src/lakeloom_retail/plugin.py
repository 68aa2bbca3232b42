"""Registers the package's jobs and its AI/BI dashboard with lakeloom (entry point group ``lakeloom``)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lakeloom import hookimpl

if TYPE_CHECKING:
    from lakeloom.config import Workspace
    from lakeloom.plugin_api import ContributedJob

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"
DASHBOARDS_DIR = JOBS_DIR.parent / "dashboards"


@hookimpl
def lakeloom_jobs(workspace: Workspace) -> list[ContributedJob]:
    from lakeloom.spec.loader import load_job_documents

    return [doc for path in sorted(JOBS_DIR.glob("*.job.yml")) for doc in load_job_documents(path)]


@hookimpl
def lakeloom_dashboards(workspace: Workspace) -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.lvdash.json"))

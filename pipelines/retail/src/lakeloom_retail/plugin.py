"""Registers the package's jobs with lakeloom (entry point group ``lakeloom``)."""
from __future__ import annotations

from pathlib import Path

from lakeloom import hookimpl

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


@hookimpl
def lakeloom_jobs(workspace):
    from lakeloom.spec.loader import load_job_documents

    return [doc for path in sorted(JOBS_DIR.glob("*.job.yml")) for doc in load_job_documents(path)]

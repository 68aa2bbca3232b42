"""``TaskType.validate`` of ``quality_task``: suite files and inline expectations, no GX import."""
from __future__ import annotations

from pathlib import Path

from lakeloom.plugins.quality.checks import check_expectations
from lakeloom.plugins.quality.registry import load_registry
from lakeloom.plugins.quality.settings import QualityTaskSettings
from lakeloom.plugins.quality.suite import (
    ExpectationSpec, Loc, SuiteFileError, load_suite_file, parse_entries, resolve_path)
from lakeloom.plugin_api import SpecIssue


def field_name(loc: Loc) -> str:
    """``("expectations", 2, "expect_x", "min_value")`` -> ``expectations[2].expect_x.min_value``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def inline_specs(settings: QualityTaskSettings) -> tuple[list[ExpectationSpec], list[SpecIssue]]:
    """The task's inline expectations, and issues in their shape."""
    specs, problems = parse_entries(settings.expectations, ("expectations",))
    return specs, [SpecIssue(field_name(p.loc), p.message) for p in problems]


def suite_issues(path: Path) -> list[SpecIssue]:
    """Problems of one suite file, each message starting ``<file>:<line>:``."""
    try:
        suite = load_suite_file(path)
    except SuiteFileError as e:
        return [SpecIssue("suite", str(e))]
    issues = [SpecIssue("suite", f"{suite.where(p.loc)}: {p.message}") for p in suite.problems]
    issues += [SpecIssue("suite", f"{suite.where(p.loc)}: {p.message}")
               for p in check_expectations(suite.specs, load_registry())]
    return issues


def validate_quality_settings(settings: QualityTaskSettings, base_dir: Path) -> list[SpecIssue]:
    """Names and arguments of every expectation (inline and in ``suite``), checked against
    the installed GX version's registry. A table's own suite (``lakeloom.quality.suite``) is
    checked when the task runs: the table may not exist yet."""
    specs, issues = inline_specs(settings)
    issues += [SpecIssue(field_name(p.loc), p.message) for p in check_expectations(specs, load_registry())]
    if settings.suite is not None:
        issues += suite_issues(resolve_path(settings.suite, base_dir))
    return issues

"""Project-wide rules: import layers, documented and tested hooks, a clean tree."""
from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from lakeloom import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if name.startswith("lakeloom_") and inspect.isfunction(fn))


def test_import_layers_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Contracts: 1 kept, 0 broken." in proc.stdout


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_is_documented(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc.split()) >= 20, f"{name} needs a real docstring (when, thread, arguments, return contract)"
    assert name.startswith("lakeloom_")


def test_every_hookspec_is_exercised_by_a_test() -> None:
    tests_text = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_meta.py")
    untested = [h for h in HOOKS if h not in tests_text]
    assert not untested, f"hooks no test implements or calls: {untested}"


def test_generated_state_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", ".lakeloom/", "spark-warehouse/", "metastore_db/", "mlruns/", "derby.log"):
        assert entry in ignored, entry


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n\n", 3)[:3]
    assert "make demo" in "\n".join(head) and "make test" in "\n".join(head)

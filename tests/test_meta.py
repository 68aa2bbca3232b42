"""Project-wide rules: import layers, documented and tested hooks, a clean tree."""
from __future__ import annotations

import ast
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
    """Every package sits in one layer of pyproject's contract and no package's children import
    each other in a loop (``make test`` also runs lint-imports on its own, before pytest)."""
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "layers KEPT" in proc.stdout and "acyclic siblings KEPT" in proc.stdout, proc.stdout[-4000:]
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_is_documented(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc.split()) >= 20, f"{name} needs a real docstring (when, thread, arguments, return contract)"
    assert name.startswith("lakeloom_")


def _hook_tests() -> dict[str, tuple[Path, ast.FunctionDef]]:
    """``test_hook_<hook>`` functions anywhere under tests/, by hook name."""
    found: dict[str, tuple[Path, ast.FunctionDef]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                found[node.name.removeprefix("test_hook_")] = (path, node)
    return found


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
        isinstance(target, ast.Attribute) and target.attr == "hookimpl")


@pytest.mark.parametrize("name", HOOKS)
def test_every_hookspec_has_a_test_that_implements_it(name: str) -> None:
    """datasette's rule: a ``test_hook_<name>`` per hook, which registers a plugin implementing
    the hook (a ``@hookimpl def <name>`` inside the test) and asserts on what it changed."""
    found = _hook_tests().get(name)
    assert found is not None, f"no test_hook_{name} under tests/ (one per hookspec)"
    path, test = found
    impls = [n for n in ast.walk(test) if isinstance(n, ast.FunctionDef) and n.name == name
             and any(_is_hookimpl(d) for d in n.decorator_list)]
    assert impls, f"{path.name}::test_hook_{name} defines no @hookimpl {name}: it must register a plugin"
    source = ast.get_source_segment(path.read_text(), test) or ""
    assert "extra_plugins=" in source or ".register(" in source, f"test_hook_{name} never registers its plugin"
    assert any(isinstance(n, ast.Assert) for n in ast.walk(test)), f"test_hook_{name} observes nothing"


def test_generated_state_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in (".venv/", ".lakeloom/", "spark-warehouse/", "metastore_db/", "mlruns/", "derby.log"):
        assert entry in ignored, entry


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().split("\n\n", 3)[:3]
    assert "make demo" in "\n".join(head) and "make test" in "\n".join(head)


def test_readme_layout_lists_every_package_and_stays_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.find("\n## ", 1)] if "\n## " in layout[1:] else layout
    package = ROOT / "src" / "lakeloom"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in package.iterdir()
                     if not p.name.startswith(("_", ".")) and (p.suffix == ".py" or (p / "__init__.py").exists()))
    missing = [e for e in entries if f"  {e} " not in layout]
    assert not missing, f"README's layout section does not list: {missing}"
    assert "../" not in layout, "README's layout section points outside the repository"
    for folder in ("conf/", "notebooks/", "pipelines/", "plugins/", "tests/", "benchmarks/"):
        assert folder in layout and (ROOT / folder).is_dir(), folder

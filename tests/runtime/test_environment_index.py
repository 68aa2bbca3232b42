"""A local wheel whose metadata requires a package from the package index installs it from
the index, as Databricks installs a ``libraries: whl`` dependency's requirements from PyPI
(pip once said "from versions: none" for them because local files ran with ``--no-index``).
The index is a real PEP 503 simple index served over HTTP on 127.0.0.1."""
from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Iterator

import pytest

from lakeloom.runtime.environments import DependencyLine, EnvironmentInstallError, ensure_environment, resolve

BUILD = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check"]


def _project(folder: Path, name: str, requires: list[str]) -> Path:
    (folder / name).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "1.0"
        dependencies = {requires!r}

        [tool.setuptools]
        packages = ["{name}"]
        """).replace("'", '"'))
    (folder / name / "__init__.py").write_text(f"NAME = {name!r}\n")
    return folder


@pytest.fixture(scope="module")
def index_and_wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A simple index holding ``llindexdep`` and a local wheel ``llindexapp`` requiring it."""
    root = tmp_path_factory.mktemp("index")
    served = root / "simple" / "llindexdep"
    served.mkdir(parents=True)
    subprocess.run([*BUILD, "--outdir", str(served), str(_project(root / "dep", "llindexdep", []))],
                   check=True, capture_output=True)
    dep_wheel = next(served.glob("*.whl"))
    (served / "index.html").write_text(f'<a href="{dep_wheel.name}">{dep_wheel.name}</a>\n')
    local = root / "local"
    subprocess.run([*BUILD, "--outdir", str(local), str(_project(root / "app", "llindexapp", ["llindexdep>=1"]))],
                   check=True, capture_output=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", next(local.glob("*.whl"))
    finally:
        server.shutdown()
        server.server_close()


def test_local_wheel_gets_its_requirements_from_the_index(index_and_wheel: tuple[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    index_url, wheel = index_and_wheel
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    deps = resolve([DependencyLine(str(wheel), "task 't' libraries[0]", wheel.parent)])
    assert deps.local_only
    env = ensure_environment(deps, tmp_path / "envs", label="task 't' dependencies")
    assert (env.site_dir / "llindexapp" / "__init__.py").is_file()
    assert (env.site_dir / "llindexdep" / "__init__.py").is_file(), "the wheel's requirement came from the index"
    out = subprocess.run([str(env.root / "bin" / "python"), "-c", "import llindexdep; print(llindexdep.NAME)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "llindexdep"


def test_a_requirement_no_index_has_still_fails_naming_it(index_and_wheel: tuple[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    index_url, _ = index_and_wheel
    monkeypatch.setenv("PIP_INDEX_URL", index_url)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    deps = resolve([DependencyLine("llnotthere==1", "environments[default].spec.dependencies[0]", tmp_path)])
    with pytest.raises(EnvironmentInstallError, match=r"task 't' dependencies: pip install llnotthere==1 failed"):
        ensure_environment(deps, tmp_path / "envs", label="task 't' dependencies")
    assert not (tmp_path / "envs" / deps.key).exists(), "a failed build leaves nothing behind"

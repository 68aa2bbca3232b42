"""Bundle ``artifacts``: built locally, as ``databricks bundle deploy`` builds them.

Follows the CLI (``bundle/artifacts/prepare.go``): ``path`` defaults to the bundle root;
a ``whl`` artifact with neither ``build`` nor ``files`` is built with
``<python> setup.py bdist_wheel`` (``<python> -m build --wheel`` when there is no
``setup.py``) and its files default to ``<path>/dist/*.whl``. The build command runs in
``path`` with lakeloom's interpreter first on ``PATH`` (so ``python``, ``uv`` and ``pip``
are the workspace's). Tasks then install the wheel through ``libraries: [{whl: ...}]`` or
an environment's ``dependencies``.
"""
from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ArtifactBuildError(RuntimeError):
    """An artifact could not be built or produced no file; the message names it."""


@dataclass(frozen=True)
class BuiltArtifact:
    """An artifact after its build: its name, type and files."""

    name: str
    type: str
    files: list[Path]


def _default_build(path: Path) -> str:
    python = shlex.quote(sys.executable)
    if (path / "setup.py").is_file():
        return f"{python} setup.py bdist_wheel"
    return f"{python} -m build --wheel"


def build_artifact(name: str, spec: dict[str, Any], bundle_root: Path) -> BuiltArtifact:
    """Build artifact ``name`` (its ``artifacts.<name>`` block) and return its files."""
    kind = str(spec.get("type") or "whl")
    path = Path(spec.get("path") or bundle_root)
    path = path if path.is_absolute() else (bundle_root / path).resolve()
    patterns = [str(f.get("source")) for f in spec.get("files") or [] if isinstance(f, dict) and f.get("source")]
    build = spec.get("build")
    if kind == "whl" and not build and not patterns:
        build = _default_build(path)
    if kind == "whl" and not patterns:
        patterns = [str(path / "dist" / "*.whl")]
    if not build and not patterns:
        raise ArtifactBuildError(f"artifact {name!r}: misconfigured artifact: please specify 'build' or 'files'")
    if build:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        proc = subprocess.run(["bash", "-c", str(build)], cwd=path, env=env, capture_output=True, text=True,
                              errors="replace")
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise ArtifactBuildError(f"artifact {name!r}: build command {build!r} failed in {path} "
                                     f"(exit {proc.returncode}):\n{tail}")
    files: list[Path] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(path / pattern)
        files += sorted(Path(p) for p in glob.glob(full))
    if not files:
        raise ArtifactBuildError(f"artifact {name!r}: no file matches {', '.join(patterns)} after the build")
    return BuiltArtifact(name, kind, files)


def build_artifacts(artifacts: dict[str, Any], bundle_root: Path) -> list[BuiltArtifact]:
    """Build every artifact of a bundle, in name order (as the CLI does)."""
    return [build_artifact(n, artifacts[n] or {}, bundle_root) for n in sorted(artifacts)]

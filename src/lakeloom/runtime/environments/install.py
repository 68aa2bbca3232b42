"""Cached environments under ``.lakeloom/envs/<key>``: installed once, reused offline.

An environment is a virtual environment whose site-packages first imports lakeloom's own
(through a ``.pth`` file), so pip sees pyspark, pandas and the rest as installed and adds
only what is missing; a constraints file holds lakeloom's pins, so pip refuses to replace
them. The folder is complete once its marker file exists; builds take a file lock, so
concurrent tasks and processes build one environment once.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
from dataclasses import dataclass
from pathlib import Path

from lakeloom.filelock import file_lock
from lakeloom.runtime.environments.requirements import PINNED, PinConflict, ResolvedDependencies, pins

MARKER = ".lakeloom-env.json"
_log = logging.getLogger("lakeloom.environments")


class EnvironmentInstallError(RuntimeError):
    """pip could not install an environment; the message holds pip's own explanation."""


@dataclass(frozen=True)
class Environment:
    """An installed environment: its key, folder and site-packages folder."""

    key: str
    root: Path
    site_dir: Path


def _site_dir(root: Path) -> Path:
    v = sys.version_info
    return root / "lib" / f"python{v.major}.{v.minor}" / "site-packages"


def _base_site_dirs() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return [p for p in sorted(paths) if Path(p).is_dir()]


def cached_environment(deps: ResolvedDependencies, envs_dir: Path) -> Environment | None:
    """The installed environment for ``deps`` if it is complete (no pip, no network)."""
    root = envs_dir / deps.key
    if (root / MARKER).is_file():
        return Environment(deps.key, root, _site_dir(root))
    return None


def ensure_environment(deps: ResolvedDependencies, envs_dir: Path, *, label: str = "environment") -> Environment:
    """The environment for ``deps``, installing it on first use.

    Raises PinConflict when pip's resolution needs another pyspark/delta-spark, and
    EnvironmentInstallError for any other pip failure (the folder is removed again).
    """
    found = cached_environment(deps, envs_dir)
    if found is not None:
        return found
    envs_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(envs_dir / f"{deps.key}.lock"):
        found = cached_environment(deps, envs_dir)
        if found is not None:
            return found
        root = envs_dir / deps.key
        if root.exists():
            shutil.rmtree(root)  # a build that died half-way
        try:
            return _build(deps, root, label)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise


def _missing_distribution(output: str) -> bool:
    return "No matching distribution found" in output or "from versions: none" in output


def _pip_install(cmd: list[str], deps: ResolvedDependencies, label: str) -> subprocess.CompletedProcess[str]:
    """pip install; local files only are tried without the index first, so they install
    offline, and again with it when they depend on packages from the index (a wheel whose
    metadata requires ``cowsay``, as Databricks installs it from PyPI)."""
    if deps.local_only:
        proc = subprocess.run([*cmd, "--no-index", *deps.args], capture_output=True, text=True, errors="replace")
        if proc.returncode == 0 or not _missing_distribution(proc.stdout + proc.stderr):
            return proc
        _log.info("%s: local files need packages from the package index; installing with it", label)
    return subprocess.run([*cmd, *deps.args], capture_output=True, text=True, errors="replace")


def _build(deps: ResolvedDependencies, root: Path, label: str) -> Environment:
    started = time.perf_counter()
    venv.EnvBuilder(symlinks=True, with_pip=False, clear=True).create(root)
    site = _site_dir(root)
    # `import site` lines in a .pth run at start-up: lakeloom's site-packages, its own .pth
    # files (editable installs) included, become part of the environment.
    lines = [f"import site; site.addsitedir({d!r})" for d in _base_site_dirs()]
    (site / "_lakeloom_base.pth").write_text("\n".join(lines) + "\n")
    constraints = root / "lakeloom-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins().items()))
    python = root / "bin" / "python"
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--no-warn-script-location", "-c", str(constraints)]
    _log.info("installing %s into %s: %s", label, root, " ".join(deps.args))
    proc = _pip_install(cmd, deps, label)
    if proc.returncode != 0:
        detail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        conflicting = [n for n in PINNED if n in detail.lower()]
        if conflicting and ("conflict" in detail.lower() or "resolutionimpossible" in detail.lower()):
            raise PinConflict(f"{label}: the requirements {' '.join(deps.args)} need another "
                              f"{' / '.join(conflicting)} than lakeloom's pin "
                              f"({', '.join(f'{n}=={pins()[n]}' for n in conflicting if n in pins())}):\n{detail}")
        raise EnvironmentInstallError(f"{label}: pip install {' '.join(deps.args)} failed "
                                      f"(exit {proc.returncode}):\n{detail}")
    stray = [p.name for p in site.glob("*.dist-info") if p.name.split("-")[0].replace("_", "-").lower() in PINNED]
    if stray:
        raise PinConflict(f"{label}: installing {' '.join(deps.args)} replaced lakeloom's pinned {', '.join(stray)}")
    (root / MARKER).write_text(json.dumps({"args": deps.args, "parts": deps.parts,
                                           "seconds": round(time.perf_counter() - started, 2)}, indent=1))
    _log.info("environment %s ready in %.1f s", deps.key, time.perf_counter() - started)
    return Environment(deps.key, root, site)

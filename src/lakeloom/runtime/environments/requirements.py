"""Dependency lines → pip arguments, lakeloom's pins checked, and a content fingerprint.

A line is what Databricks accepts in ``environments[].spec.dependencies``, a library or a
``%pip install``: a requirement string (``pandas>=2``), a local wheel, sdist or project
folder (relative to the file that names it; globs such as ``../dist/*.whl`` expand), or
``-r requirements.txt`` (its own relative paths resolve against its folder).
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

#: lakeloom's own pins: an environment may not replace them.
PINNED = ("pyspark", "delta-spark")
_FILE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tgz")
_PROJECT_FILES = ("pyproject.toml", "setup.py")
log = logging.getLogger(__name__)


class DependencyError(ValueError):
    """A dependency line cannot be used; the message names where it was written."""


class PinConflict(DependencyError):
    """A requirement asks for another version of a package lakeloom pins."""


@dataclass(frozen=True)
class DependencyLine:
    """One line as written, and where (``environments[default].spec.dependencies[0]``)."""

    text: str
    origin: str
    base_dir: Path


#: pip options that change nothing about what ends up installed here.
_IGNORED_FLAGS = {"-q", "--quiet", "-U", "--upgrade", "--force-reinstall", "--no-cache-dir", "--user",
                  "--disable-pip-version-check", "--no-warn-script-location", "-v", "--verbose"}
_VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint", "--trusted-host"}


def pip_install_lines(args: str, origin: str, cwd: Path) -> list[DependencyLine]:
    """The dependency lines of ``%pip install <args>`` (paths relative to ``cwd``)."""
    words = shlex.split(args)
    lines: list[DependencyLine] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _IGNORED_FLAGS:
            i += 1
        elif w in ("-r", "--requirement", "-e", "--editable") and i + 1 < len(words):
            lines.append(DependencyLine(f"{w} {words[i + 1]}", origin, cwd))
            i += 2
        elif w in _VALUE_OPTIONS and i + 1 < len(words):
            lines.append(DependencyLine(f"{w} {words[i + 1]}", origin, cwd))
            i += 2
        else:
            lines.append(DependencyLine(w, origin, cwd))
            i += 1
    if not lines:
        raise DependencyError(f"{origin}: %pip install needs at least one requirement")
    return lines


@dataclass
class ResolvedDependencies:
    """The pip arguments of a dependency set and its fingerprint."""

    args: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    local_only: bool = True

    @property
    def empty(self) -> bool:
        return not self.args

    @property
    def key(self) -> str:
        """Content hash: same lines, same files, same interpreter and pins → same key."""
        payload = json.dumps([sys.version, sys.prefix, sorted(pins().items()), self.parts])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _pins() -> tuple[tuple[str, str], ...]:
    found = []
    for name in PINNED:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


def pins() -> dict[str, str]:
    """The installed versions of the packages lakeloom pins."""
    return dict(_pins())


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _check_pin(name: str, version: str | None, specifier: str, line: DependencyLine) -> None:
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    pinned = pins().get(_canonical(name))
    if pinned is None:
        return
    if version is not None:
        ok = version == pinned
    else:
        try:
            ok = SpecifierSet(specifier).contains(pinned, prereleases=True)
        except InvalidSpecifier:
            ok = False
    if not ok:
        raise PinConflict(f"{line.origin}: requirement {line.text!r} conflicts with lakeloom's pin "
                          f"{_canonical(name)}=={pinned} (lakeloom runs on it; leave it out of the dependencies)")


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_stamp(folder: Path) -> str:
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in ("build", "dist", ".git", "__pycache__") and not d.endswith(".egg-info")]
        for name in files:
            p = Path(root, name)
            st = p.stat()
            entries.append(f"{p.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


def _looks_like_path(text: str) -> bool:
    if "://" in text or " @ " in text:
        return False
    return text.startswith((".", "/", "~")) or "/" in text or os.sep in text or text.endswith(_FILE_SUFFIXES)


def _wheel_name_version(path: Path) -> tuple[str, str | None]:
    parts = path.name.split("-")
    return parts[0], (parts[1] if path.name.endswith(".whl") and len(parts) > 2 else None)


def split_quotes(text: str) -> tuple[str, str]:
    """A path argument without the quotes around it, and the quote character ("" if none):
    ``-r "/path with spaces/requirements.txt"`` is quoted as for pip's own parser."""
    if len(text) > 1 and text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1], text[0]
    return text, ""


def _local_paths(line: DependencyLine, text: str) -> list[Path]:
    text, _ = split_quotes(text)
    raw = os.path.expanduser(text)
    pattern = raw if os.path.isabs(raw) else str(line.base_dir / raw)
    if glob.has_magic(pattern):
        matches = sorted(Path(p).resolve() for p in glob.glob(pattern))
        if not matches:
            raise DependencyError(f"{line.origin}: {text!r} matches no file (looked in {Path(pattern).parent})")
        return matches
    path = Path(pattern).resolve()
    if not path.exists():
        raise DependencyError(f"{line.origin}: {text!r} does not exist ({path})")
    return [path]


def resolve(lines: list[DependencyLine], out: ResolvedDependencies | None = None,
            seen: frozenset[Path] = frozenset()) -> ResolvedDependencies:
    """Expand ``lines`` into pip arguments; raises DependencyError / PinConflict."""
    from packaging.requirements import InvalidRequirement, Requirement

    out = out if out is not None else ResolvedDependencies()
    for line in lines:
        text = line.text.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith(("-r ", "--requirement ", "-r\t")) or text.startswith("--requirement="):
            name = text.split("=", 1)[1] if text.startswith("--requirement=") else text.split(None, 1)[1]
            for path in _local_paths(line, name.strip()):
                if path in seen:
                    raise DependencyError(f"{line.origin}: {path} includes itself")
                nested = [DependencyLine(t, f"{path}:{i}", path.parent)
                          for i, t in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)]
                resolve(nested, out, seen | {path})
            continue
        if text.startswith(("-e ", "--editable ")):
            path = _local_paths(line, text.split(None, 1)[1].strip())[0]
            if path.is_dir() and not any((path / f).is_file() for f in _PROJECT_FILES):
                # The lakeflow-pipelines SQL template installs its bundle root this way, with
                # no Python project in it: there is nothing to install.
                log.warning("%s: %r is not a Python project (no %s): nothing to install", line.origin, text,
                            " or ".join(_PROJECT_FILES))
                continue
            out.args += ["-e", str(path)]
            out.parts.append(f"editable:{path}:{_tree_stamp(path)}")
            continue
        if text.startswith("-"):
            out.args += shlex.split(text)  # pip options (--index-url, --pre, ...)
            out.parts.append(f"option:{text}")
            out.local_only = False
            continue
        if _looks_like_path(text):
            for path in _local_paths(line, text):
                if path.is_dir():
                    out.parts.append(f"tree:{path}:{_tree_stamp(path)}")
                else:
                    name, version = _wheel_name_version(path)
                    if version:
                        _check_pin(name, version, "", line)
                    out.parts.append(f"file:{path.name}:{_file_hash(path)}")
                out.args.append(str(path))
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as e:
            raise DependencyError(f"{line.origin}: {text!r} is not a requirement, a file or -r FILE: {e}") from None
        if req.url and _canonical(req.name) in pins():
            raise PinConflict(f"{line.origin}: requirement {text!r} replaces lakeloom's pin "
                              f"{_canonical(req.name)}=={pins()[_canonical(req.name)]}")
        if not req.url:
            _check_pin(req.name, None, str(req.specifier), line)
        out.args.append(text)
        out.parts.append(f"req:{text}")
        out.local_only = False
    return out

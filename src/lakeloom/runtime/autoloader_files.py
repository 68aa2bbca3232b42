"""Auto Loader's view of a source folder without Spark: which data files it holds, which of
them a stream's schema has not been checked against yet, and the column names in them that
can be read cheaply (JSON lines, CSV headers). See :mod:`lakeloom.runtime.autoloader`."""
from __future__ import annotations

import json
from pathlib import Path


def data_files(root: Path) -> list[str]:
    """The data files under ``root``, sorted (names starting with _ or . are not data, as for
    Spark's file index)."""
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        return []
    return sorted(str(p) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts))


#: The cheap name check parses every JSON line of the new files up to this many bytes, then
#: one line in ``_SAMPLE_EVERY`` (a new column that comes with new files or a new producer shows
#: on many lines; Python's json costs about 50 ms per MB here, paid on every update).
_FULL_CHECK_BYTES = 2 << 20
_SAMPLE_EVERY = 20


def column_names(fmt: str, files: list[str], plain: dict[str, str]) -> set[str] | None:
    """The top-level column names in ``files`` read without Spark, or None when that cannot be
    done cheaply here (other formats, compressed or multi-line JSON, CSV without a header): then
    Spark infers the files' schema. JSON lines past ``_FULL_CHECK_BYTES`` in all are sampled."""
    options = {k.lower(): str(v).lower() for k, v in plain.items()}
    fmt = fmt.lower()
    if any(Path(f).suffix.lower() in (".gz", ".bz2", ".zst", ".snappy", ".lz4", ".zip", ".deflate") for f in files):
        return None
    names: set[str] = set()
    read = 0
    for f in files:
        try:
            with open(f, encoding=plain.get("encoding") or plain.get("charset") or "utf-8", errors="replace") as fh:
                if fmt == "csv":
                    if options.get("header") != "true":
                        return None
                    import csv

                    sep = plain.get("sep") or plain.get("delimiter") or ","
                    header = next(csv.reader([fh.readline()], delimiter=sep), [])
                    names.update(h.strip() for h in header if h.strip())
                elif fmt == "json" and options.get("multiline") != "true":
                    for i, line in enumerate(fh):
                        read += len(line)
                        if read > _FULL_CHECK_BYTES and i % _SAMPLE_EVERY:
                            continue
                        line = line.strip()
                        if line.startswith("{"):
                            try:
                                names.update(json.loads(line))
                            except ValueError:
                                continue  # a malformed row goes to _rescued_data, as before
                else:
                    return None
        except OSError:
            return None
    return names


class NewFiles:
    """Which files under a stream's path arrived since its schema was last checked, by name
    (not by modification time: copies that keep their time are new files too). The checked
    names are kept beside the schema, one per line."""

    def __init__(self, schema_folder: Path, root: Path) -> None:
        self.mark = schema_folder / "checked_files.txt"
        self.root = root

    def _all(self) -> list[str]:
        return data_files(self.root)

    def _checked(self) -> set[str]:
        try:
            return set(self.mark.read_text().splitlines())
        except OSError:
            return set()

    def pending(self) -> list[str]:
        """The files not yet checked (every file when nothing was recorded: a schema stored
        before evolution was checked is compared with all of them once)."""
        done = self._checked()
        return [f for f in self._all() if f not in done]

    def checked(self, files: list[str] | None = None) -> None:
        """Record ``files`` (default: every file there now) as checked."""
        names = self._checked() | set(self._all() if files is None else files)
        self.mark.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.mark.with_suffix(".tmp")
        tmp.write_text("".join(f"{n}\n" for n in sorted(names)))
        tmp.replace(self.mark)

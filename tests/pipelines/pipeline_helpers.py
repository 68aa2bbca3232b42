"""Writing small pipelines and landing data for the pipeline tests."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import yaml

from lakeloom.pipelines.spec import LoadedPipeline, load_pipeline


def write_pipeline(root: Path, name: str, files: dict[str, str], *, schema: str | None = None,
                   configuration: dict[str, Any] | None = None, libraries: list[dict] | None = None) -> LoadedPipeline:
    """A ``<name>.pipeline.yml`` plus its source files under ``root``; storage inside ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    spec = {"name": name, "catalog": "main", "schema": schema or name,
            "libraries": libraries or [{"glob": {"include": "src/**"}}],
            "storage": str(root / "storage"), "configuration": configuration or {}}
    path = root / f"{name}.pipeline.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_pipeline(path)


def land_json(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path

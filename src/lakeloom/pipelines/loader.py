"""Loading a pipeline's source files into a :class:`~lakeloom.pipelines.registry.PipelineRegistry`.

User files run under pyspark's ``graph_element_registration_context`` exactly as Apache Spark's
``spark-pipelines`` loads them, but on classic Spark. While they load, ``pyspark.pipelines``
also carries the Databricks additions (``dp.expect*``, SCD2-capable ``dp.create_auto_cdc_flow``)
and ``import dlt`` resolves to :mod:`lakeloom.pipelines.dlt`.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from pyspark.pipelines.graph_element_registry import graph_element_registration_context

from lakeloom.pipelines import dlt
from lakeloom.pipelines.api import EXTRAS
from lakeloom.pipelines.model import PipelineDefinitionError
from lakeloom.pipelines.registry import PipelineRegistry

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeloom.pipelines.spec import LoadedPipeline

_LOAD_LOCK = threading.RLock()


@contextlib.contextmanager
def _extras_installed() -> Iterator[None]:
    """``dp.expect*`` and the extended ``dp.create_auto_cdc_flow``, and ``import dlt``."""
    import pyspark.pipelines as dp

    saved = {k: getattr(dp, k) for k in EXTRAS if hasattr(dp, k)}
    saved_dlt = sys.modules.get("dlt")
    for k, v in EXTRAS.items():
        setattr(dp, k, v)
    sys.modules["dlt"] = dlt
    try:
        yield
    finally:
        for k in EXTRAS:
            if k in saved:
                setattr(dp, k, saved[k])
            else:
                delattr(dp, k)
        if saved_dlt is None:
            sys.modules.pop("dlt", None)
        else:
            sys.modules["dlt"] = saved_dlt


def load_graph(loaded: LoadedPipeline, session: SparkSession) -> PipelineRegistry:
    """Run every library file of ``loaded`` under a fresh registry and return it.

    ``session`` is the update's session: files see it as the global ``spark`` and as the
    active session. Raises PipelineDefinitionError naming the file on any problem.
    """
    files = loaded.library_files()
    reg = PipelineRegistry(loaded.label)
    with _LOAD_LOCK, graph_element_registration_context(reg), _extras_installed():
        for path in files:
            if path.suffix == ".sql":
                reg.register_sql(path.read_text(), path)
            else:
                _exec_python(loaded.spec.name, path, session)
    reg.validate()
    return reg


def _exec_python(pipeline: str, path: Path, session: SparkSession) -> None:
    code = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    mod_name = f"_lakeloom_pipeline_{pipeline}_{path.stem}".replace("-", "_").replace(".", "_")
    module_spec = importlib.util.spec_from_loader(mod_name, loader=None, origin=str(path))
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    module.__file__ = str(path)
    from lakeloom.runtime.dbutils import namespace_globals

    # As on Databricks: dbutils, display, displayHTML ... are globals of pipeline files too.
    module.__dict__.update({k: v for k, v in namespace_globals().items() if k != "spark"})
    module.__dict__["spark"] = session
    sys.modules[mod_name] = module
    sys.path.insert(0, str(path.parent))
    try:
        exec(compile(code, str(path), "exec"), module.__dict__)  # noqa: S102 - running the user's pipeline file
    except PipelineDefinitionError:
        raise
    except Exception as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
        where = f"{path}:{frames[-1].lineno}" if frames else str(path)
        raise PipelineDefinitionError(f"{where}: loading the pipeline source failed: "
                                      f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                                      ) from e
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop(mod_name, None)


def _notebook_code(path: Path) -> str:
    nb = json.loads(path.read_text())
    cells = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", []))
        if src.lstrip().startswith("%"):
            continue  # magics (%pip, %sql, %md) have no meaning in a pipeline source file
        cells.append(src)
    return "\n\n".join(cells)

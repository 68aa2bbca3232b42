"""Settings of ``quality_task`` and where its results go."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from lakeloom.spec.models import Strict

if TYPE_CHECKING:
    from lakeloom.config import Workspace

DEFAULT_RESULTS_TABLE = "main.lakeloom_quality.results"
#: The table property naming a table's own suite file (relative to the workspace root).
SUITE_PROPERTY = "lakeloom.quality.suite"

ResultFormat = Literal["BOOLEAN_ONLY", "BASIC", "SUMMARY", "COMPLETE"]


class QualityTaskSettings(Strict):
    """``quality_task``: what to validate (``table`` or ``query``) against which expectations.

    Expectations come from ``suite`` (a GX suite JSON/YAML file, relative to the job file),
    from ``expectations`` (inline, in GX's names and arguments), or both; with neither, the
    table's ``lakeloom.quality.suite`` property names the suite.
    """

    table: str | None = None
    query: str | None = None
    suite: str | None = None
    expectations: list[Any] = Field(default_factory=list)
    #: Failing rows kept per failed expectation (0: none).
    sample_failed_rows: int = Field(default=20, ge=0, le=1000)
    #: GX's result format. With BASIC the suite first runs for counts only, then the failed
    #: expectations run again for their failing rows (benchmarks/quality_gx.py). SUMMARY adds
    #: the most frequent unexpected values and COMPLETE every one, both in a single costlier pass.
    result_format: ResultFormat = "BASIC"
    #: Cache the validated DataFrame for the duration of the validation (GX's ``persist``):
    #: every expectation re-reads the data otherwise.
    persist: bool = True
    #: Delta table the per-expectation results are appended to; default from
    #: ``quality.results_table`` in ``conf/lakeloom.yml``, else ``main.lakeloom_quality.results``.
    results_table: str | None = None
    store_results: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> QualityTaskSettings:
        if (self.table is None) == (self.query is None):
            raise ValueError("quality_task needs exactly one of table, query")
        if self.query is not None and not (self.suite or self.expectations):
            raise ValueError("a quality_task on a query needs suite or expectations")
        return self

    @property
    def dataset_name(self) -> str:
        """What the results name as the validated data: the table, or ``query``."""
        return self.table or "query"

    def results_table_name(self, workspace: Workspace) -> str | None:
        """The Delta table results are appended to, or None when storing is off."""
        if not self.store_results:
            return None
        configured = (workspace.settings.get("quality") or {}).get("results_table")
        return self.results_table or configured or DEFAULT_RESULTS_TABLE

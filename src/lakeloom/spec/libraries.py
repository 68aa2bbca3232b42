"""Dependencies in the job model: ``environments[]``, task ``environment_key`` and
``libraries[]`` (Jobs API / ``compute.Environment`` field names)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvironmentSpec(_Model):
    """``environments[].spec``: ``dependencies`` are pip requirement lines (requirement
    strings, local wheel/sdist paths or globs, ``-r requirements.txt``); the version fields
    pick a serverless image on Databricks and are accepted as written."""

    dependencies: list[str] = Field(default_factory=list)
    environment_version: str | None = None
    client: str | None = None
    base_environment: str | None = None
    java_dependencies: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _versions_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: str(v) if k in ("environment_version", "client") and isinstance(v, (int, float)) else v
                    for k, v in data.items()}
        return data


class JobEnvironment(_Model):
    """``environments[]``: a named dependency set tasks select with ``environment_key``."""

    environment_key: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,100}$")
    spec: EnvironmentSpec = Field(default_factory=EnvironmentSpec)


class PypiLibrary(_Model):
    package: str
    repo: str | None = None


class MavenLibrary(_Model):
    coordinates: str
    repo: str | None = None
    exclusions: list[str] = Field(default_factory=list)


class Library(_Model):
    """One entry of a task's ``libraries``: exactly one of ``pypi``, ``whl``,
    ``requirements``, ``jar``, ``maven`` (``egg`` and ``cran`` are refused with a reason)."""

    pypi: PypiLibrary | None = None
    whl: str | None = None
    requirements: str | None = None
    jar: str | None = None
    maven: MavenLibrary | None = None
    egg: str | None = None
    cran: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Library:
        kinds = [k for k in ("pypi", "whl", "requirements", "jar", "maven", "egg", "cran")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a library needs exactly one of pypi, whl, requirements, jar, maven "
                             f"(got {', '.join(kinds) or 'none'})")
        if self.egg is not None:
            raise ValueError("egg libraries are not supported (Databricks Runtime 14+ refuses them too); build a wheel")
        if self.cran is not None:
            raise ValueError("cran libraries are not supported: only Python and JVM tasks run locally")
        return self

    @property
    def requirement_line(self) -> str | None:
        """This library as a pip requirement line, or None for JVM libraries."""
        if self.pypi is not None:
            return self.pypi.package
        if self.whl is not None:
            return self.whl
        if self.requirements is not None:
            return f"-r {self.requirements}"
        return None

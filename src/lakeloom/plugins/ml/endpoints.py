"""Model Serving endpoint declarations: ``conf/lakeloom.yml`` and bundle resources.

``conf/lakeloom.yml``::

    serving:
      endpoints:
        churn: {model: "models:/main.ml.churn@champion"}

A bundle declares ``resources.model_serving_endpoints.<key>`` as Databricks does::

    model_serving_endpoints:
      churn_endpoint:
        name: churn
        config:
          served_entities:
            - {entity_name: main.ml.churn, entity_version: "3"}

A served entity with an ``entity_version`` serves that version; without one it follows the
alias ``champion`` (lakeloom's reading of an unpinned entity, since the local registry has
no deployments). ``lakeloom bundle deploy`` hands them to the plugin
(``lakeloom_bundle_resource``), which records them under ``.lakeloom/serving/``.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakeloom.config import Workspace

DEFAULT_ALIAS = "champion"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


class EndpointConfigError(ValueError):
    """An endpoint declaration is invalid; the message names where it came from and the field."""


@dataclass(frozen=True)
class EndpointSpec:
    """One serving endpoint: its name and the model URI it serves (``@alias`` or ``/version``)."""

    name: str
    model_uri: str
    source: str = "conf/lakeloom.yml"

    @property
    def entity_name(self) -> str:
        return self.model_uri.removeprefix("models:/").split("@", 1)[0].split("/", 1)[0]

    @property
    def alias(self) -> str | None:
        ref = self.model_uri.removeprefix("models:/")
        return ref.split("@", 1)[1] if "@" in ref else None


def _spec(name: str, model_uri: str, source: str) -> EndpointSpec:
    from lakeloom.plugins.ml.uc_rules import THREE_LEVEL

    if not _NAME.match(name):
        raise EndpointConfigError(f"{source}: endpoint {name!r}: field 'name': use letters, digits, '-' and '_' "
                                  "(at most 63)")
    spec = EndpointSpec(name, model_uri, source)
    if not model_uri.startswith("models:/") or not THREE_LEVEL.match(spec.entity_name):
        raise EndpointConfigError(f"{source}: endpoint {name!r}: field 'model': expected "
                                  f"models:/catalog.schema.model@alias or models:/catalog.schema.model/<version>, "
                                  f"got {model_uri!r}")
    return spec


def endpoints_from_config(workspace: Workspace) -> list[EndpointSpec]:
    """The endpoints of ``serving.endpoints`` in the workspace config."""
    source = str(workspace.root / "conf" / "lakeloom.yml")
    raw = ((workspace.settings.get("serving") or {}).get("endpoints")) or {}
    if not isinstance(raw, dict):
        raise EndpointConfigError(f"{source}: field 'serving.endpoints': expected a mapping of name -> {{model: ...}}")
    out = []
    for name, body in raw.items():
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            raise EndpointConfigError(f"{source}: endpoint {name!r}: field 'model' is required "
                                      "(models:/catalog.schema.model@alias)")
        out.append(_spec(str(name), body["model"], source))
    return out


_bundle_lock = threading.Lock()


def endpoints_from_bundle_resources(resources: dict[str, Any], source: str = "databricks.yml") -> list[EndpointSpec]:
    """The endpoints of a bundle's ``resources`` (its ``model_serving_endpoints``)."""
    out = []
    for key, body in ((resources or {}).get("model_serving_endpoints") or {}).items():
        body = body or {}
        name = str(body.get("name") or key)
        entities = ((body.get("config") or {}).get("served_entities")
                    or (body.get("config") or {}).get("served_models") or [])
        if len(entities) != 1:
            raise EndpointConfigError(f"{source}: model_serving_endpoints.{key}: field 'config.served_entities': "
                                      f"lakeloom serves exactly one entity per endpoint, got {len(entities)}")
        entity = entities[0] or {}
        model = entity.get("entity_name") or entity.get("model_name")
        if not model:
            raise EndpointConfigError(f"{source}: model_serving_endpoints.{key}: field "
                                      "'config.served_entities[0].entity_name' is required")
        version = entity.get("entity_version") or entity.get("model_version")
        uri = f"models:/{model}/{version}" if version else f"models:/{model}@{DEFAULT_ALIAS}"
        out.append(_spec(name, uri, f"{source}: model_serving_endpoints.{key}"))
    return out


def _deployed_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "serving" / "bundle_endpoints.yml"


def deploy_bundle_endpoint(workspace: Workspace, key: str, settings: dict[str, Any], source: str) -> EndpointSpec:
    """Record a bundle's ``model_serving_endpoints.<key>`` for ``lakeloom serve`` (``bundle
    deploy`` runs in another process than ``serve``, so the record is a workspace file)."""
    import yaml

    (spec,) = endpoints_from_bundle_resources({"model_serving_endpoints": {key: settings}}, source)
    path = _deployed_file(workspace)
    with _bundle_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        known = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        known[spec.name] = {"model": spec.model_uri, "source": spec.source, "key": key}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(known, sort_keys=True))
        tmp.replace(path)
    return spec


def remove_bundle_endpoint(workspace: Workspace, key: str) -> list[str]:
    """Forget the endpoints a bundle deployed as ``model_serving_endpoints.<key>``; their names."""
    import yaml

    path = _deployed_file(workspace)
    with _bundle_lock:
        known = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        gone = [name for name, entry in known.items() if (entry or {}).get("key") == key]
        if gone:
            for name in gone:
                del known[name]
            tmp = path.with_suffix(".tmp")
            tmp.write_text(yaml.safe_dump(known, sort_keys=True))
            tmp.replace(path)
    return gone


def _deployed(workspace: Workspace) -> list[EndpointSpec]:
    import yaml

    path = _deployed_file(workspace)
    if not path.exists():
        return []
    known = yaml.safe_load(path.read_text()) or {}
    return [_spec(str(n), str(b["model"]), str(b.get("source") or path)) for n, b in known.items()]


def all_endpoints(workspace: Workspace) -> dict[str, EndpointSpec]:
    """Every declared endpoint by name (config, then deployed bundles); one name declared in
    two places is an error."""
    found: dict[str, EndpointSpec] = {}
    for spec in [*endpoints_from_config(workspace), *_deployed(workspace)]:
        if spec.name in found and found[spec.name].model_uri != spec.model_uri:
            raise EndpointConfigError(f"serving endpoint {spec.name!r} is declared twice: in {found[spec.name].source} "
                                      f"and in {spec.source}")
        found.setdefault(spec.name, spec)
    return found

"""Resolving registered models in the workspace registry: alias → version → storage."""
from __future__ import annotations


def pin_version(model_uri: str, registry_uri: str) -> tuple[str, str | None, int | None]:
    """``(uri, model name, version)`` with an ``@alias`` or ``latest`` resolved to its version now."""
    from mlflow import MlflowClient

    if not model_uri.startswith("models:/") or model_uri.startswith("models:/m-"):
        return model_uri, None, None
    ref = model_uri.removeprefix("models:/")
    client = MlflowClient(registry_uri=registry_uri)
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = int(client.get_model_version_by_alias(name, alias).version)
    else:
        name, _, tail = ref.partition("/")
        if tail.isdigit():
            version = int(tail)
        else:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise LookupError(f"registered model {name!r} has no versions")
            version = max(int(v.version) for v in versions)
    return f"models:/{name}/{version}", name, version


def model_location(store_uri: str, model_uri: str) -> str:
    """Where a ``models:/`` URI's files are stored (the version's or logged model's artifact
    location), read from the store at ``store_uri`` whatever MLflow's current URIs are."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store_uri, registry_uri=store_uri)
    ref = model_uri.removeprefix("models:/")
    if not model_uri.startswith("models:/"):
        return _local(model_uri)
    if ref.startswith("m-"):
        return _local(client.get_logged_model(ref.split("/", 1)[0]).artifact_location)
    _, name, version = pin_version(model_uri, store_uri)
    assert name is not None and version is not None
    mv = client.get_model_version(name, str(version))
    if mv.model_id:
        return _local(client.get_logged_model(mv.model_id).artifact_location)
    return _local(client.get_model_version_download_uri(name, str(version)))


def _local(uri: str) -> str:
    """A ``file:`` URI as a plain path: some MLflow loaders test ``os.path.exists`` on it."""
    if uri.startswith("file:"):
        from urllib.parse import urlparse
        from urllib.request import url2pathname

        return url2pathname(urlparse(uri).path)
    return uri

"""Merging bundle configuration trees the way the Databricks CLI does (``libs/dyn/merge``).

Maps merge key by key with the later tree winning, sequences concatenate, scalars are
replaced, and a null never overrides a value. After the target is merged, job tasks merge
by ``task_key``, job clusters by ``job_cluster_key``, job parameters by ``name`` and pipeline
clusters by ``label`` (a target task with an existing key patches that task).
"""
from __future__ import annotations

from typing import Any

from lakeloom.bundle.yamlreader import Locations


def merge(base: Any, over: Any, locs: Locations) -> Any:
    """``over`` merged onto ``base`` (both may be reused; the result owns their containers)."""
    if over is None:
        return base
    if base is None:
        return over
    if isinstance(base, dict) and isinstance(over, dict):
        for key, value in over.items():
            where = locs.of(over, key)
            if key in base:
                base[key] = merge(base[key], value, locs)
                if where and not isinstance(base[key], (dict, list)):
                    locs.mark_entry(base, key, where)
            else:
                base[key] = value
                if where:
                    locs.mark_entry(base, key, where)
        return base
    if isinstance(base, list) and isinstance(over, list):
        offset = len(base)
        for i, value in enumerate(over):
            where = locs.of(over, i)
            if where:
                locs.mark_entry(base, offset + i, where)
            base.append(value)
        return base
    return over


def _merge_list_by_key(items: Any, key_field: str, locs: Locations, *, sort: bool = False) -> Any:
    if not isinstance(items, list):
        return items
    by_key: dict[Any, Any] = {}
    order: list[Any] = []
    unkeyed: list[Any] = []
    for item in items:
        key = item.get(key_field) if isinstance(item, dict) else None
        if key is None:
            unkeyed.append(item)
            continue
        if key in by_key:
            by_key[key] = merge(by_key[key], item, locs)
        else:
            by_key[key] = item
            order.append(key)
    if sort:
        order.sort(key=str)
    merged = [by_key[k] for k in order] + unkeyed
    old = list(items)
    items.clear()
    items.extend(merged)
    for i, item in enumerate(items):  # an entry's line is where its body was first written
        where = locs.of(item) or next((locs.of(old, j) for j, o in enumerate(old) if o is item), None)
        if where:
            locs.mark_entry(items, i, where)
    return items


def merge_keyed_lists(config: dict[str, Any], locs: Locations) -> None:
    """Merge job tasks, job clusters, job parameters and pipeline clusters by their keys."""
    resources = config.get("resources")
    if not isinstance(resources, dict):
        return
    for job in (resources.get("jobs") or {}).values():
        if not isinstance(job, dict):
            continue
        _merge_list_by_key(job.get("tasks"), "task_key", locs, sort=True)
        _merge_list_by_key(job.get("job_clusters"), "job_cluster_key", locs)
        _merge_list_by_key(job.get("parameters"), "name", locs)
    for pipeline in (resources.get("pipelines") or {}).values():
        if isinstance(pipeline, dict):
            _merge_list_by_key(pipeline.get("clusters"), "label", locs)

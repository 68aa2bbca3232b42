"""``display`` and ``displayHTML``: render DataFrames and HTML like a notebook does.

Inside a notebook cell the rendering goes to the cell's outputs (the notebook
executor registers a sink in ``ctx.stash``); elsewhere (a script, a wheel, the
REPL) a text table is printed to stdout.
"""
from __future__ import annotations

import html
from typing import Any, Callable

from lakeloom.plugin_api import StashKey, current_context

DISPLAY_ROW_LIMIT = 1000

MimeBundle = dict[str, str]

#: ``ctx.stash`` key of the callable that receives display bundles of the current cell.
DISPLAY_SINK_KEY = StashKey[Callable[[MimeBundle], None]]()


def _is_spark_dataframe(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("pyspark.") and hasattr(obj, "schema") and hasattr(obj, "limit") and hasattr(obj, "collect")


def _cell(value: Any) -> str:
    return "null" if value is None else str(value)


def table_bundle(columns: list[str], rows: list[list[Any]], truncated: bool) -> MimeBundle:
    """A text/html + text/plain bundle for a table of ``rows``."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in r) + "</tr>" for r in rows)
    note = f"<p>Showing the first {len(rows)} rows.</p>" if truncated else ""
    html_table = f'<table class="lakeloom-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'
    return {"text/html": html_table, "text/plain": text_table(columns, rows, truncated)}


def text_table(columns: list[str], rows: list[list[Any]], truncated: bool = False) -> str:
    """A fixed-width table in the style of ``DataFrame.show``."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    fmt = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    out = [line, fmt(columns), line, *(fmt(r) for r in cells), line]
    if truncated:
        out.append(f"only showing the first {len(rows)} rows")
    return "\n".join(out)


def dataframe_bundle(df: Any, limit: int = DISPLAY_ROW_LIMIT) -> MimeBundle:
    """Render the first ``limit`` rows of a Spark DataFrame."""
    if getattr(df, "isStreaming", False):
        raise NotImplementedError("display() of a streaming DataFrame is not supported locally; "
                                  "write the stream with writeStream and display the target table")
    fetched = df.limit(limit + 1).collect()
    rows = [list(r) for r in fetched[:limit]]
    return table_bundle(list(df.columns), rows, truncated=len(fetched) > limit)


def render(obj: Any) -> MimeBundle | None:
    """The MIME bundle ``display(obj)`` shows, or None for ``display()``."""
    if obj is None:
        return None
    if _is_spark_dataframe(obj):
        return dataframe_bundle(obj)
    mod = type(obj).__module__ or ""
    if mod.startswith("pandas.") and hasattr(obj, "to_html"):
        head = obj.head(DISPLAY_ROW_LIMIT)
        return {"text/html": head.to_html(), "text/plain": head.to_string()}
    if hasattr(obj, "_repr_html_"):
        try:
            rendered = obj._repr_html_()
        except Exception:  # a broken _repr_html_ must not fail the cell; fall back to repr
            rendered = None
        if rendered:
            return {"text/html": rendered, "text/plain": repr(obj)}
    if isinstance(obj, list) and obj and all(hasattr(r, "asDict") for r in obj):
        columns = list(obj[0].asDict())
        return table_bundle(columns, [list(r) for r in obj[:DISPLAY_ROW_LIMIT]], len(obj) > DISPLAY_ROW_LIMIT)
    return {"text/plain": repr(obj)}


def _emit(bundle: MimeBundle) -> None:
    ctx = current_context()
    sink: Callable[[MimeBundle], None] | None = ctx.stash.get(DISPLAY_SINK_KEY, None) if ctx is not None else None
    if sink is not None:
        sink(bundle)
    else:
        print(bundle.get("text/plain") or bundle.get("text/html", ""))


def display(input: Any = None, *args: Any, **kwargs: Any) -> None:
    """Show a DataFrame (first 1,000 rows), a pandas DataFrame, or any object.

    Extra Databricks arguments (``streamName``, ``trigger``, ...) are accepted and
    ignored.
    """
    bundle = render(input)
    if bundle is not None:
        _emit(bundle)


def displayHTML(html: str) -> None:
    """Show an HTML fragment (kept as HTML in the saved notebook)."""
    _emit({"text/html": str(html), "text/plain": "<HTML output>"})

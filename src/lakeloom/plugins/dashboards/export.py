"""``lakeloom dashboards export``: a snapshot as one self-contained HTML file (the page's
CSS, the vendored Vega scripts and the snapshot inlined), or as PNG / PDF printed from
that file by headless Chromium (Debian's ``chromium``, as the browser tests use it)."""
from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lakeloom

if TYPE_CHECKING:
    from lakeloom.config import Workspace

STATIC = Path(lakeloom.__file__).resolve().parent / "server" / "static"
SCRIPTS = ("vendor/vega.min.js", "vendor/vega-interpreter.js", "vendor/vega-lite.min.js",
           "vendor/vega-embed.min.js", "lakeview.js")
#: Time Chromium's virtual clock may run for the charts to draw before it captures.
RENDER_BUDGET_MS = 15000


class ExportError(RuntimeError):
    """No snapshot to export, or Chromium is missing or failed."""


def _inline(text: str) -> str:
    return text.replace("</script", "<\\/script")


def render_html(snapshot: dict[str, Any]) -> str:
    """One HTML document that draws ``snapshot`` with no server and no network."""
    data = json.dumps(snapshot, default=str).replace("<", "\\u003c").replace(">", "\\u003e")
    title = html.escape(str(snapshot.get("display_name") or snapshot.get("dashboard")))
    run = snapshot.get("run_id")
    meta = f"Snapshot of {html.escape(str(snapshot.get('refreshed_at')))}" + (f" · refresh run {run}" if run else "")
    scripts = "\n".join(f"<script>{_inline((STATIC / s).read_text(encoding='utf-8'))}</script>" for s in SCRIPTS)
    css = (STATIC / "dashboard.css").read_text(encoding="utf-8")
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · lakeloom</title>"
            f"<style>{css}</style></head><body><main>\n<div class=\"lv-head\"><h1>{title}</h1>"
            f"<p class=\"muted\" id=\"lv-meta\">{meta}</p></div>\n<nav class=\"lv-pages\" id=\"lv-pages\"></nav>"
            f"<div class=\"lv-filters\" id=\"lv-filters\"></div><div class=\"lv-grid\" id=\"lv-grid\"></div>\n"
            f"<script type=\"application/json\" id=\"lv-snapshot\">{data}</script>\n{scripts}\n</main></body></html>\n")


def chromium() -> str:
    found = os.environ.get("LAKELOOM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise ExportError("PNG and PDF need Chromium: install Debian's `chromium` (apt-get install -y chromium) "
                          "or set LAKELOOM_CHROMIUM")
    return found


def print_with_chromium(html_file: Path, kind: str, target: Path, *, width: int = 1280, height: int = 1800) -> None:
    """Render ``html_file`` headless and write a PNG screenshot or a PDF to ``target``."""
    flag = f"--screenshot={target}" if kind == "png" else f"--print-to-pdf={target}"
    with tempfile.TemporaryDirectory(prefix="lakeloom-chromium-") as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--virtual-time-budget={RENDER_BUDGET_MS}", "--no-pdf-header-footer", flag, html_file.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        raise ExportError(f"chromium could not write {target}: {proc.stderr.strip()[-800:]}")


def export_snapshot(snapshot: dict[str, Any], kind: str, target: Path) -> Path:
    """Write ``snapshot`` as ``kind`` (html, png, pdf) to ``target``; returns ``target``."""
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(snapshot)
    if kind == "html":
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
        return target
    if kind not in ("png", "pdf"):
        raise ExportError(f"unknown export format {kind!r} (html, png, pdf)")
    with tempfile.TemporaryDirectory(prefix="lakeloom-export-") as tmpdir:
        source = Path(tmpdir) / "dashboard.html"
        source.write_text(page, encoding="utf-8")
        out = Path(tmpdir) / f"out.{kind}"
        print_with_chromium(source, kind, out)
        shutil.move(str(out), target)
    return target


def export(workspace: Workspace, key: str, kind: str, target: Path) -> Path:
    """Export the latest snapshot of dashboard ``key``."""
    from lakeloom.plugins.dashboards.snapshots import latest

    snapshot = latest(workspace, key)
    if snapshot is None:
        raise ExportError(f"dashboard {key!r} has no snapshot yet: run `lakeloom dashboards refresh {key}` first")
    return export_snapshot(snapshot, kind, target)

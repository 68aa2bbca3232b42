"""IPython syntax in notebook cells: IPython's own transformer, and the ``get_ipython()``
object the transformed code calls.

``TransformerManager().transform_cell`` turns ``!ls`` into ``get_ipython().system('ls')``,
``x = !ls`` into ``getoutput``, ``%time f()`` (anywhere in a cell) into
``run_line_magic('time', 'f()')`` and a ``%%name`` first line into ``run_cell_magic``.
:class:`NotebookShell` implements those four calls for one notebook run, expanding
``{var}`` / ``$var`` from the notebook's namespace as IPython does. Line magics:
``pip``, ``restart_python``, ``pwd``, ``cd``, ``env``, ``time``, ``timeit``, ``load_ext``
(``autoreload``), ``autoreload``, ``matplotlib``; cell magics: ``time``, ``timeit``,
``sh``/``bash``, ``python``, ``capture``, ``writefile``.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
import timeit as _timeit
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from lakeloom.plugins.notebook_task.executor import NotebookRunner


class MagicNotSupported(RuntimeError):
    """A magic lakeloom does not implement; the message names it."""


def transform_cell(source: str) -> str:
    """``source`` as plain Python, by IPython's own transformer."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def python_source(source: str) -> str:
    """The Python to compile for a cell: IPython's transform when the cell can hold IPython
    syntax at all (every form needs one of ``%``, ``!``, ``?``), else the text as is, so
    plain cells neither pay for importing IPython nor lose their line numbers."""
    return transform_cell(source) if any(c in source for c in "%!?") else source


def _slist(lines: list[str]) -> Any:
    from IPython.utils.text import SList

    return SList(lines)


class NotebookShell:
    """``get_ipython()`` inside a lakeloom notebook run."""

    def __init__(self, runner: NotebookRunner, on_pip: Callable[[str], None], on_restart: Callable[[], None]) -> None:
        self.runner = runner
        self._on_pip = on_pip
        self._on_restart = on_restart
        self.autoreload = 0
        self._mtimes: dict[str, float] = {}

    @property
    def user_ns(self) -> dict[str, Any]:
        """The notebook's namespace (as IPython's ``shell.user_ns``)."""
        return self.runner.namespace

    # --- what transformed code calls -------------------------------------------------------

    def var_expand(self, cmd: str) -> str:
        """``{expr}`` and ``$name`` from the namespace; the text as written when that fails."""
        from IPython.utils.text import DollarFormatter

        try:
            return DollarFormatter().vformat(cmd, args=[], kwargs=dict(self.user_ns))
        except Exception:  # IPython leaves the command unexpanded too
            return cmd

    def system(self, cmd: str) -> None:
        """``!cmd``: run it in a shell in the working directory, print its output."""
        proc = subprocess.run(["bash", "-c", self.var_expand(cmd)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        print(proc.stdout, end="")
        self.user_ns["_exit_code"] = proc.returncode

    def getoutput(self, cmd: str, split: bool = True) -> Any:
        """``x = !cmd``: its output lines (an IPython ``SList``)."""
        proc = subprocess.run(["bash", "-c", self.var_expand(cmd)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        self.user_ns["_exit_code"] = proc.returncode
        return _slist(proc.stdout.splitlines()) if split else proc.stdout

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        """``%name line``."""
        fn = getattr(self, f"_line_{name}", None)
        if fn is None:
            raise MagicNotSupported(f"line magic %{name} is not supported in lakeloom notebooks")
        return fn(self.var_expand(line) if name not in ("time", "timeit") else line)

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        """``%%name line`` followed by ``cell``."""
        fn = getattr(self, f"_cell_{name}", None)
        if fn is None:
            raise MagicNotSupported(f"cell magic %%{name} is not supported in lakeloom notebooks")
        return fn(line, cell)

    def magic(self, line: str) -> Any:
        """Old-style ``get_ipython().magic('name args')``."""
        name, _, rest = line.lstrip("%").partition(" ")
        return self.run_line_magic(name, rest)

    # --- line magics -------------------------------------------------------------------------

    def _line_pip(self, line: str) -> None:
        self._on_pip(line)

    def _line_restart_python(self, line: str) -> None:
        self._on_restart()

    def _line_pwd(self, line: str) -> str:
        return os.getcwd()

    def _line_cd(self, line: str) -> str:
        os.chdir(os.path.expanduser(line.strip() or "~"))  # this task thread only (runtime.workdir)
        return os.getcwd()

    def _line_env(self, line: str) -> Any:
        text = line.strip()
        if not text:
            return dict(os.environ)
        if "=" in text or " " in text:
            key, _, value = text.partition("=" if "=" in text else " ")
            os.environ[key.strip()] = value.strip()
            return None
        return os.environ.get(text)

    def _run(self, code: str, mode: str) -> Any:
        return eval(compile(code, "<magic>", mode), self.user_ns)  # noqa: S307 - the notebook's own code

    def _line_time(self, line: str) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            value = self._run(line, "eval")
        except SyntaxError:
            self._run(line, "exec")
            value = None
        print(f"CPU times: total: {time.process_time() - cpu:.3f} s\nWall time: {time.perf_counter() - started:.3f} s")
        return value

    def _line_timeit(self, line: str) -> None:
        timer = _timeit.Timer(line, globals=self.user_ns)
        number, total = timer.autorange()
        print(f"{total / number * 1e6:.1f} µs per loop (best of 1 run, {number} loops)")

    def _line_load_ext(self, line: str) -> None:
        name = line.strip()
        if name == "autoreload":
            return
        module = importlib.import_module(name)
        loader = getattr(module, "load_ipython_extension", None)
        if loader is None:
            raise MagicNotSupported(f"%load_ext {name}: the module has no load_ipython_extension")
        loader(self)

    def _line_autoreload(self, line: str) -> None:
        arg = line.strip() or "now"
        if arg == "now":
            self.reload_changed()
            return
        self.autoreload = {"off": 0, "explicit": 1, "all": 2, "complete": 3}.get(arg, None) or int(arg)
        self._mtimes = {name: m for name, m in self._module_mtimes()}

    def _line_matplotlib(self, line: str) -> None:
        return None  # figures are captured by display(); nothing to set up

    # --- cell magics -------------------------------------------------------------------------

    def _cell_time(self, line: str, cell: str) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        self._run(cell, "exec")
        print(f"CPU times: total: {time.process_time() - cpu:.3f} s\nWall time: {time.perf_counter() - started:.3f} s")

    def _cell_timeit(self, line: str, cell: str) -> None:
        self._line_timeit(cell)

    def _cell_python(self, line: str, cell: str) -> None:
        self._run(cell, "exec")

    def _cell_sh(self, line: str, cell: str) -> None:
        self.system(cell)
        if self.user_ns.get("_exit_code"):
            raise RuntimeError(f"%%sh exited with status {self.user_ns['_exit_code']}")

    _cell_bash = _cell_sh

    def _cell_capture(self, line: str, cell: str) -> None:
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self._run(cell, "exec")
        if line.strip():
            self.user_ns[line.split()[0]] = out.getvalue()

    def _cell_writefile(self, line: str, cell: str) -> None:
        words = line.split()
        append = "-a" in words
        target = Path(self.var_expand(words[-1]))
        with target.open("a" if append else "w", encoding="utf-8") as f:
            f.write(cell)

    # --- autoreload --------------------------------------------------------------------------

    def _module_mtimes(self) -> list[tuple[str, float]]:
        from lakeloom.runtime.imports import current_scope

        scope = current_scope()
        roots = [r.rstrip(os.sep) + os.sep for r in (scope.back if scope else ())]
        found = []
        for name, module in list(sys.modules.items()):
            path = getattr(module, "__file__", None)
            if path and any(path.startswith(r) for r in roots):
                try:
                    found.append((name, os.stat(path).st_mtime))
                except OSError:
                    continue
        return found

    def reload_changed(self) -> None:
        """Reload the task's own modules (its folders) whose files changed since last seen."""
        for name, mtime in self._module_mtimes():
            if self._mtimes.get(name, mtime) != mtime and name in sys.modules:
                importlib.reload(sys.modules[name])
            self._mtimes[name] = mtime

    def before_cell(self) -> None:
        """Called before each cell: ``%autoreload 2`` reloads edited modules."""
        if self.autoreload:
            self.reload_changed()

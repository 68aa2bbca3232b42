"""MLflow's import-hook deadlock (a thread registering an autolog hook for an imported library
while another thread imports) does not hang a lakeloom process. Each case runs in a child
process: a deadlocked one holds the import lock for good."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Thread A registers a post-import hook for an imported module, as ``mlflow.autolog()`` does
#: for sklearn; the hook imports a new module (as sklearn's autolog does). Thread B imports
#: another new module while A is inside the hook.
RACE = '''
import os, sys, threading, time
sys.path.insert(0, {folder!r})
import ll_target
if {fix}:
    from lakeloom.plugins.ml import mlflow_compat
    mlflow_compat.install()
from mlflow.tracking import fluent

in_hook, b_started, fired = threading.Event(), threading.Event(), []

def hook(module):
    in_hook.set()
    b_started.wait(10)
    time.sleep(1.5)  # B is now inside MLflow's finder, holding the import lock
    import ll_dep
    fired.append(module.__name__)

def a():
    fluent.register_post_import_hook(hook, "ll_target", overwrite=True)

def b():
    in_hook.wait(10)
    b_started.set()
    import ll_other

threads = [threading.Thread(target=f, daemon=True) for f in (a, b)]
for t in threads:
    t.start()
deadline = time.monotonic() + 15
for t in threads:
    t.join(max(0.0, deadline - time.monotonic()))
print("DEADLOCK" if any(t.is_alive() for t in threads) else f"DONE fired={{fired}}", flush=True)
os._exit(0)
'''


def _race(tmp_path: Path, fix: bool) -> str:
    for name in ("ll_target", "ll_dep", "ll_other"):
        (tmp_path / f"{name}.py").write_text("VALUE = 1\n")
    proc = subprocess.run([sys.executable, "-c", RACE.format(folder=str(tmp_path), fix=fix)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip().splitlines()[-1]


def test_hooks_of_imported_modules_fire_outside_the_registry_lock(tmp_path: Path) -> None:
    assert _race(tmp_path, fix=True) == "DONE fired=['ll_target']"


def test_the_race_deadlocks_plain_mlflow(tmp_path: Path) -> None:
    """Shows the case above reproduces the bug: without the fix, an MLflow before 3.18 hangs."""
    from mlflow.utils import import_hooks

    from lakeloom.plugins.ml.mlflow_compat import _fixed

    if _fixed(import_hooks):
        pytest.skip("this MLflow fires immediate hooks outside its lock (3.18+): nothing to show")
    assert _race(tmp_path, fix=False) == "DEADLOCK"

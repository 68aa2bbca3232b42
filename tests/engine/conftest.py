from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import ll_tasks  # noqa: E402
from harness import Harness  # noqa: E402


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    ll_tasks.reset()
    h = Harness(tmp_path)
    yield h
    h.close()


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator:
    made: list[Harness] = []

    def make(conf: dict | None = None, extra_plugins: tuple = (), sub: str = "ws") -> Harness:
        ll_tasks.reset()
        h = Harness(tmp_path / sub, conf, extra_plugins)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()

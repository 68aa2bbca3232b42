"""``Stash``: typed per-run / per-attempt plugin state."""
from __future__ import annotations

import pytest

from lakeloom.plugin_api import Stash, StashKey


def test_each_key_is_its_own_slot() -> None:
    count, names = StashKey[int](), StashKey[list[str]]()
    stash = Stash()
    stash[count] = 1
    assert stash[count] == 1 and names not in stash and len(stash) == 1
    assert stash.get(names, None) is None
    assert stash.setdefault(names, ["a"]) == ["a"] and stash.setdefault(names, ["b"]) == ["a"]
    assert stash.pop(count, 0) == 1 and stash.pop(count, 0) == 0
    del stash[names]
    with pytest.raises(KeyError):
        stash[names]


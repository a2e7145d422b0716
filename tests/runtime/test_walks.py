"""What a lowered loop walks (runtime.walks): Python's iteration semantics, saved as a
position, and iterators that cannot be saved refused."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest

from runtime.values import decode_slots, encode_slots
from runtime.walks import iter_source


def walk(value: Any, *, saved: bool = False) -> list[Any]:
    """Everything a lowered loop would bind, the walk going through a checkpoint after
    each item when `saved`."""
    seq, i, out = iter_source(value), 0, []
    while i < len(seq):
        out.append(seq[i])
        i += 1
        if saved:
            text = json.dumps(encode_slots({"seq": seq}))
            seq = decode_slots(json.loads(text), lambda n: pytest.fail("no tasks"))["seq"]
    return out


@pytest.mark.parametrize("saved", [False, True], ids=["in-memory", "checkpointed"])
@pytest.mark.parametrize("make", [
    lambda: {"a": 1, "b": 2}.items(), lambda: enumerate("xyz", 3),
    lambda: zip([1, 2, 3], "ab", strict=False), lambda: reversed([1, 2, 3]), lambda: reversed((1, 2)),
    lambda: OrderedDict(a=1).values(), lambda: {3, 1}, lambda: iter([1, 2]),
    lambda: enumerate(zip({"k": 1}, reversed(range(4)), strict=False)),
], ids=["items", "enumerate", "zip", "reversed-list", "reversed-tuple", "ordered-values",
        "set", "list-iterator", "nested"])
def test_a_walk_yields_what_python_iteration_yields(make: Any, saved: bool) -> None:
    assert walk(make(), saved=saved) == list(make())


def test_changes_made_during_the_loop_are_seen() -> None:
    d = {"a": 1, "b": 2}
    seq = iter_source(d.items())
    first = seq[0]
    d["b"] = 99
    assert [first, seq[1]] == [("a", 1), ("b", 99)]
    d["c"] = 3
    with pytest.raises(RuntimeError, match="dictionary changed size during iteration"):
        len(seq)


def test_iterators_that_cannot_be_saved_are_refused() -> None:
    def gen() -> Any:
        yield 1

    for value in (gen(), map(str, [1]), filter(None, [1])):
        with pytest.raises(TypeError, match=r"cannot walk a .*iterate a list"):
            iter_source(value)
    used = iter({"a": 1, "b": 2})
    next(used)
    with pytest.raises(TypeError, match="partly used"):
        iter_source(used)

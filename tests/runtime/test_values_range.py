"""A lowered `for i in range(n)` keeps its range in the frame: three numbers, not n items."""

from __future__ import annotations

import json

from runtime.machine import iter_source
from runtime.values import decode_slots, encode_slots


def test_range_round_trips_as_three_numbers() -> None:
    r = range(5, 1_000_005, 3)
    encoded = encode_slots({"_seq0": iter_source(r), "_i0": 7})
    assert len(json.dumps(encoded)) < 80
    decoded = decode_slots(json.loads(json.dumps(encoded)), task=lambda i: None)  # type: ignore[arg-type,return-value]
    assert decoded == {"_seq0": r, "_i0": 7}


def test_iter_source_keeps_sequences_and_walks_the_rest() -> None:
    items = [1, 2]
    assert iter_source(items) is items
    assert iter_source(range(3)) == range(3)
    walk = iter_source({"a": 1, "b": 2})  # the dict itself, walked (tests/runtime/test_walks.py)
    assert [walk[i] for i in range(len(walk))] == ["a", "b"]

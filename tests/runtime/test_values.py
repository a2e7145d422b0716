"""The frame codec: round trips (values, identity, cycles) and the errors it raises."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.api import Task, TaskFailedError
from runtime.values import (
    FrameValueError,
    NotJSONError,
    check_json,
    decode_slots,
    encode_slots,
)


class AppError(Exception):
    """Module level, so the codec can import it by name."""


def roundtrip(slots: dict[str, Any], tasks: dict[int, Task[Any]] | None = None) -> dict[str, Any]:
    table = tasks or {}
    text = json.dumps(encode_slots(slots), allow_nan=False)  # strictly JSON
    return decode_slots(json.loads(text), lambda i: table[i])


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types and treats NaN as equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, datetime | time):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold
    return bool(a == b)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.binary(max_size=8), st.decimals(allow_nan=False), st.uuids(),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC),
                                     st.timezones())),
    st.dates(), st.times(), st.timedeltas(),
)
hashables = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.uuids()),
    lambda inner: st.one_of(st.tuples(inner, inner), st.frozensets(inner, max_size=3)),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.sets(hashables, max_size=4),
        st.frozensets(hashables, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
        st.dictionaries(hashables, inner, max_size=3),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), values, max_size=5))
def test_values_round_trip(slots: dict[str, Any]) -> None:
    assert same(roundtrip(slots), slots)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(), max_size=3), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=6))
def test_aliasing_and_cycles_survive(lists: list[list[int]], links: list[tuple[int, int]]) -> None:
    """Lists pointing into each other (any graph, cycles included) stay one graph."""
    for src, dst in links:
        lists[src % len(lists)].append(lists[dst % len(lists)])  # type: ignore[arg-type]
    slots = {f"v{i}": x for i, x in enumerate(lists)}
    slots["all"] = lists  # type: ignore[assignment]
    back = roundtrip(slots)
    for i in range(len(lists)):
        assert back["all"][i] is back[f"v{i}"]
    position = {id(x): i for i, x in enumerate(lists)}
    for i, original in enumerate(lists):  # every link points at the same rebuilt object
        rebuilt = back[f"v{i}"]
        assert len(rebuilt) == len(original)
        for item, was in zip(rebuilt, original, strict=True):
            if isinstance(was, list):
                assert item is back[f"v{position[id(was)]}"]
            else:
                assert item == was


def test_two_names_for_one_list_stay_one_list() -> None:
    shared: list[int] = [1]
    back = roundtrip({"a": shared, "b": shared, "c": {"k": shared}})
    back["a"].append(2)
    assert back["b"] == [1, 2] and back["c"]["k"] is back["a"]


def test_a_cycle_through_a_tuple() -> None:
    inner: list[Any] = []
    pair = (inner, 1)
    inner.append(pair)
    back = roundtrip({"pair": pair})
    assert back["pair"][0][0] is back["pair"]


def test_a_dict_containing_itself() -> None:
    d: dict[str, Any] = {"$weird": 1}
    d["self"] = d
    back = roundtrip({"d": d})
    assert back["d"]["self"] is back["d"] and back["d"]["$weird"] == 1


def test_task_handles_are_saved_by_id_and_rebuilt_through_the_table() -> None:
    t1, t2 = Task(1, "activity", "a"), Task(2, "timer")
    table = {1: t1, 2: t2}
    encoded_ids: set[int] = set()
    data = encode_slots({"tasks": [t1, t2], "first": t1}, encoded_ids)
    assert encoded_ids == {1, 2}
    back = decode_slots(json.loads(json.dumps(data)), lambda i: table[i])
    assert back["tasks"][0] is t1 and back["first"] is t1 and back["tasks"][1] is t2


def test_exceptions_keep_their_fields() -> None:
    failed = TaskFailedError("card declined", error_type="PaymentError",
                             details="Traceback ...", task_name="charge")
    back = roundtrip({"e": failed, "app": AppError("x", 3), "builtin": KeyError("k")})
    assert isinstance(back["e"], TaskFailedError)
    assert (back["e"].message, back["e"].error_type, back["e"].details, back["e"].task_name) == (
        "card declined", "PaymentError", "Traceback ...", "charge")
    assert type(back["app"]) is AppError and back["app"].args == ("x", 3)
    assert type(back["builtin"]) is KeyError and back["builtin"].args == ("k",)


def test_time_zones_are_kept() -> None:
    paris = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))
    fixed = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))
    back = roundtrip({"paris": paris, "fixed": fixed, "t": time(1, 2, tzinfo=ZoneInfo("UTC")),
                      "d": date(2026, 1, 2), "u": UUID(int=5), "x": Decimal("1.50")})
    assert back["paris"].tzinfo == ZoneInfo("Europe/Paris") and back["paris"] == paris
    assert back["fixed"].utcoffset() == timedelta(hours=-5)
    assert str(back["x"]) == "1.50"


def test_unsupported_value_names_the_variable_and_type() -> None:
    with io.StringIO() as fh, pytest.raises(FrameValueError) as err:
        encode_slots({"ok": 1, "fh": fh})
    assert str(err.value).startswith(
        "cannot checkpoint local `fh`: values of type StringIO cannot be saved (JSON values, tuple, set,")
    assert "Task handles can)" in str(err.value)


def test_nested_unsupported_value_names_where() -> None:
    with pytest.raises(FrameValueError, match=r"local `cfg`: values of type function .*at cfg\['hooks'\]\[0\]"):
        encode_slots({"cfg": {"hooks": [lambda: 1]}})


def test_local_exception_class_is_refused() -> None:
    class Local(Exception):
        pass

    with pytest.raises(FrameValueError, match=r"local `err`: exception class .*Local"):
        encode_slots({"err": Local()})


def test_subclasses_of_supported_types_are_refused() -> None:
    class MyList(list[int]):
        pass

    with pytest.raises(FrameValueError, match="values of type MyList"):
        encode_slots({"xs": MyList()})


@pytest.mark.parametrize(("value", "message"), [
    ([1, 2, {"when": date(2026, 1, 1)}], r"input\[2\]\['when'\] is a date, which is not a JSON value"),
    ((1, 2), r"input is a tuple, which is not a JSON value .* \(use a list\)"),
    ({1: "a"}, r"input has a key of type int"),
    ([float("inf")], r"input\[0\] is inf, which JSON cannot represent"),
    ({"s": {1}}, r"input\['s'\] is a set"),
], ids=["nested-date", "tuple", "int-key", "infinity", "set"])
def test_check_json_names_path_and_type(value: Any, message: str) -> None:
    with pytest.raises(NotJSONError, match=message):
        check_json(value, "input")


def test_check_json_refuses_cycles_and_accepts_json() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    with pytest.raises(NotJSONError, match="contains itself"):
        check_json(cyclic, "output")
    shared = [1]
    check_json({"a": [None, True, 1, 1.5, "s", shared, shared]}, "output")

"""The frame codec's objects: collections, records, functions, exceptions saved with their
state, and values nested up to `MAX_NESTING` (issue 16, issue 13's saveable API values)."""

from __future__ import annotations

import json
from collections import Counter, OrderedDict, defaultdict, deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from runtime.api import RetryPolicy, TaskFailedError
from runtime.values import (
    MAX_NESTING,
    FrameValueError,
    NotJSONError,
    check_json,
    decode_slots,
    encode_slots,
    json_copy,
    saveable,
)


def roundtrip(slots: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(encode_slots(slots), allow_nan=False, sort_keys=True)
    return decode_slots(json.loads(text), lambda i: pytest.fail("no tasks here"))


class CodedError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"app error {code}")
        self.code = code


@dataclass
class Point:
    x: int
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Key:
    a: int


@saveable
class Plain:
    def __init__(self, value: int) -> None:
        raise AssertionError("rebuilt without calling __init__")


def make_list() -> list[int]:
    return [0]


def test_collections_keep_their_type_contents_and_identity() -> None:
    counts, ordered = Counter("abca"), OrderedDict(b=1, a=2)
    by_default: defaultdict[int, list[int]] = defaultdict(list, {1: [2]})
    with_fn: defaultdict[str, list[int]] = defaultdict(make_list)
    window = deque([1, 2], maxlen=3)
    back = roundtrip({"c": counts, "o": ordered, "d": by_default, "f": with_fn,
                      "q": window, "q2": window})
    assert back["c"] == counts and type(back["c"]) is Counter
    assert list(back["o"].items()) == [("b", 1), ("a", 2)] and type(back["o"]) is OrderedDict
    assert back["d"] == {1: [2]} and back["d"][5] == [] and back["f"]["x"] == [0]
    assert back["q"] is back["q2"] and back["q"].maxlen == 3 and list(back["q"]) == [1, 2]


def test_dataclasses_and_registered_classes_are_saved_as_their_fields() -> None:
    p = Point(1, ["a"])
    plain = Plain.__new__(Plain)
    plain.value = 5  # type: ignore[attr-defined]
    policy = RetryPolicy(3, timedelta(seconds=5))
    back = roundtrip({"p": p, "same": p, "keyed": {Key(1): "one"}, "plain": plain,
                      "retry": policy})
    assert back["p"] == p and back["p"] is back["same"]
    assert back["keyed"] == {Key(1): "one"}
    assert back["plain"].value == 5 and type(back["plain"]) is Plain
    assert back["retry"] == policy


def test_a_record_holding_itself_survives() -> None:
    p = Point(1)
    p.tags.append(p)  # type: ignore[arg-type]
    back = roundtrip({"p": p})
    assert back["p"].tags[0] is back["p"]


def test_functions_and_classes_are_saved_by_name_when_importable() -> None:
    back = roundtrip({"fn": make_list, "cls": Point, "builtin": len})
    assert back == {"fn": make_list, "cls": Point, "builtin": len}
    with pytest.raises(FrameValueError, match=r"local `fn`: values of type function .*<lambda> is not"):
        encode_slots({"fn": lambda: 1})


def test_a_user_exception_keeps_its_state_cause_context_and_notes() -> None:
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise CodedError(7) from ValueError("why")
    except CodedError as caught:
        err = caught
    err.add_note("noted")
    err.extra = [1]  # type: ignore[attr-defined]
    back = roundtrip({"err": err})["err"]
    assert [back.code, str(back), back.args] == [7, "app error 7", ("app error 7",)]
    assert type(back.__cause__) is ValueError and str(back.__cause__) == "why"
    assert type(back.__context__) is KeyError and back.__suppress_context__
    assert back.__notes__ == ["noted"] and back.extra == [1]


def test_built_in_exceptions_keep_what_lives_outside_args() -> None:
    err = FileNotFoundError(2, "No such file", "x.txt")
    back = roundtrip({"err": err, "f": TaskFailedError("boom", error_type="E")})
    assert type(back["err"]) is FileNotFoundError and back["err"].filename == "x.txt"
    assert back["f"].message == "boom" and back["f"].error_type == "E"


def test_an_exception_class_that_cannot_be_imported_is_refused_naming_the_local() -> None:
    class Local(Exception):
        pass

    with pytest.raises(FrameValueError, match=r"local `err`: exception class .*Local"):
        encode_slots({"err": Local()})


def nested(depth: int, wrap: Any) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = wrap(value)
    return value


@pytest.mark.parametrize("wrap", [lambda v: [v], lambda v: (v,), lambda v: {"$": v},
                                  lambda v: Point(1, v)], ids=["list", "tuple", "dict", "record"])
def test_values_nested_to_the_limit_round_trip_and_deeper_ones_are_refused(wrap: Any) -> None:
    value = nested(MAX_NESTING, wrap)
    assert roundtrip({"v": value}) == {"v": value}
    with pytest.raises(FrameValueError, match=f"local `v`: the value nests deeper than {MAX_NESTING}"):
        encode_slots({"v": nested(50_000, wrap)})  # no RecursionError, at any depth


def test_check_json_and_json_copy_take_any_depth_without_recursion() -> None:
    check_json(nested(MAX_NESTING, lambda v: [v]), "input")
    deep = nested(50_000, lambda v: {"k": v})
    with pytest.raises(NotJSONError, match=f"nests deeper than {MAX_NESTING} levels"):
        check_json(deep, "input")
    assert json_copy(deep) is not deep


class Tagged(str):
    """A str subclass with its own __new__ signature and slots, as EntityId is."""

    __slots__ = ("tag",)

    def __new__(cls, tag: str, text: str) -> Tagged:
        self = super().__new__(cls, f"{tag}:{text}")
        object.__setattr__(self, "tag", tag)
        return self


saveable(Tagged)


def test_registered_builtin_subclasses_and_namedtuples_keep_value_and_fields() -> None:
    from typing import NamedTuple

    class Pair(NamedTuple):
        a: int
        b: list[int]

    globals()["Pair"] = Pair  # importable by name, as a module-level class is
    Pair.__qualname__ = "Pair"
    t = Tagged("x", "y")
    back = roundtrip({"t": t, "keyed": {t: 1}, "pair": Pair(1, [2])})
    assert back["t"] == "x:y" and type(back["t"]) is Tagged and back["t"].tag == "x"
    assert back["keyed"] == {"x:y": 1}
    assert back["pair"] == (1, [2]) and type(back["pair"]) is Pair and back["pair"].b == [2]

"""`runtime.limits`: the edge of every limit, the message naming it, and no recursion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.context import boundary
from runtime.limits import (
    MAX_INT_DIGITS,
    MAX_NESTING,
    MalformedJSON,
    check_text,
    check_value,
    parse_json,
)
from runtime.values import NotJSONError
from tests.robustness.conftest import nested


def text_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [0, 1, MAX_NESTING - 1, MAX_NESTING])
def test_values_up_to_the_limit_are_admitted(depth: int) -> None:
    value = nested(depth)
    check_value(value, "input")
    assert boundary(value, "input") == value
    assert parse_json(json.dumps(value), "--input") == value


def test_the_limit_counts_containers() -> None:
    check_value(parse_json(text_nested(MAX_NESTING), "x"), "x")  # MAX_NESTING brackets deep
    with pytest.raises(NotJSONError):
        check_value(parse_json("[" + text_nested(MAX_NESTING) + "]", "x"), "x")


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 500, 100_000])
def test_past_the_limit_is_one_line_naming_the_limit_and_the_place(depth: int) -> None:
    with pytest.raises(NotJSONError) as caught:
        boundary({"order": nested(depth - 1)}, "input of orchestrator approval")
    message = str(caught.value)
    assert message.startswith("input of orchestrator approval['order']["), message
    assert message.endswith(" nests deeper than 200 levels") and len(message) < 160, message


def test_text_far_past_the_limit_is_refused_without_recursion_error() -> None:
    with pytest.raises(NotJSONError, match=f"^--data nests deeper than {MAX_NESTING} levels$"):
        parse_json(text_nested(200_000), "--data")


def test_a_cycle_is_named_as_a_cycle_not_as_depth() -> None:
    loop: list[Any] = []
    loop.append({"again": loop})
    with pytest.raises(NotJSONError, match=r"^result\[0\]\['again'\] contains itself"):
        boundary(loop, "result")


@pytest.mark.parametrize(("value", "message"), [
    ("\ud800", "x is the string '\\ud800', which holds a lone surrogate"),
    (["ok", {"a": "caf\u00e9\udfff"}], "x[1]['a'] is the string 'caf\\xe9\\udfff', which holds"),
    ({"\udcff": 1}, "x has the key '\\udcff', which holds a lone surrogate"),
    ([{"deep": ["\ud83d"]}], "x[0]['deep'][0] is the string '\\ud83d'"),
])
def test_lone_surrogates_are_refused_wherever_they_are(value: Any, message: str) -> None:
    with pytest.raises(NotJSONError) as caught:
        boundary(value, "x")
    assert str(caught.value).startswith(message)


def test_paired_surrogates_and_other_text_pass() -> None:
    value = {"emoji": "\U0001f600", "accents": "\u00e9\u00e8", "cjk": "\u4e2d"}
    assert boundary(value, "x") == value
    assert parse_json('"\\ud83d\\ude00"', "x") == "\U0001f600"  # a pair, escaped, is one char


def test_integers_up_to_the_digit_limit() -> None:
    largest = 10**MAX_INT_DIGITS - 1
    assert boundary([largest, -largest], "x") == [largest, -largest]
    with pytest.raises(NotJSONError, match=r"^x\[1\] is an integer of more than 4300 digits"):
        boundary([1, 10**MAX_INT_DIGITS], "x")
    with pytest.raises(NotJSONError, match="--input has an integer of more than 4300 digits"):
        parse_json("1" + "0" * MAX_INT_DIGITS, "--input")


@pytest.mark.parametrize(("text", "detail"), [
    ("[1,", "Expecting value: line 1 column 4 (char 3)"),
    ("NaN", "NaN is not a JSON value"),
    ('{"a": -Infinity}', "-Infinity is not a JSON value"),
    (b'"\xff"', "not UTF-8 text: invalid start byte at byte 1"),
])
def test_malformed_text_gives_the_parser_detail(text: str | bytes, detail: str) -> None:
    with pytest.raises(MalformedJSON) as caught:
        parse_json(text, "--input")
    assert str(caught.value) == detail


def test_check_text() -> None:
    assert check_text("Approval\u00e9", "event name") == "Approval\u00e9"
    with pytest.raises(NotJSONError, match="event name 'A\\\\udcff' holds a lone surrogate"):
        check_text("A\udcff", "event name")
    with pytest.raises(NotJSONError, match="event name must be a string, not int"):
        check_text(7, "event name")  # type: ignore[arg-type]

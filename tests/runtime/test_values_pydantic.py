"""pydantic models in the frame (issue 13): saved as their fields, rebuilt with their
type, identity, given fields, extras, private attributes and field order; a frozen model
stays hashable. The differential proof is regression 028."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from runtime.values import decode_slots, encode_slots


class Item(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    name: str
    qty: int = 1
    tags: list[str] = []
    _seen: int = PrivateAttr(default=0)


class Sku(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")

    a: int


def roundtrip(slots: dict[str, Any]) -> dict[str, Any]:
    # sorted keys, as a journal may hold them: the field order must come from the class
    text = json.dumps(encode_slots(slots), allow_nan=False, sort_keys=True)
    return decode_slots(json.loads(text), lambda i: pytest.fail("no tasks here"))


def test_a_model_keeps_type_fields_identity_and_private_state() -> None:
    item = Item(name="x", qty=2)
    item.tags.append("t")
    item._seen = 3
    back = roundtrip({"item": item, "alias": item, "in_list": [item]})
    got = back["item"]
    assert type(got) is Item and got is back["alias"] is back["in_list"][0]
    assert got.model_dump_json() == item.model_dump_json() == '{"name":"x","qty":2,"tags":["t"]}'
    assert (got._seen, got.model_fields_set) == (3, {"name", "qty"})
    got.qty = 5  # still a model: assignment is validated
    with pytest.raises(ValidationError):
        got.qty = "many"  # type: ignore[assignment]


def test_a_frozen_model_is_hashable_when_rebuilt_and_extras_survive() -> None:
    key, loose = Sku(code="a"), Loose(a=1, b=[1, 2])
    back = roundtrip({"key": key, "seen": {key}, "by_key": {key: loose}, "loose": loose})
    assert back["key"] in back["seen"] and Sku(code="a") in back["seen"]
    assert back["by_key"][back["key"]] is back["loose"]
    assert back["loose"].model_dump() == {"a": 1, "b": [1, 2]}
    with pytest.raises(ValidationError):
        back["key"].code = "b"


def test_a_model_class_that_cannot_be_imported_is_refused_naming_the_local() -> None:
    def make() -> BaseModel:
        class Hidden(BaseModel):
            a: int

        return Hidden(a=1)

    from runtime.values import FrameValueError

    with pytest.raises(FrameValueError, match=r"local `hidden`.*class .*Hidden"):
        encode_slots({"hidden": make()})

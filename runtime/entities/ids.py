"""Entity ids: `EntityId(name, key)`, written `@name@key`.

An entity id is the pair (entity name, key). The name is the entity's registered name,
case-insensitive (kept lower-case, as Durable Functions and durabletask-python do); the
key is unique within the name. The wire form `@name@key` is the entity's instance id in
a store, so an `EntityId` is a `str` and can be passed wherever an id is taken.

Guarantees: every `EntityId` that exists is valid: its name is 1-64 characters of
`[a-z0-9_.-]` starting with a letter or `_`, its key is 1 or more characters of the
instance id alphabet `[A-Za-z0-9._:-]`, and the whole id is at most 128 characters.
Anything else is refused with `InvalidEntityId` naming the value. Ids order by their
string form, the order in which a critical section takes its locks.
"""

from __future__ import annotations

import re
from typing import Any

from runtime.values import saveable_str

__all__ = ["EntityId", "InvalidEntityId", "is_entity_id"]

NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,63}")
KEY = re.compile(r"[A-Za-z0-9._:-]+")
MAX_LENGTH = 128


class InvalidEntityId(ValueError):
    """A malformed entity id, name or key (the message names the value)."""


class EntityId(str):
    """The id of one entity: `EntityId("Counter", "c1") == "@counter@c1"`."""

    __slots__ = ("key", "name")
    name: str
    key: str

    def __new__(cls, name: str, key: str) -> EntityId:
        if not isinstance(name, str) or not NAME.fullmatch(name.lower()):
            raise InvalidEntityId(
                f"invalid entity name {name!r}: use 1-64 characters of a-z 0-9 _ . -, "
                "starting with a letter or _")
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise InvalidEntityId(
                f"invalid entity key {key!r} for entity {name.lower()!r}: use 1 or more "
                "characters of A-Z a-z 0-9 . _ : -")
        text = f"@{name.lower()}@{key}"
        if len(text) > MAX_LENGTH:
            raise InvalidEntityId(
                f"entity id {text[:40]!r}... is {len(text)} characters long; at most "
                f"{MAX_LENGTH} are allowed")
        self = super().__new__(cls, text)
        object.__setattr__(self, "name", name.lower())
        object.__setattr__(self, "key", key)
        return self

    @classmethod
    def parse(cls, text: str) -> EntityId:
        """`@name@key` as an EntityId (the key may contain `@`-free id characters only)."""
        if isinstance(text, EntityId):
            return text
        if not isinstance(text, str) or not text.startswith("@"):
            raise InvalidEntityId(f"invalid entity id {text!r}: write it as @name@key")
        name, sep, key = text[1:].partition("@")
        if not sep or not key:
            raise InvalidEntityId(
                f"invalid entity id {text!r}: it has no key; write it as @name@key")
        return cls(name, key)

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError("EntityId is immutable")

    def __repr__(self) -> str:
        return f"EntityId({self.name!r}, {self.key!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (EntityId, (self.name, self.key))


def is_entity_id(text: str) -> bool:
    """Does `text` name an entity (`@...`) rather than an orchestration instance?"""
    return isinstance(text, str) and text.startswith("@")


saveable_str("entity", EntityId, EntityId.parse)  # kept in frames (runtime.values)

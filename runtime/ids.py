"""Instance ids: 1-128 characters of [A-Za-z0-9._:-], checked before any backend sees one.

Entities live in a store as instances too, under their id `@name@key`
(`runtime.entities.ids`): `validate_id` accepts that form as well, `validate_new_id`
(an orchestration a client starts) refuses it."""

from __future__ import annotations

import os
import re

#: an orchestration instance's id, or an entity's (`@name@key`, at most 128 characters)
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}|(?=.{1,128}$)@[a-z_][a-z0-9_.-]{0,63}@[A-Za-z0-9._:-]+")
#: `<parent>:<task>`: the ids the engine gives sub-orchestrations, reserved for them
CHILD_ID = re.compile(r"(?P<parent>.+):(?P<task>[0-9]+)")


class InvalidInstanceId(ValueError):
    pass


def validate_id(instance_id: str) -> str:
    """`instance_id` if it is 1-128 characters of [A-Za-z0-9._:-] (and not `.` or `..`)."""
    if not isinstance(instance_id, str) or not ID_PATTERN.fullmatch(instance_id) or (
        instance_id in (".", "..")
    ):
        raise InvalidInstanceId(
            f"invalid instance id {instance_id!r}: use 1-128 characters of A-Z a-z 0-9 . _ : -"
        )
    return instance_id


def validate_new_id(instance_id: str) -> str:
    """`validate_id`, and not in a parent's child namespace (`<parent>:<number>` is what
    the engine names sub-orchestrations): a client cannot create an instance a parent
    would take for its child (issue 17)."""
    validate_id(instance_id)
    if instance_id.startswith("@"):
        raise InvalidInstanceId(
            f"instance id {instance_id!r} is reserved: ids written @name@key name entities; "
            "choose another")
    if (m := CHILD_ID.fullmatch(instance_id)) is not None:
        raise InvalidInstanceId(
            f"instance id {instance_id!r} is reserved: ids ending in ':<number>' name "
            f"sub-orchestrations (task {m['task']} of instance {m['parent']}); choose another")
    return instance_id


def new_instance_id() -> str:
    """A random instance id: a version-4 UUID's 32 hex digits, as `uuid.uuid4().hex`
    gives and Durable Functions uses. Made from os.urandom: the `uuid` module imports
    `platform`, whose regular expressions cost every `tether run` a few ms."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()

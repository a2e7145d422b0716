"""Instance ids: 1-128 characters of [A-Za-z0-9._:-], checked before any backend sees one."""

from __future__ import annotations

import re

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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

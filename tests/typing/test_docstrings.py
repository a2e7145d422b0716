"""Every public name of `tether` (and each public method and property of its classes) has
a docstring of its own, for IDE hover."""

from __future__ import annotations

import inspect

import tether
import tether.http
import tether.testing


def _public_members(obj: object) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(obj).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out.append((name, member.fget))
        elif inspect.isfunction(member) or isinstance(member, staticmethod | classmethod):
            out.append((name, member))
    return out


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for module in (tether, tether.http, tether.testing):
        for name in module.__all__:
            value = getattr(module, name)
            if not (getattr(value, "__doc__", None) or "").strip():
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(value) and value.__module__.split(".")[0] in ("runtime", "tether"):
                for member_name, _ in _public_members(value):
                    # inspect.getdoc finds an override's doc on the base class, as IDEs do
                    if not (inspect.getdoc(getattr(value, member_name)) or "").strip():
                        missing.append(f"{module.__name__}.{name}.{member_name}")
    assert missing == []

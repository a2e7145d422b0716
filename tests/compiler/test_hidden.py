"""The compiler lists the slots it invented (`hidden=`), so that history shows the user's
variables only, a comprehension's loop variable under the name written, and messages
say what an invented slot holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import compiler
from runtime.executor import run_inline
from runtime.journal import iter_records
from runtime.machine import MachineDef, machine, user_variables, user_view
from runtime.store import Store

PROGRAM = '''
from tether import activity, orchestrator


@activity
def double(n):
    return 2 * n


@orchestrator
async def loops(ctx, items):
    total = 0
    for item in items:
        total += await ctx.call_activity(double, item)
    doubled = [await ctx.call_activity(double, x) for x in items if x > 0]
    _a0 = len(doubled)
    tagged = [(await ctx.call_activity(double, y)) + y for y in doubled]
    return [total, _a0, *tagged]
'''

# The user's locals saved at each suspension (by the line of its await).
USER_SLOTS = {14: {"items", "total"}, 15: {"total"}, 17: {"_a0", "total", "y"}}


def load(tmp_path: Path, source: str, name: str) -> MachineDef:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    module = compiler.load_source(source, str(path), f"hidden_{name}")
    mdef = getattr(module, name).__tether_machine__
    assert isinstance(mdef, MachineDef)
    return mdef


def checkpoints(store: Path, instance_id: str) -> list[dict[str, Any]]:
    folder = Store(store).folder(instance_id)
    return [r.data for r in iter_records(folder) if r.kind == "checkpoint"]


def test_hidden_lists_the_invented_slots_and_not_a_users_look_alike(tmp_path: Path) -> None:
    mdef = load(tmp_path, PROGRAM, "loops")
    names = {h.name for h in mdef.hidden}
    # the user's own `_a0` is theirs: the compiler's await results are named around it
    assert "_a0" not in names
    assert {"_i0", "_seq0", "_acc0", "_y_c0"} <= names
    assert {h.name: h.shown_as for h in mdef.hidden}["_y_c0"] == "y"
    assert all(h.shown_as == "" for h in mdef.hidden if h.name != "_y_c0")


def test_checkpoints_show_exactly_the_users_locals(tmp_path: Path) -> None:
    """Through the real runtime: each checkpoint's slots, seen through the list of invented
    slots the machine gives it, are the user's locals live at that await."""
    mdef = load(tmp_path, PROGRAM, "loops")
    result = run_inline(mdef, [1, 2, 0], store=tmp_path / "store", instance_id="h1")
    assert result.output == [6, 2, 2 * 2 + 2, 2 * 4 + 4]
    lines = {s.state: s.line for s in mdef.steps}
    seen: dict[int, list[dict[str, Any]]] = {}
    for cp in checkpoints(tmp_path / "store", "h1"):
        assert set(cp["slots"]) - USER_SLOTS[lines[cp["step"]]], "invented slots are saved"
        event = user_view({**cp, "hidden": mdef.hidden_in(cp["slots"])})
        assert "hidden" not in event
        seen.setdefault(lines[cp["step"]], []).append(event["slots"])
    assert {line: set(s[0]) for line, s in seen.items()} == USER_SLOTS
    # `items` was encoded inside the loop's invented copy of it: written out in full
    assert [s["items"] for s in seen[14]] == [{"$list": [1, 2, 0], "$id": 0}] * 3
    assert [s["total"] for s in seen[14]] == [0, 2, 6]
    assert [s["y"] for s in seen[17]] == [2, 4]  # the comprehension's `y`, as written


def test_a_comprehension_variable_keeps_its_invented_name_beside_an_outer_one() -> None:
    slots = {"_x_c0": 2, "x": "outer", "_acc0": [4]}
    hidden = {"_x_c0": "x", "_acc0": ""}
    assert user_variables(slots, hidden) == {"_x_c0": 2, "x": "outer"}
    assert user_variables({"_x_c0": 2, "_acc0": [4]}, hidden) == {"x": 2}
    nested = {"_x_c0": 1, "_x_c1": 2}  # two comprehensions binding `x`, one inside the other
    assert user_variables(nested, {"_x_c0": "x", "_x_c1": "x"}) == {"x": 1, "_x_c1": 2}


def test_values_shared_with_dropped_slots_are_written_where_first_kept() -> None:
    shared = {"$list": [1, {"$ref": 0}], "$id": 0}  # a list that contains itself
    slots = {"_seq0": shared, "a": {"$ref": 0}, "b": {"$tuple": [{"$ref": 0}]}, "c": 5}
    assert user_variables(slots, {"_seq0": ""}) == {
        "a": {"$list": [1, {"$ref": 0}], "$id": 0},
        "b": {"$tuple": [{"$ref": 0}]},
        "c": 5,
    }
    # nothing dropped: the encoding is left as it is
    kept = {"a": shared, "b": {"$ref": 0}}
    assert user_variables(kept, {}) == kept


def test_an_event_without_slots_or_hidden_is_shown_unchanged() -> None:
    created = {"seq": 0, "eventType": "created", "input": [1]}
    assert user_view(created) == created
    old = {"seq": 1, "eventType": "checkpoint", "slots": {"_i0": 1}}  # older journal
    assert user_view(old) == old


def test_describe_names_what_an_invented_slot_holds(tmp_path: Path) -> None:
    mdef = load(tmp_path, PROGRAM, "loops")
    assert mdef.describe("total") == "local `total`"
    assert mdef.describe("_a0") == "local `_a0`"
    assert mdef.describe("_acc0") == "the items the comprehension at line 15 has collected so far"
    assert mdef.describe("_seq0") == "the items the loop at line 13 walks"
    assert mdef.describe("_y_c0") == "`y` of the comprehension at line 17"


def test_a_module_emitted_before_hidden_existed_still_registers() -> None:
    @machine(name="hidden_legacy", graph_hash="0", takes_input=False, source="legacy.py",
             steps=((1, 3, "await timer"),))
    def legacy(ctx: Any, frame: Any) -> Any:
        raise AssertionError("never run")

    mdef = legacy.__tether_machine__  # type: ignore[attr-defined]
    assert mdef.hidden == () and mdef.hidden_in(["_i0", "x"]) == {}


@pytest.mark.parametrize("source", [
    PROGRAM,
    "from tether import orchestrator\n\n\n@orchestrator\nasync def plain(ctx):\n"
    "    a = await ctx.call_activity('f')\n    return a\n",
], ids=["loops", "no-invented-slots"])
def test_hidden_is_emitted_only_when_a_slot_is_invented(source: str) -> None:
    text = compiler.compile_source(source, "m.py").text
    assert ("    hidden=(\n" in text) == (source is PROGRAM)


UNSAVEABLE = """
from tether import activity, orchestrator

class Thing:
    pass

@activity
def one(x):
    return x

@orchestrator
async def prog(ctx, n):
    return [[await ctx.call_activity(one, i), Thing()] for i in range(n)]
"""


def test_an_unsaveable_value_in_a_temporary_is_named_by_what_it_holds(tmp_path: Path) -> None:
    from tether.testing import run_direct

    module = compiler.load_source(UNSAVEABLE, "unsaveable.py", "_tether_hidden_unsaveable")
    mdef = module.prog.__tether_machine__
    expected = ("FrameValueError", "cannot checkpoint the items the comprehension at line 13 "
                "has collected so far: values of type Thing cannot be saved (at [0][1]) (")
    for result in (run_direct(mdef, 2), run_inline(mdef, 2, store=tmp_path)):
        assert result.error is not None and result.error[0] == expected[0]
        assert result.error[1].startswith(expected[1]), result.error

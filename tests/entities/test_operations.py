"""Entity operations against a plain-Python model: state, results and rollback.

The model is what a reader expects from the docs: an account is a dict; each operation
is applied in order; one that fails changes nothing. Generated operation sequences run
through `apply_batch` (in batches of any split) must give the model's states, results and
errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.entities import (
    EntityContext,
    EntityDefinitionError,
    EntityId,
    EntityState,
    InvalidEntityId,
    Operation,
    apply_batch,
    entity,
    entity_context,
    entity_def,
)


@dataclass
class Entry:
    amount: int
    memo: str = ""


# Named apart from examples/bank_transfer.py's `account`: entity names are one registry
# per process, and the suite imports both.
@entity(name="ledger")
@dataclass
class Account:
    balance: int = 0
    entries: list[Entry] = field(default_factory=list)

    def deposit(self, amount: int) -> int:
        self.balance += amount
        self.entries.append(Entry(amount, "deposit"))
        return self.balance

    def withdraw(self, amount: int) -> int:
        self.balance -= amount
        self.entries.append(Entry(-amount, "withdraw"))
        if self.balance < 0:
            raise ValueError(f"insufficient funds: {self.balance + amount} < {amount}")
        return self.balance

    def notify(self, target: str) -> None:
        entity_context().signal_entity(target, "deposit", self.balance)
        self.balance += 0

    def get(self) -> int:
        return self.balance


@entity(name="tally")
def tally(ctx: EntityContext) -> None:
    state = ctx.get_state(lambda: {"n": 0})
    if ctx.operation_name == "add":
        state["n"] += ctx.get_input()
        ctx.set_state(state)
    elif ctx.operation_name == "get":
        ctx.set_result(state["n"])
    elif ctx.operation_name == "bad":
        ctx.set_state({"n": object()})
    elif ctx.operation_name == "delete":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"unknown operation {ctx.operation_name}")


def model(ops: list[tuple[str, Any]]) -> tuple[dict[str, Any] | None, list[tuple[Any, str | None]]]:
    """Plain Python: an account is a dict, a failing operation changes nothing."""
    acct: dict[str, Any] | None = None
    out: list[tuple[Any, str | None]] = []
    for name, arg in ops:
        cur: dict[str, Any] = acct if acct is not None else {"balance": 0, "entries": []}
        entries: list[Any] = cur["entries"]
        if name == "deposit":
            acct = {"balance": cur["balance"] + arg,
                    "entries": [*entries, {"amount": arg, "memo": "deposit"}]}
            out.append((acct["balance"], None))
        elif name == "withdraw":
            if cur["balance"] - arg < 0:
                out.append((None, "ValueError"))
            else:
                acct = {"balance": cur["balance"] - arg,
                        "entries": [*entries, {"amount": -arg, "memo": "withdraw"}]}
                out.append((acct["balance"], None))
        elif name == "get":
            acct = cur
            out.append((cur["balance"], None))
        elif name == "delete":
            acct = None
            out.append((None, None))
    return acct, out


ops_strategy = st.lists(st.one_of(
    st.tuples(st.sampled_from(["deposit", "withdraw"]), st.integers(0, 50)),
    st.tuples(st.sampled_from(["get", "delete"]), st.none())), max_size=25)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(ops=ops_strategy, cut=st.integers(0, 25))
def test_account_equals_the_model_in_any_batching(ops: list[tuple[str, Any]], cut: int) -> None:
    defn, eid = entity_def("ledger"), EntityId("Ledger", "a")
    state = EntityState()
    outcomes = []
    for batch in (ops[:cut], ops[cut:]):  # two batches: the split must not matter
        state, got = apply_batch(defn, eid, state, [Operation(n, a) for n, a in batch])
        outcomes += got
    expected_state, expected_out = model(ops)
    assert state == (EntityState(True, expected_state) if expected_state is not None else EntityState())
    assert [(o.value, o.error["type"] if o.error else None) for o in outcomes] == expected_out


def test_a_failed_operation_rolls_back_its_state_and_signals() -> None:
    defn, eid = entity_def("ledger"), EntityId("ledger", "a")
    state, outs = apply_batch(defn, eid, EntityState(), [
        Operation("deposit", 10), Operation("notify", "@account@b"), Operation("withdraw", 11)])
    assert state.value["balance"] == 10 and len(state.value["entries"]) == 1
    assert outs[1].actions[0].target == "@account@b" and outs[1].actions[0].input == 10
    assert outs[2].failed and outs[2].actions == []
    assert "insufficient funds" in outs[2].error["message"]  # type: ignore[index]
    assert "Traceback" in outs[2].error["details"]  # type: ignore[index]


def test_function_entity_state_result_delete_and_non_json_state() -> None:
    defn, eid = entity_def("TALLY"), EntityId("tally", "t")
    state, outs = apply_batch(defn, eid, EntityState(), [
        Operation("add", 2), Operation("add", 3), Operation("bad"), Operation("get"),
        Operation("delete"), Operation("get"), Operation("fly")])
    assert [o.value for o in outs] == [None, None, None, 5, None, 0, None]
    assert "its state['n'] is a object, which is not a JSON value" in outs[2].error["message"]  # type: ignore[index]
    assert outs[6].error["message"] == "unknown operation fly"  # type: ignore[index]
    assert state == EntityState()  # deleted, and `get` on a deleted entity sets no state


def test_operations_get_copies_not_the_committed_state() -> None:
    kept: list[Any] = []

    @entity(name="keeper")
    def keeper(ctx: EntityContext) -> None:
        value = ctx.get_state(lambda: {"items": []})
        kept.append(value)
        value["items"].append(ctx.get_input())
        ctx.set_state(value)

    state, _ = apply_batch(entity_def("keeper"), EntityId("keeper", "k"), EntityState(),
                           [Operation("push", 1), Operation("push", 2)])
    kept[0]["items"].append("mutated later")
    assert state.value == {"items": [1, 2]}


def test_unknown_operation_lists_the_operations() -> None:
    _, (out,) = apply_batch(entity_def("ledger"), EntityId("ledger", "a"), EntityState(),
                            [Operation("depost", 1)])
    assert out.error is not None
    assert out.error["message"] == ("entity 'ledger' has no operation 'depost'; its operations: "
                                    "deposit, withdraw, notify, get, delete")


@pytest.mark.parametrize("text, message", [
    ("@counter", "it has no key"),
    ("@counter@", "it has no key"),
    ("counter@x", "write it as @name@key"),
    ("@counter@a b", "invalid entity key 'a b'"),
    ("@9lives@x", "invalid entity name '9lives'"),
    ("@c@" + "k" * 130, "at most 128"),
])
def test_malformed_ids_are_refused_naming_the_value(text: str, message: str) -> None:
    with pytest.raises(InvalidEntityId, match=message.replace("(", r"\(")):
        EntityId.parse(text)


def test_entity_ids_are_strings_with_case_insensitive_names() -> None:
    a = EntityId("Counter", "K1")
    assert a == "@counter@K1" and EntityId.parse("@COUNTER@K1") == a
    assert (a.name, a.key) == ("counter", "K1")
    assert sorted([EntityId("b", "1"), EntityId("a", "2")]) == ["@a@2", "@b@1"]
    assert {str(a): 1}["@counter@K1"] == 1 and hash(a) == hash("@counter@K1")


def test_async_operations_are_refused_with_their_location() -> None:
    with pytest.raises(EntityDefinitionError, match=r"test_operations\.py:\d+: error: .*may not await"):
        @entity
        class Waits:
            async def add(self, amount: int) -> None:
                pass

    with pytest.raises(EntityDefinitionError, match=r"test_operations\.py:\d+: error: .*may not await"):
        @entity
        async def waits(ctx: EntityContext) -> None:
            pass


def test_entity_classes_need_a_no_argument_constructor() -> None:
    with pytest.raises(EntityDefinitionError, match="constructible with no arguments"):
        @entity
        class Needs:
            def __init__(self, start: int) -> None:
                self.value = start

"""The entities the runtime tests use (registered on import, in both forms)."""

from __future__ import annotations

from typing import Any

from runtime.entities import EntityContext, entity


@entity
class Counter:
    """A counter: `add` returns the new value; `fail` changes it, then raises (rolled back);
    `forward` signals another counter."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value

    def get(self) -> int:
        return self.value

    def set(self, value: int) -> None:
        self.value = value

    def fail(self, amount: int) -> None:
        self.value += amount
        raise ValueError(f"refused {amount}")

    def forward(self, args: dict[str, Any]) -> None:
        from runtime.entities import entity_context

        self.value += 1
        entity_context().signal_entity(args["to"], "add", args["amount"])


@entity
def purse(ctx: EntityContext) -> None:
    """A purse (function form): `deposit` (negative to withdraw), `balance`."""
    balance = ctx.get_state(lambda: 100)
    if ctx.operation_name == "deposit":
        ctx.set_state(balance + ctx.get_input())
    elif ctx.operation_name == "balance":
        ctx.set_result(balance)
    elif ctx.operation_name == "delete":
        ctx.destruct_on_exit()
    else:
        raise ValueError(f"purse has no operation {ctx.operation_name!r}")

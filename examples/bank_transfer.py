"""Bank transfers in a critical section: two accounts locked, money conserved.

`async with ctx.lock_entities(source, target):` locks both accounts for this
orchestration: until the block ends, every other sender's operations on them wait in
their queues, so the balance read inside the block is still the balance when the money
moves, and no transfer running at the same time can overdraw an account or lose money.
The locks are taken in id order (no deadlock whatever order the code names them in) and
released on every way out of the block, the early `return` included.

    tether run examples/bank_transfer.py:transfers --input '{"open": {"a": 100, "b": 20}, "moves": [["a", "b", 30], ["b", "a", 80]]}'
"""

from __future__ import annotations

from typing import Any

from tether import EntityId, OrchestrationContext, entity, orchestrator


class InsufficientFunds(Exception):
    pass


@entity
class Account:
    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> int:
        self.balance += amount
        return self.balance

    def withdraw(self, amount: int) -> int:
        if amount > self.balance:  # raises: the operation changes nothing
            raise InsufficientFunds(f"balance {self.balance} is less than {amount}")
        self.balance -= amount
        return self.balance

    def get(self) -> int:
        return self.balance


@orchestrator
async def transfer(ctx: OrchestrationContext, move: list[Any]) -> bool:
    """Move `amount` from one account to another if it holds enough; True if moved."""
    source_key, target_key, amount = move
    source = EntityId("account", source_key)
    target = EntityId("account", target_key)
    async with ctx.lock_entities(source, target):
        balance = await ctx.call_entity(source, "get")
        if balance < amount:
            return False  # the locks are released on this way out too
        await ctx.call_entity(source, "withdraw", amount)
        await ctx.call_entity(target, "deposit", amount)
    return True


@orchestrator
async def transfers(ctx: OrchestrationContext, book: dict[str, Any]) -> dict[str, Any]:
    """Open the accounts of `book["open"]`, run each of `book["moves"]` as a transfer,
    and report the balances and their total (the total of the opening balances)."""
    opening: dict[str, int] = book["open"]
    for key, amount in sorted(opening.items()):
        await ctx.call_entity(EntityId("account", key), "deposit", amount)
    done = []
    for move in book["moves"]:
        done.append(await ctx.call_sub_orchestrator(transfer, move))
    balances = {}
    for key in sorted(opening):
        balances[key] = await ctx.call_entity(EntityId("account", key), "get")
    return {"moved": done, "balances": balances, "total": sum(balances.values())}


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("transfers", {"open": {"a": 100, "b": 20}, "moves": [["a", "b", 30], ["b", "a", 80],
                                                          ["a", "b", 70]]}, []),
]

'''DET002 random-draw

## What it does
Flags random values drawn in orchestrator code and in the helpers it calls: the
module-level functions of `random` (`random.random()`, `random.choice()`,
`random.shuffle()`, ...), an unseeded `random.Random()`, `random.SystemRandom`,
anything in `secrets`, `uuid.uuid1()`, `uuid.uuid4()`, `os.urandom()` and the
unseeded generators of `numpy.random`. A seeded `random.Random(seed)` and the
name-based `uuid.uuid3()`/`uuid.uuid5()` give the same answer every time and are not
flagged.

## Why is this bad?
A step interrupted by a crash runs again from its last checkpoint and draws a
different value. Anything computed from it (an id sent to an activity, a branch
taken) no longer matches what the journal already recorded.

## Example
```python
import uuid

@orchestrator
async def place_order(ctx: OrchestrationContext, order: dict) -> str:
    order_id = str(uuid.uuid4())
    await ctx.call_activity(reserve_stock, {"id": order_id, **order})
    return order_id
```

## Use instead
```python
@orchestrator
async def place_order(ctx: OrchestrationContext, order: dict) -> str:
    order_id = str(ctx.new_uuid())  # journaled: the same after a restart
    await ctx.call_activity(reserve_stock, {"id": order_id, **order})
    return order_id
```
For simulations, seed a generator from the input: `random.Random(order["seed"])`.
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

RANDOM_CALLS = frozenset({
    "uuid.uuid1", "uuid.uuid4", "os.urandom", "os.getrandom", "random.SystemRandom",
})
RANDOM_MODULES = ("random.", "secrets.", "numpy.random.")
# Generators that are deterministic once given a seed; without one they seed themselves
# from the operating system.
SEEDABLE = frozenset({
    "random.Random", "numpy.random.default_rng", "numpy.random.RandomState",
    "numpy.random.Generator", "numpy.random.SeedSequence", "numpy.random.PCG64",
    "numpy.random.MT19937", "numpy.random.Philox", "numpy.random.SFC64",
})


@rule("DET002", "random-draw", fix=Fix.NEVER)
class RandomDraw(Rule):
    message = "`{name}()` draws a random value in orchestrator code"
    help = ("use `ctx.new_uuid()` for ids, `random.Random(seed)` seeded from the input, "
            "or draw the value in an activity")

    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualified_name(node.func)
        if name is None:
            return
        if name in SEEDABLE:
            if not _has_seed(node) and name not in self.check.config.safe:
                self.report(node, name=name)
        elif self.listed(name, RANDOM_CALLS, RANDOM_MODULES):
            self.report(node, name=name)


def _has_seed(node: ast.Call) -> bool:
    args = [*node.args, *(k.value for k in node.keywords)]
    return bool(args) and not (isinstance(args[0], ast.Constant) and args[0].value is None)

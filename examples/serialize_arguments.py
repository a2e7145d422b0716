"""Dataclasses at the boundaries: typed inputs and results, stored as JSON.

Durable Functions Python serializes custom classes passed to and from activities; tether
does the same for dataclasses (and pydantic models when pydantic is installed), rebuilt
from the functions' type annotations.

    tether run examples/serialize_arguments.py --input '{"sku": "A-1", "quantity": 3}'
"""

from __future__ import annotations

from dataclasses import dataclass

from tether import OrchestrationContext, activity, orchestrator


@dataclass
class Order:
    sku: str
    quantity: int


@dataclass
class Quote:
    order: Order
    unit_cents: int
    total_cents: int


PRICES = {"A-1": 250, "B-2": 1999}


@activity
def price(order: Order) -> Quote:
    unit = PRICES.get(order.sku, 100)
    return Quote(order, unit, unit * order.quantity)


@activity
def describe(quote: Quote) -> str:
    return f"{quote.order.quantity} x {quote.order.sku} = {quote.total_cents / 100:.2f}"


@orchestrator
async def quote_order(ctx: OrchestrationContext, order: Order) -> dict[str, object]:
    quote = await ctx.call_activity(price, Order(order.sku, order.quantity))
    total = quote.total_cents  # a Quote, rebuilt from price's return annotation
    text = await ctx.call_activity(describe, quote)
    return {"text": text, "total_cents": total}


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("quote_order", {"sku": "A-1", "quantity": 3}, []),
    ("quote_order", {"sku": "Z-9", "quantity": 1}, []),
]

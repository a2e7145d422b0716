"""Runtime (fixed, issue 13): a pydantic model live across an await could not be saved.

Durable Functions' serialize-arguments sample passes a custom class; a tether port with a
pydantic model kept in a local failed the instance with "cannot checkpoint local
`order`: values of type Order cannot be saved". A model is saved as its fields (given
fields, extras and private attributes too), rebuilt without validation, with its type
and identity kept; a frozen model stays hashable in a set.
"""

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, PrivateAttr

from tether import activity, orchestrator


class Line(BaseModel):
    sku: str
    qty: int = 1


class Order(BaseModel):
    model_config = ConfigDict(extra="allow")

    lines: list[Line] = []
    note: str = ""
    _edits: int = PrivateAttr(default=0)


class Sku(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str


# JSON in and out: the harness runs the plain module's activities for every run, and a
# plain module's classes cannot be imported by name (the boundary's own rebuilding of
# models is tests/runtime/test_boundary_types.py's).
@activity
def price(line: dict) -> dict:
    return {"sku": line["sku"].upper(), "qty": line["qty"] * 2}


@orchestrator
async def f(ctx, n):
    order = Order(note="first", source="port")
    same = order
    seen = {Sku(code="a")}
    for i in range(n):
        line = Line.model_validate(
            await ctx.call_activity(price, Line(sku=f"s{i}", qty=i + 1).model_dump()))
        order.lines.append(line)
        order._edits += 1
        seen.add(Sku(code=line.sku))
    order.note = "done"
    await ctx.sleep(timedelta(seconds=1))  # the finished order is saved once more
    return {
        "order": order.model_dump_json(),  # text: the fields' order counts too
        "same": same is order,
        "types": [type(order).__name__, type(order.lines[0]).__name__ if n else None],
        "edits": order._edits,
        "fields_set": sorted(order.model_fields_set),
        "seen": sorted(s.code for s in seen),
        "hashable": Sku(code="a") in seen,
    }


DIFFERENTIAL_CASES = [("f", 3, []), ("f", 0, [])]

"""Runtime (fixed): an entity call never completed when every resume crashes after its
first journal write.

Found by the example differential (examples/counter_entity.py, bank_transfer.py,
aggregator.py, crash after every write). Plain run of prog(2): 2. Journaled, crashing
after each resume's first write: no end. On every resume the orchestration sends its
owed call again; the entity applies nothing (the call's sequence number is known) but
journals a checkpoint to consume the duplicate, and that checkpoint is the resume's one
write, so the result already in the orchestration's inbox is never read. A crash once at
any point is fine (every single crash point passes).

Fixed in runtime/engine/entities.py (`run_batch`): a batch whose messages are all
duplicates changes nothing, so it acknowledges them without a journal write, and the
resume's first write is the caller's result.
"""

from tether import EntityId, entity, orchestrator


@entity
class Box:
    def __init__(self):
        self.value = 0

    def put(self, value):
        self.value = value
        return value


@orchestrator
async def prog(ctx, n):
    return await ctx.call_entity(EntityId("box", "b"), "put", n)


DIFFERENTIAL_CASES = [("prog", 2, [])]

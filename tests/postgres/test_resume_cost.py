"""A resume on PostgreSQL reads a constant number of journal rows, whatever the history's
length: record 0, the last checkpoint and what follows it (docs/backends.md). Checked on
the claim statement's own plan, row counts rather than time: the rows the journal scan
returns plus the rows it reads and throws away."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import psycopg

import compiler
from runtime.backends import open_backend
from runtime.clock import Clock
from runtime.engine.core import SimulatedCrash
from runtime.engine.inline import run_inline

SOURCE = '''
from tether import activity, orchestrator

@activity
def resume_inc(x):
    return x + 1

@orchestrator
async def resume_chain(ctx, n):
    total = 0
    for i in range(n):
        total = await ctx.call_activity(resume_inc, total)
    return total
'''


def journal_rows_read(plan: dict[str, Any]) -> int:
    """Rows returned and rows filtered away by the scans of the journal table in `plan`."""
    read = 0
    if plan.get("Relation Name") == "journal":
        read += int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
        read += int(plan.get("Rows Removed by Filter", 0))
        read += int(plan.get("Rows Removed by Index Recheck", 0))
    return read + sum(journal_rows_read(p) for p in plan.get("Plans", []))


def test_a_claim_reads_the_same_journal_rows_at_any_history_length(pg_url: str) -> None:
    module = compiler.load_source(SOURCE, "resume_cost.py", "_tether_resume_cost")
    machine = module.resume_chain.__tether_machine__
    store = f"{pg_url}?lease=30"
    rows = {}
    for steps in (5, 400):
        with contextlib.suppress(SimulatedCrash):  # the run dies mid-chain, as if killed
            run_inline(machine, 1000, store=store, instance_id=f"r{steps}", clock=Clock(),
                       crash_after_writes=steps)
        backend = open_backend(store)
        query = backend.q.claim  # type: ignore[attr-defined]
        backend.close()
        with psycopg.connect(pg_url) as conn:
            cur = psycopg.ClientCursor(conn)
            cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query,
                        ("probe", 30, f"r{steps}", "probe"))
            plan = cur.fetchone()[0]  # type: ignore[index]
            conn.rollback()  # EXPLAIN ANALYZE ran the claim's UPDATE: undo it
        plan = json.loads(plan) if isinstance(plan, str) else plan
        rows[steps] = journal_rows_read(plan[0]["Plan"])
    assert rows[5] > 0, "the probe's claim was refused: the plan read nothing"
    # record 0, the last checkpoint and the few records a crash left after it: before the
    # fix, a claim read every record of the generation (401 here)
    assert max(rows.values()) <= 5, f"journal rows read by a claim, by history length: {rows}"

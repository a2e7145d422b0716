"""One worker on a PostgreSQL store serves many instances to their ends, also when their
activities outnumber its local slots (the attempts beyond them go through the work
queue and come back through the owners' inboxes); compared with plain Python."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import compiler
from runtime.backends.postgres.backend import PostgresBackend
from runtime.client import Client
from runtime.direct import run_direct
from runtime.worker import Worker

SOURCE = '''
from tether import activity, orchestrator

@activity
def pg_worker_inc(x):
    return x + 1

@orchestrator
async def pg_worker_chain(ctx, n):
    total = 0
    for i in range(n):
        total = await ctx.call_activity(pg_worker_inc, total * 2)
    return total
'''


def test_one_worker_ends_more_instances_than_it_has_slots(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module = compiler.load_source(SOURCE, "pg_worker.py", "_tether_pg_worker")
    machine = module.pg_worker_chain.__tether_machine__
    ids = [f"m{i}" for i in range(40)]
    client = Client(pg_url)
    client.start_many(machine, [3] * len(ids), instance_ids=ids)
    single: list[str] = []
    real = PostgresBackend._try_claim

    def one(backend: PostgresBackend, instance_id: str) -> Any:
        single.append(instance_id)
        return real(backend, instance_id)

    monkeypatch.setattr(PostgresBackend, "_try_claim", one)
    worker = Worker(pg_url, concurrency=4, report=lambda line: None)
    serving = threading.Thread(target=worker.serve, kwargs={"until_idle": True}, daemon=True)
    serving.start()
    serving.join(timeout=60)
    worker.stop.set()
    serving.join(timeout=30)
    plain = run_direct(machine, 3).output
    assert plain == 7  # 0 -> 1 -> 3 -> 7
    statuses = {i: (d or {}).get("runtimeStatus") for i in ids for d in [client.status(i)]}
    stuck = sorted(i for i, s in statuses.items() if s != "Completed")
    assert not stuck, f"{len(stuck)} of {len(ids)} instances did not complete, e.g. " \
        f"{stuck[0]}: {statuses[stuck[0]]}; inbox {client.backend.inbox(stuck[0])}"
    assert all((client.status(i) or {}).get("output") == plain for i in ids)
    # the scan claimed what it found together (`claim_many`), not one statement each
    assert len(single) < 5, single

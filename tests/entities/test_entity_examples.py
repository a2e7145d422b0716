"""The entity examples, run by a real worker on both backends: counter_entity.py (both
forms), bank_transfer.py (money conserved under concurrent locked transfers, no lock left
held) and aggregator.py (signals from orchestrations and from retried client calls,
each counted once). Expected values come from a plain-Python model of each example."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from runtime.backends.base import Backend
from runtime.client import Client
from runtime.worker import Worker
from tether import EntityId
from tether.loader import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def drain(backend: Backend) -> None:
    """Work every instance and entity of the store until nothing is left to do."""
    Worker(backend, concurrency=4).serve(until_idle=True)


def output(client: Client, instance_id: str) -> Any:
    doc = client.status(instance_id)
    assert doc["runtimeStatus"] == "Completed", doc
    return doc["output"]


def test_counter_in_both_forms(backend: Backend) -> None:
    module = load(str(EXAMPLES / "counter_entity.py"))
    client = Client(backend)
    amounts = [5, 7, -2, 11]
    client.start(module.machine("count_both"), amounts, instance_id="c-1")
    drain(backend)
    running = [sum(amounts[:i + 1]) for i in range(len(amounts))]
    assert output(client, "c-1") == {"counter": sum(amounts), "tally": sum(amounts),
                                      "running": running}
    assert client.entity_state(EntityId("counter", "c-1")) == {"value": sum(amounts)}
    assert client.entity_state(EntityId("tally", "c-1")) == sum(amounts)
    # the implicit `delete` of the class form, and the function form's own
    client.signal_entity(EntityId("counter", "c-1"), "delete")
    client.signal_entity(EntityId("tally", "c-1"), "delete")
    drain(backend)
    deleted = client.entity(EntityId("counter", "c-1"))
    assert deleted is None or deleted["exists"] is False
    with pytest.raises(LookupError):
        client.entity_state(EntityId("tally", "c-1"))


def _model_transfers(opening: dict[str, int], moves: list[list[Any]]) -> dict[str, Any]:
    balances = dict(opening)
    moved = []
    for source, target, amount in moves:
        ok = balances[source] >= amount
        if ok:
            balances[source] -= amount
            balances[target] += amount
        moved.append(ok)
    return {"moved": moved, "balances": balances, "total": sum(balances.values())}


def test_bank_transfers_in_order_match_the_model(backend: Backend) -> None:
    module = load(str(EXAMPLES / "bank_transfer.py"))
    client = Client(backend)
    book = {"open": {"a": 100, "b": 20, "c": 0},
            "moves": [["a", "b", 30], ["b", "a", 80], ["a", "b", 70], ["b", "c", 120],
                      ["c", "a", 121]]}
    client.start(module.machine("transfers"), book, instance_id="book-1")
    drain(backend)
    assert output(client, "book-1") == _model_transfers(book["open"], book["moves"])


def test_concurrent_transfers_conserve_money_and_release_every_lock(backend: Backend) -> None:
    module = load(str(EXAMPLES / "bank_transfer.py"))
    client = Client(backend)
    keys = ["a", "b", "c", "d"]
    for key in keys:
        client.signal_entity(EntityId("account", key), "deposit", 50, key=f"open-{key}")
    drain(backend)
    rng = random.Random(12)
    moves = []
    for _ in range(24):
        source, target = rng.sample(keys, 2)
        moves.append([source, target, rng.randint(1, 60)])
    ids = [client.start(module.machine("transfer"), move, instance_id=f"t-{i}")
           for i, move in enumerate(moves)]
    drain(backend)  # all 24 run at once, contending for the same four accounts
    results = [output(client, i) for i in ids]
    balances = {k: client.entity_state(EntityId("account", k))["balance"] for k in keys}
    assert sum(balances.values()) == 200
    assert all(v >= 0 for v in balances.values()), balances
    # every transfer that moved money moved exactly its amount, once
    moved_out = {k: sum(a for (s, _, a), ok in zip(moves, results, strict=True) if ok and s == k)
                 for k in keys}
    moved_in = {k: sum(a for (_, t, a), ok in zip(moves, results, strict=True) if ok and t == k)
                for k in keys}
    assert balances == {k: 50 - moved_out[k] + moved_in[k] for k in keys}
    for key in keys:
        doc = client.entity(EntityId("account", key))
        assert doc is not None and doc["lockedBy"] is None and doc["queueLength"] == 0


def test_aggregator_counts_each_signal_once(backend: Backend) -> None:
    module = load(str(EXAMPLES / "aggregator.py"))
    client = Client(backend)
    readings = [3, 4, 5, -1, 10]
    client.start(module.machine("report"), {"sensor": "s1", "readings": readings},
                 instance_id="r-1")
    drain(backend)
    first = output(client, "r-1")
    assert first == {"count": len(readings), "sum": sum(readings), "min": min(readings),
                     "max": max(readings)}
    # client readings, each sent three times (a caller retrying): applied once each
    extra = [7, 8, 2]
    for attempt in range(3):
        for i, value in enumerate(extra):
            client.signal_entity(EntityId("aggregator", "s1"), "record", value,
                                 key=f"reading-{i}")
        if attempt == 0:
            drain(backend)  # some retries arrive after the first copy was applied
    drain(backend)
    every = readings + extra
    assert client.entity_state(EntityId("aggregator", "s1")) == {
        "count": len(every), "sum": sum(every), "min": min(every), "max": max(every)}


def test_an_aggregator_reading_that_fails_changes_nothing(backend: Backend) -> None:
    load(str(EXAMPLES / "aggregator.py"))
    client = Client(backend)
    sensor = EntityId("aggregator", "s2")
    for value in (1, "not a number", 2):
        client.signal_entity(sensor, "record", value)
    drain(backend)
    assert client.entity_state(sensor) == {"count": 2, "sum": 3, "min": 1, "max": 2}

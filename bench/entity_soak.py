"""Entity kill soak: `tether worker` processes SIGKILLed at random while orchestrations
and a client send calls and signals to shared counters and move money under locks.

    .venv/bin/python bench/entity_soak.py --store DIR|URL            # the long profile
    .venv/bin/python bench/entity_soak.py --store DIR --orchestrations 10 --kills 4

The workload (issue 12's "prove it"): `--orchestrations` orchestrations each send
`--ops` operations, calls and signals mixed, to `--counters` shared counters; a client
thread sends `--client-signals` signals to the same counters while the workers are being
killed, each with an idempotency key, a fifth of them sent again (a retrying caller);
`--transfers` orchestrations each move money between two of `--accounts` accounts inside
`async with ctx.lock_entities(source, target)`. Workers run in rounds as in
bench/kill_soak.py (whose `Fleet` and `run_with_kills` this reuses): `--workers` at once,
SIGKILLed together at a random moment, `--kills` times, then a last round runs to idle.

What must hold at the end (`problems` lists each breach, empty when the run is right):
- every orchestration Completed with the plain result (the number of calls it made);
- every counter's state is exactly what was sent to it: the sum, the count and the sum of
  squares of the amounts (one operation lost and another applied twice cannot keep all
  three), so no operation was lost or applied twice, client retries included;
- the accounts' total is unchanged and no balance is negative; each balance is its
  opening balance minus what the transfers that report success moved out, plus what
  they moved in (each transfer applied once, or not at all when it reports False);
- no entity is left locked or with operations queued.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kill_soak import Fleet, Rounds, run_with_kills
from runtime.client import Client

PROGRAM = '''
"""The entity kill soak's entities and orchestrations (bench/entity_soak.py)."""

import json
import os

from tether import EntityId, activity, entity, orchestrator


@activity
def soak_tick(key):
    # one line per execution, so a round's kill waits for work to be under way
    path = os.environ.get("TETHER_KILL_SOAK_LOG")
    if path:
        line = os.environ.get("TETHER_KILL_SOAK_WORKER", "?") + "\\t" + json.dumps(key) + "\\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    return key


@entity
class Counter:
    def __init__(self):
        self.sum = 0
        self.count = 0
        self.squares = 0

    def add(self, amount):
        self.sum += amount
        self.count += 1
        self.squares += amount * amount
        return self.count


class InsufficientFunds(Exception):
    pass


@entity
class Account:
    def __init__(self):
        self.balance = 0

    def deposit(self, amount):
        self.balance += amount

    def withdraw(self, amount):
        if amount > self.balance:
            raise InsufficientFunds(f"balance {self.balance} < {amount}")
        self.balance -= amount

    def get(self):
        return self.balance


@orchestrator
async def soak_counts(ctx, ops):
    calls = 0
    for index, (counter, amount, how) in enumerate(ops):
        target = EntityId("counter", f"c{counter}")
        if how == "call":
            await ctx.call_entity(target, "add", amount)
            calls += 1
        else:
            ctx.signal_entity(target, "add", amount)
        if index % 25 == 0:
            await ctx.call_activity(soak_tick, [ctx.instance_id, index])
    return calls


@orchestrator
async def soak_transfer(ctx, move):
    source_key, target_key, amount = move
    source = EntityId("account", source_key)
    target = EntityId("account", target_key)
    await ctx.call_activity(soak_tick, [ctx.instance_id, 0])
    async with ctx.lock_entities(source, target):
        balance = await ctx.call_entity(source, "get")
        if balance < amount:
            return False
        await ctx.call_entity(source, "withdraw", amount)
        await ctx.call_entity(target, "deposit", amount)
    return True
'''

OPENING = 1000


@dataclass(frozen=True)
class EntitySoak:
    orchestrations: int = 50
    ops: int = 300
    client_signals: int = 300
    counters: int = 10
    accounts: int = 5
    transfers: int = 40
    kills: int = 30
    workers: int = 3
    seed: int = 1
    max_delay: float = 1.5
    final_timeout: float = 900.0


@dataclass
class Plan:
    counts: dict[str, list[list[Any]]]  # instance id -> [[counter, amount, "call"|"signal"]]
    client: list[tuple[int, int, str]]  # (counter, amount, idempotency key), in send order
    resends: list[int]  # indexes into `client` sent a second time, later
    transfers: dict[str, list[Any]]  # instance id -> [source, target, amount]


def make_plan(settings: EntitySoak) -> Plan:
    rng = random.Random(settings.seed)
    counts = {
        f"count-{i}": [[rng.randrange(settings.counters), rng.randint(1, 97),
                        rng.choice(("call", "signal"))] for _ in range(settings.ops)]
        for i in range(settings.orchestrations)}
    client = [(rng.randrange(settings.counters), rng.randint(1, 97), f"client-{i}")
              for i in range(settings.client_signals)]
    resends = sorted(rng.sample(range(len(client)), len(client) // 5))
    keys = [f"a{i}" for i in range(settings.accounts)]
    transfers = {}
    for i in range(settings.transfers):
        source, target = rng.sample(keys, 2)
        transfers[f"move-{i}"] = [source, target, rng.randint(1, OPENING // 2)]
    return Plan(counts, client, resends, transfers)


def expected_counters(plan: Plan, counters: int) -> dict[str, dict[str, int]]:
    """Each counter's state if every operation sent to it is applied exactly once."""
    out = {f"@counter@c{c}": {"sum": 0, "count": 0, "squares": 0} for c in range(counters)}
    amounts = [(c, a) for ops in plan.counts.values() for c, a, _ in ops]
    amounts += [(c, a) for c, a, _ in plan.client]  # a resent key is applied once
    for counter, amount in amounts:
        state = out[f"@counter@c{counter}"]
        state["sum"] += amount
        state["count"] += 1
        state["squares"] += amount * amount
    return {k: v for k, v in out.items() if v["count"]}


@dataclass
class Report:
    settings: EntitySoak
    rounds: Rounds
    seconds: float
    operations: int
    client_sent: int
    entities: int = 0
    moved: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        s = self.settings
        return [
            f"{s.orchestrations} orchestrations x {s.ops} operations, {self.client_sent} "
            f"client signals ({len(make_plan(s).resends)} resent), {s.transfers} transfers "
            f"between {s.accounts} accounts, {s.counters} counters",
            f"{self.rounds.kills} kill rounds of {s.workers} workers, {self.rounds.landed} "
            f"landed on running workers; {self.seconds:.1f} s in all",
            f"{self.operations} counter operations applied; transfers: {self.moved} moved, "
            f"{self.refused} refused for funds",
            "problems: " + ("none" if not self.problems else "; ".join(self.problems[:10])),
        ]


def start_everything(program: Path, store: str, plan: Plan, settings: EntitySoak) -> None:
    from tether import EntityId
    from tether.loader import load

    loaded = load(str(program))
    client = Client(store)
    try:
        for i in range(settings.accounts):  # opened before the transfers start, once each
            client.signal_entity(EntityId("account", f"a{i}"), "deposit", OPENING,
                                 key=f"open-a{i}")
        counts = loaded.machine("soak_counts")
        transfer = loaded.machine("soak_transfer")
        for instance_id, ops in plan.counts.items():
            client.start(counts, ops, instance_id=instance_id)
        for instance_id, move in plan.transfers.items():
            client.start(transfer, move, instance_id=instance_id)
    finally:
        client.close()


class ClientSender(threading.Thread):
    """Sends the plan's client signals while the workers are being killed: each once,
    then the chosen ones again with the same key (a caller retrying after a timeout)."""

    def __init__(self, store: str, plan: Plan, seed: int, pace: float) -> None:
        super().__init__(daemon=True)
        self.store, self.plan, self.pace = store, plan, pace
        self.rng = random.Random(seed + 1)
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from tether import EntityId

        client = Client(self.store)
        try:
            order = [*range(len(self.plan.client)), *self.plan.resends]
            for index in order:
                counter, amount, key = self.plan.client[index]
                client.signal_entity(EntityId("counter", f"c{counter}"), "add", amount, key=key)
                self.sent += 1
                time.sleep(self.rng.uniform(0, self.pace))
        except BaseException as exc:  # reported by the harness, never lost in a thread
            self.error = exc
        finally:
            client.close()


def check(store: str, plan: Plan, settings: EntitySoak, report: Report) -> None:
    from tether import EntityId

    problems = report.problems
    client = Client(store)
    try:
        for instance_id, ops in plan.counts.items():
            doc = client.status(instance_id)
            calls = sum(1 for _, _, how in ops if how == "call")
            if doc["runtimeStatus"] != "Completed" or doc["output"] != calls:
                problems.append(f"{instance_id}: {doc['runtimeStatus']} {doc['output']!r}, "
                                f"expected Completed {calls}")
        for entity_id, want in expected_counters(plan, settings.counters).items():
            got = client.entity_state(EntityId.parse(entity_id))
            report.operations += got.get("count", 0) if isinstance(got, dict) else 0
            if got != want:
                problems.append(f"{entity_id} is {got}, expected {want}")
        balances = {f"a{i}": OPENING for i in range(settings.accounts)}
        for instance_id, (source, target, amount) in plan.transfers.items():
            doc = client.status(instance_id)
            if doc["runtimeStatus"] != "Completed" or doc["output"] not in (True, False):
                problems.append(f"{instance_id}: {doc['runtimeStatus']} {doc['output']!r}")
                continue
            if doc["output"]:
                report.moved += 1
                balances[source] -= amount
                balances[target] += amount
            else:
                report.refused += 1
        got_balances = {k: client.entity_state(EntityId("account", k)) for k in balances}
        got_balances = {k: (v or {}).get("balance") for k, v in got_balances.items()}
        if sum(v or 0 for v in got_balances.values()) != OPENING * settings.accounts:
            problems.append(f"accounts total {sum(v or 0 for v in got_balances.values())}, "
                            f"expected {OPENING * settings.accounts}: {got_balances}")
        if got_balances != balances:
            problems.append(f"balances {got_balances}, expected from the transfers' "
                            f"outcomes {balances}")
        cursor = None
        while True:
            docs, cursor = client.entities(limit=500, cursor=cursor)
            for doc in docs:
                report.entities += 1
                if doc["lockedBy"] is not None:
                    problems.append(f"{doc['id']} is still locked by {doc['lockedBy']}")
                if doc["queueLength"]:
                    problems.append(f"{doc['id']} has {doc['queueLength']} operations queued")
            if cursor is None:
                break
    finally:
        client.close()


def run_entity_soak(folder: Path, store: str, settings: EntitySoak) -> Report:
    """Run the soak on `store` (a directory or a postgresql:// URL) with scratch files
    in `folder`; the report's `problems` is empty when every guarantee held."""
    program = folder / "entity_soak_program.py"
    program.write_text(PROGRAM)
    plan = make_plan(settings)
    started = time.monotonic()
    start_everything(program, store, plan, settings)
    fleet = Fleet(program=program, store=store, log=folder / "executions.log")  # type: ignore[arg-type]
    # spread the client's sends over about the kill rounds' length
    pace = 2 * max(0.05, settings.max_delay) * settings.kills / max(1, len(plan.client))
    sender = ClientSender(store, plan, settings.seed, pace)
    sender.start()
    rounds = run_with_kills(fleet, kills=settings.kills, workers=settings.workers,
                            rng=random.Random(settings.seed), max_delay=settings.max_delay,
                            final_timeout=settings.final_timeout)
    sender.join()
    report = Report(settings, rounds, 0.0, 0, sender.sent)
    if sender.error is not None:
        report.problems.append(f"the client failed: {type(sender.error).__name__}: "
                               f"{sender.error}")
    report.problems.extend(rounds.errors)
    # the client's last sends may land after the last round went idle: finish them
    final = run_with_kills(fleet, kills=0, workers=1, rng=random.Random(0), max_delay=0,
                           final_timeout=settings.final_timeout)
    report.problems.extend(final.errors)
    check(store, plan, settings, report)
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    defaults = EntitySoak()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True,
                        help="an empty store: a directory or a postgresql:// URL")
    for name, value in vars(defaults).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args(argv)
    settings = EntitySoak(**{k: getattr(args, k) for k in vars(defaults)})
    scratch = Path(args.store + ".soak") if "://" not in args.store else Path("entity-soak")
    scratch.mkdir(parents=True, exist_ok=True)
    report = run_entity_soak(scratch, args.store, settings)
    print("\n".join(report.lines()))
    print(json.dumps({"problems": len(report.problems), "seconds": round(report.seconds, 1),
                      "landed": report.rounds.landed}))
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

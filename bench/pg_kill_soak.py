"""Kill soak on PostgreSQL: SIGKILL, SIGSTOP past the lease, and a server restart.

    .venv/bin/python bench/pg_kill_soak.py --instances 120 --kills 24 --workers 3 --seed 2

bench/kill_soak.py's harness on a PostgreSQL store (a scratch database, bench/pg_scratch.py),
with the shapes the file soak runs (a chain, a fan-out of 100 that the workers share, a
`while` loop, try/except/finally, a durable-timer loop) and three more: an instance
waiting for external events that the harness raises between rounds, a parent awaiting two
sub-orchestrations, and an instance that runs as `input + 3` generations of `continue_as_new`.
Each round starts `--workers` `tether worker` processes and SIGKILLs them all at a random
moment once they execute activities; besides:

- in round `--stop-round`, one worker is SIGSTOPped for `--stop-leases` times the lease
  (`?lease=` of the store URL, `--lease` seconds) while the others go on, then SIGCONTed:
  the others have claimed its instances meanwhile, so whatever it saved then must be
  refused by the fence; its stderr must say so, and nothing may be recorded twice;
- in round `--restart-round`, the PostgreSQL server is restarted while the workers run
  (`pg_ctlcluster ... restart`); they must reconnect and go on, none may exit with an error.

Then a last round runs to idle, and the checks of bench/kill_soak.py apply: every instance
(children included) Completed with the plain-Python output (`run_direct`), no result
recorded twice in a journal, every activity of the plain runs executed at least once and
nothing else, no worker executing a task twice, and the repeats bounded (per instance by
what it can have outstanding, per worker by `--concurrency`), where a fenced worker counts
as a killed one: it loses what it had not saved when its lease ran out.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kill_soak import (
    FINAL,
    PROGRAM,
    WIDTH,
    Fleet,
    Planned,
    Reference,
    Report,
    Rounds,
    execution_problems,
    key_of,
    read_log,
    report_of,
)
from bench.pg_scratch import restart_server, scratch_database, wait_for_server
from runtime.backends import open_backend
from runtime.backends.base import Query
from runtime.client import Client
from runtime.direct import run_direct

EXTRA_PROGRAM = '''

@orchestrator
async def soak_waiter(ctx, n):
    me = ctx.instance_id
    total = 0
    for i in range(n):
        data = await ctx.wait_for_external_event("go")
        total += await ctx.call_activity(soak_grow, [me, "event", i, data + total])
    return total


@orchestrator
async def soak_parent(ctx, n):
    me = ctx.instance_id
    children = [ctx.call_sub_orchestrator(soak_chain, n + i, instance_id=f"{me}.c{i}")
                for i in range(2)]
    results = await ctx.when_all(children)
    return await ctx.call_activity(soak_grow, [me, "parent", 0, sum(map(sum, results))])


@orchestrator
async def soak_renew(ctx, state):
    me = ctx.instance_id
    if not isinstance(state, list):
        state = [state, 0, 0]
    n, i, total = state
    total += await ctx.call_activity(soak_grow, [me, "renew", i, total])
    if i + 1 < n + 3:
        ctx.continue_as_new([n, i + 1, total])
        return None
    return total
'''
SOAK_PROGRAM = PROGRAM + EXTRA_PROGRAM

# What an instance of each shape can have started and not yet saved at one moment.
WIDTHS = {**WIDTH, "soak_waiter": 1, "soak_parent": 1, "soak_renew": 1}
SHAPES = tuple(WIDTHS)
CHILDREN = 2  # sub-orchestrations of a soak_parent, ids f"{parent}.c{i}", soak_chain(n + i)
EVENT = "go"


def event_data(instance_id: str, index: int) -> int:
    return (7 * index + len(instance_id)) % 101


def plan(count: int) -> list[Planned]:
    """`count` instances, the eight shapes in turn, inputs from 2 to 5."""
    return [Planned(f"p{i}", SHAPES[i % len(SHAPES)], 2 + i % 4) for i in range(count)]


def children_of(planned: list[Planned]) -> list[Planned]:
    return [Planned(f"{p.instance_id}.c{i}", "soak_chain", p.input + i)
            for p in planned if p.orchestrator == "soak_parent" for i in range(CHILDREN)]


def plain_runs(planned: list[Planned]) -> dict[str, Reference]:
    """Every planned instance (and child) run as plain Python, nothing compiled; a
    waiter gets its `input` events, the ones the harness raises."""
    module = types.ModuleType("_tether_pg_soak_plain")
    exec(compile(SOAK_PROGRAM, "pg_kill_soak_program.py", "exec"), module.__dict__)
    activities = {fn.__tether_activity__: fn for fn in vars(module).values()
                  if hasattr(fn, "__tether_activity__")}
    out: dict[str, Reference] = {}
    for p in planned + children_of(planned):
        events = [(EVENT, event_data(p.instance_id, i)) for i in range(p.input)
                  ] if p.orchestrator == "soak_waiter" else []
        result = run_direct(getattr(module, p.orchestrator), p.input, activities=activities,
                            events=events, instance_id=p.instance_id)
        assert result.status == "Completed", (p, result.status, result.error)
        keys = tuple(key_of(data) for _, data in result.activity_calls)
        if p.orchestrator == "soak_parent":  # the children's calls are counted as theirs
            keys = tuple(k for k in keys if k.startswith(f'["{p.instance_id}",'))
        out[p.instance_id] = Reference(result.output, keys)
    return out


@dataclass
class Events:
    """The external events still owed to each waiter, raised a few per round."""

    owed: dict[str, int]  # instance id -> index of the next event to raise
    total: dict[str, int]

    @classmethod
    def of(cls, planned: list[Planned]) -> Events:
        waiters = {p.instance_id: p.input for p in planned if p.orchestrator == "soak_waiter"}
        return cls(dict.fromkeys(waiters, 0), waiters)

    def raise_next(self, client: Client, everything: bool = False) -> None:
        for instance_id, index in self.owed.items():
            last = self.total[instance_id] if everything else min(index + 1,
                                                                  self.total[instance_id])
            for i in range(index, last):
                client.raise_event(instance_id, EVENT, event_data(instance_id, i))
            self.owed[instance_id] = last


@dataclass
class Disturbances:
    """What the rounds did besides SIGKILL, for the report and the checks."""

    fenced: list[str] = field(default_factory=list)  # workers SIGSTOPped past their lease
    fence_lines: list[str] = field(default_factory=list)  # their stderr lines naming it
    fenced_stderr: str = ""  # the end of what the fenced worker wrote, for the report
    taken: int = 0  # claims the harness took while the worker was stopped (lapsed or free)
    restarts: int = 0
    restart_seconds: float = 0.0


@dataclass(frozen=True)
class PgSoak:
    """One soak's settings (the command-line options)."""

    instances: int = 120
    kills: int = 24
    workers: int = 3
    seed: int = 2
    max_delay: float = 0.3
    concurrency: int = 16
    activity_ms: float = 20.0
    lease: float = 2.0
    stop_round: int = 1  # -1: no SIGSTOP
    stop_leases: float = 2.5
    restart_round: int = 3  # -1: no server restart
    final_timeout: float = 600.0  # seconds the last round may take before it is a problem


#: what a worker says when a write or its heartbeat meets the fence (`FenceLost`):
#: not just "lease", which every worker's start-up line has in its store URL (`?lease=`)
FENCE_WORDS = ("claimed it (lease", "claimed them (lease")  # a write's line, the heartbeat's


def lines_about_the_fence(stderr: str) -> list[str]:
    """The lines of a worker's stderr that say it lost claims to the fence."""
    return [line for line in stderr.splitlines() if any(w in line for w in FENCE_WORDS)]


def run_rounds(fleet: Fleet, settings: PgSoak, events: Events, client: Client,
               rng: random.Random) -> tuple[Rounds, Disturbances]:
    rounds, seen = Rounds(), Disturbances()
    for r in range(settings.kills):
        events.raise_next(client)
        names = [f"r{r}.w{w}" for w in range(settings.workers)]
        before = fleet.log_size()
        procs = [fleet.spawn(name) for name in names]
        limit = time.monotonic() + 30
        while (fleet.log_size() == before and time.monotonic() < limit
               and any(p.poll() is None for p in procs)):
            time.sleep(0.01)
        if r == settings.stop_round:
            stop_busiest(fleet, names, procs, settings.lease * settings.stop_leases, seen,
                         client)
        if r == settings.restart_round:
            started = time.monotonic()
            restart_server()
            seen.restarts += 1
            seen.restart_seconds = time.monotonic() - started
            time.sleep(settings.lease)  # the workers reconnect and go on
        time.sleep(rng.uniform(0, settings.max_delay))
        alive = [p.poll() is None for p in procs]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for name, p, was_alive in zip(names, procs, alive, strict=True):
            _, err = p.communicate()
            text = err.decode(errors="replace")
            if name in seen.fenced:
                seen.fence_lines += lines_about_the_fence(text)
                seen.fenced_stderr = text[-3000:]
            if was_alive:
                rounds.killed.append(name)
            elif p.returncode != 0:
                rounds.errors.append(f"{name} exited {p.returncode}: {text[-500:]}")
        rounds.kills += 1
        rounds.landed += any(alive)
    events.raise_next(client, everything=True)
    final_round(fleet, settings.workers, rounds, settings.final_timeout)
    return rounds, seen


def claims_by_pid(client: Client) -> Counter[int]:
    """How many live claims each worker process holds, by pid (an owner id ends in
    `<pid>:<8 hex digits>`, runtime/backends/postgres/owners.py)."""
    backend: Any = client.backend
    rows = backend._read(lambda c: c.execute(
        f'SELECT owner FROM "{backend.schema}".instances'
        " WHERE owner IS NOT NULL AND lease_until > now()").fetchall())
    found = (re.search(r"(\d+):[0-9a-f]{8}$", row[0]) for row in rows)
    return Counter(int(m.group(1)) for m in found if m)


def stop_busiest(fleet: Fleet, names: list[str], procs: list[subprocess.Popen[bytes]],
                 seconds: float, seen: Disturbances, client: Client) -> None:
    """SIGSTOP the worker of this round that holds the most claims (`claims_by_pid`; the
    busiest by executions had sometimes only run others' queued attempts, and a worker
    that holds nothing has no fence to meet), for `seconds`; then take every claim that lapsed meanwhile (the
    harness claims all unfinished instances it can, as test_pg_fence.py's other worker
    does: the round's workers may be full or gone idle, `--until-idle` exiting once
    nothing is runnable, and what the stopped worker holds is not, so a takeover by them
    is left to chance), SIGCONT it, give it a moment to meet the fence, and release
    what was taken, for the workers to run on."""
    holding: Counter[int] = Counter()
    limit = time.monotonic() + 5
    while not holding and time.monotonic() < limit:  # a worker that holds claims, or none
        time.sleep(0.05)
        holding = claims_by_pid(client)
    counts = Counter(line.split("\t")[0] for line in
                     fleet.log.read_text(encoding="utf-8").splitlines()) if fleet.log.exists() \
        else Counter()
    alive = [(holding[p.pid], counts[n], n, p) for n, p in zip(names, procs, strict=True)
             if p.poll() is None]
    if not alive:
        return
    *_, name, proc = max(alive, key=lambda t: t[:2])
    proc.send_signal(signal.SIGSTOP)
    time.sleep(seconds)
    page = client.backend.query(Query(statuses=frozenset({"Pending", "Running"}), top=1000))
    taken = client.backend.claim_many([row.instance_id for row in page.items])
    seen.taken += len(taken)
    proc.send_signal(signal.SIGCONT)
    seen.fenced.append(name)
    # its next commit or heartbeat meets the fence, and it says so: 3 s was too short for
    # the heartbeat's one line when the freeze had also cut its connections (reconnect)
    time.sleep(8.0)
    client.backend.release_many(taken)


def final_round(fleet: Fleet, workers: int, rounds: Rounds, timeout: float = 600) -> None:
    names = [f"{FINAL}.w{w}" for w in range(workers)]
    procs = [fleet.spawn(name) for name in names]
    for name, p in zip(names, procs, strict=True):
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            rounds.errors.append(f"{name} still running after {timeout} s")
        if p.returncode != 0:
            rounds.errors.append(f"{name} exited {p.returncode}: {err.decode()[-500:]}")


def outcome_problems(url: str, everyone: list[Planned],
                     reference: dict[str, Reference]) -> list[str]:
    """Instances (children included) not Completed with the plain-Python output, or with
    a result recorded twice in their journal."""
    found: list[str] = []
    backend = open_backend(url)
    try:
        for p in everyone:
            doc = backend.status(p.instance_id) or {}
            got = (doc.get("runtimeStatus"), doc.get("output"))
            if got != ("Completed", reference[p.instance_id].output):
                found.append(f"{p.instance_id} ({p.orchestrator}): {got}, plain Python "
                             f"returns {reference[p.instance_id].output!r}")
            results = [r.data.get("task") for r in backend.history(p.instance_id)
                       if r.kind == "result"]
            if len(results) != len(set(results)):
                found.append(f"{p.instance_id}: a result recorded twice")
    finally:
        backend.close()
    return found


def disturbance_problems(settings: PgSoak, seen: Disturbances) -> list[str]:
    found = []
    if settings.stop_round in range(settings.kills) and not seen.fenced:
        found.append(f"round {settings.stop_round}'s worker ended before it could be stopped")
    if seen.fenced and not seen.fence_lines:
        found.append(f"{seen.fenced[0]} was stopped past its lease, yet never said its "
                     "claim was lost")
    if settings.restart_round in range(settings.kills) and not seen.restarts:
        found.append("the server was never restarted")
    return found


@dataclass(frozen=True)
class PgReport:
    report: Report
    seen: Disturbances

    def lines(self) -> list[str]:
        out = self.report.lines()
        out.insert(-1, f"fenced      {', '.join(self.seen.fenced) or 'none'}: "
                       f"{len(self.seen.fence_lines)} lines about the lost claim"
                       + (f", e.g. {self.seen.fence_lines[0]!r}" if self.seen.fence_lines else ""))
        out.insert(-1, f"restarts    {self.seen.restarts} server restart(s), "
                       f"{self.seen.restart_seconds:.1f} s down and up")
        return out


def run_pg_soak(folder: Path, settings: PgSoak, url: str) -> tuple[PgReport, list[str]]:
    """The whole soak against the empty database `url`: its report and its problems."""
    started = time.monotonic()
    planned = plan(settings.instances)
    store = f"{url}?lease={settings.lease:g}"
    program = folder / "pg_kill_soak_program.py"
    program.write_text(SOAK_PROGRAM)
    fleet = Fleet(program, store, folder / "executions.log",  # type: ignore[arg-type]
                  settings.concurrency, settings.activity_ms)
    from tether.loader import load

    loaded = load(str(program))
    client = Client(store)
    for p in planned:
        client.start(loaded.machine(p.orchestrator), p.input, instance_id=p.instance_id)
    events = Events.of(planned)
    try:
        rounds, seen = run_rounds(fleet, settings, events, client, random.Random(settings.seed))
    finally:
        wait_for_server()
    seconds = time.monotonic() - started
    everyone = planned + children_of(planned)
    tally = read_log(fleet.log)
    report = report_of(everyone, rounds, tally, seconds)
    reference = plain_runs(planned)
    rounds.killed += seen.fenced  # a fenced worker loses what it had not saved, as if killed
    found = (outcome_problems(store, everyone, reference)
             + execution_problems(everyone, reference, tally, rounds, settings.concurrency,
                                  widths=WIDTHS, distributed=True)
             + disturbance_problems(settings, seen))
    return PgReport(report, seen), found


def main(argv: list[str] | None = None) -> int:
    defaults = PgSoak()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    settings = PgSoak(**vars(parser.parse_args(argv)))
    for name in ("instances", "workers", "concurrency"):
        if getattr(settings, name) < 1:
            print(f"error: --{name} must be at least 1, got {getattr(settings, name)}",
                  file=sys.stderr)
            return 2
    if not 0.5 <= settings.lease <= 3600:
        print(f"error: --lease must be from 0.5 to 3600 seconds, got {settings.lease}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pg-kill-soak-") as tmp, \
            scratch_database("soak") as url:
        report, found = run_pg_soak(Path(tmp), settings, url)
    print("command     bench/pg_kill_soak.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(settings).items()))
    print("\n".join(report.lines()))
    for line in found:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

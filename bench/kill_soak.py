"""Kill soak: `tether worker` processes SIGKILLed at random moments, every execution counted.

    .venv/bin/python bench/kill_soak.py --instances 200 --kills 30 --workers 3 --seed 2

Starts instances of five shapes (a chain, a fan-out of 100, a `while` loop with
`continue`/`break`, try/except/finally with a `return` inside `try`, and a loop over a
durable timer), then runs rounds: start `--workers` workers on the store, wait until they
execute activities, SIGKILL them all at a random moment; after `--kills` rounds, a last
round of workers runs until the store is idle. Every activity appends one line per
execution to a log (one `os.write` on an `O_APPEND` descriptor, so lines from concurrent
workers never interleave): the worker's name and the activity input, which starts with the
instance id and the activity's position in the program, so it is unique per (instance,
task). Each instance's output is compared with the same orchestrator run as plain Python
(`runtime.direct.run_direct`), and the log with the activity calls of those plain runs.

The test suite runs the same harness (tests/runtime/test_workers.py): `run_soak` returns
the report and the list of problems found, empty when the run is correct.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime.backends.file.journal import iter_records
from runtime.client import Client
from runtime.direct import run_direct

ROOT = Path(__file__).resolve().parents[1]
LOG_ENV = "TETHER_KILL_SOAK_LOG"
WORKER_ENV = "TETHER_KILL_SOAK_WORKER"
ACTIVITY_MS_ENV = "TETHER_KILL_SOAK_ACTIVITY_MS"
FINAL = "final"  # the name prefix of the last round's workers, which are never killed

PROGRAM = '''
"""The kill soak's orchestrations; every activity logs each execution (see _executed)."""

import json
import os
import time
from datetime import timedelta

from tether import TaskFailedError, activity, orchestrator


def _executed(key):
    # One write on an O_APPEND descriptor: lines of concurrent workers never interleave.
    path = os.environ.get("TETHER_KILL_SOAK_LOG")
    if path:
        line = os.environ.get("TETHER_KILL_SOAK_WORKER", "?") + "\\t" + json.dumps(key) + "\\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    # An activity does I/O: several are in flight at once.
    time.sleep(float(os.environ.get("TETHER_KILL_SOAK_ACTIVITY_MS", "0")) / 1000)


@activity
def soak_grow(key):
    _executed(key)
    return (2 * key[-1] + 1) % 1009


@activity
def soak_fragile(key):
    _executed(key)
    if key[-1] % 2:
        raise ValueError(f"odd {key[-1]}")
    return key[-1]


@orchestrator
async def soak_chain(ctx, n):
    me = ctx.instance_id
    a = await ctx.call_activity(soak_grow, [me, "chain", 0, n])
    b = await ctx.call_activity(soak_grow, [me, "chain", 1, a])
    c = await ctx.call_activity(soak_grow, [me, "chain", 2, a + b])
    return [a, b, await ctx.call_activity(soak_grow, [me, "chain", 3, c])]


@orchestrator
async def soak_fan_out(ctx, n):
    me = ctx.instance_id
    base = await ctx.call_activity(soak_grow, [me, "seed", 0, n])
    tasks = [ctx.call_activity(soak_grow, [me, "fan", i, base + i]) for i in range(100)]
    results = await ctx.when_all(tasks)
    return await ctx.call_activity(soak_grow, [me, "sum", 0, sum(results)])


@orchestrator
async def soak_loop(ctx, n):
    me = ctx.instance_id
    total, i = 0, 0
    while True:
        i += 1
        value = await ctx.call_activity(soak_grow, [me, "loop", i, total + i])
        if value % 3 == 0:
            continue
        total += value
        if i >= 2 * n:
            break
    return [i, total]


@orchestrator
async def soak_guarded(ctx, n):
    me = ctx.instance_id
    out = []
    for i in range(n):
        try:
            out.append(await ctx.call_activity(soak_fragile, [me, "try", i, i]))
        except TaskFailedError as err:
            out.append(err.error_type)
        finally:
            out.append(await ctx.call_activity(soak_grow, [me, "finally", i, len(out)]))
    try:
        return out
    finally:
        out.append(await ctx.call_activity(soak_grow, [me, "cleanup", 0, n]))


@orchestrator
async def soak_nap(ctx, n):
    me = ctx.instance_id
    total = 0
    for i in range(n):
        await ctx.sleep(timedelta(milliseconds=50))
        total += await ctx.call_activity(soak_grow, [me, "nap", i, total])
    return total
'''

# The most activities an instance of each shape can have started and not yet journaled at
# one moment: the fan-out's 100, one for the others (the timer is not an activity).
WIDTH = {"soak_chain": 1, "soak_fan_out": 100, "soak_loop": 1, "soak_guarded": 1, "soak_nap": 1}
SHAPES = tuple(WIDTH)


@dataclass(frozen=True)
class Planned:
    instance_id: str
    orchestrator: str
    input: int


def plan(count: int) -> list[Planned]:
    """`count` instances, the shapes in turn, inputs from 2 to 5."""
    return [Planned(f"k{i}", SHAPES[i % len(SHAPES)], 2 + i % 4) for i in range(count)]


@dataclass(frozen=True)
class Reference:
    """What the plain run of one instance did: its output and its activity keys."""

    output: Any
    keys: tuple[str, ...]


def key_of(activity_input: Any) -> str:
    return json.dumps(activity_input)


def plain_runs(planned: Iterable[Planned]) -> dict[str, Reference]:
    """Run every planned instance as plain Python (`run_direct`), nothing compiled."""
    module = types.ModuleType("_tether_kill_soak_plain")
    exec(compile(PROGRAM, "kill_soak_program.py", "exec"), module.__dict__)
    activities = {fn.__tether_activity__: fn for fn in vars(module).values()
                  if hasattr(fn, "__tether_activity__")}
    out: dict[str, Reference] = {}
    for p in planned:
        result = run_direct(getattr(module, p.orchestrator), p.input, activities=activities,
                            instance_id=p.instance_id)
        assert result.status == "Completed", (p, result.status, result.error)
        out[p.instance_id] = Reference(
            result.output, tuple(key_of(data) for _, data in result.activity_calls))
    return out


def write_program(folder: Path) -> Path:
    program = folder / "kill_soak_program.py"
    program.write_text(PROGRAM)
    return program


def start_all(program: Path, store: Path, planned: Iterable[Planned]) -> None:
    from tether.loader import load

    loaded = load(str(program))
    client = Client(store)
    for p in planned:
        client.start(loaded.machine(p.orchestrator), p.input, instance_id=p.instance_id)


@dataclass(frozen=True)
class Fleet:
    """How to start a worker: on which program and store, logging where, how fast."""

    program: Path
    store: Path
    log: Path
    concurrency: int = 16
    activity_ms: float = 0.0  # each activity sleeps this long, as if waiting on I/O

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), **{
            LOG_ENV: str(self.log), WORKER_ENV: name, ACTIVITY_MS_ENV: str(self.activity_ms)})
        return subprocess.Popen(
            [sys.executable, "-m", "tether.cli", "worker", str(self.program),
             "--store", str(self.store), "--until-idle", "--concurrency", str(self.concurrency)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except FileNotFoundError:
            return 0


@dataclass
class Rounds:
    """What happened to the workers: `landed` counts the kill rounds in which at least one
    worker was still running when killed (the others had found nothing left to do)."""

    kills: int = 0
    landed: int = 0
    killed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_with_kills(fleet: Fleet, *, kills: int, workers: int, rng: random.Random,
                   max_delay: float, final_timeout: float = 600) -> Rounds:
    """`kills` rounds of `workers` workers SIGKILLed together, then a round run to idle.

    A round's kill moment is random within `max_delay` seconds after its workers first
    executed an activity, so it falls in the work, not in the interpreter's start-up.
    """
    rounds = Rounds()
    for r in range(kills):
        names = [f"r{r}.w{w}" for w in range(workers)]
        before = fleet.log_size()
        procs = [fleet.spawn(name) for name in names]
        start_up_limit = time.monotonic() + 30
        while (fleet.log_size() == before and time.monotonic() < start_up_limit
               and any(p.poll() is None for p in procs)):
            time.sleep(0.01)
        time.sleep(rng.uniform(0, max_delay))
        alive = [p.poll() is None for p in procs]
        for p in procs:  # all first, then reap: the kills land within microseconds
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for name, p, was_alive in zip(names, procs, alive, strict=True):
            _, err = p.communicate()
            if was_alive:
                rounds.killed.append(name)
            elif p.returncode != 0:
                rounds.errors.append(f"{name} exited {p.returncode}: {err.decode()[-500:]}")
        rounds.kills += 1
        rounds.landed += any(alive)
    names = [f"{FINAL}.w{w}" for w in range(workers)]
    procs = [fleet.spawn(name) for name in names]
    for name, p in zip(names, procs, strict=True):
        try:
            _, err = p.communicate(timeout=final_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            rounds.errors.append(f"{name} still running after {final_timeout} s")
        if p.returncode != 0:
            rounds.errors.append(f"{name} exited {p.returncode}: {err.decode()[-500:]}")
    return rounds


@dataclass
class Tally:
    """Executions read back from the log, by key (an activity input, as JSON)."""

    runs: dict[str, list[str]]  # key -> the workers that executed it, in log order

    @property
    def executions(self) -> int:
        return sum(len(workers) for workers in self.runs.values())

    @property
    def distinct(self) -> int:
        return len(self.runs)

    @property
    def repeated(self) -> int:
        return self.executions - self.distinct

    def lost(self) -> Counter[tuple[str, str]]:
        """(worker, instance) -> executions whose result that worker never journaled.

        A result is journaled before anything acts on it, and once journaled it is never
        executed again, so of a key's executions only the last one counted; the earlier
        ones were lost with their worker."""
        out: Counter[tuple[str, str]] = Counter()
        for key, workers in self.runs.items():
            instance_id = json.loads(key)[0]
            for worker in workers[:-1]:
                out[worker, instance_id] += 1
        return out


def read_log(log: Path) -> Tally:
    runs: dict[str, list[str]] = defaultdict(list)
    for line in log.read_text(encoding="utf-8").splitlines():
        worker, key = line.split("\t")
        runs[key].append(worker)
    return Tally(dict(runs))


def outcome_problems(store: Path, planned: list[Planned],
                     reference: dict[str, Reference]) -> list[str]:
    """Instances that did not end with the plain-Python output, or journaled a result twice."""
    found: list[str] = []
    client = Client(store)
    for p in planned:
        doc = client.status(p.instance_id)
        got = (doc["runtimeStatus"], doc["output"])
        if got != ("Completed", reference[p.instance_id].output):
            found.append(f"{p.instance_id} ({p.orchestrator}): {got}, plain Python returns "
                         f"{reference[p.instance_id].output!r}")
        results = [r.data["task"] for r in iter_records(store / "instances" / p.instance_id)
                   if r.kind == "result"]
        if len(results) != len(set(results)):
            found.append(f"{p.instance_id}: a result journaled twice")
    return found


def execution_problems(planned: list[Planned], reference: dict[str, Reference],
                       tally: Tally, rounds: Rounds, concurrency: int | None = None,
                       widths: dict[str, int] = WIDTH, distributed: bool = False) -> list[str]:
    """Activities executed other than at least once each, within the bound below.
    `widths`: what an instance of each shape can have outstanding (bench/pg_kill_soak.py
    adds its shapes). `distributed`: attempts also run on workers other than the owner
    (a PostgreSQL work queue), which changes what the bound can say (`_bound_problems`)."""
    found = list(rounds.errors)
    expected = {k for ref in reference.values() for k in ref.keys}
    if sum(len(ref.keys) for ref in reference.values()) != len(expected):
        found.append("the program's activity inputs are not unique per (instance, task)")
    if missing := expected - tally.runs.keys():
        found.append(f"{len(missing)} activities never executed, e.g. {min(missing)}")
    if extra := tally.runs.keys() - expected:
        found.append(f"{len(extra)} activities the plain run does not call, e.g. {min(extra)}")
    return found + _bound_problems(planned, tally, rounds, concurrency, widths, distributed)


def _bound_problems(planned: list[Planned], tally: Tally, rounds: Rounds,
                    concurrency: int | None, widths: dict[str, int],
                    distributed: bool = False) -> list[str]:
    # Why repeats are bounded. A worker runs an activity only for an instance whose lock it
    # holds, starts each task once, and journals a result before acting on it; SIGKILL keeps
    # whatever the process wrote (the page cache survives the process; an unfsynced record
    # is lost only if the machine dies). So a repeat needs a worker killed between running
    # an activity and writing its result, and that window holds, per instance, at most the
    # activities the instance has outstanding at one moment: WIDTH of its shape. And per
    # worker, at most `--concurrency`: the engine starts no more attempts than that until
    # it has collected (and so journaled, with SIGKILL keeping the write) earlier ones.
    found: list[str] = []
    killed = set(rounds.killed)
    shape = {p.instance_id: p.orchestrator for p in planned}
    # With a work queue the argument holds only in part: a worker runs queued attempts of
    # instances other workers own, and when that owner is killed its successor (possibly
    # the same worker, which adopts the instance and runs the pending attempt again)
    # repeats it; the log then charges repeats to workers that were never killed, and
    # per worker they are not bounded by its own --concurrency. What stays checked there:
    # every attempt runs, and (the outcome checks) every result is recorded once and every
    # instance ends as in plain Python. Known cost, not a loss: docs/benchmarks.md.
    if distributed:
        return found
    for key, workers in tally.runs.items():
        if len(workers) != len(set(workers)):
            found.append(f"{key}: executed twice by one worker ({workers})")
    for (worker, instance_id), count in tally.lost().items():
        if worker not in killed:
            found.append(f"{worker} was never killed, yet lost {count} executions "
                         f"of {instance_id}")
        elif count > widths[shape[instance_id]]:
            found.append(f"{worker} lost {count} executions of {instance_id}, more than the "
                         f"{widths[shape[instance_id]]} a {shape[instance_id]} can have "
                         "outstanding")
    if concurrency is not None:
        per_worker: Counter[str] = Counter()
        for (worker, _), count in tally.lost().items():
            per_worker[worker] += count
        for worker, count in sorted(per_worker.items()):
            if count > concurrency:
                found.append(f"{worker} lost {count} executions, more than the {concurrency} "
                             "it may have started and not journaled")
    return found


@dataclass(frozen=True)
class Report:
    instances: int
    kills: int
    landed: int
    executions: int
    distinct: int
    repeated: int
    by_shape: dict[str, int]  # repeated executions by orchestrator
    worst_round: int  # the most executions one kill round cost
    worst_worker: int  # the most one killed worker cost
    seconds: float

    def lines(self) -> list[str]:
        share = 100 * self.repeated / self.executions if self.executions else 0.0
        shapes = ", ".join(f"{name} {count}" for name, count in self.by_shape.items())
        return [
            f"instances   {self.instances}",
            f"kills       {self.kills} rounds ({self.landed} with a worker still running)",
            f"executions  {self.executions} ({self.distinct} distinct activity tasks)",
            f"repeated    {self.repeated} ({share:.2f}% of executions): {shapes}",
            f"worst kill  {self.worst_round} executions repeated after one kill round, "
            f"{self.worst_worker} after one worker's",
            f"wall time   {self.seconds:.1f} s",
        ]


def report_of(planned: list[Planned], rounds: Rounds, tally: Tally, seconds: float) -> Report:
    shape = {p.instance_id: p.orchestrator for p in planned}
    by_shape = dict.fromkeys(SHAPES, 0)
    by_round: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()
    for (worker, instance_id), count in tally.lost().items():
        by_shape[shape[instance_id]] = by_shape.get(shape[instance_id], 0) + count
        by_round[worker.split(".")[0]] += count
        by_worker[worker] += count
    return Report(len(planned), rounds.kills, rounds.landed, tally.executions, tally.distinct,
                  tally.repeated, by_shape, max(by_round.values(), default=0),
                  max(by_worker.values(), default=0), seconds)


@dataclass(frozen=True)
class Soak:
    """One soak's settings (the command-line options)."""

    instances: int = 200
    kills: int = 30
    workers: int = 3
    seed: int = 2
    max_delay: float = 0.3  # a kill falls up to this many seconds into a round's work
    concurrency: int = 16
    activity_ms: float = 20.0


def run_soak(folder: Path, settings: Soak) -> tuple[Report, list[str]]:
    """The whole soak in `folder`: its report and its problems."""
    started = time.monotonic()
    planned = plan(settings.instances)
    fleet = Fleet(write_program(folder), folder / "store", folder / "executions.log",
                  settings.concurrency, settings.activity_ms)
    start_all(fleet.program, fleet.store, planned)
    rounds = run_with_kills(fleet, kills=settings.kills, workers=settings.workers,
                            rng=random.Random(settings.seed), max_delay=settings.max_delay)
    seconds = time.monotonic() - started
    tally = read_log(fleet.log)
    report = report_of(planned, rounds, tally, seconds)
    reference = plain_runs(planned)
    found = (outcome_problems(fleet.store, planned, reference)
             + execution_problems(planned, reference, tally, rounds, settings.concurrency))
    return report, found


def main(argv: list[str] | None = None) -> int:
    defaults = Soak()
    parser = argparse.ArgumentParser(description="SIGKILL tether workers at random moments "
                                     "and count repeated activity executions")
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    settings = Soak(**vars(args))
    for name, value in vars(settings).items():
        floor = 1 if name in ("instances", "workers", "concurrency") else 0
        if value < floor:
            print(f"error: --{name.replace('_', '-')} must be at least {floor}, got {value}",
                  file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="kill-soak-") as tmp:
        report, found = run_soak(Path(tmp), settings)
    print("command     bench/kill_soak.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(settings).items()))
    print("\n".join(report.lines()))
    for line in found:
        print(f"problem: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What an entity's tombstone read costs (results in docs/benchmarks.md, "Entities").

    .venv/bin/python bench/removal_memory_cost.py [--entities 1000] [--rounds 5]
                                                   [--backends file,postgres]

An entity created anew reads its id's tombstone (`Backend.removed_memory`: what an entity
removed under that id applied) at its first batch, under its claim
(runtime.entities.tombstones). Every new entity pays that read, whether or not its id
was ever removed. Three variants, side by side in one process, one round of each in
turn on a fresh store:

- `no-read`: `removed_memory` replaced by the interface's default (None, no I/O): what
  main did, which had no tombstones;
- `read-none`: the read, on ids that were never removed (the usual case);
- `read-found`: every id was removed before (`remove_idle` kept a tombstone of 3 entity
  senders and 10 client keys), so the read finds one and parses it.

Per variant: `--entities` new counters created by one `Client.signal_entities` call of
one `add` each, then one worker applies them all and goes idle (`apply`, seconds: the
claim, the tombstone read, the batch and the release of each); and, on the same store
afterwards, `removed_memory` of every id from one thread (`read`, microseconds each).
Medians of `--rounds`, with the range; `vs` is the median apply's difference per entity
from the first variant asked for.

On PostgreSQL the tombstone comes with the claim's own statement (`Queries.claim`), which
`no-read` runs too; to compare with main's claim, run `--variants "no-read"` from a copy
of main's tree (this file copied into it; there is nothing to replace there) in turn
with `--variants "read-none"` from this one.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scratch_store import scratch_store
from runtime.backends import open_backend
from runtime.backends.base import Backend, NewInstance
from runtime.client import Client
from runtime.engine import entities as engine_entities
from runtime.entities.ids import EntityId
from runtime.worker import Worker
from tests.entities import kinds  # noqa: F401  (registers @counter)

VARIANTS = ("no-read", "read-none", "read-found")
MEMORY = {"last_seq": {f"@counter@sender{i}/{i:016x}": 40 + i for i in range(3)},
          "client_keys": [f"client-key-{i}" for i in range(10)]}


@contextlib.contextmanager
def without_read(backend_type: type[Backend]) -> Iterator[None]:
    """`removed_memory` as a backend without tombstones answers it: None, no I/O (run
    from a tree older than tombstones, where there is none: nothing to replace)."""
    real = backend_type.__dict__.get("removed_memory")
    if real is None:
        yield
        return
    setattr(backend_type, "removed_memory", Backend.removed_memory)  # noqa: B010
    try:
        yield
    finally:
        setattr(backend_type, "removed_memory", real)  # noqa: B010


def ids(n: int) -> list[EntityId]:
    return [EntityId("counter", f"n{i}") for i in range(n)]


def leave_tombstones(store: str, n: int) -> None:
    """Give each id a tombstone, as `clean_entities` leaves one (not timed)."""
    backend = open_backend(store)
    try:
        ts = "2026-01-01T00:00:00Z"
        backend.create_many([NewInstance(
            str.__str__(e), ts, engine_entities.created_data(e, ts, "0" * 16)) for e in ids(n)])
        for entity_id in ids(n):
            claim = backend.claim(entity_id)
            assert claim is not None and backend.remove_idle(claim, MEMORY)
    finally:
        backend.close()


def one_round(store: str, n: int, variant: str) -> dict[str, float]:
    if variant == "read-found":
        leave_tombstones(store, n)
    backend = open_backend(store)
    backend.ensure()
    backend_type = type(backend)
    patched = without_read(backend_type) if variant == "no-read" else contextlib.nullcontext()
    with Client(store) as client:
        client.signal_entities([(e, "add", 1) for e in ids(n)])
        with patched:
            started = time.perf_counter()
            Worker(store, concurrency=4).serve(until_idle=True)
            applied = time.perf_counter() - started
        for e in ids(n)[:: max(1, n // 10)]:
            assert client.entity_state(e) == {"value": 1}, e
    result = {"apply s": applied}
    if variant != "no-read":
        started = time.perf_counter()
        for e in ids(n):
            found = backend.removed_memory(e)
            assert (found == MEMORY) if variant == "read-found" else found is None
        result["read us"] = 1e6 * (time.perf_counter() - started) / n
    backend.close()
    return result


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def measure(kind: str, n: int, rounds: int, variants: list[str]) -> None:
    by_variant: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(rounds):
        for variant in variants:  # side by side: one round of each in turn
            with scratch_store(kind, "tombstones") as store:
                by_variant[variant].append(one_round(store, n, variant))
    base = statistics.median(r["apply s"] for r in by_variant[variants[0]])
    for variant in variants:
        results = by_variant[variant]
        cells = []
        for metric in results[0]:
            values = [r[metric] for r in results]
            cells.append(f"{metric} {_fmt(statistics.median(values))} "
                         f"({_fmt(min(values))}-{_fmt(max(values))})")
        extra = statistics.median(r["apply s"] for r in results) - base
        cells.append(f"vs {variants[0]} {1000 * extra / n:+.3f} ms/entity")
        print(f"{kind:<9} {variant:<12} " + ", ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="file,postgres")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="a comma-separated subset of: " + ", ".join(VARIANTS))
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    for kind in args.backends.split(","):
        measure(kind, args.entities, args.rounds, variants)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Metrics: what this process's engines did, and what the store holds.

Two sources, one exposition (`GET /metrics` in Prometheus text, `Client.metrics()` as
numbers):

- `PROCESS`: counts and latency histograms fed by the engine (`runtime.observe`: its
  tally of the per-step kinds, and its events): steps run, activity attempts and failures, step and activity
  latencies, instances started and ended. They count what engines *in this process* did
  since it started, as Prometheus counters do (a restart resets them; Prometheus handles
  resets). Kept in plain Python: the engine pays no prometheus_client import
  (docs/benchmarks.md); the library is used only to render a scrape.
- the store's gauges, read at each scrape from the backend's index: instances by runtime
  status, and the queue depth (instances created and not yet started by a worker, plus
  started ones with messages waiting in their inbox).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.observe import InstanceEnded, InstanceStarted

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from runtime.client import Client

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended",
                    "ContinuedAsNew")
#: Latency buckets in seconds: a step is usually well under a millisecond, an activity
#: anything from a microsecond to minutes.
BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


#: (metric name, help, label names); the counters of `ProcessMetrics`
COUNTERS = (
    ("instances_started", "instances a worker here started or resumed", ("orchestration",)),
    ("instances_ended", "instances that ended here, by final status", ("orchestration", "status")),
    ("steps", "orchestrator steps run (the code between two awaits)", ("orchestration",)),
    ("activity_attempts", "activity attempts started", ("activity",)),
    ("activity_failures", "activity attempts that raised", ("activity",)),
)
HISTOGRAMS = (
    ("step_seconds", "time to run one step", "orchestration"),
    ("activity_seconds", "time one activity attempt ran", "activity"),
)


class _Shard:
    """One thread's counts of the per-step kinds, written by that thread only (so no
    lock and no lost update), read by a scrape: steps and attempt times by name, and
    attempts started and failed by activity."""

    __slots__ = ("attempt_seconds", "attempts", "failures", "steps")

    def __init__(self) -> None:
        self.steps: dict[str, Histogram] = {}
        self.attempts: dict[str, int] = {}
        self.attempt_seconds: dict[str, Histogram] = {}
        self.failures: dict[str, int] = {}


class ProcessMetrics:
    """Counts by (metric, labels) and histograms by (metric, label), for this process.

    The per-step kinds come as plain values (`runtime.observe.Tally`: `step`, `attempt`,
    `attempt_ended`), never as events, and update plain ints of the calling thread's
    own `_Shard` (three a step: no lock taken); a scrape sums the shards. The steps
    counter is the count of the step histogram. Instances started and ended come as
    events (`__call__`), counted under the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
        self.shards: list[_Shard] = []
        self.local = threading.local()

    def _shard(self) -> _Shard:
        """The calling thread's shard, made on its first count."""
        shard = getattr(self.local, "shard", None)
        if shard is None:
            shard = self.local.shard = _Shard()
            with self.lock:
                self.shards.append(shard)
        return shard

    def step(self, orchestration: str, seconds: float) -> None:
        try:
            hist = self.local.shard.steps[orchestration]
        except (AttributeError, KeyError):  # this thread's first step (of this name)
            hist = self._shard().steps.setdefault(orchestration, Histogram())
        hist.counts[bisect_left(BUCKETS, seconds)] += 1
        hist.total += seconds

    def attempt(self, activity: str) -> None:
        try:
            self.local.shard.attempts[activity] += 1
        except (AttributeError, KeyError):
            attempts = self._shard().attempts
            attempts[activity] = attempts.get(activity, 0) + 1

    def attempt_ended(self, activity: str, seconds: float, failed: bool) -> None:
        try:
            hist = self.local.shard.attempt_seconds[activity]
        except (AttributeError, KeyError):
            hist = self._shard().attempt_seconds.setdefault(activity, Histogram())
        hist.counts[bisect_left(BUCKETS, seconds)] += 1
        hist.total += seconds
        if failed:
            failures = self.local.shard.failures
            failures[activity] = failures.get(activity, 0) + 1

    def __call__(self, event: Any) -> None:
        """The observer subscriber, for the kinds that are not per step (those come
        through `step`, `attempt` and `attempt_ended`, and are ignored here)."""
        kind = type(event)
        if kind is InstanceStarted:
            with self.lock:
                self.counts["instances_started", (event.orchestration,)] += 1
        elif kind is InstanceEnded:
            with self.lock:
                self.counts["instances_ended", (event.orchestration, event.status)] += 1

    def _read(self) -> tuple[dict[tuple[str, tuple[str, ...]], int],
                             dict[tuple[str, str], tuple[list[int], float]]]:
        """Every counter's series and every histogram's (buckets, sum), the shards
        summed (under the lock; a shard's dicts are copied before they are walked, as
        their threads may add a name meanwhile)."""
        counts: Counter[tuple[str, tuple[str, ...]]] = Counter(self.counts)
        hists: dict[tuple[str, str], tuple[list[int], float]] = {}
        for shard in self.shards:
            for metric, series in (("step_seconds", shard.steps),
                                   ("activity_seconds", shard.attempt_seconds)):
                for name, hist in dict(series).items():
                    bins, total = list(hist.counts), hist.total
                    if metric == "step_seconds":
                        counts["steps", (name,)] += sum(bins)
                    before = hists.get((metric, name))
                    if before is not None:
                        bins = [a + b for a, b in zip(before[0], bins, strict=True)]
                        total += before[1]
                    hists[metric, name] = (bins, total)
            for metric, ints in (("activity_attempts", shard.attempts),
                                 ("activity_failures", shard.failures)):
                for name, n in dict(ints).items():
                    counts[metric, (name,)] += n
        return dict(counts), hists

    def totals(self) -> dict[str, int]:
        """Each counter summed over its labels (`steps`, `activity_attempts`, ...)."""
        with self.lock:
            out = {name: 0 for name, _, _ in COUNTERS}
            for (name, _), n in self._read()[0].items():
                out[name] += n
            return out

    def families(self) -> Iterator[Metric]:
        """The counters and histograms as prometheus_client metric families."""
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        with self.lock:
            counts, hists = self._read()
        for name, text, labels in COUNTERS:
            family = CounterMetricFamily(f"tether_{name}", text, labels=list(labels))
            for (metric, values), n in sorted(counts.items()):
                if metric == name:
                    family.add_metric(list(values), n)
            yield family
        for name, text, label in HISTOGRAMS:
            hist = HistogramMetricFamily(f"tether_{name}", text, labels=[label])
            for (metric, value), (bins, total) in sorted(hists.items()):
                if metric != name:
                    continue
                running, buckets = 0, []
                for bound, n in zip((*map(str, BUCKETS), "+Inf"), bins, strict=True):
                    running += n
                    buckets.append((bound, running))
                hist.add_metric([value], buckets, total)
            yield hist


PROCESS = ProcessMetrics()


def store_snapshot(client: Client) -> dict[str, Any]:
    """Instances by status and the queue depth, from the backend's index (no journal is
    read; an inbox is looked at only for started instances that have not ended)."""
    from runtime.backends.base import Query

    counts: Counter[str] = Counter()
    waiting = 0
    token: str | None = None
    while True:
        page = client.backend.query(Query(top=1000, continuation=token))
        for row in page.items:
            counts[row.status] += 1
            if row.status in ("Running", "Suspended") and client.backend.inbox(row.instance_id):
                waiting += 1
        token = page.continuation
        if token is None:
            break
    return {"instances": {s: counts.get(s, 0) for s in RUNTIME_STATUSES},
            "queueDepth": counts.get("Pending", 0) + waiting}


def metrics_exposition(client: Client) -> Callable[[], bytes]:
    """The `/metrics` body for `client`'s store: the store's gauges, then this process's
    counters and histograms (Prometheus text format)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class Exposition(Collector):
        def collect(self) -> Iterator[Metric]:
            snap = store_snapshot(client)
            by_status = GaugeMetricFamily("tether_instances", "instances in the store by "
                                          "runtime status", labels=["status"])
            for status in RUNTIME_STATUSES:
                by_status.add_metric([status], snap["instances"][status])
            yield by_status
            yield GaugeMetricFamily("tether_queue_depth", "instances waiting for a worker: "
                                    "created and not started, or with messages in their "
                                    "inbox", value=snap["queueDepth"])
            yield from PROCESS.families()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Exposition())
    return lambda: generate_latest(registry)

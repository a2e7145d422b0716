"""`GET /metrics` serves Prometheus text: the store's instances by status and queue
depth, and the engine's counters and histograms; `Client.metrics()` gives the same."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from runtime.client import Client
from tests.http.conftest import Server


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_instances_by_status_and_the_queue(passive: Server) -> None:
    for i in range(3):
        assert passive.http.post(f"/api/orchestrators/wait_for_go/w{i}").status_code == 202
    passive.http.post("/api/instances/w0/terminate")
    passive.http.post("/api/instances/w1/raiseEvent/Go", json=1)
    r = passive.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(r.text)
    assert samples[("tether_instances", (("status", "Pending"),))] == 2
    assert samples[("tether_instances", (("status", "Terminated"),))] == 1
    assert samples[("tether_instances", (("status", "Running"),))] == 0
    # two Pending instances wait for a worker (w1's event waits with it)
    assert samples[("tether_queue_depth", ())] == 2
    metrics = Client(passive.store).metrics()
    assert metrics["instances"]["Pending"] == 2
    assert metrics["queueDepth"] == 2


def test_metrics_refuse_parameters(passive: Server, tmp_path: Path) -> None:
    r = passive.http.get("/metrics?x=1")
    assert r.status_code == 400
    assert r.json() == {"error": "unknown parameter 'x'; this route takes none"}

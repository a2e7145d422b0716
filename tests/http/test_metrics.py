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


def test_metrics_count_what_the_engine_did(server: Server) -> None:
    before = _samples(server.http.get("/metrics").text)
    r = server.http.post("/api/orchestrators/build_report", json={"pages": 2})
    assert server.poll(r.json()["id"]).status_code == 200
    r = server.http.post("/api/orchestrators/build_report", json="not a dict")
    assert server.poll(r.json()["id"]).json()["runtimeStatus"] == "Failed"
    after = _samples(server.http.get("/metrics").text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    # other tests' engines may still run in this process: at least what this test did
    orch = {"orchestration": "build_report"}
    assert delta("tether_instances_started_total", **orch) >= 2
    assert delta("tether_instances_ended_total", status="Completed", **orch) >= 1
    assert delta("tether_instances_ended_total", status="Failed", **orch) >= 1
    assert delta("tether_steps_total", **orch) >= 4  # 3 steps for 2 pages, 1 that failed
    assert delta("tether_activity_attempts_total", activity="render_page") >= 2
    assert delta("tether_activity_failures_total", activity="render_page") == 0
    assert delta("tether_step_seconds_count", **orch) >= 4
    assert delta("tether_activity_seconds_count", activity="render_page") >= 2
    assert delta("tether_activity_seconds_bucket", activity="render_page", le="+Inf") >= 2
    totals = Client(server.store).metrics()
    assert totals["steps"] >= 4 and totals["activity_attempts"] >= 2
    assert totals["instances"]["Completed"] == 1 and totals["instances"]["Failed"] == 1

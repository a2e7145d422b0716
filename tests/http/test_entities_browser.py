"""The dashboard's entity view in headless Chromium (Playwright, Debian's chromium, as
test_dashboard_browser.py drives it): every entity with its state, queue length and lock
holder; the holder links to its instance; the name filter and paging; and the view
redraws live once the lock is released and the queue drains."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http.conftest import Server, run_server
from tests.http.test_dashboard_browser import browser, page  # noqa: F401 (fixtures)

MODULE = '''
from tether import EntityContext, EntityId, OrchestrationContext, entity, orchestrator


@entity
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def add(self, amount: int) -> int:
        self.value += amount
        return self.value


@entity
def gauge(ctx: EntityContext) -> None:
    ctx.set_state(ctx.get_input())


@orchestrator
async def hold(ctx: OrchestrationContext, key: str) -> str:
    counter = EntityId("counter", key)
    async with ctx.lock_entities(counter):
        await ctx.call_entity(counter, "add", 1)
        await ctx.wait_for_external_event("release")
    return "released"
'''


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    source = tmp_path / "entity_flows.py"
    source.write_text(MODULE)
    yield from run_server(tmp_path / "store", source=source, worker=True)


def eventually(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            assert check()
        time.sleep(0.05)


def entity_doc(server: Server, entity_id: str) -> dict[str, Any] | None:
    for doc in server.http.get("/api/entities?fetchState=true&top=1000").json():
        if doc["id"] == entity_id:
            return dict(doc)
    return None


def rows(tab: Any) -> list[str]:
    return [str(i) for i in tab.locator("#entityrows tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def cell(tab: Any, entity_id: str, column: str) -> str:
    return str(tab.locator(f"#entityrows tr[data-id='{entity_id}'] td.{column}").inner_text())


def wait_for(tab: Any, check: Any) -> None:
    deadline = time.monotonic() + 15
    while not check():
        if time.monotonic() > deadline:
            assert check()
        tab.wait_for_timeout(50)


def test_entities_show_state_queue_and_lock_holder(server: Server, page: Any) -> None:  # noqa: F811
    for key, amount in (("c1", 5), ("c2", 2)):
        assert server.http.post(f"/api/entities/counter/{key}?op=add",
                                content=str(amount)).status_code == 202
    assert server.http.post("/api/entities/gauge/g?op=set",
                            json={"level": "high"}).status_code == 202
    assert server.http.post("/api/orchestrators/hold/h-1", json="held").status_code == 202
    eventually(lambda: (entity_doc(server, "@counter@held") or {}).get("lockedBy") == "h-1")
    # queued behind h-1's lock until it lets go
    assert server.http.post("/api/entities/counter/held?op=add", content="10").status_code == 202
    eventually(lambda: (entity_doc(server, "@counter@held") or {}).get("queueLength") == 1)
    eventually(lambda: (entity_doc(server, "@counter@c1") or {}).get("state") == {"value": 5})
    eventually(lambda: (entity_doc(server, "@gauge@g") or {}).get("exists") is True)

    page.goto(f"{server.url}/")
    page.wait_for_selector("body[data-loaded='1']")
    page.click("#nav-entities")
    assert "view=entities" in page.url
    # oldest first: the order they were created in
    wait_for(page, lambda: rows(page) == ["@counter@c1", "@counter@c2", "@gauge@g",
                                          "@counter@held"])
    assert '"value": 5' in cell(page, "@counter@c1", "state")
    assert "high" in cell(page, "@gauge@g", "state")
    assert cell(page, "@counter@held", "queue") == "1"
    assert cell(page, "@counter@c1", "queue") == "0"
    assert cell(page, "@counter@held", "lock") == "h-1"
    assert cell(page, "@counter@c1", "lock") == "unlocked"

    page.fill("#e-name", "gauge")  # the name filter, answered by the server
    wait_for(page, lambda: rows(page) == ["@gauge@g"])
    page.fill("#e-name", "")
    wait_for(page, lambda: len(rows(page)) == 4)

    page.click("#entityrows tr[data-id='@counter@held'] td.lock a")  # to the lock holder
    page.wait_for_selector("#instanceview:not([hidden]) h2")
    assert "instance=h-1" in page.url
    assert page.locator("#instanceview h2").inner_text() == "h-1"
    page.go_back()
    wait_for(page, lambda: len(rows(page)) == 4)

    # let go: the lock is released, the queued add applied, and the page redraws live
    assert server.http.post("/api/instances/h-1/raiseEvent/release").status_code == 202
    wait_for(page, lambda: cell(page, "@counter@held", "lock") == "unlocked"
             and cell(page, "@counter@held", "queue") == "0")
    doc = entity_doc(server, "@counter@held")
    assert doc is not None and doc["state"] == {"value": 11} and doc["lockedBy"] is None
    wait_for(page, lambda: '"value": 11' in cell(page, "@counter@held", "state"))


def test_entity_pages_follow_the_continuation_token(server: Server, page: Any) -> None:  # noqa: F811
    for n in range(30):
        server.http.post(f"/api/entities/gauge/k{n:02d}?op=set", content=str(n))
    eventually(lambda: len(server.http.get("/api/entities?top=1000").json()) == 30)
    page.goto(f"{server.url}/?view=entities")
    wait_for(page, lambda: len(rows(page)) == 30)
    page.select_option("#e-top", "25")
    wait_for(page, lambda: rows(page) == [f"@gauge@k{n:02d}" for n in range(25)])
    page.click(".pager button:has-text('next')")
    wait_for(page, lambda: rows(page) == [f"@gauge@k{n:02d}" for n in range(25, 30)])
    assert page.locator(".pager button:has-text('next')").is_disabled()
    page.click(".pager button:has-text('previous')")
    wait_for(page, lambda: len(rows(page)) == 25)

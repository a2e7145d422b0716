"""The dashboard in a real headless Chromium, driven by Playwright: search, filters,
paging, counts, an instance page (timeline, JSON, graph), every action, deep links and
the browser's back button, live updates, and the API key. After each action the test
asks the API itself whether it happened.

Playwright drives the system's chromium (`executable_path`); no browser is downloaded.
Without chromium the tests skip with the reason, except under CI=true, where they fail.
`TETHER_DOCS_SCREENSHOTS=1` rewrites docs/dashboard-list.png and docs/dashboard-instance.png.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.http.conftest import Server, run_server

sync_api = pytest.importorskip("playwright.sync_api")

FLOWS = Path(__file__).with_name("dashboard_flows.py")
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
KEY = "k3y-for-the-page"


def _chromium() -> str:
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed, and CI must run the browser tests")
    pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB",
                                  timezone_id="Europe/Paris")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert errors == []  # no script error on any page


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    yield from run_server(tmp_path / "store", source=FLOWS, worker=True)


def start(server: Server, name: str, data: Any, instance_id: str | None = None) -> str:
    path = f"/api/orchestrators/{name}" + (f"/{instance_id}" if instance_id else "")
    r = server.http.post(path, json=data)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def status(server: Server, instance_id: str, history: bool = False) -> dict[str, Any]:
    suffix = "?showHistory=true" if history else ""
    doc: dict[str, Any] = server.http.get(f"/api/instances/{instance_id}{suffix}").json()
    return doc


def listed(page: Any) -> list[str]:
    return [str(i) for i in page.locator("#rows tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def wait_listed(page: Any, want: list[str]) -> None:
    deadline = time.monotonic() + 10
    while listed(page) != want:
        if time.monotonic() > deadline:
            assert listed(page) == want
        page.wait_for_timeout(50)


def test_search_filters_counts_and_paging(server: Server, page: Any) -> None:
    ids = [start(server, "build_report", {"pages": 1}, f"order-{n}") for n in range(7)]
    start(server, "wait_for_go", "note", "waiting-1")
    for iid in ids:
        server.poll(iid)
    page.goto(f"{server.url}/?top=3")
    page.wait_for_selector("body[data-loaded='1']")
    wait_listed(page, ["waiting-1", "order-6", "order-5"])  # newest first, 3 a page
    assert page.locator("#counts button[data-status='']").inner_text() == "all8"
    assert page.locator("#counts button[data-status='Completed'] b").inner_text() == "7"

    page.click("#older")
    wait_listed(page, ["order-4", "order-3", "order-2"])
    page.click("#older")
    wait_listed(page, ["order-1", "order-0"])
    assert page.locator("#older").is_disabled()
    page.click("#newer")
    wait_listed(page, ["order-4", "order-3", "order-2"])

    page.fill("#f-prefix", "order-1")  # search by id: a prefix, answered by the server
    wait_listed(page, ["order-1"])
    assert "prefix=order-1" in page.url  # the address keeps the filters
    page.fill("#f-prefix", "")
    page.click("#counts button[data-status='Running']")  # a count is a filter too
    wait_listed(page, ["waiting-1"])
    assert page.locator("#f-status").input_value() == "Running"
    page.select_option("#f-status", "")
    page.fill("#f-name", "wait_for_go")
    wait_listed(page, ["waiting-1"])
    page.click("#filters button[type=reset]")
    wait_listed(page, ["waiting-1", "order-6", "order-5"])
    # created-time range, in the browser's zone: nothing was created a day from now
    page.fill("#f-from", time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 86400)))
    wait_listed(page, [])
    assert page.locator("#rows td.empty").inner_text() == "no instance matches"


def test_instance_page_timeline_json_graph_and_deep_links(server: Server, page: Any) -> None:
    done = start(server, "build_report", {"pages": 2, "title": "quarterly"}, "report-1")
    failed = start(server, "publish", "report.pdf", "pub-1")
    assert server.poll(done).status_code == 200 and server.poll(failed).status_code == 200
    page.goto(f"{server.url}/")
    page.wait_for_selector("#rows tr[data-id='pub-1']")
    page.click("#rows tr[data-id='pub-1']")
    page.wait_for_selector("table.timeline tr[data-event='failed']")
    assert page.url.endswith("/?instance=pub-1")  # navigation updates the deep link
    assert page.locator(".title .st").inner_text() == "Failed"
    # the activity's failure, with its traceback and the attempt it ended
    retry = page.locator("table.timeline tr[data-event='retry']")
    cells = retry.locator("td").all_inner_texts()
    assert cells[1:4] == ["retry", "", "flaky_upload"]
    assert "ConnectionError: upload of report.pdf refused by the bucket" in cells[5]
    assert cells[7] == "1" and cells[6].endswith("ms")
    final = page.locator("table.timeline tr[data-event='result']").locator("td").all_inner_texts()
    assert final[7] == "2"
    retry.locator("summary", has_text="traceback").click()
    assert "Traceback (most recent call last)" in retry.locator("pre").last.inner_text()
    assert "in flaky_upload" in retry.locator("pre").last.inner_text()

    page.go_back()  # the browser's back button returns to the list
    page.wait_for_selector("#listview:not([hidden]) #rows tr[data-id='report-1']")
    page.goto(f"{server.url}/?instance=report-1")  # a deep link opens the instance
    page.wait_for_selector("table.timeline tr[data-event='completed']")
    output = page.locator("section[data-part='output'] .json")
    assert '"title": "quarterly"' in output.inner_text()
    output.locator("summary").first.click()  # collapsible: closed, the keys are hidden
    assert not output.locator("text=quarterly").is_visible()
    custom = page.locator("section[data-part='custom status']")
    assert custom.is_visible() and '"page": 2' in custom.inner_text()
    # the variables at a checkpoint
    variables = page.locator("table.timeline tr[data-event='checkpoint'] details.vars").last
    variables.locator("summary").first.click()
    assert '"pages"' in variables.inner_text() and "page 1 rendered" in variables.inner_text()
    # local time, in the browser's zone (Paris), with durations
    created_utc = status(server, "report-1")["createdTime"]
    assert page.locator("dl.facts dd").nth(1).inner_text()[-12:-4] == _paris(created_utc)
    assert page.locator("dl.facts dt").nth(3).inner_text() == "took"
    if shutil.which("dot") is not None:
        graph = page.locator(".viewport img.graph")
        # (wait_for_function would evaluate a string, which the page's CSP forbids)
        _eventually(lambda: graph.evaluate("g => g.naturalWidth > 0"))
        before = graph.evaluate("g => g.style.transform")
        page.click(".graphbar button[title='zoom in']")
        assert graph.evaluate("g => g.style.transform") != before
        page.click(".graphbar button[title^='natural size']")
        assert "scale(1)" in graph.evaluate("g => g.style.transform")
        assert page.locator(".graphbar .muted").first.inner_text() == "100%"


def test_a_failed_instance_shows_its_failure_with_the_source_traceback_escaped(
    server: Server, page: Any,
) -> None:
    sku = "<img src=x onerror=alert(1)>"
    failed = start(server, "check_stock", sku, "stock-1")
    assert server.poll(failed).status_code == 200
    details = status(server, failed)["failureDetails"]
    page.goto(f"{server.url}/?instance=stock-1")
    panel = page.locator("section[data-part='failure']")
    panel.wait_for()
    message = f"LookupError: no stock for <b>{sku}</b> & page 1 rendered"
    assert panel.locator("[data-part='failure-message']").inner_text() == message
    # escaped: the message's markup is text, not elements
    assert panel.locator("b, img").count() == 0
    shown = panel.locator("pre.traceback")
    assert shown.is_visible()  # open, not folded: it is why the instance failed
    assert shown.inner_text().rstrip("\n") == details["stackTrace"].rstrip("\n")
    source = FLOWS.read_text().splitlines()
    line = source.index('        raise LookupError(f"no stock for <b>{sku}</b> & {page}")') + 1
    frame = shown.locator("span.frame", has_text=f"line {line}, in check_stock")
    assert frame.count() == 1 and "dashboard_flows.py" in frame.inner_text()
    assert "raise LookupError(" in shown.locator("span.src").last.inner_text()
    # an instance that did not fail has no failure panel
    done = start(server, "check_stock", "apple", "stock-2")
    assert server.poll(done).status_code == 200
    page.goto(f"{server.url}/?instance=stock-2")
    page.wait_for_selector("table.timeline tr[data-event='completed']")
    assert page.locator("section[data-part='failure']").is_hidden()


def _paris(iso: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Paris"))
    return when.strftime("%H:%M:%S")


def _act(page: Any, action: str, **fields: str) -> None:
    page.click(f".actions button[data-action='{action}']")
    page.wait_for_selector("dialog#confirm[open]")
    for selector, value in fields.items():
        page.fill(f"#{selector}", value)
    page.click("#c-ok")
    page.wait_for_selector("#toast:not([hidden])")


def _eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            assert check()
        time.sleep(0.05)


def test_every_action_is_confirmed_and_reaches_the_api(server: Server, page: Any) -> None:
    start(server, "wait_for_go", "note", "job-1")
    start(server, "wait_for_go", "note", "job-2")
    page.goto(f"{server.url}/?instance=job-1")
    page.wait_for_selector(".actions button[data-action='suspend']:not([disabled])")
    assert page.locator(".actions button[data-action='purge']").is_disabled()

    # a dialog cancelled does nothing
    page.click(".actions button[data-action='terminate']")
    page.click("dialog#confirm button[value='cancel']")
    assert status(server, "job-1")["runtimeStatus"] in ("Pending", "Running")

    _act(page, "suspend", **{"c-reason": "maintenance window"})
    _eventually(lambda: status(server, "job-1")["runtimeStatus"] == "Suspended")
    page.wait_for_selector(".actions button[data-action='resume']:not([disabled])")
    _act(page, "resume", **{"c-reason": "window over"})
    _eventually(lambda: status(server, "job-1")["runtimeStatus"] == "Running")
    page.wait_for_selector(".actions button[data-action='raise']:not([disabled])")

    # bad JSON is refused in the dialog, before anything is sent
    page.click(".actions button[data-action='raise']")
    page.fill("#c-event", "Go")
    page.fill("#c-data", "{by: me}")
    page.click("#c-ok")
    assert "not JSON" in page.locator("#c-error").inner_text()
    page.fill("#c-data", '{"by": "the dashboard"}')
    page.click("#c-ok")
    _eventually(lambda: status(server, "job-1")["runtimeStatus"] == "Completed")
    assert status(server, "job-1")["output"] == {"note": "note", "go": {"by": "the dashboard"}}
    history = status(server, "job-1", history=True)["historyEvents"]
    kinds = [e["eventType"] for e in history]
    assert "suspended" in kinds and "resumed" in kinds
    reasons = {e["eventType"]: e.get("reason") for e in history if "reason" in e}
    assert reasons == {"suspended": "maintenance window", "resumed": "window over"}

    page.wait_for_selector(".actions button[data-action='purge']:not([disabled])")
    _act(page, "purge")
    _eventually(lambda: server.http.get("/api/instances/job-1").status_code == 404)
    page.wait_for_selector("#listview:not([hidden])")  # back to the list, job-1 gone
    wait_listed(page, ["job-2"])

    page.click("#rows tr[data-id='job-2']")
    page.wait_for_selector(".actions button[data-action='terminate']:not([disabled])")
    _act(page, "terminate", **{"c-reason": "not needed"})
    _eventually(lambda: status(server, "job-2")["runtimeStatus"] == "Terminated")
    page.wait_for_selector(".title .st:text('Terminated')")
    assert status(server, "job-2")["output"] == "not needed"


def test_an_idle_page_costs_one_open_stream_and_updates_live(server: Server, page: Any) -> None:
    for n in range(20):
        start(server, "build_report", {"pages": 1}, f"idle-{n:02}")
    for n in range(20):
        server.poll(f"idle-{n:02}")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server.url}/")
    page.wait_for_selector("#live.on")
    wait_listed(page, [f"idle-{n:02}" for n in reversed(range(20))])
    page.wait_for_timeout(500)
    requests.clear()
    page.wait_for_timeout(4000)  # idle: the stream stays open, nothing is fetched
    assert requests == []
    start(server, "wait_for_go", "note", "newcomer")  # a change: the list follows
    page.wait_for_selector("#rows tr[data-id='newcomer']", timeout=10000)
    assert any("/api/instances?" in u for u in requests)
    assert page.locator("#counts button[data-status='Running'] b, "
                        "#counts button[data-status='Pending'] b").count() == 1


def test_screenshots_of_the_list_and_an_instance(server: Server, page: Any, tmp_path: Path) -> None:
    for n in range(4):
        start(server, "build_report", {"pages": 3, "title": f"weekly {n}"}, f"report-{n}")
    start(server, "publish", "report.pdf", "publish-1")
    start(server, "wait_for_go", {"ticket": 4417}, "approval-7")
    for iid in ("report-3", "publish-1"):
        server.poll(iid)
    folder = DOCS if os.environ.get("TETHER_DOCS_SCREENSHOTS") == "1" else tmp_path
    page.goto(f"{server.url}/")
    wait_listed(page, ["approval-7", "publish-1", "report-3", "report-2", "report-1", "report-0"])
    page.screenshot(path=str(folder / "dashboard-list.png"))
    page.goto(f"{server.url}/?instance=publish-1")
    page.wait_for_selector("table.timeline tr[data-event='failed']")
    # (tracebacks stay folded: they name the files of the machine that ran the activity)
    page.wait_for_timeout(300)
    page.screenshot(path=str(folder / "dashboard-instance.png"), full_page=True)
    assert (folder / "dashboard-list.png").stat().st_size > 10_000


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[Server]:
    for server in run_server(tmp_path / "store", source=FLOWS, worker=True, api_key=KEY):
        server.http.headers["x-tether-key"] = KEY
        yield server


def test_with_a_key_taken_from_code_once(keyed_server: Server, page: Any) -> None:
    done = start(keyed_server, "build_report", {"pages": 2, "title": "keyed"}, "keyed-1")
    assert keyed_server.poll(done).status_code == 200
    page.goto(f"{keyed_server.url}/?code={KEY}&instance={done}")
    page.wait_for_selector("table.timeline tr[data-event='completed']")
    assert KEY not in page.url and page.url.endswith(f"?instance={done}")
    assert "keyed" in page.locator("section[data-part='output']").inner_text()
    page.wait_for_selector("#live.on")  # the event stream sends the key as a header too
    if shutil.which("dot") is not None:
        graph = page.locator(".viewport img.graph")
        _eventually(lambda: graph.evaluate("g => g.src.startsWith('blob:')"))
    assert KEY not in page.content()


@pytest.mark.parametrize(("query", "why"), [
    ("", "this server needs its API key"),
    ("?code=wrong", "the server refused this key"),
])
def test_without_the_key_it_asks_for_it_and_shows_nothing(
        keyed_server: Server, page: Any, query: str, why: str) -> None:
    start(keyed_server, "wait_for_go", "note", "secret-1")
    page.goto(f"{keyed_server.url}/{query}")
    page.wait_for_selector("body[data-locked='1']")
    assert page.locator("#keyform").is_visible() and why in page.locator("#keywhy").inner_text()
    assert "secret-1" not in page.content()
    page.fill("#key", KEY)  # typed in, the key opens the page
    page.click("#keyform button")
    page.wait_for_selector("#rows tr[data-id='secret-1']")


def test_restart_and_rewind(server: Server, page: Any) -> None:
    failed = start(server, "publish", "report.pdf", "pub-9")
    assert server.poll(failed).status_code == 200
    page.goto(f"{server.url}/?instance=pub-9")
    page.wait_for_selector(".actions button[data-action='rewind']:not([disabled])")
    assert page.locator(".actions button[data-action='suspend']").is_disabled()
    _act(page, "rewind", **{"c-reason": "bucket fixed"})
    # the API saw the rewind: the instance left Failed, its history goes on past the failure
    def rewound() -> bool:
        kinds = [e["eventType"] for e in status(server, "pub-9", history=True)["historyEvents"]]
        return status(server, "pub-9")["runtimeStatus"] != "Failed" or kinds.count("failed") > 1

    _eventually(rewound)
    kinds = [e["eventType"] for e in status(server, "pub-9", history=True)["historyEvents"]]
    assert len(kinds) > kinds.index("failed") + 1

    done = start(server, "build_report", {"pages": 1, "title": "again"}, "rep-9")
    assert server.poll(done).status_code == 200
    page.goto(f"{server.url}/?instance=rep-9")
    page.wait_for_selector(".actions button[data-action='restart']:not([disabled])")
    _act(page, "restart")  # a new instance, with the same input; the page follows it
    _eventually(lambda: "instance=rep-9" not in page.url)
    new_id = page.url.split("instance=", 1)[1]
    assert status(server, new_id)["input"] == {"pages": 1, "title": "again"}
    assert status(server, new_id)["name"] == "build_report"

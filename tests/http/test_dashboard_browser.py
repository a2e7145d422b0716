"""The dashboard in a real headless chromium: it lists instances and shows one in detail.

Skips (with the reason) when chromium is not installed; CI installs Debian's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.conftest import Server, run_server

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000", "--window-size=1200,1400"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _browse(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=90, check=False)


def test_dashboard_lists_and_details_instances(server: Server, tmp_path: Path) -> None:
    done = server.http.post("/api/orchestrators/build_report",
                            json={"pages": 2, "title": "quarterly"}).json()["id"]
    server.poll(done)
    server.http.post("/api/orchestrators/wait_for_go/waiting-1", json="note")
    url = f"{server.url}/?instance={done}"
    dom = _browse(url, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-loaded="1"' in html
    assert "waiting-1" in html and done in html  # both listed
    assert html.index("waiting-1") < html.index(done)  # newest first
    assert "page 2 rendered" in html and "quarterly" in html  # the output, in detail
    assert "Completed" in html and "wait_for_go" in html
    assert 'class="timeline"' in html and "created" in html  # the history timeline

    shot = Path(os.environ.get("TETHER_SCREENSHOT_DIR", tmp_path)) / "dashboard.png"
    taken = _browse(url, tmp_path / "profile2", f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 10_000


def test_dashboard_filter_by_status(server: Server, tmp_path: Path) -> None:
    server.http.post("/api/orchestrators/wait_for_go/only-running", json=None)
    iid = server.http.post("/api/orchestrators/build_report", json={"pages": 1}).json()["id"]
    server.poll(iid)
    everything = _browse(f"{server.url}/", tmp_path / "profile", "--dump-dom")
    assert "only-running" in everything.stdout and iid in everything.stdout
    # ?status= preselects the page's filter, as choosing it in the select does
    dom = _browse(f"{server.url}/?status=Completed", tmp_path / "profile2", "--dump-dom")
    assert dom.returncode == 0
    assert iid in dom.stdout and "only-running" not in dom.stdout


KEY = "k3y-for-the-page"


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[Server]:
    for server in run_server(tmp_path / "store", worker=True, api_key=KEY):
        server.http.headers["x-tether-key"] = KEY
        yield server


def test_dashboard_with_a_key_takes_it_from_code_once(keyed_server: Server, tmp_path: Path) -> None:
    done = keyed_server.http.post("/api/orchestrators/build_report",
                                  json={"pages": 2, "title": "keyed"}).json()["id"]
    assert keyed_server.poll(done).status_code == 200
    keyed_server.http.post("/api/orchestrators/wait_for_go/waiting-1", json="note")
    dom = _browse(f"{keyed_server.url}/?code={KEY}&instance={done}", tmp_path / "profile",
                  "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-loaded="1"' in html and "data-locked" not in html
    assert "waiting-1" in html and done in html
    assert "page 2 rendered" in html and "keyed" in html
    if shutil.which("dot") is not None:  # fetched with the key header, shown from a blob
        assert re.search(r'<img class="graph"[^>]* src="blob:', html)
    assert KEY not in html


@pytest.mark.parametrize(("query", "why"), [
    ("", "this server needs its API key"),
    ("?code=wrong", "the server refused this key"),
])
def test_dashboard_without_the_key_asks_for_it_and_shows_nothing(
        keyed_server: Server, tmp_path: Path, query: str, why: str) -> None:
    keyed_server.http.post("/api/orchestrators/wait_for_go/secret-1", json="note")
    dom = _browse(f"{keyed_server.url}/{query}", tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-locked="1"' in html and 'data-loaded="1"' in html
    assert '<form id="keyform">' in html  # no longer hidden
    assert why in html
    assert "secret-1" not in html

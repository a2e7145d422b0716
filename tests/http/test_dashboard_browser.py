"""The dashboard in a real headless chromium: it lists instances and shows one in detail.

Skips (with the reason) when chromium is not installed; CI installs Debian's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http.conftest import Server

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

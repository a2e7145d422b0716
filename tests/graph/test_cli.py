"""`tether graph` on the command line: formats, files, and one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.graph.conftest import EXAMPLES
from tether.cli import main

HELLO = str(EXAMPLES / "hello_cities.py")
FLEET = str(EXAMPLES / "sub_orchestration.py")


def test_mermaid_is_the_default_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{HELLO}:hello_cities"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("flowchart TB\n") and 'n_b1{"for city in cities<br/>line 21"}' in out.out
    assert out.err == ""


def test_a_file_with_one_orchestrator_needs_no_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", HELLO, "-f", "dot", "--direction", "LR"]) == 0
    assert "rankdir=LR" in capsys.readouterr().out


@pytest.mark.parametrize(("suffix", "start"), [
    (".mmd", b"flowchart"), (".dot", b"digraph"), (".json", b"{"), (".png", b"\x89PNG"),
    (".svg", b"<?xml"), (".html", b"<!doctype html>"),
])
def test_format_follows_the_output_suffix(tmp_path: Path, suffix: str, start: bytes,
                                          capsys: pytest.CaptureFixture[str],
                                          request: pytest.FixtureRequest) -> None:
    if suffix in (".png", ".svg", ".html"):
        request.getfixturevalue("graphviz")
    out = tmp_path / f"g{suffix}"
    assert main(["graph", f"{FLEET}:provision_fleet", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(start)
    assert capsys.readouterr().err == f"{out} (provision_fleet, {suffix[1:] if suffix != '.mmd' else 'mermaid'})\n"


def test_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", f"{FLEET}:provision_device", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [n["label"] for n in doc["nodes"] if n["kind"] == "activity"] == [
        "activity create_device_key", "activity register_device"]


@pytest.mark.parametrize(("argv", "message"), [
    (["graph", FLEET], f"error: {FLEET}: 2 orchestrators (provision_device, provision_fleet); "
                       f"name one as {FLEET}:NAME"),
    (["graph", f"{HELLO}:nope"], f"error: {HELLO}: no orchestrator named 'nope'; found: hello_cities"),
    (["graph", "missing.py:orch"], "error: missing.py: no such file"),
    (["graph", HELLO, "-o", "graph.bmp"],
     "error: graph.bmp: cannot tell the format from .bmp; give --format "
     "(mermaid, dot, svg, png, json, html)"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == message + "\n"


def test_a_compile_error_is_reported_as_the_compiler_words_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from tether import orchestrator\n\n@orchestrator\nasync def o(ctx):\n"
                   "    yield 1\n")
    assert main(["graph", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == f"{bad}:5:5: error: `yield` is not allowed in an orchestrator"


def test_missing_graphviz_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("tether.graphing.dot.shutil.which", lambda name: None)
    for fmt in ("svg", "png", "html"):
        assert main(["graph", HELLO, "-f", fmt, "-o", str(tmp_path / "g")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "apt-get install graphviz" in err, err
    assert main(["graph", HELLO, "-f", "dot"]) == 0  # text formats need nothing

"""`tether compile`: writes modules, dumps the IR, finds the step of a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello_cities.py"


def test_compile_writes_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(HELLO), "-o", str(tmp_path)]) == 0
    written = list(tmp_path.rglob("hello_cities.py"))
    assert len(written) == 1
    text = written[0].read_text()
    assert text.startswith("# Compiled by tether from ")
    assert "@_rt.machine(" in text and "def hello_cities(ctx: OrchestrationContext, _f: _rt.Frame)" in text
    assert "(hello_cities)" in capsys.readouterr().err


def test_dump_ir_after_hoist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(HELLO), "--dump-ir", "hoist"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# after hoist\nmachine hello_cities (")
    assert "suspend on ctx.call_activity(say_hello, city) -> s3  slots: _i0, _seq0, out" in out


def test_dump_ir_all_shows_every_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(HELLO), "--dump-ir", "all"]) == 0
    out = capsys.readouterr().out
    for name in ("split", "optimize", "hoist", "graph"):
        assert f"# after {name}" in out
    assert "@_rt.machine(" in out


def test_where_names_the_step_of_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = next(i for i, text in enumerate(HELLO.read_text().splitlines(), 1)
                if "out.append(await" in text)
    assert main(["compile", str(HELLO), "--where", str(line)]) == 0
    out = capsys.readouterr().out
    assert f"step s3  {HELLO}:{line}  after await say_hello  (hello_cities)" in out
    assert "  slots: _i0, _seq0, out" in out


def test_where_on_a_line_without_steps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(HELLO), "--where", "1"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {HELLO}:1: no orchestrator step comes from this line"

"""The entity rules' messages, and the compiler refusing each finding as one located
line (issue 12). Which lines each rule flags and leaves alone is in the fixtures
(`fixtures/<rule>.py`); this file holds what a fixture cannot say."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import compiler
import lint
from compiler.errors import CompileError, DeterminismErrors
from tether.cli import main

HEADER = "from tether import orchestrator\n\n\n@orchestrator\nasync def orch(ctx, req):\n"


def orchestrator_source(body: str) -> str:
    return HEADER + textwrap.indent(textwrap.dedent(body), "    ")


# body -> (code, line in the body, column in the file, the message)
BAD = {
    "nested": ("""\
        async with ctx.lock_entities(req["a"]):
            async with ctx.lock_entities(req["b"]):
                pass
        """, "ENT001", 2, 9, "critical section inside the critical section opened at line 6"),
    "sub_orchestration": ("""\
        async with ctx.lock_entities(req["a"]):
            await ctx.call_sub_orchestrator("child", 1)
        """, "ENT002", 2, 15,
        "`ctx.call_sub_orchestrator()` inside the critical section opened at line 6"),
    "unlocked": ("""\
        async with ctx.lock_entities("@account@a"):
            await ctx.call_entity("@account@b", "add", 1)
        """, "ENT003", 2, 15,
        "`ctx.call_entity('@account@b', ...)` inside the critical section opened at line 6, "
        "which does not lock '@account@b'"),
    "signal_locked": ("""\
        async with ctx.lock_entities("@account@a"):
            ctx.signal_entity("@account@a", "add", 1)
        """, "ENT004", 2, 9,
        "`ctx.signal_entity('@account@a', ...)` to an entity the critical section opened at "
        "line 6 has locked"),
    "parallel": ("""\
        key = req["key"]
        async with ctx.lock_entities(key):
            first = ctx.call_entity(key, "add", 1)
            second = ctx.call_entity(key, "add", 1)
            await ctx.when_all([first, second])
        """, "ENT005", 4, 18,
        "`ctx.call_entity(key, ...)` while an earlier call on key (line 8) may be "
        "outstanding in the critical section"),
    "await_signal": ("""\
        await ctx.signal_entity("@account@a", "add", 1)
        """, "DET007", 1, 5,
        "`await ctx.signal_entity(...)`: a signal is one-way, there is nothing to wait for"),
    "await_lock": ("""\
        await ctx.lock_entities("@account@a")
        """, "DET007", 1, 5,
        "`await ctx.lock_entities(...)` does not await a durable task: it opens a critical "
        "section"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_lint_reports_the_rule_with_its_message(name: str) -> None:
    body, code, line, col, message = BAD[name]
    findings = lint.check_source(orchestrator_source(body), "flows.py")
    assert [(f.code, f.line, f.col, f.message) for f in findings] == [
        (code, 5 + line, col, message)]


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_compiler_refuses_it_as_one_located_line(name: str) -> None:
    body, code, line, col, message = BAD[name]
    with pytest.raises(DeterminismErrors) as info:
        compiler.compile_source(orchestrator_source(body), "flows.py")
    assert str(info.value) == f"flows.py:{5 + line}:{col}: {code} {message}"


ENTITY_MODULE = '''\
from tether import entity


@entity
class Counter:
    def add(self, amount: int) -> None:
        self.value = getattr(self, "value", 0) + amount

    async def slow_add(self, amount: int) -> None:
        self.value = getattr(self, "value", 0) + amount
'''


def test_async_entity_code_is_refused_in_a_module_without_orchestrators() -> None:
    with pytest.raises(CompileError) as info:
        compiler.compile_source(ENTITY_MODULE, "counters.py")
    assert str(info.value) == ("counters.py:9:5: ENT006 entity Counter: `Counter.slow_add` is "
                               "`async def`, but entity code may not await")


def test_lint_cli_finds_entity_code_in_a_folder(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "counters.py").write_text(ENTITY_MODULE)
    (tmp_path / "identity.py").write_text("def identity(x):\n    return x\n")
    assert main(["lint", str(tmp_path), "--format", "text"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        f"{tmp_path / 'counters.py'}:9:5: ENT006 entity Counter: `Counter.slow_add` is "
        "`async def`, but entity code may not await")
    assert main(["lint", str(tmp_path), "--ignore", "ENT006"]) == 0


def test_a_section_that_keeps_the_rules_compiles() -> None:
    source = orchestrator_source("""\
        async with ctx.lock_entities(req["a"], req["b"]) as section:
            got = await ctx.call_entity(req["a"], "get")
            await ctx.call_entity(req["b"], "add", got)
        ctx.signal_entity(req["a"], "reset")
        return got
        """)
    assert lint.check_source(source, "flows.py") == []
    assert "_cs0.acquire()" in compiler.compile_source(source, "flows.py").text


def test_tether_compile_prints_the_finding_and_exits_1(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "counters.py"
    src.write_text(ENTITY_MODULE)
    assert main(["compile", str(src), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"{src}:9:5: ENT006 entity Counter: `Counter.slow_add` is `async def`" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "counters.py").exists()

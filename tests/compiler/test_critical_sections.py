"""Critical sections (`async with ctx.lock_entities(...)`, issue 12): what the compiler
lowers, what it still refuses, and the runtime contract the emitted code follows
(`cs = ctx.lock_entities(...)`; `await cs.acquire()`; `try: body finally: cs.release()`).
The IR of whole programs is in the golden cases `cases/critical_section*.test`."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import compiler
from compiler.errors import CompileError
from compiler.ir import Suspend

PRELUDE = "from tether import orchestrator\n\n\n"


def source_of(body: str, params: str = "ctx, req") -> str:
    return PRELUDE + f"@orchestrator\nasync def orch({params}):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


def emitted(body: str) -> str:
    return compiler.compile_source(source_of(body), "prog.py").text


def machine_function(text: str) -> ast.FunctionDef:
    tree = ast.parse(text)
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "orch")


TRANSFER = """\
async with ctx.lock_entities(req["a"], req["b"]) as cs:
    x = await ctx.call_entity(req["a"], "get")
    await ctx.call_entity(req["b"], "add", x)
return x
"""


def test_the_acquire_is_a_lock_suspension_and_release_sits_in_a_finally() -> None:
    machine = compiler.compile_source(source_of(TRANSFER), "prog.py").machine("orch")
    suspends = [b.term for b in machine.blocks.values() if isinstance(b.term, Suspend)]
    assert [(s.kind, s.name) for s in suspends] == [
        ("lock", 'req["a"], req["b"]'), ("entity", 'req["a"].get'), ("entity", 'req["b"].add')]
    assert suspends[0].task == "_cs0.acquire()"
    text = emitted(TRANSFER)
    fn = machine_function(text)
    # the section is made once, from the user's call, and released only in the finally
    # (both the normal and the exception path of the lowered `finally` call it)
    assert text.count('_cs0 = ctx.lock_entities(req["a"], req["b"])') == 1
    releases = [n for n in ast.walk(fn) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == "release"]
    assert len(releases) == 2 and all(ast.unparse(r) == "_cs0.release()" for r in releases)
    assert "cs = _cs0" in text  # `as cs` binds the section once it is acquired


def test_the_section_is_saved_in_the_frame_across_the_awaits_inside() -> None:
    machine = compiler.compile_source(source_of(TRANSFER), "prog.py").machine("orch")
    inside = [b.term for b in machine.blocks.values()
              if isinstance(b.term, Suspend) and b.term.kind == "entity"]
    assert inside and all("_cs0" in s.live for s in inside)


def test_the_same_source_gives_the_same_bytes() -> None:
    assert emitted(TRANSFER) == emitted(TRANSFER)


def test_an_argument_that_awaits_is_evaluated_before_the_section_opens() -> None:
    machine = compiler.compile_source(source_of("""\
        async with ctx.lock_entities(await ctx.call_entity("@picker@x", "pick")):
            pass
        """), "prog.py").machine("orch")
    kinds = [b.term.kind for b in sorted(machine.blocks.values(), key=lambda b: b.id)
             if isinstance(b.term, Suspend)]
    assert kinds == ["entity", "lock"]


def test_a_context_parameter_by_another_name_is_recognised() -> None:
    text = compiler.compile_source(source_of(
        "async with context.lock_entities(req):\n    pass\n", params="context, req"),
        "prog.py").text
    assert "_cs0 = context.lock_entities(req)" in text


REFUSED = {
    "other_object": "async with other.lock_entities(req):\n    pass\n",
    "other_method": "async with ctx.call_entity(req, 'get'):\n    pass\n",
    "two_items": "async with ctx.lock_entities(req), ctx.lock_entities(req):\n    pass\n",
    "inside_nested_def": "def helper():\n    pass\nasync with lock:\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_other_async_with_stays_refused(name: str) -> None:
    with pytest.raises(CompileError) as info:
        compiler.compile_source(source_of(REFUSED[name]), "bad.py")
    err = info.value
    assert err.code == "error"
    assert "`async with` is not supported in an orchestrator" in err.message
    assert err.hint is not None and "lock_entities" in err.hint
    assert str(err).startswith(f"bad.py:{err.line}:{err.col}: error:")


def test_a_sync_with_around_a_section_is_refused_as_spanning_an_await() -> None:
    with pytest.raises(CompileError, match="a `with` block cannot span an await"):
        compiler.compile_source(source_of(
            "with open_thing():\n    async with ctx.lock_entities(req):\n        pass\n"),
            "bad.py")


TYPED = '''\
from tether import OrchestrationContext, orchestrator


@orchestrator
async def transfer(ctx: OrchestrationContext, amount: int) -> list[int]:
    async with ctx.lock_entities("@account@a", "@account@b") as section:
        have: int = await ctx.call_entity("@account@a", "get")
        if have < amount:
            return [have]
        await ctx.call_entity("@account@a", "add", -amount)
        await ctx.call_entity("@account@b", "add", amount)
    ctx.signal_entity("@account@b", "audit", repr(section))
    return [have - amount]
'''


def test_an_emitted_section_passes_mypy_strict(tmp_path: Path) -> None:
    mypy_api = pytest.importorskip("mypy.api")
    out = tmp_path / "typed_section.py"
    out.write_text(compiler.compile_source(TYPED, "typed_section.py").text)
    cache = ["--no-incremental", "--cache-dir", str(tmp_path / ".mypy_cache")]
    stdout, stderr, status = mypy_api.run(["--strict", *cache, str(out)])
    assert status == 0, stdout + stderr

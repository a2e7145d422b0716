"""Unsupported code is one located line, `path:line:col: error: message`, never a
traceback; the CLI exits 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import compiler
from compiler.errors import CompileError
from tether.cli import main

PRELUDE = "from tether import activity, orchestrator\n\n\n@activity\ndef work(x):\n    return x\n\n\n"


def first_error(body: str) -> CompileError:
    source = PRELUDE + "@orchestrator\nasync def orch(ctx, n):\n" + textwrap.indent(
        textwrap.dedent(body), "    ")
    with pytest.raises(CompileError) as info:
        compiler.compile_source(source, "bad.py")
    return info.value


# (body, line within body (1-based), column, code, expected message fragment); a code other
# than "error" means the determinism rules (lint) refuse the code before lowering does.
BAD = {
    "yield": ("x = 1\nyield x\n", 2, 5, "error", "`yield` is not allowed"),
    "global": ("global COUNTER\nawait ctx.call_activity(work, 1)\n", 1, 5, "DET006",
               "`global COUNTER` rebinds module state"),
    "nonlocal_in_helper": ("def h():\n    nonlocal n\nawait ctx.call_activity(work, 1)\n", 2, 9,
                           "DET006", "`nonlocal n` rebinds an outer variable"),
    "async_for": ("async for x in ctx.items():\n    await ctx.call_activity(work, x)\n", 1, 5,
                  "error", "`async for` is not supported"),
    "async_with": ("async with lock:\n    await ctx.call_activity(work, 1)\n", 1, 5, "error",
                   "`async with` is not supported"),
    # no await in the body: still refused, never emitted as invalid Python (issue 16)
    "for_over_a_generator_across_awaits": (
        "for x in (y for y in range(3)):\n    await ctx.call_activity(work, x)\n", 1, 15,
        "error", "a loop whose body awaits cannot walk a generator"),
    "comprehension_over_a_generator": (
        "xs = [await ctx.call_activity(work, x) for x in (y for y in range(3))]\n", 1, 54,
        "error", "a comprehension that awaits cannot walk a generator"),
    "await_in_a_class_body": ("class C:\n    x = await ctx.call_activity(work, 1)\n", 1, 5,
                              "error", "`await` inside a class body is not allowed"),
    "async_for_over_a_task": ("t = ctx.call_activity(work, [1])\nasync for x in t:\n    pass\n",
                              2, 5, "error", "`async for` is not supported"),
    "async_with_over_a_task": ("t = ctx.call_activity(work, 1)\nasync with t as x:\n    pass\n",
                               2, 5, "error", "`async with` is not supported"),
    "with_spanning_await": ("with contextlib.suppress(KeyError):\n"
                            "    await ctx.call_activity(work, 1)\n",
                            1, 5, "error", "a `with` block cannot span an await"),
    "open_is_io": ("with open('f') as fh:\n    await ctx.call_activity(work, fh.read())\n",
                   1, 10, "DET003", "does I/O in orchestrator code"),
    "await_coroutine": ("await helper()\n", 1, 5, "DET007", "does not await a durable task"),
    "await_non_task_ctx_method": ("await ctx.set_custom_status(1)\n", 1, 5, "DET007",
                                  "does not await a durable task"),
    "await_in_generator_expression": (
        "return sum(await ctx.call_activity(work, i) for i in range(3))\n", 1, 16, "error",
        "await inside a generator expression is not supported: it would be an async generator"),
    "await_in_generator_expression_if": (
        "g = list(i for i in range(3) if await ctx.call_activity(work, i))\n", 1, 14, "error",
        "await inside a generator expression is not supported"),
    "await_in_generator_expression_in_comprehension": (
        "return [sum(await ctx.call_activity(work, y) for y in range(x)) for x in range(3)]\n",
        1, 17, "error", "await inside a generator expression is not supported"),
    "generator_over_awaited_iterable_across_await": (
        "g = (i for i in await ctx.call_activity(work, [1]))\nawait ctx.call_activity(work, 1)\n"
        "return list(g)\n", 1, 5, "error", "local `g` holds a generator"),
    "async_for_comprehension": ("return [x async for x in ctx.items()]\n", 1, 12, "error",
                                "`async for` in a comprehension is not supported"),
    "async_for_in_nested_comprehension": (
        "xs = [[y async for y in x] for x in range(3)]\n", 1, 11, "error",
        "`async for` in a comprehension is not supported"),
    "await_in_comprehension_target": (
        "xs = {}\nys = [1 for xs[await ctx.call_activity(work, 1)] in range(3)]\n", 2, 10,
        "error", "await in a comprehension's `for` target is not supported"),
    "lambda_across_await": ("f = lambda v: v + 1\nawait ctx.call_activity(work, 1)\nreturn f(2)\n",
                            1, 5, "error", "local `f` holds a lambda"),
    "generator_across_await": ("g = (i for i in range(3))\nawait ctx.call_activity(work, 1)\n"
                               "return list(g)\n", 1, 5, "error", "local `g` holds a generator"),
    "class_across_await": ("class Box:\n    pass\nawait ctx.call_activity(work, 1)\n"
                           "return str(Box)\n", 1, 5, "error", "local `Box` holds a class"),
    # what a traceback's or the stack's frames held cannot be kept (issue 16)
    "traceback_frame_locals": (
        "try:\n    n / 0\nexcept ZeroDivisionError as e:\n    err = e\n"
        "await ctx.call_activity(work, 1)\nreturn err.__traceback__.tb_frame.f_code.co_name\n",
        6, 12, "error", "`tb_frame` reads a frame, which a compiled orchestrator cannot keep"),
    "traceback_lasti": ("try:\n    n / 0\nexcept ZeroDivisionError as e:\n"
                        "    return e.__traceback__.tb_lasti\n", 4, 16, "error",
                        "`tb_lasti` reads a frame"),
    "current_frame": ("import sys\nreturn sys._getframe().f_lineno\n", 2, 12, "error",
                      "`_getframe` reads a frame"),
    "stack_formatted": ("import traceback\nreturn traceback.format_stack()\n", 2, 12, "error",
                        "`format_stack` reads a frame"),
    "inspect_stack_in_a_helper": ("import inspect\ndef depth():\n    return len(inspect.stack())\n"
                                  "return depth()\n", 3, 20, "error",
                                  "`inspect.stack` reads a frame"),
    "walk_tb_imported_by_name": ("from traceback import walk_tb\ntry:\n    n / 0\n"
                                 "except ZeroDivisionError as e:\n"
                                 "    return len(list(walk_tb(e.__traceback__)))\n", 1, 27,
                                 "error", "`walk_tb` reads a frame"),
    "nested_async_def": ("async def inner():\n    return 1\nawait ctx.call_activity(work, 1)\n",
                         1, 5, "error", "nested `async def`"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_unsupported_construct_is_located(name: str) -> None:
    body, line, col, code, fragment = BAD[name]
    err = first_error(body)
    header_lines = PRELUDE.count("\n") + 2
    assert (err.path, err.line, err.col) == ("bad.py", header_lines + line, col), str(err)
    assert fragment in err.message
    assert err.code == code
    assert str(err).startswith(f"bad.py:{header_lines + line}:{col}: {code}")


def test_syntax_error_is_located() -> None:
    with pytest.raises(CompileError) as info:
        compiler.compile_source("x = (\n", "broken.py")
    assert str(info.value).startswith("broken.py:")
    assert "syntax error" in str(info.value)


def test_not_async_orchestrator() -> None:
    source = "from tether import orchestrator\n\n@orchestrator\ndef orch(ctx):\n    return 1\n"
    with pytest.raises(CompileError, match="must be an `async def`"):
        compiler.compile_source(source, "sync.py")


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(PRELUDE + "@orchestrator\nasync def orch(ctx):\n    yield 1\n")
    code = main(["compile", str(bad), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"{bad}:11:5: error: `yield` is not allowed")
    assert "Traceback" not in err


def test_cli_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "does/not/exist.py"]) == 2
    assert capsys.readouterr().err.strip() == "error: does/not/exist.py: no such file"


def test_internal_names_do_not_collide_with_user_names() -> None:
    source = PRELUDE + textwrap.dedent('''
        @orchestrator
        async def orch(ctx, _f):
            _state = 1
            _a0 = await ctx.call_activity(work, _f)
            return [_state, _a0]
    ''')
    from tests.compiler.eager import assert_same
    assert_same(source, "orch", [5])


def test_cli_determinism_findings_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "clock.py"
    src.write_text(PRELUDE + textwrap.dedent('''
        import datetime


        @orchestrator
        async def orch(ctx):
            if datetime.datetime.now().hour > 17:
                return await ctx.call_activity(work, 1)
            return 0
    '''))
    code = main(["compile", str(src), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"{src}:15:8: DET001 ")
    assert not (tmp_path / "out").exists()

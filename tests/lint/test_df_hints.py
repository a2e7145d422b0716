"""`tether lint` words Durable Functions' names as the compiler does (issue 13): an
`await ctx.task_all(...)` is DET007 with "did you mean `ctx.when_all`?", for every name of
`lint.df_names.RENAMED`, and the message is the compiler's, word for word."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler import CompileError, compile_source
from lint import check_source
from lint.df_names import RENAMED
from tether.cli import main

HEADER = ("from tether import orchestrator, activity\n\n\n@activity\ndef f(x):\n    return x\n\n\n"
          "@orchestrator\nasync def orch(context, x):\n")
LINE = HEADER.count("\n") + 1


def _ported(name: str) -> str:
    awaited = f"context.{name}" if name == "current_utc_date_time" else f"context.{name}(f, x)"
    return HEADER + f"    return await {awaited}\n"


@pytest.mark.parametrize("name", sorted(RENAMED))
def test_lint_gives_the_compilers_hint_for_every_durable_functions_name(name: str) -> None:
    source = _ported(name)
    (finding,) = check_source(source, "ported.py")
    tether_name = RENAMED[name][0].replace("ctx", "context", 1)
    assert (finding.code, finding.line) == ("DET007", LINE)
    assert finding.message == (f"`context.{name}` is Durable Functions' name; "
                               f"did you mean `{tether_name}`?")
    assert finding.help == RENAMED[name][1]
    with pytest.raises(CompileError) as compiled:
        compile_source(source, "ported.py")
    assert finding.message in str(compiled.value) and finding.help in str(compiled.value)


def test_other_non_task_awaits_keep_their_message() -> None:
    (finding,) = check_source(HEADER + "    return await context.not_a_task(f)\n", "ported.py")
    assert finding.message == "`await context.not_a_task(...)` does not await a durable task"


def test_a_durable_functions_name_on_another_object_is_not_renamed() -> None:
    (finding,) = check_source(HEADER + "    return await other.task_all([])\n", "ported.py")
    assert finding.message == "`await other.task_all(...)` does not await a durable task"


def test_tether_lint_prints_the_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ported.py").write_text(_ported("task_all"))
    assert main(["lint", str(tmp_path / "ported.py")]) == 1
    out = capsys.readouterr().out
    assert (f"ported.py:{LINE}:12: DET007 `context.task_all` is Durable Functions' name; "
            "did you mean `context.when_all`?") in out, out

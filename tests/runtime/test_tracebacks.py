"""runtime.tracebacks: a saved traceback, rebuilt, shows what the original showed, carets
included (the differential programs run from a name with no file behind it, so their
tracebacks show no source lines: the carets are checked here, from a file on disk)."""

from __future__ import annotations

import json
import textwrap
import traceback
from pathlib import Path
from types import TracebackType

import pytest

from runtime.tracebacks import entries, rebuild
from tests.differential.harness import (
    StoreMaker,
    check_case,
    compiled_module,
    plain_module,
    run_plain,
)

SOURCE = textwrap.dedent('''\
    def lookup(key):
        return {}[key] + \\
            1


    def spread(x):
        return (x
                + {}[x])


    def caught(fn, arg):
        try:
            fn(arg)
        except Exception as e:
            return e
''')


def shown(tb: TracebackType | None) -> list[tuple[object, ...]]:
    return [(f.filename, f.name, f.lineno, f.end_lineno, f.colno, f.end_colno, f.line)
            for f in traceback.extract_tb(tb)]


@pytest.mark.parametrize("fn, arg", [("lookup", "k"), ("spread", 3)])
def test_rebuilt_traceback_shows_the_same(tmp_path: Path, fn: str, arg: object) -> None:
    path = tmp_path / "helpers.py"
    path.write_text(SOURCE, encoding="utf-8")
    namespace: dict[str, object] = {}
    exec(compile(SOURCE, str(path), "exec"), namespace)
    error = namespace["caught"](namespace[fn], arg)  # type: ignore[operator]
    assert isinstance(error, BaseException)
    before = traceback.format_exception(error)
    assert "^" in "".join(before)  # the carets under the failing subscript are shown
    extracted = shown(error.__traceback__)
    saved = json.loads(json.dumps(entries(error.__traceback__)))
    error.__traceback__ = rebuild(saved)
    assert traceback.format_exception(error) == before
    assert shown(error.__traceback__) == extracted


@pytest.mark.parametrize("span", [(1, 1, 0, 3), (4, 4, 7, 9), (1, 3, 0, 4), (1, 2, 4, 5),
                                  (5, 7, 8, 2), (2, 5, 0, 1)])
def test_any_position_is_rebuilt_exactly(span: tuple[int, int, int, int]) -> None:
    line, end_line, col, end_col = span
    tb = rebuild([["nowhere.py", "f", line, end_line, col, end_col]])
    assert tb is not None and tb.tb_lineno == line
    assert entries(tb) == [["nowhere.py", "f", line, end_line, col, end_col]]


def test_far_lines_cost_no_long_source_and_huge_spans_lose_only_their_columns() -> None:
    far = rebuild([["f.py", "g", 10**9, 10**9, 3, 9]])
    assert entries(far) == [["f.py", "g", 10**9, 10**9, 3, 9]]
    assert entries(rebuild([["f.py", "g", 5, 10**8, 0, 2]])) == [["f.py", "g", 5, None, None, None]]


def test_an_entry_without_columns_keeps_its_line() -> None:
    tb = rebuild([["nowhere.py", "g", 12, None, None, None], ["x.py", "h", 3, 3, 4, 8]])
    assert tb is not None
    assert [(f.name, f.lineno, f.colno) for f in traceback.extract_tb(tb)] == [
        ("g", 12, None), ("h", 3, 4)]
    assert rebuild([]) is None


ORCHESTRATORS = textwrap.dedent('''\
    import traceback
    from datetime import timedelta

    from tether import orchestrator


    def lookup(d, key):
        return d[key]


    @orchestrator
    async def formatted_after_a_resume(ctx, n):
        try:
            total = n + lookup({}, "missing")
        except KeyError as e:
            err = e
        await ctx.sleep(timedelta(seconds=1))
        return traceback.format_exception(err)
''')


def test_carets_survive_a_resume(tmp_path: Path, stores: StoreMaker) -> None:
    path = tmp_path / "orch.py"
    path.write_text(ORCHESTRATORS, encoding="utf-8")
    plain = plain_module(ORCHESTRATORS, str(path))
    compiled = compiled_module(ORCHESTRATORS, str(path))
    reference = run_plain(plain, "formatted_after_a_resume", 1)
    assert "^" * 21 in "".join(reference.output)  # under `lookup({}, "missing")`
    check_case(plain, compiled, "formatted_after_a_resume", 1, [], stores)

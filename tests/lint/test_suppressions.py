"""Suppression comments: both spellings, only comments, and DET100 for those that
suppress nothing, judged only where the linter looked."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import lint
from lint import Config, check_source
from lint.suppressions import find

HEADER = "import time\nfrom tether import orchestrator\n"


def src(body: str) -> str:
    return HEADER + textwrap.dedent(body).lstrip("\n")


def codes(source: str, config: Config | None = None, path: str = "flow.py") -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in check_source(source, path, config)]


@pytest.mark.parametrize(("line", "want"), [
    ("x = 1  # tether: ignore[DET001]", ("DET001",)),
    ("x = 1  # tether: ignore[det001, DET002 ]", ("DET001", "DET002")),
    ("x = 1  # noqa: DET001", ("DET001",)),
    ("x = 1  # noqa:E501,DET003", ("DET003",)),
    ("x = 1  # NOQA: DET001 DET002", ("DET001", "DET002")),
    ("x = 1  # tether: ignore", ()),
    ("x = 1  # noqa: E501  # tether: ignore[DET004]", ("DET004",)),
], ids=["tether", "case-and-spaces", "noqa", "noqa-mixed", "noqa-spaces", "bare", "both"])
def test_what_a_comment_suppresses(line: str, want: tuple[str, ...]) -> None:
    (found,) = find(line + "\n").values()
    assert found.codes == want and found.line == 1 and found.col == 8


@pytest.mark.parametrize("source", [
    "x = 1  # noqa\n",                       # bare noqa: the other tools' business
    "x = 1  # noqa: E501\n",                 # no code of ours
    "x = '# tether: ignore[DET001]'\n",      # a string, not a comment
    'x = """\n# noqa: DET001\n"""\n',        # inside a multi-line string
], ids=["bare-noqa", "foreign-noqa", "string", "docstring"])
def test_what_is_not_a_suppression(source: str) -> None:
    assert find(source) == {}


def test_noqa_is_an_alias_and_a_string_suppresses_nothing() -> None:
    source = src("""
        @orchestrator
        async def o(ctx):
            a = time.time()  # noqa: DET001
            b = (time.time(), "# noqa: DET001")
    """)
    assert codes(source) == [(6, "DET001")]


def test_unused_in_a_reached_helper_is_flagged_in_an_unreached_one_not() -> None:
    source = src("""
        def reached():
            return 1  # tether: ignore[DET001]

        def unreached():
            return 1  # tether: ignore[DET001]

        @orchestrator
        async def o(ctx):
            return reached()
    """)
    (finding,) = check_source(source, "flow.py")
    assert (finding.line, finding.code, finding.chain) == (4, "DET100", ("o", "reached"))
    assert finding.message == ("`# tether: ignore[DET001]` suppresses nothing (unused: DET001) "
                               "(via o -> reached)")


def test_codes_that_do_not_run_are_not_judged(tmp_path: Path) -> None:
    source = src("""
        @orchestrator
        async def o(ctx):
            return 1  # tether: ignore[DET001]
    """)
    assert codes(source) == [(5, "DET100")]
    assert codes(source, Config(ignore=("DET001",))) == []        # DET001 does not run
    assert codes(source, Config(select=("DET002",))) == []        # nor here
    assert codes(source, Config(ignore=("DET100",))) == []        # DET100 itself turned off
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tether]\nper-file-ignores = { "legacy/*.py" = ["DET001"] }\n')
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "old.py").write_text(source)
    (tmp_path / "new.py").write_text(source)
    result = lint.lint_paths([str(tmp_path)], lint.load_config(tmp_path), jobs=1)
    assert [(Path(f.path).name, f.code) for f in result.findings] == [("new.py", "DET100")]


def test_det100_names_itself_to_excuse_a_stale_comment() -> None:
    source = src("""
        @orchestrator
        async def o(ctx):
            return 1  # tether: ignore[DET001, DET100]
    """)
    assert codes(source) == []


def test_a_rule_that_runs_in_orchestrators_only_is_unused_in_helpers() -> None:
    # DET007 (awaits) judges the orchestrator's own awaits; in a helper it never fires
    source = src("""
        import asyncio
        async def helper():
            await asyncio.sleep(0)  # tether: ignore[DET005, DET007]

        @orchestrator
        async def o(ctx):
            await asyncio.sleep(0)  # tether: ignore[DET005, DET007]
            return helper
    """)
    findings = check_source(source, "flow.py")
    assert [(f.line, f.code, f.message.split(" (via")[0]) for f in findings] == [
        (5, "DET100", "`# tether: ignore[DET005, DET007]` suppresses nothing (unused: DET007)")]


def test_compile_is_not_refused_for_an_unused_suppression(tmp_path: Path) -> None:
    from compiler import compile_source

    source = src("""
        @orchestrator
        async def o(ctx):
            return 1  # tether: ignore[DET001]
    """)
    assert codes(source) == [(5, "DET100")]
    compiled = compile_source(source, str(tmp_path / "flow.py"))
    assert compiled is not None


def test_det006_message_reads_as_a_sentence() -> None:
    # regression: the message said "`.add()` on mutates module-level `SEEN`"
    (finding,) = check_source(src("""
        SEEN = set()
        @orchestrator
        async def o(ctx):
            SEEN.add(1)
    """), "flow.py")
    assert finding.message == "`.add()` mutates module-level `SEEN` in orchestrator code"

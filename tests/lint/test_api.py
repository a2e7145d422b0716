"""The Python interface the compiler and CLI rely on: check_source, Config, lint_paths."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

import lint
from lint import Config, ConfigError, Finding, ParseError, check_source, lint_paths, load_config

HEADER = "from tether import orchestrator, activity\nimport time\n"


def src(body: str) -> str:
    return HEADER + textwrap.dedent(body).lstrip("\n")


def codes(source: str, config: Config | None = None) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in check_source(source, "flow.py", config)]


def test_finding_is_frozen_and_prints_as_the_text_format() -> None:
    (finding,) = check_source(src("""
        @orchestrator
        async def o(ctx):
            return time.time()
    """), "pkg/flow.py")
    assert str(finding) == "pkg/flow.py:5:12: DET001 `time.time()` reads the wall clock in orchestrator code"
    assert finding.help == "use `ctx.current_utc_datetime`, which is journaled"
    assert finding.chain == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 3  # type: ignore[misc]


def test_findings_are_sorted_by_line_col_code() -> None:
    findings = check_source(src("""
        import asyncio
        @orchestrator
        async def o(ctx):
            await asyncio.sleep(time.time())
            x = time.time()
    """), "f.py")
    keys = [(f.line, f.col, f.code) for f in findings]
    assert keys == sorted(keys)
    assert [k[2] for k in keys] == ["DET007", "DET005", "DET001", "DET001"]


def test_column_counts_characters_not_bytes() -> None:
    (finding,) = check_source(src("""
        @orchestrator
        async def o(ctx):
            é = "ü"; t = time.time()
    """), "f.py")
    assert finding.col == 18  # `é` and `ü` are two bytes each: the byte offset is 19


def test_parse_error_is_located() -> None:
    with pytest.raises(ParseError) as err:
        check_source("x = 1\ndef f(:\n", "broken.py")
    assert (err.value.path, err.value.line) == ("broken.py", 2)
    assert str(err.value).startswith("broken.py:2:")
    assert ": error: syntax error" in str(err.value)


def test_module_without_orchestrators_has_no_findings() -> None:
    assert codes("import time\ndef f():\n    return time.time()\n") == []


def test_suppression_names_codes_and_only_those() -> None:
    source = src("""
        import random
        @orchestrator
        async def o(ctx):
            a = time.time()  # tether: ignore[DET001]
            b = time.time()  # tether: ignore[DET002]
            c = random.random() + time.time()  # tether: ignore[DET001, DET002]
            d = time.time()  # tether: ignore
    """)
    # the DET002 of line 7 and the bare comment of line 9 suppress nothing: DET100
    assert codes(source) == [(7, "DET001"), (7, "DET100"), (9, "DET001"), (9, "DET100")]


def test_select_ignore_and_prefixes() -> None:
    source = src("""
        import random
        @orchestrator
        async def o(ctx):
            return random.random() + time.time()
    """)
    assert {c for _, c in codes(source, Config(select=("DET002",)))} == {"DET002"}
    assert {c for _, c in codes(source, Config(ignore=("DET001",)))} == {"DET002"}
    assert codes(source, Config(ignore=("DET00",))) == []


def test_extra_nondeterministic_and_safe_names(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.tether]
        safe = ["time.monotonic"]
        [tool.tether.nondeterministic]
        DET001 = ["acme.clock.now"]
        DET003 = ["acme.http.*"]
    """))
    config = load_config(tmp_path)
    source = src("""
        from acme import clock, http
        from acme.http import fetch as get
        @orchestrator
        async def o(ctx):
            a = clock.now()
            b = http.post("x")
            c = get("y")
            d = time.monotonic()
            e = clock.later()
    """)
    assert codes(source, config) == [(7, "DET001"), (8, "DET003"), (9, "DET003")]
    assert codes(source) == [(10, "DET001")]


def test_per_file_ignores_match_paths_relative_to_the_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.tether]\nper-file-ignores = { "legacy/*.py" = ["DET001"] }\n')
    for folder in ("legacy", "new"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "flow.py").write_text(src("""
            @orchestrator
            async def o(ctx):
                return time.time()
        """))
    result = lint_paths([str(tmp_path)], load_config(tmp_path), jobs=1)
    assert [Path(f.path).parent.name for f in result.findings] == ["new"]


@pytest.mark.parametrize(("toml", "message"), [
    ('select = "DET001"', "[tool.tether] select: must be a list of strings"),
    ('ignore = ["DET010"]', "[tool.tether] ignore: unknown rule code 'DET010'"),
    ('per-file-ignores = ["x"]', "[tool.tether] per-file-ignores: must be a table"),
    ('nondeterministic = { DET008 = ["x.y"] }', "[tool.tether] nondeterministic.DET008:"),
    ("select = [", "cannot read"),
], ids=["select-type", "unknown-code", "pfi-type", "nd-code", "toml-syntax"])
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.tether]\n{toml}\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path / "pyproject.toml"))
    assert message in text


def test_no_tether_table_means_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    (tmp_path / "sub").mkdir()
    config = load_config(tmp_path / "sub")  # found by walking up
    assert (config.select, config.ignore, config.per_file_ignores) == (("DET", "ENT"), (), ())


def test_import_forms_resolve_to_qualified_names() -> None:
    source = src("""
        import datetime as dt, os.path
        from time import *
        from os import path as p
        @orchestrator
        async def o(ctx):
            a = dt.datetime.now()
            b = monotonic()
            c = p.exists("x")
            d = os.path.isfile("y")
            e = dt.date(2020, 1, 1)
    """)
    assert codes(source) == [(8, "DET001"), (9, "DET001"), (10, "DET003"), (11, "DET003")]


def test_relative_imports_inside_a_package(tmp_path: Path) -> None:
    pkg = tmp_path / "app" / "flows"
    pkg.mkdir(parents=True)
    (tmp_path / "app" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (tmp_path / "app" / "util.py").write_text("import uuid\ndef new_id():\n    return uuid.uuid4()\n")
    (pkg / "order.py").write_text(src("""
        from ..util import new_id
        @orchestrator
        async def o(ctx):
            return new_id()
    """))
    findings = check_source((pkg / "order.py").read_text(), str(pkg / "order.py"))
    assert [(Path(f.path).name, f.line, f.code, f.chain) for f in findings] == [
        ("util.py", 3, "DET002", ("o", "app.util.new_id"))]


def test_recursive_helpers_terminate_and_report_once() -> None:
    source = src("""
        def ping(n):
            return pong(n - 1) if n else time.time()
        def pong(n):
            return ping(n)
        @orchestrator
        async def o(ctx):
            return ping(3) + pong(2)
    """)
    findings = check_source(source, "f.py")
    assert [(f.line, f.chain) for f in findings] == [(4, ("o", "ping"))]


def test_activity_bodies_are_never_checked_even_when_called_from_helpers() -> None:
    source = src("""
        @activity
        def act():
            return time.time()
        def helper():
            return 1
        @orchestrator
        async def o(ctx):
            return await ctx.call_activity(act, helper())
    """)
    assert codes(source) == []


def _write_flows(folder: Path, count: int) -> None:
    folder.mkdir(exist_ok=True)
    for i in range(count):
        read = "time.time()" if i % 3 == 0 else "ctx.current_utc_datetime"
        (folder / f"flow_{i:02d}.py").write_text(src(f"""
            @orchestrator
            async def o{i}(ctx):
                return {read}
        """))


def test_parallel_and_sequential_runs_agree(tmp_path: Path) -> None:
    _write_flows(tmp_path, 20)
    (tmp_path / "broken.py").write_text("orchestrator = (\n")
    one = lint_paths([str(tmp_path)], jobs=1)
    two = lint_paths([str(tmp_path)], jobs=2)
    assert one.findings == two.findings
    assert [str(e) for e in one.errors] == [str(e) for e in two.errors]
    assert len(one.findings) == 7
    assert one.exit_code == two.exit_code == 2
    assert one.parsed == 21


def test_prefilter_skips_files_that_cannot_hold_orchestrators(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("def broken(:\n")  # never parsed
    result = lint_paths([str(tmp_path)], jobs=1)
    assert (result.files, result.parsed, result.errors) == (1, 0, [])
    assert result.exit_code == 0


def test_a_file_named_explicitly_is_always_parsed(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("x = 1\ndef broken(:\n")
    result = lint_paths([str(tmp_path / "plain.py")], jobs=1)
    assert [str(e) for e in result.errors] == [
        f"{tmp_path / 'plain.py'}:2:12: error: syntax error: invalid syntax"]
    assert result.exit_code == 2


def test_lint_result_exit_codes(tmp_path: Path) -> None:
    _write_flows(tmp_path, 1)
    assert lint_paths([str(tmp_path)]).exit_code == 1
    assert lint_paths([str(tmp_path)], Config(select=("DET009",))).exit_code == 0


def test_public_names() -> None:
    assert set(lint.__all__) >= {"check_source", "Finding", "ParseError", "Config",
                                 "load_config", "lint_paths", "LintResult"}
    assert Finding.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_a_project_module_named_like_a_standard_one_is_not_the_standard_one(
        tmp_path: Path) -> None:
    (tmp_path / "random.py").write_text("def pick(items):\n    return sorted(items)[0]\n")
    flow = tmp_path / "flow.py"
    flow.write_text(src("""
        import random
        @orchestrator
        async def o(ctx, items):
            return random.pick(items)
    """))
    assert check_source(flow.read_text(), str(flow)) == []  # `random.*` would be DET002

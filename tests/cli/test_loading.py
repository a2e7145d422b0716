"""Loading SRC: a user's mistake at import time is one line naming their file and line
(exit 2), compiled modules are cached so an unchanged file needs no compiler, and
tracebacks through compiled code point at the source lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tether.cli import main
from tether.module_cache import entry_path

ROOT = Path(__file__).resolve().parents[2]

ORCH = '''
from tether import activity, orchestrator


@activity
def twice(x: int) -> int:
    return 2 * x


@orchestrator
async def orch(ctx, n: int) -> int:
    return await ctx.call_activity(twice, n)
'''


@pytest.mark.parametrize(("source", "line", "expected"), [
    pytest.param("import json\nimport nosuchmod_xyz\n", 2,
                 "no module named 'nosuchmod_xyz'", id="missing-module"),
    pytest.param(ORCH + "\nvalue = undefined_name + 1\n", ORCH.count("\n") + 2,
                 "raised NameError: name 'undefined_name' is not defined", id="name-error"),
    pytest.param("from tether import activity\n\n\n@activity\ndef f(a, b):\n    return a\n", 4,
                 "f takes 2 inputs; activities and orchestrators take at most one",
                 id="two-parameters"),
    pytest.param("from tether import when_all\n", 1,
                 "cannot import name 'when_all' from 'tether'; `when_all` is a method of the "
                 "context: `await ctx.when_all(tasks)`", id="when-all"),
    pytest.param("x = 1\nraise RuntimeError('no config')\n", 2,
                 "raised RuntimeError: no config", id="raises"),
])
def test_a_mistake_at_import_time_is_one_line_naming_the_file_and_line(
    source: str, line: int, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows.py").write_text(source)
    code = main(["run", "flows.py:orch", "--store", "store"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: flows.py:{line}: "), err
    assert expected in err
    assert "internal error" not in err


def test_a_mistake_in_an_imported_module_names_that_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "helpers_bad_a.py").write_text("import os\n\nLIMIT = os.nothing_here\n")
    (tmp_path / "flows.py").write_text("import helpers_bad_a\n" + ORCH)
    assert main(["run", "flows.py:orch", "--store", "store"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: helpers_bad_a.py:3: importing flows.py raised AttributeError"), err


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "", "PYTHONPATH": str(ROOT)})


WARM_RUN = """
    import json, sys
    from tether.cli import main
    code = main(["run", "flows.py:orch", "--input", "21", "--store", "store"])
    print(json.dumps({"code": code, "compiler": "compiler" in sys.modules,
                      "libcst": "libcst" in sys.modules}))
"""


def _warm_run(cwd: Path) -> dict[str, object]:
    done = _run_python(WARM_RUN, cwd)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_unchanged_file_runs_from_the_cache_without_the_compiler(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(ORCH)
    assert _warm_run(tmp_path) == {"code": 0, "compiler": True, "libcst": True}
    assert entry_path(tmp_path / "flows.py").is_file()
    assert _warm_run(tmp_path) == {"code": 0, "compiler": False, "libcst": False}


def test_a_changed_source_or_imported_orchestrator_module_is_recompiled(tmp_path: Path) -> None:
    (tmp_path / "child_flows.py").write_text(textwrap.dedent('''
        from tether import orchestrator

        @orchestrator
        async def child(ctx, n: int) -> int:
            return n + 1
    '''))
    (tmp_path / "flows.py").write_text(textwrap.dedent('''
        from tether import orchestrator
        from child_flows import child

        @orchestrator
        async def orch(ctx, n: int) -> int:
            return await ctx.call_sub_orchestrator(child, n)
    '''))
    _warm_run(tmp_path)
    assert _warm_run(tmp_path)["compiler"] is False
    child = tmp_path / "child_flows.py"
    child.write_text(child.read_text().replace("n + 1", "n + 2"))
    # `--id` differs per run through the store: each run is a new instance
    again = _run_python(WARM_RUN.replace('"21"', '"1"'), tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["compiler"] is True
    out = subprocess.run(
        [sys.executable, "-m", "tether.cli", "run", "flows.py:orch", "--input", "1",
         "--store", "store2"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert json.loads(out.stdout) == 3, out.stderr
    flows = tmp_path / "flows.py"
    flows.write_text(flows.read_text().replace("return await", "return 10 * await"))
    assert _warm_run(tmp_path)["compiler"] is True


def test_a_damaged_cache_entry_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(ORCH)
    _warm_run(tmp_path)
    entry = entry_path(tmp_path / "flows.py")
    entry.write_bytes(entry.read_bytes()[:40])
    assert _warm_run(tmp_path) == {"code": 0, "compiler": True, "libcst": True}


def test_commands_without_a_compiler_never_import_it(tmp_path: Path) -> None:
    done = _run_python("""
        import sys
        from tether.cli import main
        for argv in (["status", "nobody", "--store", "s"], ["list", "--store", "s"],
                     ["history", "nobody", "--store", "s"],
                     ["raise-event", "nobody", "go", "--store", "s"]):
            main(argv)
        try:
            main(["--help"])
        except SystemExit:
            pass
        heavy = sorted(m for m in ("compiler", "libcst", "networkx", "jinja2", "lint")
                       if m in sys.modules)
        print("HEAVY", heavy)
    """, tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY []", done.stderr


def test_an_activity_traceback_names_the_source_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    source = ORCH.replace("return 2 * x", "if x > 1:\n        raise ValueError(f'bad {x}')\n"
                                          "    return 2 * x")
    (tmp_path / "flows.py").write_text(source)
    line = source.splitlines().index("        raise ValueError(f'bad {x}')") + 1
    assert main(["run", "flows.py:orch", "--input", "5", "--store", "store", "--id", "t1"]) == 1
    capsys.readouterr()
    assert main(["history", "t1", "--store", "store"]) == 0
    history = json.loads(capsys.readouterr().out)
    details = next(e["error"]["details"] for e in history
                   if isinstance(e.get("error"), dict) and e["error"].get("details"))
    assert f'File "flows.py", line {line}, in twice' in details
    assert "raise ValueError(f'bad {x}')" in details


def test_an_orchestrator_failure_shows_its_source_line_in_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    source = ORCH.replace("    return await ctx.call_activity(twice, n)",
                          "    doubled = await ctx.call_activity(twice, n)\n"
                          "    if doubled > 5:\n"
                          "        raise RuntimeError(f'too big: {doubled}')\n"
                          "    return doubled")
    (tmp_path / "flows.py").write_text(source)
    line = source.splitlines().index("        raise RuntimeError(f'too big: {doubled}')") + 1
    assert main(["run", "flows.py:orch", "--input", "5", "--store", "store", "--id", "f1"]) == 1
    capsys.readouterr()
    assert main(["status", "f1", "--store", "store"]) == 0
    doc = json.loads(capsys.readouterr().out)
    details = doc["failureDetails"]
    assert (details["errorType"], details["errorMessage"]) == ("RuntimeError", "too big: 10")
    assert f'File "flows.py", line {line}, in orch' in details["stackTrace"]
    assert "raise RuntimeError(f'too big: {doubled}')" in details["stackTrace"]
    assert "runtime" + "/engine" not in details["stackTrace"]  # the runtime's frames left out

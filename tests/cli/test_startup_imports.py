"""What each command imports (issue 13, "a CLI that starts fast"): a command builds only
its own module's parsers (`tether.cli.COMMANDS`) and loads nothing it does not use. The
time itself is measured in bench/cli_startup.py, never here; these tests pin the import
sets that the measured times rest on, each command in a fresh interpreter."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tether.cli import COMMANDS, build_parser, main

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

#: Never needed by a command that neither compiles nor serves nor talks to PostgreSQL.
HEAVY = ("libcst", "jinja2", "networkx", "starlette", "uvicorn", "psycopg", "httpx",
         "prometheus_client", "opentelemetry", "compiler", "lint")
#: The other commands' modules: a command builds only its own module's parsers.
OTHER_COMMANDS = ("tether.commands.compile_cmd", "tether.commands.lint_cmd",
                  "tether.commands.graph_cmd", "tether.commands.serve_cmd",
                  "tether.commands.db_cmd", "tether.commands.manage_cmd")
#: Reading a document needs neither the authoring API nor the engine.
AUTHORING = ("runtime.api", "runtime.machine", "runtime.values", "runtime.engine", "uuid")

PROBE = """
    import json, sys
    from tether.cli import main
    code = main({argv!r})
    watched = {watched!r}
    print(json.dumps({{"code": code, "loaded": sorted(
        m for m in watched if m in sys.modules or any(k.startswith(m + ".") for k in sys.modules))}}))
"""


def _imports(argv: list[str], watched: tuple[str, ...], cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE.format(argv=argv, watched=watched))],
        cwd=cwd, capture_output=True, text=True, timeout=120,
        env={"PATH": "", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def store_with_an_instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with flows.py, its compiled-module cache filled, and instance `done-1`."""
    folder = tmp_path_factory.mktemp("startup")
    (folder / "flows.py").write_text(ORCH)
    first = _imports(["run", "flows.py:orch", "--input", "21", "--store", "store",
                      "--id", "done-1"], (), folder)
    assert first["code"] == 0
    return folder


@pytest.mark.parametrize("argv", [
    pytest.param(["status", "done-1", "--store", "store"], id="status"),
    pytest.param(["status", "done-1", "--store", "store", "--history"], id="status-history"),
    pytest.param(["list", "--store", "store"], id="list"),
])
def test_reading_a_document_loads_no_compiler_server_engine_or_authoring_api(
    store_with_an_instance: Path, argv: list[str],
) -> None:
    watched = HEAVY + OTHER_COMMANDS + AUTHORING
    if "--history" in argv:  # the checkpoints' variables are shown through runtime.machine
        watched = HEAVY + OTHER_COMMANDS
    assert _imports(argv, watched, store_with_an_instance) == {"code": 0, "loaded": []}


@pytest.mark.parametrize("argv", [
    pytest.param(["history", "done-1", "--store", "store"], id="history"),
    pytest.param(["raise-event", "done-1", "go", "--store", "store"], id="raise-event"),
    pytest.param(["terminate", "done-1", "--store", "store"], id="terminate"),
    pytest.param(["rewind", "done-1", "--store", "store"], id="rewind"),
])
def test_managing_an_instance_loads_no_compiler_or_server(
    store_with_an_instance: Path, argv: list[str],
) -> None:
    others = tuple(m for m in OTHER_COMMANDS if m != COMMANDS[argv[0]])
    result = _imports(argv, HEAVY + others, store_with_an_instance)
    assert result["loaded"] == []
    assert result["code"] in (0, 2)  # the instance has ended: raise-event and rewind refuse


def test_a_warm_run_loads_neither_compiler_nor_server(store_with_an_instance: Path) -> None:
    argv = ["run", "flows.py:orch", "--input", "2", "--store", "store"]
    # nor `uuid`, whose `platform` compiles regular expressions: ids come from os.urandom
    assert _imports(argv, (*HEAVY, *OTHER_COMMANDS, "uuid", "platform"),
                    store_with_an_instance) == {"code": 0, "loaded": []}


def test_a_new_instance_id_is_a_version_4_uuid() -> None:
    import uuid

    from runtime.ids import new_instance_id

    ids = {new_instance_id() for _ in range(200)}
    assert len(ids) == 200
    for made in ids:
        parsed = uuid.UUID(hex=made)
        assert (parsed.hex, parsed.version, parsed.variant) == (made, 4, uuid.RFC_4122)


def test_help_lists_every_command_without_loading_the_compiler(tmp_path: Path) -> None:
    assert _imports(["--help"], HEAVY, tmp_path) == {"code": 0, "loaded": []}


def test_help_lists_every_command_of_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["-h", "status"]):  # an option first: the top-level parser's
        assert main(argv) == 0
        listing = capsys.readouterr().out
        listed = [line.split()[0] for line in listing.splitlines() if line.startswith("    ")
                  and not line.startswith("     ")]
        assert listed == list(COMMANDS), listing


def _registered(module_name: str) -> set[str]:
    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module_name).register(sub)
    return set(sub.choices)


def test_the_table_names_every_command_each_module_registers() -> None:
    modules = set(COMMANDS.values())
    for module_name in modules:
        assert _registered(module_name) == {c for c, m in COMMANDS.items() if m == module_name}
    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)  # `tether --help` in the table's order


def test_a_command_builds_only_its_own_modules_parsers() -> None:
    parser = build_parser("status")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == _registered("tether.commands.run_cmd")
    assert "compile" not in sub.choices

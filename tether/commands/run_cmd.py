"""`tether run SRC:ORCH [--input JSON] [--store DIR] [--id ID]`: start an instance (or
resume it, when the id exists) and work it to the end in this process."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tether.errors import ExitCode, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run", help="start an instance and work it to the end in-process",
        description="Start an instance of SRC:ORCH and work it to the end in this process; "
        "print its output as JSON. With the --id of an existing instance, continue it from "
        "its last checkpoint instead (after a crash, say).")
    p.add_argument("target", metavar="SRC:ORCH", help="a Python file or module, and the orchestrator")
    p.add_argument("--input", default=None, metavar="JSON", help="the orchestration input (JSON)")
    add_store_argument(p)
    p.add_argument("--id", default=None, metavar="ID", help="the instance id (default: a new one)")
    p.set_defaults(func=cmd_run)


def add_store_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None, metavar="DIR",
                   help="the store directory (default: $TETHER_STORE, else .tether/)")


def store_path(args: argparse.Namespace) -> Path:
    from runtime.store import default_store

    return Path(args.store) if args.store else default_store()


def parse_json(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}: {text!r}") from None


def instance_id(value: str | None) -> str | None:
    from runtime.store import InvalidInstanceId, validate_id

    if value is None:
        return None
    try:
        return validate_id(value)
    except InvalidInstanceId as exc:
        raise UsageError(str(exc)) from None


def cmd_run(args: argparse.Namespace) -> int:
    from runtime.clock import Clock
    from runtime.executor import run_inline
    from runtime.instance import VersionMismatchError
    from runtime.values import NotJSONError
    from tether.loader import load, split_spec

    src, orch = split_spec(args.target)
    data = parse_json(args.input, "--input")
    iid = instance_id(args.id)
    loaded = load(src)
    if orch is None:
        found = ", ".join(sorted(loaded.orchestrators())) or "none"
        raise UsageError(f"{src}: name the orchestrator to run as {src}:NAME; found: {found}")
    mdef = loaded.machine(orch)
    try:
        result = run_inline(mdef, data, store=store_path(args), instance_id=iid, clock=Clock())
    except (VersionMismatchError, NotJSONError) as exc:
        raise UsageError(str(exc)) from None
    if result.status == "Completed":
        print(json.dumps(result.output))
        return ExitCode.OK
    detail = f": {result.error[0]}: {result.error[1]}" if result.error else ""
    print(f"error: instance {result.instance_id} {result.status.lower()}{detail}", file=sys.stderr)
    return ExitCode.FINDINGS

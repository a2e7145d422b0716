"""`tether run/start/worker/status/history/list/raise-event/terminate/suspend/resume/purge`.

The store is `--store`, else `TETHER_STORE`, else `.tether/`. Instance ids are checked
before the disk is touched. Results go to stdout as JSON; errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from tether.commands import log_options
from tether.errors import ExitCode, UsageError

STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="start an instance and work it to the end in-process")
    p.add_argument("spec", metavar="SRC[:ORCH]",
                   help="the orchestrator; ORCH may be left out when SRC defines one")
    _input(p)
    _store(p)
    p.add_argument("--id", dest="instance_id", metavar="ID", help="instance id (rerun to resume)")
    p.add_argument("--virtual-clock", action="store_true",
                   help="timers fire at once, in order (try a monitor without waiting)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("start", help="create an instance; print its id")
    p.add_argument("spec", metavar="SRC:ORCH")
    _input(p)
    _store(p)
    p.add_argument("--id", dest="instance_id", metavar="ID")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("worker", help="serve every instance of the store until stopped")
    p.add_argument("src", metavar="SRC")
    _store(p)
    p.add_argument("--concurrency", type=int, default=16, help="activities at once (default 16)")
    p.add_argument("--until-idle", action="store_true", help="exit once no instance is left to run, or every one left "
                   "waits for an event or a resume from a client (named in one note line)")
    log_options.add(p)
    p.set_defaults(func=cmd_worker)

    for name, func, text in (("status", cmd_status, "an instance's status document"),
                             ("history", cmd_history, "every event, with the frame at each checkpoint")):
        p = sub.add_parser(name, help=text)
        p.add_argument("instance_id", metavar="ID")
        _store(p)
        if name == "status":
            p.add_argument("--history", action="store_true", help="include historyEvents")
        p.add_argument("--all-variables", action="store_true",
                       help="show every saved slot at each checkpoint, the compiler's "
                            "temporaries too (default: the orchestrator's own variables)")
        p.set_defaults(func=func)

    p = sub.add_parser("list", help="status documents of the store's instances")
    _store(p)
    _filters(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("raise-event", help="send an external event to an instance")
    p.add_argument("instance_id", metavar="ID")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--data", default="null", metavar="JSON")
    _store(p)
    p.set_defaults(func=cmd_raise_event)

    for name in ("terminate", "suspend", "resume"):
        p = sub.add_parser(name, help=f"{name} an instance")
        p.add_argument("instance_id", metavar="ID")
        p.add_argument("--reason", default=None)
        _store(p)
        p.set_defaults(func=cmd_control, action=name)

    p = sub.add_parser("purge", help="delete ended instances (one by id, or by status/age)")
    p.add_argument("instance_id", metavar="ID", nargs="?")
    _store(p)
    _filters(p)
    p.set_defaults(func=cmd_purge)


def _input(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", default="null", metavar="JSON", help="orchestration input (JSON)")


def _store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", metavar="DIR|URL",
                   help="store directory or postgresql:// URL (default: $TETHER_STORE or .tether)")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", action="append", choices=STATUSES, help="only these statuses")
    p.add_argument("--created-before", metavar="ISO", help="only instances created before")
    p.add_argument("--created-after", metavar="ISO", help="only instances created at or after")


# -- helpers ---------------------------------------------------------------------------------


def _backend(args: argparse.Namespace, *, patience: float = 0.0) -> Any:
    """The backend `--store` (or $TETHER_STORE, or .tether) names, ready for use;
    `patience`: seconds a long-running command waits for a store it cannot reach yet
    (`Backend.expect_outages`), where others fail at once."""
    from runtime.backends import default_spec, open_backend
    from runtime.backends.base import BackendError

    try:
        backend = open_backend(args.store or default_spec())
        backend.expect_outages(patience)
        backend.ensure()
    except BackendError as exc:
        raise UsageError(str(exc)) from None
    return backend


def _json_arg(text: str, what: str) -> Any:
    """The JSON value of an argument, within `runtime.limits` (nesting, UTF-8, digits)."""
    from runtime.limits import MalformedJSON, parse_json
    from runtime.values import NotJSONError

    try:
        return parse_json(text, what)
    except MalformedJSON as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    except NotJSONError as exc:
        raise UsageError(str(exc)) from None


def _id(value: str | None) -> str | None:
    from runtime.ids import InvalidInstanceId, validate_id

    if value is None:
        return None
    try:
        return validate_id(value)
    except InvalidInstanceId as exc:
        raise UsageError(str(exc)) from None


def _time(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        from runtime.clock import parse_iso

        when = parse_iso(value)
    except ValueError:
        raise UsageError(f"{what}: {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise UsageError(f"{what}: {value!r} needs a time zone (e.g. Z)")
    return when


def _machine(spec: str, *, only_one: bool = False) -> Any:
    """The machine `SRC:ORCH` names; with `only_one`, `SRC` alone names the one
    orchestrator SRC defines."""
    from tether.loader import load, split_spec

    src, orch = split_spec(spec)
    if orch is None and not only_one:
        raise UsageError(f"{spec}: name the orchestrator as SRC:ORCH")
    loaded = load(src)
    if orch is None:
        return loaded.machine(loaded.only_orchestrator())
    return loaded.machine(orch)


def _client(args: argparse.Namespace) -> Any:
    from runtime.client import Client

    return Client(_backend(args))


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


#: The runtime's refusals `_checked` words as usage errors, as (module, class). None is
#: imported to be caught: a class whose module was never imported cannot have been
#: raised, and `tether status` must not load the authoring API (runtime.api) to print a
#: document (docs/benchmarks.md, "CLI start-up").
REFUSALS = (("runtime.client", "UnknownInstance"), ("runtime.ids", "InvalidInstanceId"),
            ("runtime.values", "NotJSONError"), ("runtime.api", "OrchestrationError"),
            ("runtime.backends.base", "BackendError"))


def _refusal_types() -> tuple[type[BaseException], ...]:
    loaded = ((sys.modules.get(module), name) for module, name in REFUSALS)
    return (TimeoutError, *(getattr(m, name) for m, name in loaded if m is not None))


def _checked(call: Any) -> Any:
    """Run a client call, turning the runtime's refusals into one-line usage errors."""
    try:
        return call()
    except Exception as exc:
        if isinstance(exc, _refusal_types()):
            raise UsageError(str(exc).strip("'\"")) from None
        if isinstance(exc, ValueError):
            raise UsageError(str(exc)) from None
        raise


# -- commands -------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from runtime.clock import Clock, VirtualClock
    from runtime.engine import run_inline
    from runtime.ids import new_instance_id
    from runtime.instance import VersionMismatchError
    from tether.commands.waiting import WaitReporter
    from tether.loader import split_spec

    instance_id = _id(args.instance_id) or new_instance_id()
    data = _json_arg(args.input, "--input")
    mdef = _machine(args.spec, only_one=True)
    _refuse_other_orchestrator(args, instance_id, mdef.name)
    clock = VirtualClock() if args.virtual_clock else Clock()
    watched = _backend(args)  # the reporter's own: it reads from another thread
    try:
        with WaitReporter(instance_id, lambda: list(watched.history(instance_id))):
            result = _checked(lambda: run_inline(mdef, data, store=_backend(args),
                                                 instance_id=instance_id, clock=clock))
    except VersionMismatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    for child in result.unfinished:
        print(f"note: sub-orchestration {child} is still running (never awaited); "
              f"`tether worker {split_spec(args.spec)[0]}` will finish it", file=sys.stderr)
    if result.status == "Completed":
        _print(result.output)
        return ExitCode.OK
    message = f"{result.error[0]}: {result.error[1]}" if result.error else result.status
    print(f"error: instance {result.instance_id} {result.status.lower()}: {message}", file=sys.stderr)
    return ExitCode.FINDINGS


def _refuse_other_orchestrator(args: argparse.Namespace, instance_id: str, name: str) -> None:
    """`tether run a.py:x --id ID` resumes ID only if ID is an instance of x."""
    from runtime.client import UnknownInstance

    if instance_id.startswith("@"):  # an entity's id, which no orchestration may take
        raise UsageError(f"--id {instance_id} names an entity (@name@key), not an "
                         "orchestration instance; pick another --id")
    try:
        doc = _client(args).status(instance_id)
    except UnknownInstance:
        return
    if doc["name"] != name:
        raise UsageError(f"instance {instance_id} is an instance of {doc['name']}, not {name}; "
                         "pick another --id, or run the orchestrator that started it")


def cmd_start(args: argparse.Namespace) -> int:
    instance_id = _id(args.instance_id)
    data = _json_arg(args.input, "--input")
    mdef = _machine(args.spec)
    print(_checked(lambda: _client(args).start(mdef, data, instance_id=instance_id)))
    return ExitCode.OK


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from runtime.worker import STARTUP_PATIENCE, Worker
    from tether.loader import load

    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    load(args.src)
    worker = Worker(_backend(args, patience=STARTUP_PATIENCE), concurrency=args.concurrency)

    def interrupted(signum: int, frame: Any) -> None:
        worker.interrupt()  # the first Ctrl-C stops gracefully, the second at once

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        with log_options.applied(args):
            worker.serve(until_idle=args.until_idle)
    finally:
        signal.signal(signal.SIGINT, previous)
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    instance_id = _id(args.instance_id)
    doc = _checked(lambda: _client(args).status(instance_id, history=args.history,
                                                all_variables=args.all_variables))
    _print(doc)
    return ExitCode.OK


def cmd_history(args: argparse.Namespace) -> int:
    instance_id = _id(args.instance_id)
    _print(_checked(lambda: _client(args).history(instance_id, all_variables=args.all_variables)))
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    before = _time(args.created_before, "--created-before")
    after = _time(args.created_after, "--created-after")
    status = set(args.status) if args.status else None
    _print(_client(args).list(status=status, before=before, after=after))
    return ExitCode.OK


def cmd_raise_event(args: argparse.Namespace) -> int:
    instance_id = _id(args.instance_id)
    data = _json_arg(args.data, "--data")
    _checked(lambda: _client(args).raise_event(instance_id, args.name, data))
    return ExitCode.OK


def cmd_control(args: argparse.Namespace) -> int:
    instance_id = _id(args.instance_id)
    client = _client(args)
    _checked(lambda: getattr(client, args.action)(instance_id, args.reason))
    return ExitCode.OK


def cmd_purge(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.instance_id is not None:
        instance_id = _id(args.instance_id)
        _checked(lambda: client.purge(instance_id))
        _print([instance_id])
        return ExitCode.OK
    if not (args.status or args.created_before):
        raise UsageError("purge needs an ID, --status or --created-before")
    before = _time(args.created_before, "--created-before")
    _print(client.purge_where(status=set(args.status) if args.status else None, before=before))
    return ExitCode.OK

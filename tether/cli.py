"""The `tether` command: one argparse parser, one function per subcommand.

A command builds only its own module's parsers (`COMMANDS`): start-up time is a goal
(docs/benchmarks.md, "CLI start-up"), and each command module imports what its commands
need only when they run.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
from collections.abc import Sequence

from tether.errors import ExitCode, UsageError

#: The module that registers each subcommand (its `register(subparsers)` adds the
#: command's parser). `tether NAME ...` imports only NAME's module, so a command never
#: pays for the others' imports; `tether`, `tether --help` and an unknown command build
#: every parser, listed in this order. A new command module adds its rows here.
COMMANDS: dict[str, str] = {
    "compile": "tether.commands.compile_cmd",
    "lint": "tether.commands.lint_cmd",
    "graph": "tether.commands.graph_cmd",
    "run": "tether.commands.run_cmd",
    "start": "tether.commands.run_cmd",
    "worker": "tether.commands.run_cmd",
    "status": "tether.commands.run_cmd",
    "history": "tether.commands.run_cmd",
    "list": "tether.commands.run_cmd",
    "raise-event": "tether.commands.run_cmd",
    "terminate": "tether.commands.run_cmd",
    "suspend": "tether.commands.run_cmd",
    "resume": "tether.commands.run_cmd",
    "purge": "tether.commands.run_cmd",
    "restart": "tether.commands.manage_cmd",
    "rewind": "tether.commands.manage_cmd",
    "serve": "tether.commands.serve_cmd",
    "db": "tether.commands.db_cmd",
    "entity": "tether.commands.entity_cmd",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `tether` parser: with a `command` of `COMMANDS`, only the parsers its module
    registers; otherwise every command's (for the listing of `--help` and usage errors)."""
    parser = argparse.ArgumentParser(
        prog="tether",
        description="Compile, lint, draw and run durable orchestrations written as async def.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show tether's and Python's versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    home = COMMANDS.get(command) if command is not None else None
    wanted = [home] if home is not None else list(dict.fromkeys(COMMANDS.values()))
    for module_name in wanted:
        importlib.import_module(module_name).register(sub)
    return parser


def invoked_command(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names, when it comes first: an option before it (`tether -h
    status`) is the top-level parser's, which must then know every command."""
    return argv[0] if argv and argv[0] in COMMANDS else None


class _VersionAction(argparse.Action):
    """`--version`, with the line built only when asked (`platform` costs every start)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(version_line())  # on stdout, as argparse's own version action prints
        parser.exit()


def version_line() -> str:
    """`tether --version`: tether's version and the Python running it."""
    import platform

    from tether import __version__

    return f"tether {__version__} (Python {platform.python_version()})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (see `ExitCode`)."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(invoked_command(arguments))
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.ERROR
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}{_hint_of(exc)}", file=sys.stderr)
        return ExitCode.ERROR
    except _compile_error_type() as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.ERROR
    except BrokenPipeError:  # `tether lint | head`: the reader left; console_main ends quietly
        raise
    except OSError as exc:  # the disk, not tether: a full or read-only store, a permission
        print(f"error: {os_error_line(exc, _store_of(args))}", file=sys.stderr)
        return ExitCode.ERROR
    except _backend_error_type() as exc:  # the store's own one-line account of its trouble
        print(f"error: {exc}{_hint_of(exc)}", file=sys.stderr)
        return ExitCode.ERROR
    except Exception as exc:
        # Our bug, not the user's: one line, and the traceback only on request.
        if os.environ.get("TETHER_DEBUG") == "1":
            raise
        print(f"error: internal error in tether {args.command}: {type(exc).__name__}: {exc} "
              "(set TETHER_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return ExitCode.ERROR


#: What to do about the operating-system errors a store meets, by errno.
_OS_HINTS = {
    errno.ENOSPC: "the disk is full: free space and run the command again; "
                  "what was journaled before is kept",
    errno.EDQUOT: "the disk quota is used up: free space and run the command again",
    errno.EROFS: "the file system is read-only: use a writable --store",
    errno.EACCES: "permission denied: use a --store you may write",
    errno.EPERM: "operation not permitted: use a --store you may write",
    errno.ENOTDIR: "a file stands where a directory was expected: check --store",
}


def os_error_line(exc: OSError, store: str | None = None) -> str:
    """An OSError as one line: what failed, on which path (the `store` when the error has
    none: a write to an open journal names no file), and what to do about it."""
    if exc.errno is None:  # ours, e.g. the journal's "short write to PATH: n of m bytes"
        hint = "; is the disk full?" if "short write" in str(exc) else ""
        return f"{exc}{hint}"
    path = (f"{exc.filename}: " if exc.filename is not None
            else f"store {store}: " if store is not None else "")
    text = exc.strerror or os.strerror(exc.errno)
    advice = _OS_HINTS.get(exc.errno)
    return f"{path}{text}" + (f" ({advice})" if advice else "")


def _hint_of(exc: BaseException) -> str:
    """What to do about the OS error behind an error (a backend's, or a usage error made
    of one: a full disk...), if any."""
    cause: BaseException | None = exc
    for _ in range(5):  # the chain is short; a cycle must not hang an error message
        cause = cause.__cause__ or cause.__context__ if cause is not None else None
        if isinstance(cause, OSError) and cause.errno in _OS_HINTS:
            return f" ({_OS_HINTS[cause.errno]})"
    return ""


def _store_of(args: argparse.Namespace) -> str | None:
    """The store a command works on, if it has one (`--store`, else TETHER_STORE/.tether)."""
    if not hasattr(args, "store"):
        return None
    return args.store or os.environ.get("TETHER_STORE") or ".tether"


def _backend_error_type() -> type[Exception]:
    from runtime.backends.base import BackendError

    return BackendError


def _compile_error_type() -> type[Exception]:
    try:
        from compiler.errors import CompileError
    except ImportError:  # a runtime-only deployment
        return UsageError
    return CompileError


def console_main() -> None:
    """Entry point of the console script."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = ExitCode.OK
    raise SystemExit(code)


if __name__ == "__main__":
    console_main()

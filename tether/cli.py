"""The `tether` command: one argparse parser, one function per subcommand."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tether.errors import ExitCode, UsageError


def build_parser() -> argparse.ArgumentParser:
    from tether.commands import (
        compile_cmd,
        db_cmd,
        graph_cmd,
        lint_cmd,
        manage_cmd,
        run_cmd,
        serve_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="tether",
        description="Compile, lint, draw and run durable orchestrations written as async def.",
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show tether's and Python's versions and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in (compile_cmd, lint_cmd, graph_cmd, run_cmd, manage_cmd, serve_cmd, db_cmd):
        module.register(sub)
    return parser


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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.ERROR
    try:
        return int(args.func(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    except _compile_error_type() as exc:
        print(str(exc), file=sys.stderr)
        return ExitCode.ERROR
    except BrokenPipeError:  # `tether lint | head`: the reader left; console_main ends quietly
        raise
    except Exception as exc:
        # Our bug, not the user's: one line, and the traceback only on request.
        if os.environ.get("TETHER_DEBUG") == "1":
            raise
        print(f"error: internal error in tether {args.command}: {type(exc).__name__}: {exc} "
              "(set TETHER_DEBUG=1 for the traceback, and please report it)", file=sys.stderr)
        return ExitCode.ERROR


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

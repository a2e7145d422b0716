"""`tether lint PATH...`: the determinism rules over files and folders.

Exit codes (DESIGN.md): 0 clean, 1 findings, 2 usage, configuration or parse errors.
Findings go to stdout in the chosen format; parse errors to stderr, one line each.
"""

from __future__ import annotations

import argparse
import os
import sys

from tether.errors import ExitCode, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "lint", help="check orchestrator code for nondeterminism (DET001-DET009)",
        description="Check orchestrators, and the helpers they call, for nondeterminism.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files and folders to check")
    parser.add_argument("--format", default="text", choices=("text", "json", "sarif", "github"),
                        help="output format (default: text)")
    parser.add_argument("--explain", metavar="CODE", help="print the documentation of a rule")
    parser.add_argument("--statistics", action="store_true",
                        help="print the number of findings per rule instead of the findings")
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="run only these codes or prefixes (comma-separated)")
    parser.add_argument("--ignore", action="append", metavar="CODES",
                        help="skip these codes or prefixes (comma-separated)")
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help="worker processes (default: one per core)")
    parser.set_defaults(func=cmd_lint)


def cmd_lint(args: argparse.Namespace) -> int:
    import lint
    from lint import docs, registry, report

    if args.explain:
        rule = registry.get(args.explain)
        if rule is None:
            raise UsageError(f"--explain: unknown rule code {args.explain!r} (known: DET001-DET009)")
        sys.stdout.write(docs.explain(rule))
        return ExitCode.OK
    if not args.paths:
        raise UsageError("lint: give at least one PATH (a file or folder), or --explain CODE")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: must be at least 1, got {args.jobs}")
    config = lint.load_config(_config_start(args.paths)).with_cli(args.select, args.ignore)
    result = lint.lint_paths(args.paths, config, jobs=args.jobs)
    for error in result.errors:
        print(error, file=sys.stderr)
    if args.statistics:
        sys.stdout.write(report.statistics(result, "json" if args.format == "json" else "text"))
    else:
        sys.stdout.write(report.render(result, args.format))
    return result.exit_code


def _config_start(paths: list[str]) -> str:
    """The folder whose pyproject.toml applies: the one holding all the paths."""
    existing = [os.path.abspath(p) for p in paths if os.path.exists(p)]
    if not existing:
        return os.getcwd()
    common = os.path.commonpath(existing)
    return common if os.path.isdir(common) else os.path.dirname(common)

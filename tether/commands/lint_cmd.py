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
        "lint", help="check orchestrator code for nondeterminism (DET001-DET009, DET100)",
        description="Check orchestrators, and the helpers they call, for nondeterminism.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files and folders to check (default: .); `-` reads stdin")
    parser.add_argument("--format", "--output-format", dest="format", default="text",
                        choices=("text", "json", "sarif", "github"),
                        help="output format (default: text)")
    parser.add_argument("--output-file", "-o", metavar="FILE",
                        help="write the findings to FILE instead of stdout")
    parser.add_argument("--exit-zero", action="store_true",
                        help="exit 0 even when there are findings (errors still exit 2)")
    parser.add_argument("--stdin-filename", metavar="PATH",
                        help="the file stdin stands for: names it in findings and picks "
                             "its configuration")
    parser.add_argument("--explain", metavar="CODE", help="print the documentation of a rule")
    parser.add_argument("--statistics", action="store_true",
                        help="print the number of findings per rule instead of the findings")
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="run only these codes or prefixes (comma-separated)")
    parser.add_argument("--extend-select", action="append", metavar="CODES",
                        help="run these codes or prefixes as well as the selected ones")
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
            raise UsageError(f"--explain: unknown rule code {args.explain!r} "
                             "(known: DET001-DET009, DET100)")
        sys.stdout.write(docs.explain(rule))
        return ExitCode.OK
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: must be at least 1, got {args.jobs}")
    stdin_name = _stdin_name(args)
    if stdin_name is not None:
        config = lint.load_config(_config_start([stdin_name]))
        config = config.with_cli(args.select, args.ignore, args.extend_select)
        from lint.runner import decode

        try:
            source = decode(sys.stdin.buffer.read(), stdin_name)
        except lint.ParseError as exc:
            result = lint.LintResult(files=1, errors=[exc])
        else:
            result = lint.lint_text(source, stdin_name, config)
    else:
        paths = args.paths or ["."]
        config = lint.load_config(_config_start(paths))
        config = config.with_cli(args.select, args.ignore, args.extend_select)
        result = lint.lint_paths(paths, config, jobs=args.jobs)
    for error in result.errors:
        print(error, file=sys.stderr)
    if args.statistics:
        text = report.statistics(result, "json" if args.format == "json" else "text")
    else:
        text = report.render(result, args.format)
    _write(text, args.output_file)
    if args.exit_zero and result.exit_code == ExitCode.FINDINGS:
        return ExitCode.OK
    return result.exit_code


def _stdin_name(args: argparse.Namespace) -> str | None:
    """The name stdin is linted under, or None when the paths are files and folders."""
    paths: list[str] = args.paths
    if "-" not in paths and not (args.stdin_filename and not paths):
        if args.stdin_filename:
            raise UsageError("--stdin-filename: only with `-` (stdin) as the path")
        return None
    if paths != ["-"] and paths:
        raise UsageError("lint: `-` (stdin) cannot be combined with other paths")
    return str(args.stdin_filename or "-")


def _write(text: str, output_file: str | None) -> None:
    if output_file is None:
        sys.stdout.write(text)
        return
    try:
        with open(output_file, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"--output-file: cannot write {output_file}: {exc.strerror}") from None


def _config_start(paths: list[str]) -> str:
    """The folder whose pyproject.toml applies: the one holding all the paths
    (for stdin, the folder of `--stdin-filename`, which need not exist)."""
    existing = [os.path.abspath(p) for p in paths if os.path.exists(p)]
    if not existing:
        parent = os.path.dirname(os.path.abspath(paths[0])) if paths and paths[0] != "-" else ""
        return parent if parent and os.path.isdir(parent) else os.getcwd()
    common = os.path.commonpath(existing)
    return common if os.path.isdir(common) else os.path.dirname(common)

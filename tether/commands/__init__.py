"""One module per group of subcommands; each exposes `register(subparsers)`.

Every `cmd_*(args) -> int` returns an `ExitCode`; bad input raises `UsageError` (or a
`compiler.errors.CompileError`), which `tether.cli.main` prints as one line.
"""

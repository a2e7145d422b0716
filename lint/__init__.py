"""tether's determinism rules, used by `tether lint` and by the compiler.

    findings = lint.check_source(source, "flows.py")          # one module
    result = lint.lint_paths(["src/"], lint.load_config("."))  # files and folders

Orchestrator code (functions decorated `tether.orchestrator`, and every project function
they reach) is checked against the rules DET001-DET009 (`lint.registry`); activities are
never checked. See docs/lint.md.
"""

from __future__ import annotations

from lint.checker import check_module
from lint.config import Config, ConfigError, load_config
from lint.finding import Finding, ParseError
from lint.project import ProjectIndex
from lint.runner import LintResult, lint_paths, lint_text

__all__ = [
    "Config",
    "ConfigError",
    "Finding",
    "LintResult",
    "ParseError",
    "check_source",
    "lint_paths",
    "lint_text",
    "load_config",
]


def check_source(source: str, path: str, config: Config | None = None) -> list[Finding]:
    """All findings reached from one module's orchestrators, sorted by (line, col, code).

    Helpers in other project modules are read from disk near `path`; their findings
    carry their own path and come after this module's. Raises `ParseError`.
    """
    index = ProjectIndex()
    module = index.module_for_source(source, path)
    return check_module(module, index, config or Config())

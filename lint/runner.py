"""Linting files and folders: discovery, the text prefilter, and the process pool.

Most files of a project hold no orchestrator, and LibCST- or even `ast`-parsing them is
the bulk of a naive linter's time. A file can define an orchestrator only if the word
"orchestrator" appears in it (the decorator is imported or referenced by that name), and
an entity (ENT006) only if `@entity` or `.entity` does, so files without any of them
are never parsed: a byte search decides. Helper modules that such a
file imports are parsed on demand, when an orchestrator reaches them. A file named
explicitly (as pre-commit and editors do) is always parsed, so its syntax errors show.
"""

from __future__ import annotations

import io
import os
import tokenize
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from lint.checker import check_module
from lint.config import Config
from lint.finding import Finding, ParseError
from lint.names import parse
from lint.project import ProjectIndex
from tether.errors import ExitCode, UsageError

MARKERS = (b"orchestrator", b"@entity", b".entity")
SKIPPED_FOLDERS = frozenset({
    "__pycache__", "node_modules", "site-packages", "venv", "build", "dist",
})
#: below this many candidate files, starting worker processes costs more than it saves
PARALLEL_MIN_FILES = 8


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)
    #: files looked at, and those that passed the prefilter and were parsed
    files: int = 0
    parsed: int = 0

    @property
    def exit_code(self) -> ExitCode:
        if self.errors:
            return ExitCode.ERROR
        return ExitCode.FINDINGS if self.findings else ExitCode.OK


def discover(paths: Iterable[str]) -> list[str]:
    """Python files named or found below the folders named, in a stable order."""
    out: list[str] = []
    for raw in paths:
        path = os.path.normpath(raw)
        if os.path.isfile(path):
            out.append(path)
        elif os.path.isdir(path):
            out.extend(_walk(path))
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return list(dict.fromkeys(out))


def _walk(top: str) -> list[str]:
    found: list[str] = []
    for folder, subfolders, files in os.walk(top):
        subfolders[:] = sorted(d for d in subfolders
                               if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        # normpath: `tether lint .` reports `flows/a.py`, not `./flows/a.py`
        found.extend(os.path.normpath(os.path.join(folder, f))
                     for f in sorted(files) if f.endswith(".py"))
    return found


def decode(data: bytes, path: str) -> str:
    """Source text honouring a PEP 263 coding line; a `ParseError` when undecodable."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise ParseError(path, 1, 1, f"cannot decode: {exc}") from None


def check_file(path: str, data: bytes, index: ProjectIndex, config: Config) -> list[Finding]:
    module = index.module_for_source(decode(data, path), path)
    return check_module(module, index, config)


# One index per worker process, so helper modules are parsed once per process.
_worker_index: ProjectIndex | None = None


def _check_chunk(paths: list[str], config: Config) -> list[tuple[list[Finding], ParseError | None]]:
    global _worker_index  # a process-wide cache; see above
    if _worker_index is None:
        _worker_index = ProjectIndex()
    return [_check_path(path, _worker_index, config) for path in paths]


def _check_path(path: str, index: ProjectIndex,
                config: Config) -> tuple[list[Finding], ParseError | None]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        return check_file(path, data, index, config), None
    except ParseError as exc:
        return [], exc
    except OSError as exc:
        return [], ParseError(path, 1, 1, f"cannot read: {exc.strerror}")


def lint_paths(paths: Sequence[str], config: Config | None = None,
               jobs: int | None = None) -> LintResult:
    """Lint files and folders; in parallel over `jobs` processes (default: all cores)."""
    config = config or Config()
    files = discover(paths)
    result = LintResult(files=len(files))
    named = {os.path.normpath(p) for p in paths if os.path.isfile(p)}
    candidates: list[str] = []
    for path in files:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            if any(marker in data for marker in MARKERS):
                candidates.append(path)
            elif path in named:
                parse(decode(data, path), path)  # syntax only: nothing here to check
        except OSError as exc:
            result.errors.append(ParseError(path, 1, 1, f"cannot read: {exc.strerror}"))
        except ParseError as exc:
            result.errors.append(exc)
    result.parsed = len(candidates)
    workers = min(jobs or os.cpu_count() or 1, len(candidates))
    if workers > 1 and len(candidates) >= PARALLEL_MIN_FILES:
        outcomes = _parallel(candidates, config, workers)
    else:
        index = ProjectIndex()
        outcomes = [_check_path(path, index, config) for path in candidates]
    seen: set[tuple[str, int, int, str]] = set()
    for findings, error in outcomes:
        if error is not None:
            result.errors.append(error)
        for finding in findings:
            key = (os.path.abspath(finding.path), finding.line, finding.col, finding.code)
            if key not in seen:
                seen.add(key)
                result.findings.append(finding)
    result.findings.sort(key=lambda f: (f.path, f.line, f.col, f.code))
    result.errors.sort(key=lambda e: (e.path, e.line, e.col))
    return result


def lint_text(source: str, path: str, config: Config | None = None) -> LintResult:
    """Lint one module's text as if it were the file `path` (`tether lint -` reads stdin):
    `path` names it in findings, places it in its package and picks its per-file ignores."""
    result = LintResult(files=1, parsed=1)
    index = ProjectIndex()
    try:
        result.findings = check_module(index.module_for_source(source, path), index,
                                       config or Config())
    except ParseError as exc:
        result.errors.append(exc)
    return result


def _parallel(paths: list[str], config: Config,
              workers: int) -> list[tuple[list[Finding], ParseError | None]]:
    # Several chunks per worker balance uneven file sizes; whole chunks keep the
    # per-task pickling overhead small next to the parsing.
    count = workers * 4
    chunks = [paths[i::count] for i in range(count) if paths[i::count]]
    out: list[tuple[list[Finding], ParseError | None]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_check_chunk, chunks, [config] * len(chunks)):
            out.extend(part)
    return out

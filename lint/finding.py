"""What the linter reports: a located `Finding`, or a `ParseError` for a file it cannot read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One determinism problem. `col` is 1-based, as printed; `chain` runs from the
    orchestrator to the helper holding the problem and is empty when it is direct."""

    path: str
    line: int
    col: int
    code: str
    message: str
    help: str
    chain: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


class ParseError(Exception):
    """A file that does not parse (or cannot be read); `str()` is `path:line:col: error: ...`."""

    def __init__(self, path: str, line: int, col: int, message: str) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: error: {self.message}"

    def __reduce__(self) -> tuple[object, ...]:
        # process pools pickle errors back to the parent; the default would lose fields
        return (ParseError, (self.path, self.line, self.col, self.message))

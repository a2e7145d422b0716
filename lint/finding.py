"""What the linter reports: a located `Finding`, or a `ParseError` for a file it cannot read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hop:
    """One step of a helper chain: where `caller` refers to `callee` (1-based line, col)."""

    path: str
    line: int
    col: int
    caller: str
    callee: str


@dataclass(frozen=True)
class Finding:
    """One determinism problem. `col` is 1-based, as printed; `end_line`/`end_col` end
    the flagged code (the column after its last character; 0 when unknown). `chain` runs
    from the orchestrator to the helper holding the problem and is empty when it is
    direct; `hops` says where each call of that chain is."""

    path: str
    line: int
    col: int
    code: str
    message: str
    help: str
    chain: tuple[str, ...] = ()
    end_line: int = 0
    end_col: int = 0
    hops: tuple[Hop, ...] = ()

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

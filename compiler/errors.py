"""The compiler's two error types, never mixed.

`CompileError` is about the user's code: `path:line:col: error: message`, with an optional
hint line. `InternalCompilerError` is our bug: it names the pass and the broken invariant.
"""

from __future__ import annotations


class CompileError(Exception):
    """One problem in the user's source, located."""

    def __init__(
        self, path: str, line: int, col: int, message: str, hint: str | None = None,
        *, code: str = "error",
    ) -> None:
        self.path = path
        self.line = line
        self.col = col
        self.message = message
        self.hint = hint
        self.code = code
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.col}: {self.code}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class DeterminismErrors(CompileError):
    """The determinism rules found problems; the compiler refuses to emit code (exit 1)."""

    def __init__(self, findings: list[str], first: CompileError) -> None:
        self.findings = findings
        super().__init__(first.path, first.line, first.col, first.message, first.hint,
                         code=first.code)

    def __str__(self) -> str:
        return "\n".join(self.findings)


class InternalCompilerError(Exception):
    """A compiler bug: a pass found an invariant broken. Please report it with the dump."""

    def __init__(self, pass_name: str, invariant: str, dump: str = "") -> None:
        self.pass_name = pass_name
        self.invariant = invariant
        self.dump = dump
        super().__init__(f"internal compiler error in pass {pass_name}: {invariant}")

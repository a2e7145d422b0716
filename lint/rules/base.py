"""What a rule is: a class with `visit_<AstNode>` handlers, a message and a help line.

One walker visits each piece of orchestrator code once and calls, for every node, the
handlers the enabled rules declare for its type (the way ruff dispatches, rather than
one traversal per rule). A rule sees the code through `Check`: qualified names, the
function's scope, the context parameter, and `report`.
"""

from __future__ import annotations

import ast
import enum
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

if TYPE_CHECKING:
    from lint.config import Config
    from lint.names import FunctionNode, FunctionScope, ModuleInfo
    from lint.project import Target


class Fix(enum.Enum):
    """Whether an automatic fix is possible (none of ours is, yet; ruff declares it too)."""

    NEVER = "never"
    SOMETIMES = "sometimes"
    ALWAYS = "always"


class Check(Protocol):
    """The function being checked, as rules see it."""

    module: ModuleInfo
    scope: FunctionScope
    config: Config
    #: name of the orchestrator's context parameter; None in helpers
    context_name: str | None

    def qualified_name(self, expr: ast.expr) -> str | None: ...

    def target(self, expr: ast.expr) -> Target | None: ...

    def is_project_function(self, qname: str) -> bool: ...

    def report(self, rule: Rule, node: ast.AST, message: str, help: str) -> None: ...

    def report_at(self, rule: Rule, span: tuple[int, int, int, int], message: str,
                  help: str) -> None: ...

    #: (line, code) of the suppressions that silenced a finding in this function so far
    used_suppressions: set[tuple[int, str]]


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    fix: ClassVar[Fix]
    #: format strings; `report(node, **fields)` fills both
    message: ClassVar[str]
    help: ClassVar[str]
    #: False for rules about the orchestrator itself (its awaits), not the helpers it calls
    in_helpers: ClassVar[bool] = True
    #: True for rules about a module's top-level definitions (entities), which run once
    #: per module through `check_module` rather than inside orchestrator code
    module_level: ClassVar[bool] = False
    #: (ast node type, handler method name), collected from `visit_*` methods
    handlers: ClassVar[tuple[tuple[type[ast.AST], str], ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.handlers = tuple(
            (getattr(ast, attr[len("visit_"):]), attr)
            for attr in dir(cls) if attr.startswith("visit_")
        )

    def __init__(self, check: Check) -> None:
        self.check = check

    @classmethod
    def doc(cls) -> str:
        """The rule's user documentation: its module's docstring."""
        return (sys.modules[cls.__module__].__doc__ or "").strip()

    @classmethod
    def check_module(cls, module: ModuleInfo) -> Iterator[tuple[ast.AST, dict[str, str]]]:
        """A module-level rule's findings: (node, fields for `message` and `help`)."""
        return iter(())

    def start(self, fn: FunctionNode) -> None:
        """Called before the body of `fn` is walked."""

    def finish(self, fn: FunctionNode) -> None:
        """Called after the body of `fn` has been walked by every rule."""

    def qualified_name(self, expr: ast.expr) -> str | None:
        return self.check.qualified_name(expr)

    def listed(self, qname: str | None, names: frozenset[str],
               prefixes: tuple[str, ...] = ()) -> bool:
        """Is `qname` one of `names` (or under a prefix), or configured for this rule,
        and not configured safe?"""
        if qname is None:
            return False
        config = self.check.config
        if qname in config.safe:
            return False
        extra = config.nondeterministic.get(self.code)
        if not (qname in names or (prefixes and qname.startswith(prefixes))
                or (extra is not None and qname in extra)):
            return False
        # the project's own module named like a standard one (a `random.py` of its own)
        return not self.check.is_project_function(qname)

    def report(self, node: ast.AST, **fields: str) -> None:
        self.check.report(self, node, self.message.format(**fields), self.help.format(**fields))


R = TypeVar("R", bound=type[Rule])


def rule(code: str, name: str, *, fix: Fix = Fix.NEVER) -> Callable[[R], R]:
    """Give a rule class its stable code and pattern name."""

    def decorate(cls: R) -> R:
        cls.code = code
        cls.name = name
        cls.fix = fix
        return cls

    return decorate


"""Checking one module: find its orchestrators, walk them and every helper they reach.

Orchestrators are the module-level functions decorated with `tether.orchestrator` (or
`runtime.api.orchestrator`), by qualified name. Each is walked once, dispatching every
node to the handlers of the enabled rules. A reference to a project function that is
neither an activity nor an orchestrator queues that function too, with the call chain
that reached it; each function is walked once per module check, reached first by the
shortest chain (breadth first). Activities are never walked.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lint.config import Config
from lint.finding import Finding, Hop
from lint.names import FunctionNode, FunctionScope, ModuleInfo, decorator_kind, flatten
from lint.project import ProjectIndex, Target
from lint.registry import RULES
from lint.rules.base import Rule

Handler = Callable[[ast.AST], None]


@dataclass(frozen=True)
class _Job:
    module: ModuleInfo
    fn: FunctionNode
    chain: tuple[str, ...]
    is_orchestrator: bool
    #: where each call of `chain` is
    hops: tuple[Hop, ...] = ()


class FunctionCheck:
    """One function being walked: what rules see through `lint.rules.base.Check`."""

    def __init__(self, job: _Job, index: ProjectIndex, config: Config,
                 rules: tuple[type[Rule], ...], sink: ModuleCheck) -> None:
        self.module = job.module
        self.job = job
        self.index = index
        self.config = config
        self.sink = sink
        self.nodes = flatten(list(job.fn.body))
        self.scope = FunctionScope(job.module, job.fn, self.nodes)
        self.context_name = _context_parameter(job.fn) if job.is_orchestrator else None
        #: project functions this one refers to, with the referring node
        self.callees: list[tuple[Target, ast.expr]] = []
        #: (line, code) of the suppressions that silenced a finding during this walk
        self.used_suppressions: set[tuple[int, str]] = set()
        self._names: dict[int, str | None] = {}
        self.dispatch: dict[type[ast.AST], list[Handler]] = {
            ast.Name: [self._follow], ast.Attribute: [self._follow],
        }
        self.rules = [cls(self) for cls in rules
                      if (job.is_orchestrator or cls.in_helpers) and not cls.module_level]
        for instance in self.rules:
            for node_type, method in instance.handlers:
                self.dispatch.setdefault(node_type, []).append(getattr(instance, method))

    def run(self) -> None:
        for instance in self.rules:
            instance.start(self.job.fn)
        dispatch = self.dispatch
        for node in self.nodes:
            handlers = dispatch.get(type(node))
            if handlers is not None:
                for handler in handlers:
                    handler(node)
        for instance in self.rules:
            instance.finish(self.job.fn)

    def qualified_name(self, expr: ast.expr) -> str | None:
        key = id(expr)
        if key not in self._names:
            self._names[key] = self.scope.qualified_name(expr)
        return self._names[key]

    def target(self, expr: ast.expr) -> Target | None:
        name = self.qualified_name(expr)
        return None if name is None else self.index.resolve(name, self.module)

    def is_project_function(self, qname: str) -> bool:
        return self.index.resolve(qname, self.module) is not None

    def _follow(self, node: ast.AST) -> None:
        assert isinstance(node, ast.Name | ast.Attribute)
        if not isinstance(node.ctx, ast.Load):
            return
        target = self.target(node)
        if target is not None and target.kind == "function":
            self.callees.append((target, node))

    def report(self, rule: Rule, node: ast.AST, message: str, help: str) -> None:
        line = getattr(node, "lineno", 1)
        col = self.module.column(line, getattr(node, "col_offset", 0))
        end_line = getattr(node, "end_lineno", None) or line
        end_col = self.module.column(end_line, getattr(node, "end_col_offset", None) or 0)
        self.report_at(rule, (line, col, end_line, end_col), message, help)

    def report_at(self, rule: Rule, span: tuple[int, int, int, int], message: str,
                  help: str) -> None:
        """Report at (line, col, end_line, end_col), 1-based character columns."""
        suppression = self.module.suppressions.get(span[0])
        if suppression is not None and rule.code in suppression.codes:
            self.used_suppressions.add((span[0], rule.code))
            return
        self.sink.add(self.job, rule.code, span, message, help)


class ModuleCheck:
    """Collects the findings of one module's orchestrators and their helpers."""

    def __init__(self, module: ModuleInfo, index: ProjectIndex, config: Config) -> None:
        self.module = module
        self.index = index
        self.config = config
        self.findings: dict[tuple[str, int, int, str], Finding] = {}
        self.rules = tuple(rule for rule in RULES if config.enabled(rule.code))

    def run(self) -> list[Finding]:
        for rule in self.rules:
            if rule.module_level:
                self._check_definitions(rule)
        queue: deque[_Job] = deque()
        seen: set[tuple[str, int, str]] = set()
        for fn in self.module.defs:
            if decorator_kind(self.module, fn) == "orchestrator":
                queue.append(_Job(self.module, fn, (fn.name,), True))
                seen.add((self.module.path, fn.lineno, fn.name))
        while queue:
            job = queue.popleft()
            check = FunctionCheck(job, self.index, self.config, self.rules, self)
            check.run()
            for callee, site in check.callees:
                if callee.key in seen:
                    continue
                seen.add(callee.key)
                label = callee.node.name if callee.module is self.module \
                    else f"{callee.module.name}.{callee.node.name}"
                hop = Hop(job.module.path, site.lineno,
                          job.module.column(site.lineno, site.col_offset), job.chain[-1], label)
                queue.append(_Job(callee.module, callee.node, (*job.chain, label), False,
                                  (*job.hops, hop)))
        own = self.module.path
        return sorted(self.findings.values(),
                      key=lambda f: (f.path != own, f.path, f.line, f.col, f.code))

    def _check_definitions(self, rule: type[Rule]) -> None:
        """A module-level rule (ENT006) over this module's top-level definitions."""
        module = self.module
        for node, fields in rule.check_module(module):
            line = getattr(node, "lineno", 1)
            suppression = module.suppressions.get(line)
            if suppression is not None and rule.code in suppression.codes:
                continue
            col = module.column(line, getattr(node, "col_offset", 0))
            if not self.config.enabled_for(rule.code, module.path):
                continue
            self.findings.setdefault((module.path, line, col, rule.code), Finding(
                module.path, line, col, rule.code, rule.message.format(**fields),
                rule.help.format(**fields), (), line, col + len("async def"), ()))

    def add(self, job: _Job, code: str, span: tuple[int, int, int, int], message: str,
            help: str) -> None:
        module = job.module
        if not self.config.enabled_for(code, module.path):
            return
        line, col, end_line, end_col = span
        chain = () if job.is_orchestrator else job.chain
        if chain:
            message = f"{message} (via {' -> '.join(chain)})"
        key = (module.path, line, col, code)
        if key not in self.findings:
            self.findings[key] = Finding(module.path, line, col, code, message, help, chain,
                                         end_line, end_col, job.hops)


def _context_parameter(fn: FunctionNode) -> str | None:
    params = [*fn.args.posonlyargs, *fn.args.args]
    return params[0].arg if params else None


def check_module(module: ModuleInfo, index: ProjectIndex, config: Config) -> list[Finding]:
    """All findings reached from `module`'s orchestrators (some may lie in helper modules)."""
    return ModuleCheck(module, index, config).run()

"""The project's own modules: where a dotted name lives, parsed once per process.

Helpers an orchestrator calls are followed into modules of the same project. A module
is found under the import roots of the files being linted (the folder above a file's
outermost package, plus the folder holding the nearest pyproject.toml and its `src/`),
never in site-packages: only the project's own code is followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from lint.finding import ParseError
from lint.names import FunctionNode, ModuleInfo, decorator_kind

_MAX_REEXPORT_HOPS = 8


@dataclass(frozen=True)
class Target:
    """A function a name resolved to: its module, node and decorator kind."""

    module: ModuleInfo
    node: FunctionNode
    kind: str  # "orchestrator" | "activity" | "function"

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.module.path, self.node.lineno, self.node.name)


@lru_cache(maxsize=4096)
def module_location(path: str) -> tuple[str, str, bool]:
    """(import root, dotted module name, is_package) of a source file."""
    folder, filename = os.path.split(os.path.abspath(path))
    stem = filename[:-3] if filename.endswith(".py") else filename
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        folder, package = os.path.split(folder)
        parts.insert(0, package)
    return folder, ".".join(parts) or stem, is_package


@lru_cache(maxsize=1024)
def _project_roots(folder: str) -> tuple[str, ...]:
    here = folder
    while True:
        if os.path.isfile(os.path.join(here, "pyproject.toml")):
            return (here, os.path.join(here, "src"))
        parent = os.path.dirname(here)
        if parent == here:
            return ()
        here = parent


class ProjectIndex:
    """Parses project modules on demand and resolves qualified names to functions."""

    def __init__(self) -> None:
        self.roots: list[str] = []
        self._by_name: dict[str, ModuleInfo | None] = {}
        self._targets: dict[tuple[str, str], Target | None] = {}

    def module_for_source(self, source: str, path: str) -> ModuleInfo:
        """Build the `ModuleInfo` of a file being linted and learn its import roots."""
        root, name, is_package = module_location(path)
        for candidate in (root, *_project_roots(root)):
            if candidate not in self.roots and os.path.isdir(candidate):
                self.roots.append(candidate)
        return ModuleInfo.build(source, path, name, is_package)

    def find_module(self, dotted: str) -> ModuleInfo | None:
        if dotted in self._by_name:
            return self._by_name[dotted]
        found = None
        rel = dotted.replace(".", os.sep)
        for root in self.roots:
            for candidate, is_package in ((os.path.join(root, rel + ".py"), False),
                                          (os.path.join(root, rel, "__init__.py"), True)):
                if os.path.isfile(candidate):
                    found = self._load(candidate, dotted, is_package)
                    break
            if found is not None:
                break
        self._by_name[dotted] = found
        return found

    def _load(self, path: str, dotted: str, is_package: bool) -> ModuleInfo | None:
        try:
            with open(path, encoding="utf-8") as fh:
                source = fh.read()
            return ModuleInfo.build(source, _display(path), dotted, is_package)
        except (OSError, UnicodeDecodeError, ParseError):
            return None  # reported when that file is linted itself, not here

    def resolve(self, qname: str, home: ModuleInfo) -> Target | None:
        """The project function `qname` names, following re-exports; None if not one."""
        key = (home.path, qname)
        if key not in self._targets:
            self._targets[key] = self._resolve(qname, home, _MAX_REEXPORT_HOPS)
        return self._targets[key]

    def _resolve(self, qname: str, home: ModuleInfo, hops: int) -> Target | None:
        module_name, _, attr = qname.rpartition(".")
        if not module_name or hops == 0:
            return None
        module = home if module_name == home.name else self.find_module(module_name)
        if module is None:
            return None
        fn = module.functions.get(attr)
        if fn is not None and module.bindings.get(attr) == f"{module.name}.{attr}":
            return Target(module, fn, decorator_kind(module, fn))
        if attr in module.imported:
            return self._resolve(module.bindings[attr], module, hops - 1)
        return None


def _display(path: str) -> str:
    """A path as users like to read it: relative to the working folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel

"""Guard tether's generic top-level package names: `compiler`, `runtime` and `lint`.

tether ships three import packages beside `tether` itself (DESIGN.md "Layout"). Their
names are common words, so a user's own `runtime.py` (or `lint/` folder) next to their
script, or in the folder of a `SRC` the CLI loads, is found first by the import system
and the user meets a baffling `ImportError: cannot import name 'REGISTRY'`. `shadowing()`
finds such a module before anything is imported from it and says, in one line, which
file shadows which package. It only looks: `find_spec` of a top-level name imports
nothing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

#: tether's import packages with generic names, as installed beside the `tether` package.
PACKAGES = ("compiler", "runtime", "lint")
#: The folder holding tether's packages: site-packages, or the source tree of an
#: editable install.
HOME = Path(__file__).resolve().parent.parent


class ShadowedPackageError(ImportError):
    """A user's module or folder hides one of tether's top-level packages."""


def shadowing(names: tuple[str, ...] = PACKAGES) -> str | None:
    """One line naming the first module that would be imported instead of tether's
    `names`, or None when every name resolves to tether's own package."""
    for name in names:
        where = _found_at(name)
        if where is None:
            continue
        ours = HOME / name
        if where == ours or ours in where.parents:
            continue
        shown = _shown(where)
        return (f"{shown} shadows tether's `{name}` package; rename it (tether reserves "
                f"the top-level names {', '.join(PACKAGES[:-1])} and {PACKAGES[-1]})")
    return None


def clash_in(folder: Path) -> str | None:
    """One line naming a module of `folder` (which a loaded SRC's imports search first)
    that has the name of one of tether's packages, or None. Whichever was imported first
    would silently stand in for the other."""
    for name in PACKAGES:
        ours = HOME / name
        for candidate in (folder / f"{name}.py", folder / name):
            if candidate.exists() and candidate.resolve() != ours:
                return (f"{_shown(candidate.resolve())} has the name of tether's `{name}` "
                        f"package; rename it (tether reserves the top-level names "
                        f"{', '.join(PACKAGES[:-1])} and {PACKAGES[-1]})")
    return None


def check(names: tuple[str, ...] = PACKAGES) -> None:
    """Raise `ShadowedPackageError` (one line) when a name is shadowed."""
    message = shadowing(names)
    if message is not None:
        raise ShadowedPackageError(message)


def _found_at(name: str) -> Path | None:
    """Where `import name` would load from: the module's file, a package's folder."""
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
        paths = list(getattr(module, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        file = spec.origin if spec.has_location else None
        paths = list(spec.submodule_search_locations or [])
    if file:
        path = Path(file).resolve()
        return path.parent if path.name == "__init__.py" else path
    if paths:  # a namespace package: a folder without __init__.py
        return Path(paths[0]).resolve()
    return None


def _shown(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    shown = str(path) if relative.startswith("..") else relative
    return shown + "/" if path.is_dir() else shown

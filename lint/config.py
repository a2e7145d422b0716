"""`[tool.tether]` in pyproject.toml: which rules run where, and which names count.

Keys (all optional):

    select = ["DET"]                 # codes or code prefixes to run (default: all)
    extend-select = ["DET100"]       # added to `select` (handy when `select` is narrow)
    ignore = ["DET008"]              # codes or prefixes to skip
    per-file-ignores = { "tests/*" = ["DET003"] }   # glob (relative to pyproject.toml)
    safe = ["acme.clock.frozen_now"]                 # names never reported
    [tool.tether.nondeterministic]                   # extra names, per rule
    DET001 = ["acme.clock.now"]      # "acme.http.*" means every name under acme.http

Any other key raises `ConfigError` naming it and the nearest valid key (a misspelt
`ignore` would otherwise silently ignore nothing), as does a known key with a bad
value: one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import UsageError

# in the registry's order: DET100 judges the others' suppressions, so it comes last
ALL_CODES = (*(f"DET00{n}" for n in range(1, 10)), *(f"ENT00{n}" for n in range(1, 7)),
             "DET100")
#: what runs when nothing is selected: every rule
DEFAULT_SELECT = ("DET", "ENT")
#: rules whose targets are call/attribute names, so users may extend them
NAME_RULES = ("DET001", "DET002", "DET003", "DET004", "DET005")


KEYS = ("select", "extend-select", "ignore", "per-file-ignores", "safe", "nondeterministic")


class ConfigError(UsageError):
    """A bad `[tool.tether]` value; printed by the CLI as `error: <file>: ...`, exit 2."""


@dataclass(frozen=True)
class NameSet:
    """Exact qualified names plus `prefix.*` patterns."""

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> NameSet:
        names = {p for p in patterns if not p.endswith(".*")}
        prefixes = tuple(sorted(p[:-1] for p in patterns if p.endswith(".*")))
        return cls(frozenset(names), prefixes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or name.startswith(self.prefixes))


@dataclass(frozen=True)
class Config:
    """Resolved lint settings; `Config()` runs every rule everywhere."""

    select: tuple[str, ...] = DEFAULT_SELECT
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    safe: NameSet = NameSet()
    nondeterministic: Mapping[str, NameSet] = field(default_factory=dict)
    #: folder that per-file-ignores globs are relative to
    root: str = "."

    def enabled(self, code: str) -> bool:
        """Is `code` selected and not ignored (ignoring per-file settings)?"""
        return code.startswith(self.select) and not code.startswith(self.ignore)

    def enabled_for(self, code: str, path: str) -> bool:
        if not self.enabled(code):
            return False
        if not self.per_file_ignores:
            return True
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(self.root))
        rel = rel.replace(os.sep, "/")
        for pattern, codes in self.per_file_ignores:
            if (fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(os.path.basename(rel), pattern)) \
                    and code.startswith(codes):
                return False
        return True

    def with_cli(self, select: Iterable[str] | None, ignore: Iterable[str] | None,
                 extend_select: Iterable[str] | None = None) -> Config:
        """The config with command-line `--select`/`--ignore`/`--extend-select` applied
        (`--select` replaces the configured selection, the others add to it)."""
        new_select = _codes("--select", list(select)) if select else self.select
        if extend_select:
            new_select += _codes("--extend-select", list(extend_select))
        new_ignore = self.ignore + (_codes("--ignore", list(ignore)) if ignore else ())
        return dataclasses.replace(self, select=new_select, ignore=new_ignore)

    def determinism_only(self) -> Config:
        """This config without DET100 (unused suppressions): what `tether compile` runs,
        since a stale comment is no reason to refuse a module."""
        return dataclasses.replace(self, ignore=(*self.ignore, "DET100"))


def _codes(where: str, values: list[str]) -> tuple[str, ...]:
    out = []
    for value in values:
        for item in value.split(","):
            code = item.strip().upper()
            if not code:
                continue
            if not any(full.startswith(code) for full in ALL_CODES):
                raise UsageError(f"{where}: unknown rule code {item.strip()!r} (known: DET001-DET009, DET100, ENT001-ENT006)")
            out.append(code)
    return tuple(out)


def find_pyproject(start_dir: str | os.PathLike[str]) -> Path | None:
    """The nearest pyproject.toml at or above `start_dir`."""
    here = Path(start_dir).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start_dir: str | os.PathLike[str]) -> Config:
    """Read `[tool.tether]` from the nearest pyproject.toml; defaults when there is none."""
    path = find_pyproject(start_dir)
    if path is None:
        return Config()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    table = data.get("tool", {}).get("tether", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.tether] must be a table")
    return _parse(table, path)


def _parse(table: dict[str, object], path: Path) -> Config:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{path}: [tool.tether] {key}: {problem}")

    def str_list(key: str, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, "must be a list of strings")
        return list(value)

    def code_list(key: str, value: object) -> tuple[str, ...]:
        try:
            return _codes(key, str_list(key, value))
        except ConfigError:
            raise
        except UsageError as exc:
            raise fail(key, str(exc).split(": ", 1)[1]) from None

    for key in table:
        if key not in KEYS:
            raise ConfigError(f"{path}: [tool.tether] {_unknown(key, KEYS, 'key')}")
    select = code_list("select", table["select"]) if "select" in table else DEFAULT_SELECT
    if "extend-select" in table:
        select += code_list("extend-select", table["extend-select"])
    ignore = code_list("ignore", table["ignore"]) if "ignore" in table else ()
    per_file: list[tuple[str, tuple[str, ...]]] = []
    raw_pfi = table.get("per-file-ignores", {})
    if not isinstance(raw_pfi, dict):
        raise fail("per-file-ignores", "must be a table of glob = [codes]")
    for glob, codes in raw_pfi.items():
        per_file.append((glob, code_list(f"per-file-ignores.{glob!r}", codes)))
    safe = NameSet.of(str_list("safe", table["safe"])) if "safe" in table else NameSet()
    extra: dict[str, NameSet] = {}
    raw_nd = table.get("nondeterministic", {})
    if not isinstance(raw_nd, dict):
        raise fail("nondeterministic", f"must be a table of code = [names], codes {', '.join(NAME_RULES)}")
    for code, names in raw_nd.items():
        if code not in NAME_RULES:
            raise fail(f"nondeterministic.{code}",
                       f"extra names are possible for {', '.join(NAME_RULES)} only")
        extra[code] = NameSet.of(str_list(f"nondeterministic.{code}", names))
    return Config(select, ignore, tuple(per_file), safe, extra, str(path.parent))


def _unknown(key: str, known: tuple[str, ...], what: str) -> str:
    """`unknown key 'slect' (did you mean 'select'?)`, or the valid keys when none is near."""
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if near:
        return f"unknown {what} {key!r} (did you mean {near[0]!r}?)"
    return f"unknown {what} {key!r} (valid: {', '.join(known)})"

"""The compiled-module cache: `tether run`/`worker`/`serve` of an unchanged file import
neither libcst nor the compiler.

Like `__pycache__`, each source file has its own entry beside it,
`__pycache__/<stem>.tether-<cache tag>.bin`: the code object of its emitted module (line
numbers already mapped to the source, `compiler.source_map`), marshalled, under a header
holding the key it was made for. The key is the SHA-256 of the source text, tether's
version, the Python version and a fingerprint of the compiler and lint packages as
installed (name, size and mtime of each of their files: a compiler edited in place
without a version bump must not serve stale machines). An entry whose key differs is
ignored and rewritten. Orchestrator modules a source imports have entries of their own,
keyed by their own text, so changing any of them recompiles exactly that one.

Entries are written to a temporary file and renamed into place, so a reader sees a whole
entry or none; a folder that cannot be written (or `TETHER_NO_CACHE=1`, which also stops
reading them) just means no cache. `PYTHONDONTWRITEBYTECODE` is not consulted: it is about Python's own bytecode, and
environments that set it for that reason still want a fast CLI. A damaged entry is
treated as missing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import marshal
import os
import sys
from pathlib import Path
from types import CodeType

MAGIC = b"tether-module-cache 1\n"


def entry_path(source: Path) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.tether-{sys.implementation.cache_tag}.bin"


def key_for(source_text: str) -> dict[str, str]:
    """What an entry must have been made for to serve `source_text` now."""
    from tether import __version__

    return {
        "source": hashlib.sha256(source_text.encode("utf-8")).hexdigest(),
        "tether": __version__,
        "python": sys.version.split()[0],
        "compiler": compiler_fingerprint(),
    }


@functools.cache
def compiler_fingerprint() -> str:
    """A digest of the compiler and lint packages' files (without importing them)."""
    digest = hashlib.sha256()
    for package in ("compiler", "lint"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            digest.update(f"{package}: absent".encode())
            continue
        for folder in spec.submodule_search_locations:
            for path in sorted(Path(folder).rglob("*")):
                if path.suffix in (".py", ".j2") and "__pycache__" not in path.parts:
                    st = path.stat()
                    digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def read(source: Path, key: dict[str, str]) -> CodeType | None:
    """The cached code for `source` under `key`, or None (missing, stale or damaged)."""
    if os.environ.get("TETHER_NO_CACHE") == "1":
        return None
    try:
        blob = entry_path(source).read_bytes()
    except OSError:
        return None
    if not blob.startswith(MAGIC):
        return None
    header_end = blob.find(b"\n", len(MAGIC))
    if header_end < 0:
        return None
    try:
        header = json.loads(blob[len(MAGIC):header_end])
        if header != key:
            return None
        code = marshal.loads(blob[header_end + 1:])
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def write(source: Path, key: dict[str, str], code: CodeType) -> None:
    """Store `code` for `source` under `key`; silently nothing if the folder is not ours."""
    if os.environ.get("TETHER_NO_CACHE") == "1":
        return
    import tempfile  # only when writing: a warm start never needs it

    target = entry_path(source)
    blob = MAGIC + json.dumps(key, sort_keys=True).encode() + b"\n" + marshal.dumps(code)
    try:
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return

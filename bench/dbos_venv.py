"""DBOS for bench/pg_bench.py, in a throwaway virtual environment: never a project dependency.

    with dbos_python() as python:            # a new venv under a temp dir, `pip install dbos`
        seconds = run_dbos(python, url, "chain", "--steps", "1000")

Owns: making the venv, installing `dbos` from the package index into it, and running
bench/dbos_workload.py there against a database URL. `reuse` points at a venv kept from an
earlier run (`pg_bench.py --dbos-venv DIR`), created there if missing, so reruns skip
the install.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORKLOAD = Path(__file__).resolve().with_name("dbos_workload.py")


def _python_of(folder: Path) -> Path:
    return folder / "bin" / "python"


def _install(folder: Path) -> Path:
    python = _python_of(folder)
    if not python.exists():
        venv.EnvBuilder(with_pip=True).create(folder)
    if subprocess.run([str(python), "-c", "import dbos"], capture_output=True).returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dbos"], check=True)
    return python


@contextmanager
def dbos_python(reuse: Path | None = None) -> Iterator[Path]:
    """The Python of a venv that has `dbos`; a temporary one is deleted on exit."""
    if reuse is not None:
        yield _install(reuse)
        return
    with tempfile.TemporaryDirectory(prefix="tether-dbos-venv-") as tmp:
        yield _install(Path(tmp))


def dbos_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
        check=True, capture_output=True, text=True).stdout.strip()


#: the server refused a connection because every slot was taken (by other users of a
#: shared server): worth a retry, not a result
BUSY = "too many clients"


def run_dbos(python: Path, url: str, workload: str, *options: str,
             timeout: float = 900, tries: int = 5) -> list[float]:
    """Seconds of every run of one workload of bench/dbos_workload.py against `url`."""
    for _ in range(tries):
        done = subprocess.run([str(python), str(WORKLOAD), url, workload, *options],
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode == 0 or BUSY not in done.stderr:
            break
        time.sleep(10)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise RuntimeError(f"DBOS {workload} {' '.join(options)} exited {done.returncode}")
    seconds: list[float] = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
    return seconds

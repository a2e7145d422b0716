"""How fast the `tether` command starts, as ratios to `python -c pass` measured in the same
run (interleaved, so machine load hits every command alike).

    python bench/cli_startup.py [--rounds 15]

Measures, each `--rounds` times, in turn:

- `python -c pass` (the floor: the interpreter and site, with this environment's .pth files);
- `tether run examples/hello_cities.py:hello_cities` warm (the compiled-module cache
  holds the example) and cold (`TETHER_NO_CACHE=1`: compiled with libcst every time);
- `tether status ID` of the instance the first run created;
- `tether --help`.

Prints the median wall time and CPU time of each and their ratios to the floor. Goals (issue 13): warm
run <= 5x, status <= 3x. Results and how they were taken: docs/benchmarks.md.

Every command runs with a bytecode cache of its own (PYTHONPYCACHEPREFIX, a temporary
directory, filled by one untimed round first), as an installed tether runs: pip compiles
a wheel's modules at install, and an editable install writes `__pycache__` on first use.
An environment with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every tether module
from source at every start, which no user pays. `--no-bytecode-cache` measures that way
(the method of the numbers before this option existed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELLO = str(ROOT / "examples" / "hello_cities.py") + ":hello_cities"


def tether_command() -> list[str]:
    script = Path(sys.executable).with_name("tether")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tether.cli"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, from wait4) of one run of `argv`."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             cwd=ROOT)
    assert child.stderr is not None
    stderr = child.stderr.read()
    child.stderr.close()
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, so the usage is this child's
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {stderr.decode().strip()}")
    return elapsed, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="compile every module from source at every start "
                             "(PYTHONDONTWRITEBYTECODE=1, no cache)")
    args = parser.parse_args()
    tether = tether_command()
    store = Path(tempfile.mkdtemp(prefix="tether-bench-"))
    pycache = Path(tempfile.mkdtemp(prefix="tether-bench-pyc-"))
    env = {**os.environ, "TETHER_STORE": str(store)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if args.no_bytecode_cache:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    cold_env = {**env, "TETHER_NO_CACHE": "1"}
    try:
        subprocess.run([*tether, "run", HELLO, "--input", '["Tokyo"]', "--id", "bench-1"],
                       env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)  # fills the cache
        commands = {
            "python -c pass": ([sys.executable, "-c", "pass"], env),
            "tether run (warm)": ([*tether, "run", HELLO, "--input", '["Tokyo"]'], env),
            "tether run (cold, no cache)": ([*tether, "run", HELLO, "--input", '["Tokyo"]'],
                                            cold_env),
            "tether status ID": ([*tether, "status", "bench-1"], env),
            "tether --help": ([*tether, "--help"], env),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv, environment in commands.values():  # fills the bytecode cache, untimed
            timed(argv, environment)
        for _ in range(args.rounds):
            for name, (argv, environment) in commands.items():
                wall, used = timed(argv, environment)
                times[name].append(wall)
                cpu[name].append(used)
    finally:
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)
    floor = statistics.median(times["python -c pass"])
    cpu_floor = statistics.median(cpu["python -c pass"])
    cache = "no bytecode cache" if args.no_bytecode_cache else "bytecode cached"
    print(f"{args.rounds} rounds, interleaved, {cache}; wall time, and CPU time (user + "
          "system: less swayed by a loaded machine's waits)")
    print(f"{'command':32} {'wall':>9} {'ratio':>6} {'CPU':>9} {'ratio':>6}")
    for name, samples in times.items():
        median, used = statistics.median(samples), statistics.median(cpu[name])
        print(f"{name:32} {median * 1000:7.1f}ms {median / floor:5.1f}x "
              f"{used * 1000:7.1f}ms {used / cpu_floor:5.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

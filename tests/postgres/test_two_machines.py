"""Two "machines": two `tether worker` processes, each in a working directory of its own
with its own copy of the program, reaching one PostgreSQL database over TCP, split the
work. Each machine's activities log their executions into a file of that machine's
working directory; the logs show that both served instances and both ran activities of
one fan-out, that together they ran every activity of the plain-Python runs exactly once,
and that neither made a store of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from runtime.client import Client
from runtime.direct import run_direct

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = '''
import json
import os
import time

from tether import activity, orchestrator


@activity
def machine_work(key):
    # This machine's own log, in its working directory: one write on an O_APPEND descriptor.
    line = os.environ.get("TETHER_MACHINE", "?") + "\\t" + json.dumps(key) + "\\n"
    fd = os.open("executions.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    time.sleep(float(os.environ.get("TETHER_MACHINE_SLEEP", "0")))
    return 2 * key[-1] + 1


@orchestrator
async def machine_fan(ctx, n):
    me = ctx.instance_id
    return sum(await ctx.when_all([ctx.call_activity(machine_work, [me, "fan", i, i])
                                   for i in range(n)]))


@orchestrator
async def machine_chain(ctx, n):
    me = ctx.instance_id
    total = 0
    for i in range(n):
        total = await ctx.call_activity(machine_work, [me, "chain", i, total])
    return total
'''

FAN_WIDTH = 40
CHAINS = 8


def plain(name: str, n: int, instance_id: str) -> tuple[object, list[str]]:
    module = types.ModuleType("_tether_two_machines_plain")
    exec(compile(PROGRAM, "two_machines.py", "exec"), module.__dict__)
    result = run_direct(getattr(module, name), n, instance_id=instance_id,
                        activities={"machine_work": module.machine_work})
    assert result.status == "Completed"
    return result.output, [json.dumps(data) for _, data in result.activity_calls]


def read_log(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.split("\t")[1] for line in path.read_text().splitlines()]


def test_two_machines_share_one_database_and_split_the_work(tmp_path: Path,
                                                            pg_url: str) -> None:
    assert urlsplit(pg_url).hostname, f"{pg_url} should reach the server over TCP"
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    for folder in machines:
        folder.mkdir()
        (folder / "two_machines.py").write_text(PROGRAM)

    from tether.loader import load

    loaded = load(str(machines[0] / "two_machines.py"))
    client = Client(pg_url)
    planned = [("machine_fan", FAN_WIDTH, "fan")] + [
        ("machine_chain", 3, f"chain{i}") for i in range(CHAINS)]
    for name, n, instance_id in planned:
        client.start(loaded.machine(name), n, instance_id=instance_id)

    procs = [subprocess.Popen(
        [sys.executable, "-m", "tether.cli", "worker", "two_machines.py", "--store", pg_url,
         "--until-idle", "--concurrency", "2"], cwd=folder,
        env=dict(os.environ, PYTHONPATH=str(ROOT), TETHER_MACHINE=folder.name,
                 TETHER_MACHINE_SLEEP="0.05"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE) for folder in machines]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]

    expected: list[str] = []
    for name, n, instance_id in planned:
        output, keys = plain(name, n, instance_id)
        doc = client.status(instance_id)
        assert doc is not None
        assert (doc["runtimeStatus"], doc["output"]) == ("Completed", output), instance_id
        expected += keys

    logs = {folder.name: read_log(folder / "executions.log") for folder in machines}
    executed = logs["machine-a"] + logs["machine-b"]
    assert Counter(executed) == Counter(expected), "every activity exactly once in all"
    for machine, keys in logs.items():
        fan_share = sum(json.loads(k)[1] == "fan" for k in keys)
        assert fan_share > 0, f"{machine} ran none of the fan-out's activities: {logs}"
        assert not (tmp_path / machine / ".tether").exists(), f"{machine} made a file store"
    served = {m: {json.loads(k)[0] for k in keys} for m, keys in logs.items()}
    assert served["machine-a"] and served["machine-b"]

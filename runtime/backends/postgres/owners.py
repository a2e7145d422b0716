"""Who holds a claim, and whether that holder is a dead process on this machine.

An owner id is `host:boot:pid:random`: the host name, the kernel's boot id (Linux's
`/proc/sys/kernel/random/boot_id`), the process id and a random part (one per backend
object). Leases make a dead worker's instances free only when its lease runs out; but a
process restarted on the same machine after a crash (`tether run` again, a worker
restarted by its supervisor) can see that the holder ran on this very kernel and is
gone, and free its claims at once. Only then: a holder on another machine, or one whose
process still exists, is waited for. Freeing a dead process's claims is safe without a
fence bump: it can write nothing any more.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path


def boot_id() -> str:
    """This kernel's boot id (8 hex digits), or "" where there is none to read."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    except OSError:
        return ""


def machine_prefix() -> str:
    """The part of an owner id shared by every process of this machine since its boot."""
    return f"{socket.gethostname()}:{boot_id()}:"


def new_owner_id() -> str:
    return f"{machine_prefix()}{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(owner: str) -> bool:
    """Whether `owner` was a process of this machine (this boot) that no longer runs."""
    prefix = machine_prefix()
    if not boot_id() or not owner.startswith(prefix):
        return False
    try:
        pid = int(owner[len(prefix):].split(":", 1)[0])
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # another backend object of this process: alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    try:  # killed, but not yet reaped by its parent: a zombie writes nothing either
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False

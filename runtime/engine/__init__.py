"""The journal runtime's engine, one job per module:

    core.py        owning instances (claims), staging and committing records, the loop
    stepping.py    machine steps, checkpoints, ending and continue_as_new
    activities.py  the activity pool, outcomes journaled as results or retries
    timers.py      timers and retry waits
    children.py    sub-orchestrations: creation, stale children, ends held for parents
    outbox.py      fire-and-forget work owed after a generation ends
    messages.py    events and control messages from the backend's inbox
    inline.py      run_inline: one instance to its end in this process

It reaches state only through `runtime.backends.base.Backend`.
"""

from __future__ import annotations

from runtime.engine.activities import run_activity
from runtime.engine.core import Engine, SimulatedCrash, machine_for
from runtime.engine.inline import RunResult, create_instance, created_data, run_inline
from runtime.instance import VersionMismatchError

__all__ = ["Engine", "RunResult", "SimulatedCrash", "VersionMismatchError", "create_instance",
           "created_data", "machine_for", "run_activity", "run_inline"]

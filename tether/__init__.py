"""tether: durable orchestrations in plain Python.

The authoring API lives in `runtime` (so compiled modules need only the runtime) and is
re-exported here: `from tether import orchestrator, activity, OrchestrationContext`.
Every name is imported when it is first asked for (PEP 562), so `import tether` (which
the `tether` command does before any subcommand) costs only the package guard: `tether
status` never loads the authoring API, and this package never imports `compiler`.
"""

import importlib
from typing import TYPE_CHECKING, Any

from tether.package_guard import check as _check_packages

_check_packages()  # before `runtime` is imported: a user's runtime.py must not be loaded

if TYPE_CHECKING:
    from runtime.api import (
        OrchestrationContext,
        OrchestrationError,
        RetryPolicy,
        Task,
        TaskFailedError,
        activity,
        orchestrator,
    )
    from runtime.client import Client
    from runtime.entities.critical import CriticalSection
    from runtime.entities.define import EntityContext, entity
    from runtime.entities.errors import UnknownEntity
    from runtime.entities.ids import EntityId

__all__ = [
    "Client",
    "CriticalSection",
    "EntityContext",
    "EntityId",
    "OrchestrationContext",
    "OrchestrationError",
    "RetryPolicy",
    "Task",
    "TaskFailedError",
    "UnknownEntity",
    "activity",
    "entity",
    "orchestrator",
]

__version__ = "0.1.0"

#: Where each public name is defined.
_HOMES = {"Client": "runtime.client", **dict.fromkeys(
    ("OrchestrationContext", "OrchestrationError", "RetryPolicy", "Task", "TaskFailedError",
     "activity", "orchestrator"), "runtime.api"),
    # the entity API
    "CriticalSection": "runtime.entities.critical", "EntityContext": "runtime.entities.define",
    "entity": "runtime.entities.define", "UnknownEntity": "runtime.entities.errors",
    "EntityId": "runtime.entities.ids"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # asked once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

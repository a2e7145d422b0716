"""tether: durable orchestrations in plain Python.

The authoring API lives in `runtime` (so compiled modules need only the runtime) and is
re-exported here: `from tether import orchestrator, activity, OrchestrationContext`.
This package must not import `compiler` at import time, and imports `Client` (the store
and journal code) only when it is first asked for.
"""

from typing import TYPE_CHECKING, Any

from tether.package_guard import check as _check_packages

_check_packages()  # before `runtime` is imported: a user's runtime.py must not be loaded

from runtime.api import (  # noqa: E402
    OrchestrationContext,
    OrchestrationError,
    RetryPolicy,
    Task,
    TaskFailedError,
    activity,
    orchestrator,
)

if TYPE_CHECKING:
    from runtime.client import Client
    from runtime.entities.critical import CriticalSection
    from runtime.entities.define import EntityContext, entity
    from runtime.entities.errors import UnknownEntity
    from runtime.entities.ids import EntityId

# the entity API, imported on first use like `Client` (name -> module)
_LAZY = {"CriticalSection": "runtime.entities.critical", "EntityContext": "runtime.entities.define",
         "entity": "runtime.entities.define", "UnknownEntity": "runtime.entities.errors",
         "EntityId": "runtime.entities.ids"}

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


def __getattr__(name: str) -> Any:
    # `Client` brings the store and journal code; importing it lazily keeps
    # `import tether` (which every orchestration module does) quick.
    if name == "Client":
        from runtime.client import Client

        return Client
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tether' has no attribute {name!r}")

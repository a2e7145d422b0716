"""tether: durable orchestrations in plain Python.

The authoring API lives in `runtime` (so compiled modules need only the runtime) and is
re-exported here: `from tether import orchestrator, activity, OrchestrationContext`.
This package must not import `compiler` at import time.
"""

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

__all__ = [
    "Client",
    "OrchestrationContext",
    "OrchestrationError",
    "RetryPolicy",
    "Task",
    "TaskFailedError",
    "activity",
    "orchestrator",
]

__version__ = "0.1.0"

"""tether: durable orchestrations in plain Python.

The authoring API lives in `runtime` (so compiled modules need only the runtime) and is
re-exported here: `from tether import orchestrator, activity, OrchestrationContext`.
This package must not import `compiler` at import time.
"""

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
from runtime.client import Client  # noqa: E402

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

"""tether's runtime: executes compiled orchestrations on a crash-safe file journal.

Emitted modules import this package only; the compiler need not be installed to run them.
"""

from runtime.api import (
    REGISTRY,
    OrchestrationContext,
    OrchestrationError,
    RetryPolicy,
    Task,
    TaskFailedError,
    activity,
    orchestrator,
)

__all__ = [
    "REGISTRY",
    "OrchestrationContext",
    "OrchestrationError",
    "RetryPolicy",
    "Task",
    "TaskFailedError",
    "activity",
    "orchestrator",
]

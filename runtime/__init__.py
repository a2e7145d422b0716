"""tether's runtime: executes compiled orchestrations on a crash-safe file journal.

Emitted modules import this package only; the compiler need not be installed to run them.
The authoring API's names are re-exported from `runtime.api` when first asked for
(PEP 562): importing one runtime module (a backend, to read a status) does not load the
authoring API.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module("runtime.api"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

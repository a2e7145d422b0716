"""Compatibility names: the engine is `runtime.engine` (one module per job)."""

from __future__ import annotations

from runtime.engine import (
    Engine,
    RunResult,
    SimulatedCrash,
    VersionMismatchError,
    create_instance,
    created_data,
    machine_for,
    run_activity,
    run_inline,
)

__all__ = ["Engine", "RunResult", "SimulatedCrash", "VersionMismatchError", "create_instance",
           "created_data", "machine_for", "run_activity", "run_inline"]

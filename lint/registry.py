"""The table of rule codes. A released code never changes meaning; retire, don't reuse."""

from __future__ import annotations

from lint.rules.async_entity_code import AsyncEntityCode
from lint.rules.base import Rule
from lint.rules.blocking_wait import BlockingWait
from lint.rules.call_unlocked_entity import CallUnlockedEntity
from lint.rules.direct_task_call import DirectTaskCall
from lint.rules.environment_read import EnvironmentRead
from lint.rules.global_state_write import GlobalStateWrite
from lint.rules.hash_order_dependence import HashOrderDependence
from lint.rules.io_call import IoCall
from lint.rules.nested_critical_section import NestedCriticalSection
from lint.rules.non_task_await import NonTaskAwait
from lint.rules.parallel_locked_calls import ParallelLockedCalls
from lint.rules.random_draw import RandomDraw
from lint.rules.signal_locked_entity import SignalLockedEntity
from lint.rules.sub_orchestration_in_critical_section import SubOrchestrationInCriticalSection
from lint.rules.unused_suppression import UnusedSuppression
from lint.rules.wall_clock_read import WallClockRead

RULES: tuple[type[Rule], ...] = (
    WallClockRead,         # DET001
    RandomDraw,            # DET002
    IoCall,                # DET003
    EnvironmentRead,       # DET004
    BlockingWait,          # DET005
    GlobalStateWrite,      # DET006
    NonTaskAwait,          # DET007
    HashOrderDependence,   # DET008
    DirectTaskCall,        # DET009
    NestedCriticalSection,              # ENT001
    SubOrchestrationInCriticalSection,  # ENT002
    CallUnlockedEntity,                 # ENT003
    SignalLockedEntity,                 # ENT004
    ParallelLockedCalls,                # ENT005
    AsyncEntityCode,                    # ENT006
    UnusedSuppression,     # DET100: judges the others' suppressions, so it runs last
)
BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in RULES}


def get(code: str) -> type[Rule] | None:
    """The rule with this code (case-insensitive), or None."""
    return BY_CODE.get(code.strip().upper())

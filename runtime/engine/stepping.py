"""Stepping: calling the machine while its awaited task is complete, checkpointing when
it blocks, starting the work a checkpoint lists, and ending or continuing a generation.

A step runs when the awaited task is complete: its outcome is delivered (a fresh copy
each time) and the machine called. Suspending on a task that is not complete stages a
checkpoint, then starts the activities, timers and children it lists.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from runtime import observe
from runtime.backends.base import BackendError
from runtime.clock import iso, parse_iso
from runtime.context import JournalContext, TaskState, boundary, failure_details
from runtime.entities import critical
from runtime.entities.senders import INCARNATION, new_incarnation
from runtime.instance import FINAL, Instance
from runtime.machine import Return
from runtime.values import FrameValueError, NotJSONError, encode_slots

if TYPE_CHECKING:
    from runtime.engine.core import Engine


def advance(engine: Engine, inst: Instance) -> None:
    """Run steps while the awaited task is complete; checkpoint when it blocks.

    Whatever a step raises is that instance's problem only: it fails with the reason in
    its status (or, when not even that can be written, is broken: reported once and
    released), and the engine goes on with the others."""
    from runtime.engine.core import SimulatedCrash

    try:
        _advance(engine, inst)
    except SimulatedCrash:
        raise
    except (BackendError, OSError) as exc:  # the store failed (a full disk), not the step
        # (whose own exceptions `step` catches): broken (released, tried again later), not
        # Failed for good
        engine.fail(inst, str(exc) if inst.id in str(exc) else f"instance {inst.id}: {exc}")
    except Exception as exc:
        if inst.ended or inst.broken:
            raise
        reason = f"the engine could not run its step: {type(exc).__name__}: {exc}"
        try:
            finish(engine, inst, "failed", error={"type": type(exc).__name__, "message": reason})
        except SimulatedCrash:
            raise
        except Exception as again:
            engine.fail(inst, f"instance {inst.id}: {reason}; and its failure cannot be "
                              f"recorded: {type(again).__name__}: {again}")


def _advance(engine: Engine, inst: Instance) -> None:
    if inst.passive:
        return
    while inst.ready():
        if inst.awaiting is None:
            inst.status = "Running"
        else:
            mark = inst.table.completion(inst.awaiting)
            assert mark is not None
            _waits_over(inst, inst.awaiting)
            inst.now = inst.time_of(mark[1])
            inst.frame.deliver(inst.table.outcome(inst.awaiting))
        if not step(engine, inst):
            return
    if not inst.ended and inst.awaiting is not None and inst.unsaved_step:
        checkpoint(engine, inst)


def step(engine: Engine, inst: Instance) -> bool:
    """One machine call; False once the instance ended or started a new generation."""
    assert inst.mdef is not None
    ctx = JournalContext(inst.id, inst.table, inst.now, inst.buffered, inst.next_uuid,
                         input=inst.input,
                         parent_id=inst.parent.get("id") if inst.parent is not None else None,
                         on_new=inst.unsaved.append)
    ctx.custom_status = inst.custom_status
    ctx.continued = (inst.continued[0],) if inst.continued is not None else None
    state, clock = inst.frame.state, time.perf_counter()
    token = critical.running_in(ctx)  # a CriticalSection in the frame reaches ctx so
    try:
        result = inst.mdef.fn(ctx, inst.frame)
    except Exception as exc:
        _step_ran(inst, state, clock, f"{type(exc).__name__}: {exc}")
        inst.custom_status = ctx.custom_status
        finish(engine, inst, "failed", error={"type": type(exc).__name__, "message": str(exc),
                                              "details": failure_details(exc)})
        return False
    finally:
        critical.reset(token)
    _step_ran(inst, state, clock, None)
    inst.next_uuid, inst.custom_status = ctx.next_uuid, ctx.custom_status
    inst.continued = [ctx.continued[0]] if ctx.continued is not None else None
    if isinstance(result, Return):
        if ctx.continued is not None:
            continue_as_new(engine, inst, ctx.continued[0])
            return False
        try:
            output = boundary(result.value, "orchestration output")
        except NotJSONError as exc:
            finish(engine, inst, "failed", error={"type": "NotJSONError", "message": str(exc)})
            return False
        finish(engine, inst, "completed", output=output)
        return False
    inst.awaiting = result.task.id
    inst.unsaved_step = True
    return True


def _waits_over(inst: Instance, task_id: int) -> None:
    """Report the timers and events the next step consumes (the awaited task, or the
    done members of the group it is): at this point whatever their records' fate in a
    crash, so a wait is reported once, or twice only with the step a crash interrupts."""
    t = inst.table.tasks[task_id]
    if not t.children and t.kind != "timer" and t.kind != "event":
        return  # an activity or a child: no wait to report (a chain's every step)
    for w in [t] if t.kind in ("timer", "event") else [inst.table.tasks[c] for c in t.children]:
        if w.kind not in ("timer", "event") or not w.done or w.ts is None:
            continue
        end = parse_iso(w.ts).timestamp()
        observe.emit(observe.WaitEnded(
            inst.id, inst.name, trace=inst.trace, task=w.id, kind=w.kind,
            name=(w.name or "") if w.kind == "event" else (w.fire_at or ""),
            started=parse_iso(w.first_at).timestamp() if w.first_at else end, ended=end))


def _step_ran(inst: Instance, state: int, clock: float, error: str | None) -> None:
    """Count the step; its event is built only if a subscriber wants it (observe.py)."""
    seconds = time.perf_counter() - clock
    if observe.step_ran(inst.name, seconds, error is not None):
        observe.emit(observe.StepRan(inst.id, inst.name, trace=inst.trace,
                                     step=inst.step_label or f"s{state}",
                                     started=time.time() - seconds, seconds=seconds,
                                     error=error))


def checkpoint(engine: Engine, inst: Instance) -> None:
    referenced: set[int] = set()
    try:
        slots = encode_slots(inst.frame.slots, referenced,
                             describe=inst.mdef.describe if inst.mdef else None)
    except FrameValueError as exc:
        finish(engine, inst, "failed", error={"type": "FrameValueError", "message": str(exc)})
        return
    except RecursionError:  # a value nested deeper than the codec goes
        finish(engine, inst, "failed", error={
            "type": "FrameValueError",
            "message": "cannot checkpoint the frame: a value is nested too deeply "
                       "(RecursionError)"})
        return
    if not engine.append(inst, "checkpoint", inst.checkpoint_data(slots, referenced)):
        return  # the instance cannot be written: broken, released by the engine
    inst.checkpointed, inst.unsaved_step = True, False
    inst.unsaved = []
    inst.consumed.clear()
    if inst.status == "Pending":
        inst.status = "Running"
    start_pending(engine, inst)


def start_pending(engine: Engine, inst: Instance) -> None:
    """Start the work the last checkpoint lists and that is not started yet."""
    if not inst.checkpointed or inst.passive or inst.ended or inst.broken:
        return
    activities: list[TaskState] = []
    for t in list(inst.table.tasks.values()):
        if t.done or t.started:
            continue
        if t.kind == "activity":
            activities.append(t)
        elif t.kind == "timer":
            t.started = True
            assert t.fire_at is not None
            engine.timers.push(t.fire_at, inst.id, t.id, inst.generation)
        elif t.kind == "sub_orchestration":
            start_child(engine, inst, t)
        elif t.kind in KINDS:
            send_task(engine, inst, t)
    if not activities:  # (the call after a result is applied, before the step runs)
        return
    lone = len(activities) == 1 and not engine.pool.inflight and len(engine.instances) == 1
    for t in activities:
        start_activity(engine, inst, t, inline=lone)


def finish(engine: Engine, inst: Instance, kind: str, *, output: Any = None,
           error: dict[str, Any] | None = None) -> None:
    """Stage the final record; durable at once, or with the group commit it is part of."""
    from runtime.engine.children import tell_parent
    from runtime.engine.entity_calls import end_generation
    from runtime.engine.outbox import owed

    end_generation(engine, inst, kind)
    data: dict[str, Any] = {"custom_status": inst.custom_status}
    if kind == "failed":
        data["error"] = error
    else:
        data["output"] = output
    unsaved = [{"name": t.name, "input": t.input} for t in inst.unsaved if t.kind == "activity"]
    if unsaved:
        data["unsaved_calls"] = unsaved
    entries = owed(inst) if kind != "terminated" else []
    if entries:
        data["outbox"] = entries
    # Observers hear of the end right before its record is written: no write lies between,
    # so a killed process has either reported the end and written it (a resumed worker
    # finds it ended and says nothing) or done neither (the last step runs again).
    _report_end(inst, FINAL[kind], error, iso(engine.now(inst)))
    # A parent elsewhere is told in the commit of the end. Staged before the final record,
    # so no write lies between the two (a crash at that write keeps both or neither); if
    # the record cannot be written, the parent that hears of it finds the child running
    # (`check_child` reads the child's status) and waits on.
    tell_parent(engine, inst)
    for rec in engine.append(inst, kind, data):
        inst.apply(rec)
    if inst.broken:
        return
    if engine.ending is not None:  # inside a group commit: made durable with the group
        engine.ending.append(inst)
        return
    engine.sync([inst])
    ended(engine, inst)


def ended(engine: Engine, inst: Instance) -> None:
    """The instance's end is durable: tell its parent, and send what it owes."""
    from runtime.engine.children import notify_parent
    from runtime.engine.outbox import send_outbox

    notify_parent(engine, inst)
    if inst.outbox:
        send_outbox(engine, inst)


def _report_end(inst: Instance, status: str, error: dict[str, Any] | None, at: str) -> None:
    observe.emit(observe.InstanceEnded(
        inst.id, inst.name, trace=inst.trace, status=status,
        error=f"{error['type']}: {error['message']}" if status == "Failed" and error else None,
        created=parse_iso(inst.created).timestamp(), ended=parse_iso(at).timestamp()))


def continue_as_new(engine: Engine, inst: Instance, new_input: Any) -> None:
    """Start the next generation: a fresh journal (same id), unconsumed events carried."""
    from runtime.accounting import generation_calls
    from runtime.engine.entity_calls import end_generation
    from runtime.engine.outbox import owed, send_outbox

    assert inst.claim is not None and inst.mdef is not None
    end_generation(engine, inst, "continued")
    engine.backend.commit([inst.claim])  # the generation's records, before they are counted
    calls = generation_calls(engine.backend, inst.id) + [
        (t.name or "", t.input) for t in inst.unsaved if t.kind == "activity"]
    carry = [[name, data] for name, q in inst.buffered.items() for data, _, _ in q]
    data = {"name": inst.name, "input": new_input, "graph_hash": inst.mdef.graph_hash,
            "source": inst.mdef.source, "parent": inst.parent, "attempt": inst.attempt,
            "generation": inst.generation + 1, "carry": carry,
            "events_in": inst.events_in, "start": iso(inst.now),
            INCARNATION: new_incarnation()}  # who it is as a sender to entities
    trace = observe.new_trace(inst.trace, renew=True) if inst.trace is not None else None
    if trace is not None:
        data["trace"] = trace
    entries = list(inst.outbox.values()) + owed(inst)  # fire and forget: carried over
    if entries:
        data["outbox"] = entries
    for t in inst.table.tasks.values():  # running here: their outcomes send them
        if t.kind == "activity" and t.started and not t.done and t.fire_at is None:
            engine.sending.setdefault(inst.id, set()).add(f"{inst.generation}:{t.id}")
    _report_end(inst, "ContinuedAsNew", None, iso(engine.now(inst)))
    inst.claim.new_generation(data, iso(engine.now(inst)), calls)
    fresh = Instance.restore(inst.id, inst.claim, inst.mdef)
    fresh.pending_events = inst.pending_events
    engine.instances[inst.id] = fresh
    engine.count_write()
    advance(engine, fresh)
    if fresh.outbox and not fresh.ended:
        send_outbox(engine, fresh)


# Imported last: these modules import this one. Here rather than inside `start_pending`,
# which runs twice per step (a function-level import costs a lookup each call).
from runtime.engine.activities import start_activity  # noqa: E402
from runtime.engine.children import start_child  # noqa: E402
from runtime.engine.entity_calls import KINDS, send_task  # noqa: E402

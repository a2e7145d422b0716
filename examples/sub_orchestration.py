"""Sub-orchestrations: provision a fleet of devices, one sub-orchestration per device.

Each `provision_device` instance is a full orchestration of its own (with its own journal);
the parent fans out over them and waits for all.

    tether run examples/sub_orchestration.py:provision_fleet --input '["dev-1", "dev-2", "dev-3"]'
"""

from __future__ import annotations

from typing import Any

from tether import OrchestrationContext, activity, orchestrator


@activity
def create_device_key(device_id: str) -> str:
    return f"key-{device_id}"


@activity
def register_device(device: dict[str, str]) -> str:
    return f"registered {device['id']}"


@orchestrator
async def provision_device(ctx: OrchestrationContext, device_id: str) -> dict[str, str]:
    key = await ctx.call_activity(create_device_key, device_id)
    receipt = await ctx.call_activity(register_device, {"id": device_id, "key": key})
    return {"id": device_id, "key": key, "receipt": receipt}


@orchestrator
async def provision_fleet(ctx: OrchestrationContext, device_ids: list[str]) -> list[Any]:
    tasks = [ctx.call_sub_orchestrator(provision_device, d) for d in device_ids]
    return await ctx.when_all(tasks)


DIFFERENTIAL_CASES: list[tuple[str, object, list[tuple[str, object]]]] = [
    ("provision_fleet", ["dev-1", "dev-2", "dev-3"], []),
    ("provision_device", "dev-9", []),
]

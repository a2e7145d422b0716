"""What every renderer agrees on: how a node and an edge read, and the overlay's colours.

Shapes follow flowchart habits: start and end are pills, branches diamonds, work boxes,
sub-orchestrations double boxes, waits (timers, events) hexagons, joins circles. Normal
flow is a solid line, fan-out and fan-in thick, failure paths dashed red, back edges and
continue-as-new dotted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.graphing.progress import DONE, FAILED, NOT_RUN, WAITING, NodeState

WORK = ("activity", "sub_orchestration", "task", "entity", "signal")
WAITS = ("timer", "event", "lock")  # a lock step waits for its entities to be granted
JOINS = ("when_all", "when_any")
FAILURE_EDGES = ("exception", "raise")
PARALLEL_EDGES = ("fan_out", "fan_in")


@dataclass(frozen=True)
class Fill:
    fill: str
    stroke: str
    text: str


NODE_FILL = {
    "start": Fill("#e8eef7", "#4a6fa5", "#1b2a41"),
    "end": Fill("#e8eef7", "#4a6fa5", "#1b2a41"),
    "fail": Fill("#fbe3e4", "#b3261e", "#7a1712"),
    "branch": Fill("#fff8e1", "#b08800", "#3d3000"),
    "finally": Fill("#fff8e1", "#b08800", "#3d3000"),
    "work": Fill("#ffffff", "#5f6b7a", "#1f2328"),
    "wait": Fill("#eef7f1", "#3f7f5a", "#173d27"),
    "join": Fill("#f3eefa", "#6f4fa5", "#2e1d4d"),
}

STATE_FILL = {
    DONE: Fill("#d3f0d8", "#1e7b34", "#0f3d1a"),
    WAITING: Fill("#ffe8a3", "#b07800", "#3d2a00"),
    FAILED: Fill("#f8c9c9", "#b3261e", "#5c0f0b"),
    NOT_RUN: Fill("#f4f5f7", "#b8bec6", "#7a828c"),
}

STATE_WORD = {DONE: "done", WAITING: "waiting here", FAILED: "failed", NOT_RUN: "not run"}


def family(kind: str) -> str:
    """The drawing family of a node kind: start, end, fail, branch, finally, work, wait, join."""
    if kind in WORK:
        return "work"
    if kind in WAITS:
        return "wait"
    if kind in JOINS:
        return "join"
    return kind


def node_text(node: str, data: dict[str, Any], state: NodeState | None) -> list[str]:
    """The lines a node shows: what it is, where it is written, and how often it ran."""
    lines = [str(data["label"])]
    if data.get("each"):
        # `for item in batch` -> `for each item in batch`
        lines.append(str(data["each"]).replace("for ", "for each ", 1))
    if data.get("line") is not None:
        lines.append(f"line {data['line']}")
    if state is not None:
        lines.extend(progress_text(state))
    return lines


def progress_text(state: NodeState) -> list[str]:
    if state.state == NOT_RUN:
        return []
    parts = [STATE_WORD[state.state]]
    if state.count > 1:
        parts.append(f"ran {state.count}×")
    if state.retries:
        parts.append(f"{state.retries} {'retry' if state.retries == 1 else 'retries'}")
    return [", ".join(parts)]


def fill_of(kind: str, state: NodeState | None) -> Fill:
    if state is not None:
        return STATE_FILL[state.state]
    return NODE_FILL[family(kind)]

"""Dataclasses and pydantic models at the boundaries: encoded as JSON, rebuilt from the
functions' annotations, in both runtimes; other objects still refused by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.boundary_types import from_json, to_json
from tests.differential.harness import check_case, compiled_module, plain_module, run_plain
from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Inner:
    n: int


@dataclass
class Outer:
    name: str
    items: list[Inner]
    extra: dict[str, Inner]
    maybe: Inner | None = None


def test_round_trip_of_nested_dataclasses() -> None:
    value = Outer("o", [Inner(1), Inner(2)], {"k": Inner(3)}, None)
    encoded = to_json(value)
    assert encoded == {"name": "o", "items": [{"n": 1}, {"n": 2}], "extra": {"k": {"n": 3}},
                       "maybe": None}
    assert json.loads(json.dumps(encoded)) == encoded
    assert from_json(encoded, Outer) == value
    assert from_json([encoded], list[Outer]) == [value]
    assert from_json(encoded, Outer | None) == value


@pytest.mark.parametrize("value", [1, "s", None, [1, {"a": 2}], {"a": [None]}])
def test_plain_json_is_left_alone(value: Any) -> None:
    assert to_json(value) is value
    assert from_json(value, Any) is value


def test_a_cycle_is_left_for_the_json_check_to_name() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert to_json(loop) is loop


PYDANTIC = '''
import pydantic
from tether import OrchestrationContext, activity, orchestrator


class Reading(pydantic.BaseModel):
    sensor: str
    celsius: float


class Summary(pydantic.BaseModel):
    sensor: str
    fahrenheit: float


@activity
def convert(reading: Reading) -> Summary:
    return Summary(sensor=reading.sensor, fahrenheit=reading.celsius * 9 / 5 + 32)


@orchestrator
async def summarize(ctx: OrchestrationContext, reading: Reading) -> Summary:
    summary = await ctx.call_activity(convert, reading)
    # rebuilt from convert's return annotation (the registered module's Summary class)
    assert type(summary).__name__ == "Summary" and summary.fahrenheit > 0
    return summary
'''


def test_pydantic_models_cross_boundaries_in_both_runtimes(tmp_path: Path) -> None:
    pytest.importorskip("pydantic")
    plain, compiled = plain_module(PYDANTIC, "readings.py"), compiled_module(PYDANTIC, "readings.py")
    value = {"sensor": "s1", "celsius": 100.0}
    check_case(plain, compiled, "summarize", value, [], tmp_path)
    got = run_plain(plain, "summarize", value)
    assert got.output == {"sensor": "s1", "fahrenheit": 212.0}
    assert got.calls == [("convert", {"sensor": "s1", "celsius": 100.0})]


def test_tether_run_takes_a_dataclass_input_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", str(ROOT / "examples" / "serialize_arguments.py"),
                 "--input", '{"sku": "B-2", "quantity": 2}', "--store", str(tmp_path / "s")])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == {"text": "2 x B-2 = 39.98", "total_cents": 3998}

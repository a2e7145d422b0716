"""Entity kill soak on both backends (the harness is bench/entity_soak.py, which has the
long profile and the numbers in docs/benchmarks.md): orchestrations and a retrying
client send calls and signals to shared counters, transfers move money between accounts
under locks, and workers are SIGKILLed at random. Every counter ends at exactly what was
sent, the accounts' total is unchanged, no lock is left held, nothing is applied twice.

The CI profile is bounded (a few kill rounds, about a minute); `--soak` runs issue 12's
profile: 50 orchestrations x 300 operations, 300 client signals, 10 counters, 40
transfers between 5 accounts, 30 kill rounds of 3 workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.entity_soak import EntitySoak, Plan, expected_counters, make_plan, run_entity_soak
from tests.backends.support import Stores

CI = EntitySoak(orchestrations=8, ops=30, client_signals=60, counters=10, accounts=5,
                transfers=10, kills=4, workers=2, seed=3, max_delay=0.8, final_timeout=240)


def test_workers_killed_at_random_keep_every_entity_exact(tmp_path: Path,
                                                         stores: Stores) -> None:
    report = run_entity_soak(tmp_path, stores(), CI)
    assert report.problems == [], "\n".join(report.lines())
    assert report.rounds.landed >= 1, "no kill hit a running worker: the test proved nothing"
    assert report.entities == CI.counters + CI.accounts
    assert report.moved + report.refused == CI.transfers


@pytest.mark.soak
def test_soak_issue_12_profile(tmp_path: Path, stores: Stores) -> None:
    report = run_entity_soak(tmp_path, stores(), EntitySoak())
    assert report.problems == [], "\n".join(report.lines())
    assert report.rounds.landed >= 20


def test_the_expected_states_count_a_resent_key_once() -> None:
    plan = Plan(counts={"o": [[0, 5, "call"], [1, 2, "signal"]]},
                client=[(0, 3, "k0"), (1, 4, "k1")], resends=[0, 0, 1], transfers={})
    assert expected_counters(plan, 3) == {
        "@counter@c0": {"sum": 8, "count": 2, "squares": 34},
        "@counter@c1": {"sum": 6, "count": 2, "squares": 20}}


def test_the_plan_is_what_the_settings_ask_for() -> None:
    settings = EntitySoak()
    plan = make_plan(settings)
    assert len(plan.counts) == 50 and all(len(ops) == 300 for ops in plan.counts.values())
    assert {how for ops in plan.counts.values() for _, _, how in ops} == {"call", "signal"}
    assert len(plan.client) == 300 and len({k for _, _, k in plan.client}) == 300
    assert len(plan.resends) == 60 and len(plan.transfers) == 40
    assert all(s != t for s, t, _ in plan.transfers.values())
    touched = {c for ops in plan.counts.values() for c, _, _ in ops}
    assert touched == set(range(10))

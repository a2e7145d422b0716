"""Per-rule fixtures, the cross-module project and the clean corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

import lint
from lint.registry import RULES
from tests.lint.harness import FIXTURES, expected

RULE_FIXTURES = sorted(p for p in FIXTURES.glob("*.py"))
REPO = Path(__file__).resolve().parents[2]


def test_every_rule_has_a_fixture() -> None:
    modules = {rule.__module__.rsplit(".", 1)[-1] for rule in RULES}
    assert modules == {p.stem for p in RULE_FIXTURES}


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=lambda p: p.stem)
def test_rule_fixture(path: Path) -> None:
    findings = lint.check_source(path.read_text(), str(path))
    assert {(f.line, f.code) for f in findings} == expected(path)
    assert all(f.path == str(path) for f in findings)


@pytest.mark.parametrize("path", RULE_FIXTURES, ids=lambda p: p.stem)
def test_fixture_flags_its_own_rule(path: Path) -> None:
    code = next(r.code for r in RULES if r.__module__.endswith("." + path.stem))
    assert code in {c for _, c in expected(path)}


def test_project_helpers_are_followed_across_modules() -> None:
    root = FIXTURES / "project"
    result = lint.lint_paths([str(root)], jobs=1)
    want = {(str(p.relative_to(root)), line, code)
            for p in root.rglob("*.py") for line, code in expected(p)}
    got = {(str(Path(f.path).resolve().relative_to(root.resolve())), f.line, f.code)
           for f in result.findings}
    assert got == want
    clock = next(f for f in result.findings if f.code == "DET001")
    assert clock.chain == ("quote", "shop.pricing.price", "shop.util.clock.stamp")
    assert clock.message.endswith("(via quote -> shop.pricing.price -> shop.util.clock.stamp)")
    # pricing.py has no orchestrator: the prefilter skips it; it is parsed only on demand
    assert result.parsed == 1 and result.files == 6


def test_check_source_reports_helper_module_findings_after_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    flows = FIXTURES / "project" / "shop" / "flows.py"
    monkeypatch.chdir(FIXTURES / "project")
    findings = lint.check_source(flows.read_text(), "shop/flows.py")
    assert [(f.path, f.code) for f in findings] == [
        ("shop/flows.py", "DET009"), (str(Path("shop/util/clock.py")), "DET001")]


def test_clean_corpus_has_no_findings() -> None:
    result = lint.lint_paths([str(FIXTURES / "clean")], jobs=1)
    assert result.errors == []
    assert result.findings == []
    assert result.parsed == len(list((FIXTURES / "clean").glob("*.py")))


def test_examples_are_clean() -> None:
    examples = REPO / "examples"
    if not examples.is_dir():
        pytest.skip("no examples folder")
    result = lint.lint_paths([str(examples)], jobs=1)
    assert result.errors == []
    assert [str(f) for f in result.findings] == []


def test_chain_names_the_helpers_in_order() -> None:
    path = FIXTURES / "wall_clock_read.py"
    findings = lint.check_source(path.read_text(), str(path))
    deadline = [f for f in findings if f.chain]
    assert [f.chain for f in deadline] == [("via_helpers", "_schedule", "_deadline")]
    assert deadline[0].message == (
        "`datetime.datetime.utcnow()` reads the wall clock in orchestrator code "
        "(via via_helpers -> _schedule -> _deadline)")
    direct = [f for f in findings if not f.chain]
    assert direct and all("via" not in f.message for f in direct)

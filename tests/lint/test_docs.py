"""docs/rules/ is generated from the rule docstrings and must match them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lint import docs
from lint.config import ALL_CODES
from lint.registry import RULES

RULES_DIR = Path(__file__).resolve().parents[2] / "docs" / "rules"


@pytest.mark.parametrize("name", sorted(docs.pages()))
def test_committed_page_equals_generated(name: str) -> None:
    assert (RULES_DIR / name).read_text() == docs.pages()[name], "run `python -m lint.docs`"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_doc_has_the_fixed_sections_in_order(rule: type) -> None:
    doc = rule.doc()
    assert doc.splitlines()[0] == f"{rule.code} {rule.name}"
    positions = [doc.index(section) for section in docs.SECTIONS]
    assert positions == sorted(positions)


def test_check_mode_reports_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.main([str(tmp_path)]) == 0
    assert docs.main([str(tmp_path), "--check"]) == 0
    (tmp_path / "DET003.md").write_text("edited by hand\n")
    assert docs.main([str(tmp_path), "--check"]) == 1
    assert "DET003.md" in capsys.readouterr().err


def test_codes_are_unique_and_sequential() -> None:
    # DET001-DET009 judge orchestrator code, ENT001-ENT006 critical sections and entity
    # code; DET100 judges the suppression comments, so it runs last
    assert [r.code for r in RULES] == [*(f"DET00{n}" for n in range(1, 10)),
                                       *(f"ENT00{n}" for n in range(1, 7)), "DET100"]
    assert list(ALL_CODES) == [r.code for r in RULES]
    assert len({r.name for r in RULES}) == len(RULES)

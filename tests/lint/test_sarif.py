"""`tether lint --format sarif` against the official SARIF 2.1.0 schema, and the fields
GitHub code scanning shows: helpUri, end positions, the helper chain, parse errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lint.registry import RULES
from tests.lint.demo_project import FLOW, make_project
from tether.cli import main

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
REPO = Path(__file__).resolve().parents[2]
Capsys = pytest.CaptureFixture[str]

@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return make_project(tmp_path, good=False)


def sarif_of(argv: list[str], capsys: Capsys) -> tuple[int, dict[str, Any]]:
    code = main(["lint", "--format", "sarif", *argv])
    return code, json.loads(capsys.readouterr().out)


def validate(log: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(log)


def test_the_schema_is_a_valid_draft7_schema_that_rejects_bad_logs() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft7Validator(SCHEMA)
    good = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": [
        {"message": {"text": "m"}, "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "a.py"}, "region": {"startLine": 1}}}]}]}]}
    validator.validate(good)
    bad_region = json.loads(json.dumps(good))
    bad_region["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"] = {"startLine": 0}
    no_message = json.loads(json.dumps(good))
    del no_message["runs"][0]["results"][0]["message"]
    unknown_field = json.loads(json.dumps(good))
    unknown_field["runs"][0]["results"][0]["line"] = 3
    for log in (bad_region, no_message, unknown_field, {"version": "2.0.0", "runs": []}):
        assert not validator.is_valid(log)


def test_findings_with_a_helper_chain_validate(project: Path, capsys: Capsys) -> None:
    code, log = sarif_of(["flows"], capsys)
    assert code == 1
    validate(log)
    (run,) = log["runs"]
    direct, via = sorted(run["results"], key=lambda r: r["locations"][0]["physicalLocation"]
                         ["region"]["startLine"], reverse=True)
    # `time.time()` on line 9 starts at column 9 and ends before column 20
    assert direct["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 9, "startColumn": 9, "endLine": 9, "endColumn": 20}
    assert "relatedLocations" not in direct
    # line 5, reached through `_stamp()` called on line 10
    assert via["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    (hop,) = via["relatedLocations"]
    assert hop["message"]["text"] == "`flow` calls `_stamp`"
    assert hop["physicalLocation"]["artifactLocation"] == {"uri": "flows/bad.py",
                                                           "uriBaseId": "%SRCROOT%"}
    assert hop["physicalLocation"]["region"] == {"startLine": 10, "startColumn": 12}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": project.resolve().as_uri() + "/"}}
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_cross_module_chain_names_every_call(capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO / "tests" / "lint" / "fixtures" / "project")
    code, log = sarif_of(["shop"], capsys)
    assert code == 1
    validate(log)
    clock = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "DET001")
    hops = [(h["physicalLocation"]["artifactLocation"]["uri"], h["message"]["text"])
            for h in clock["relatedLocations"]]
    assert hops == [
        ("shop/flows.py", "`quote` calls `shop.pricing.price`"),
        ("shop/pricing.py", "`shop.pricing.price` calls `shop.util.clock.stamp`"),
    ]
    assert [h["id"] for h in clock["relatedLocations"]] == [0, 1]


def test_syntax_errors_are_tool_execution_notifications(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "broken.py").write_text("from tether import orchestrator\nif x\n")
    code, log = sarif_of(["flows"], capsys)
    assert code == 2
    validate(log)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"] == "syntax error: expected ':'"
    (where,) = note["locations"]
    assert where["physicalLocation"]["artifactLocation"]["uri"] == "flows/broken.py"
    assert where["physicalLocation"]["region"] == {"startLine": 2, "startColumn": 5}
    assert len(log["runs"][0]["results"]) == 2  # the other file is still reported


def test_every_rule_carries_its_doc_page(project: Path, capsys: Capsys) -> None:
    """The page travels in the log (`help`), so code scanning shows it with no link to a
    site: the project publishes none, and a made-up address would be worse than none."""
    _, log = sarif_of(["flows"], capsys)
    driver = log["runs"][0]["tool"]["driver"]
    assert "informationUri" not in driver
    assert [r["id"] for r in driver["rules"]] == [r.code for r in RULES]
    for rule, known in zip(driver["rules"], RULES, strict=True):
        assert "helpUri" not in rule
        assert rule["help"] == {"text": known.doc(), "markdown": known.doc()}
        page = (REPO / "docs" / "rules" / f"{rule['id']}.md").read_text()
        assert known.doc().split("\n", 1)[1].strip() in page  # the page docs/rules/ has
        family = {"DET": "determinism", "ENT": "entity-locking"}[known.code[:3]]
        assert rule["properties"]["tags"] == [family]


def test_a_file_outside_the_working_folder_gets_an_absolute_uri(
        tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere" / "bad.py").write_text(FLOW)
    monkeypatch.chdir(tmp_path / "here")
    code, log = sarif_of([str(tmp_path / "elsewhere" / "bad.py")], capsys)
    assert code == 1
    validate(log)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {
        "uri": (tmp_path / "elsewhere" / "bad.py").resolve().as_uri()}


def test_unicode_columns_and_an_empty_run_validate(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "bad.py").write_text(
        "import time\nfrom tether import orchestrator\n@orchestrator\nasync def o(ctx):\n"
        "    é = 'ü'; t = time.time()  # tether: ignore[DET002]\n")
    code, log = sarif_of(["flows"], capsys)
    assert code == 1
    validate(log)
    regions = {r["ruleId"]: r["locations"][0]["physicalLocation"]["region"]
               for r in log["runs"][0]["results"]}
    assert regions["DET001"] == {"startLine": 5, "startColumn": 18, "endLine": 5, "endColumn": 29}
    assert regions["DET100"]["startColumn"] == 31  # the comment's `#`, in characters
    (project / "flows" / "bad.py").write_text("x = 1\n")
    code, log = sarif_of(["flows"], capsys)
    assert code == 0
    validate(log)
    assert log["runs"][0]["results"] == []

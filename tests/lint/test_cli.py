"""`tether lint` through `tether.cli.main`: formats, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lint.registry import RULES
from tests.lint.demo_project import FLOW, make_project
from tether.cli import main

Capsys = pytest.CaptureFixture[str]

@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return make_project(tmp_path, good=True)


def test_text_format_with_help_lines_and_summary(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "flows"]) == 1
    out, err = capsys.readouterr()
    path = str(Path("flows/bad.py"))
    assert out.splitlines() == [
        f"{path}:5:12: DET001 `time.time()` reads the wall clock in orchestrator code "
        "(via flow -> _stamp)",
        "  help: use `ctx.current_utc_datetime`, which is journaled",
        f"{path}:9:9: DET001 `time.time()` reads the wall clock in orchestrator code",
        "  help: use `ctx.current_utc_datetime`, which is journaled",
        "Found 2 findings in 1 file.",
    ]
    assert err == ""


def test_clean_exit_0_and_silent(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "flows/good.py"]) == 0
    assert capsys.readouterr() == ("", "")


def test_parse_error_exit_2_located_on_stderr(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "broken.py").write_text("from tether import orchestrator\nif x\n")
    assert main(["lint", "flows"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"{Path('flows/broken.py')}:2:5: error: syntax error: expected ':'"]
    assert "DET001" in out  # the other files are still reported


def test_json_format(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "json", "flows"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["line"], d["column"], d["code"], d["name"], d["chain"]) for d in data] == [
        (5, 12, "DET001", "wall-clock-read", ["flow", "_stamp"]),
        (9, 9, "DET001", "wall-clock-read", []),
    ]
    assert data[0]["help"].startswith("use `ctx.current_utc_datetime`")


def test_sarif_format_is_what_github_code_scanning_reads(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "sarif", "flows"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "tether"
    assert [r["id"] for r in driver["rules"]] == [r.code for r in RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert "## Why is this bad?" in rule["help"]["markdown"]
    results = run["results"]
    assert len(results) == 2
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "DET001"
        assert result["level"] == "error" and result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"] == "flows/bad.py"  # relative, forward slashes
        assert set(physical["region"]) == {"startLine", "startColumn", "endLine", "endColumn"}
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results] == [5, 9]


def test_sarif_with_no_findings_still_lists_rules(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "sarif", "flows/good.py"]) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["results"] == [] and len(run["tool"]["driver"]["rules"]) == len(RULES)


def test_github_format_escapes_workflow_command_data(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "github", "flows"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"::error file={Path('flows/bad.py')},line=9,col=9,title=DET001 wall-clock-read::"
        "`time.time()` reads the wall clock in orchestrator code%0A"
        "help: use `ctx.current_utc_datetime`, which is journaled"  # `,` escaped only in properties
    )
    assert "%0A" in lines[0] and "\n" not in lines[0]


def test_statistics(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "more.py").write_text(
        "import uuid\nfrom tether import orchestrator\n@orchestrator\nasync def m(ctx):\n"
        "    return uuid.uuid4()\n")
    assert main(["lint", "--statistics", "flows"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "    2  DET001  wall-clock-read", "    1  DET002  random-draw"]


def test_select_and_ignore_flags(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--ignore", "DET001", "flows"]) == 0
    assert main(["lint", "--select", "DET002,DET003", "flows"]) == 0
    assert main(["lint", "--select", "DET001", "flows"]) == 1
    capsys.readouterr()
    assert main(["lint", "--select", "DET042", "flows"]) == 2
    assert capsys.readouterr().err == ("error: --select: unknown rule code 'DET042' "
                                       "(known: DET001-DET009, DET100, ENT001-ENT006)\n")


def test_config_from_pyproject_and_bad_config(project: Path, capsys: Capsys) -> None:
    (project / "pyproject.toml").write_text('[tool.tether]\nignore = ["DET001"]\n')
    assert main(["lint", "flows"]) == 0
    (project / "pyproject.toml").write_text('[tool.tether]\nignore = "DET001"\n')
    assert main(["lint", "flows"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {project / 'pyproject.toml'}: [tool.tether] ignore: must be a list of strings\n"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_explain_prints_the_rule_doc(rule: type, capsys: Capsys) -> None:
    assert main(["lint", "--explain", rule.code.lower()]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {rule.code} {rule.name}\n")
    assert rule.doc().split("\n", 1)[1].strip() in out


@pytest.mark.parametrize(("argv", "message"), [
    (["lint", "--explain", "DET010"], "error: --explain: unknown rule code 'DET010'"),
    (["lint", "missing.py"], "error: missing.py: no such file or folder"),
    (["lint", "--jobs", "0", "flows"], "error: --jobs: must be at least 1, got 0"),
], ids=["explain-unknown", "missing-path", "jobs-zero"])
def test_usage_errors_are_one_line_exit_2(project: Path, capsys: Capsys, argv: list[str],
                                          message: str) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_bad_format_is_an_argparse_usage_error(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "xml", "flows"]) == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_no_path_lints_the_working_folder_and_paths_have_no_dot_slash(
        project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "github"]) == 1
    default = capsys.readouterr().out
    assert main(["lint", "--format", "github", "."]) == 1
    dot = capsys.readouterr().out
    assert default == dot
    files = {line.split("file=", 1)[1].split(",", 1)[0] for line in default.splitlines()}
    assert files == {"flows/bad.py"}  # not ./flows/bad.py: GitHub matches repository paths
    assert main(["lint", "."]) == 1
    assert capsys.readouterr().out.startswith("flows/bad.py:5:12: DET001")


def test_exit_zero_keeps_findings_but_not_errors(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--exit-zero", "flows"]) == 0
    assert "DET001" in capsys.readouterr().out
    (project / "flows" / "broken.py").write_text("from tether import orchestrator\nif x\n")
    assert main(["lint", "--exit-zero", "flows"]) == 2  # a file it could not read is no pass
    assert "syntax error" in capsys.readouterr().err


def test_output_file_gets_the_findings_and_stdout_stays_empty(project: Path, capsys: Capsys) -> None:
    assert main(["lint", "--format", "sarif", "--output-file", "out.sarif", "flows"]) == 1
    assert capsys.readouterr() == ("", "")
    log = json.loads((project / "out.sarif").read_text())
    assert len(log["runs"][0]["results"]) == 2
    assert main(["lint", "-o", "missing/dir/out.txt", "flows"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: --output-file: cannot write missing/dir/out.txt: No such file or directory\n"


def test_stdin_with_stdin_filename(project: Path, capsys: Capsys,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    def feed(text: str) -> None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))

    feed(FLOW)
    assert main(["lint", "-", "--stdin-filename", "flows/edited.py"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("flows/edited.py:5:12: DET001")
    feed(FLOW)
    assert main(["lint", "--stdin-filename", "flows/edited.py"]) == 1  # `-` may be left out
    assert "flows/edited.py:9:9: DET001" in capsys.readouterr().out
    feed(FLOW)
    assert main(["lint", "-"]) == 1
    assert capsys.readouterr().out.startswith("-:5:12: DET001")
    # the per-file ignores of the file it stands for apply
    (project / "pyproject.toml").write_text(
        '[tool.tether]\nper-file-ignores = { "flows/edited.py" = ["DET001"] }\n')
    feed(FLOW)
    assert main(["lint", "-", "--stdin-filename", "flows/edited.py"]) == 0
    feed("from tether import orchestrator\nif x\n")
    assert main(["lint", "-", "--stdin-filename", "flows/edited.py"]) == 2
    assert capsys.readouterr().err == "flows/edited.py:2:5: error: syntax error: expected ':'\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["lint", "-", "flows"], "error: lint: `-` (stdin) cannot be combined with other paths\n"),
    (["lint", "--stdin-filename", "x.py", "flows"],
     "error: --stdin-filename: only with `-` (stdin) as the path\n"),
], ids=["stdin-and-paths", "stdin-filename-with-paths"])
def test_stdin_usage_errors(project: Path, capsys: Capsys, argv: list[str], message: str) -> None:
    assert main(argv) == 2
    assert capsys.readouterr() == ("", message)


def test_extend_select_adds_to_a_narrow_selection(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "more.py").write_text(
        "import uuid\nfrom tether import orchestrator\n@orchestrator\nasync def m(ctx):\n"
        "    return uuid.uuid4()\n")
    (project / "pyproject.toml").write_text('[tool.tether]\nselect = ["DET002"]\n')
    assert main(["lint", "--statistics", "flows"]) == 1
    assert capsys.readouterr().out == "    1  DET002  random-draw\n"
    assert main(["lint", "--statistics", "--extend-select", "DET001", "flows"]) == 1
    assert capsys.readouterr().out == "    2  DET001  wall-clock-read\n    1  DET002  random-draw\n"
    (project / "pyproject.toml").write_text(
        '[tool.tether]\nselect = ["DET002"]\nextend-select = ["DET001"]\n')
    assert main(["lint", "--statistics", "flows"]) == 1
    assert "DET001" in capsys.readouterr().out
    assert main(["lint", "--extend-select", "DET1000", "flows"]) == 2
    assert "--extend-select: unknown rule code 'DET1000'" in capsys.readouterr().err


@pytest.mark.parametrize(("key", "hint"), [
    ("slect", "(did you mean 'select'?)"),
    ("per_file_ignores", "(did you mean 'per-file-ignores'?)"),
    ("extend-ignore", "(did you mean 'ignore'?)"),
    ("colour", "(valid: select, extend-select, ignore, per-file-ignores, safe, nondeterministic)"),
])
def test_unknown_config_key_names_the_nearest(project: Path, capsys: Capsys, key: str,
                                              hint: str) -> None:
    (project / "pyproject.toml").write_text(f'[tool.tether]\n{key} = ["DET001"]\n')
    assert main(["lint", "flows"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {project / 'pyproject.toml'}: [tool.tether] unknown key {key!r} {hint}\n"


def test_unused_suppressions_are_findings_and_can_be_turned_off(project: Path, capsys: Capsys) -> None:
    (project / "flows" / "bad.py").write_text(FLOW.replace("a = time.time()",
                                                           "a = 1  # noqa: DET001"))
    assert main(["lint", "flows"]) == 1
    out = capsys.readouterr().out
    assert f"{Path('flows/bad.py')}:9:12: DET100 `# noqa: DET001` suppresses nothing " \
        "(unused: DET001)" in out
    assert main(["lint", "--ignore", "DET100", "--statistics", "flows"]) == 1
    assert capsys.readouterr().out == "    1  DET001  wall-clock-read\n"

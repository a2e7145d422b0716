"""Rendering a `LintResult`: text, json, sarif (2.1.0, as GitHub code scanning reads
it) and github (workflow-command annotations), plus `--statistics`."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from lint.finding import Finding
from lint.registry import BY_CODE, RULES
from lint.runner import LintResult

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render(result: LintResult, fmt: str) -> str:
    """The findings of `result` in `fmt`; parse errors are printed separately (stderr)."""
    if fmt == "text":
        return _text(result)
    if fmt == "json":
        return json.dumps([_as_json(f) for f in result.findings], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(result), indent=2) + "\n"
    if fmt == "github":
        return "".join(_github(f) + "\n" for f in result.findings)
    raise ValueError(f"unknown format {fmt!r}")


def _text(result: LintResult) -> str:
    lines = []
    for finding in result.findings:
        lines.append(str(finding))
        lines.append(f"  help: {finding.help}")
    count = len(result.findings)
    if count:
        files = len({f.path for f in result.findings})
        lines.append(f"Found {count} finding{'s' * (count != 1)} in {files} "
                     f"file{'s' * (files != 1)}.")
    return "".join(line + "\n" for line in lines)


def _as_json(finding: Finding) -> dict[str, object]:
    return {
        "path": finding.path, "line": finding.line, "column": finding.col,
        "code": finding.code, "name": BY_CODE[finding.code].name,
        "end_line": finding.end_line, "end_column": finding.end_col,
        "message": finding.message, "help": finding.help, "chain": list(finding.chain),
    }


def statistics(result: LintResult, fmt: str) -> str:
    """Findings per rule, most frequent first (ruff's `--statistics`)."""
    counts = Counter(f.code for f in result.findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if fmt == "json":
        return json.dumps([{"code": code, "name": BY_CODE[code].name, "count": n}
                           for code, n in rows], indent=2) + "\n"
    return "".join(f"{n:>5}  {code}  {BY_CODE[code].name}\n" for code, n in rows)


def _summary(doc: str) -> str:
    """First paragraph under "What it does", on one line."""
    section = doc.split("## What it does", 1)[-1].strip()
    return " ".join(section.split("\n\n", 1)[0].split())


#: the code scanning tag of each rule family
_TAGS = {"DET": "determinism", "ENT": "entity-locking"}


def sarif(result: LintResult) -> dict[str, object]:
    """A SARIF 2.1.0 log with one run; paths are relative to the working folder, which
    `originalUriBaseIds` names as `%SRCROOT%`."""
    from tether import __version__

    index = {rule.code: i for i, rule in enumerate(RULES)}
    rules = [{
        "id": rule.code,
        "name": _camel(rule.name),
        "shortDescription": {"text": f"{rule.code} {rule.name}"},
        "fullDescription": {"text": _summary(rule.doc())},
        "help": {"text": rule.doc(), "markdown": rule.doc()},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": [_TAGS[rule.code[:3]]], "precision": "very-high",
                       "problem.severity": "error"},
    } for rule in RULES]
    results = [{
        "ruleId": f.code,
        "ruleIndex": index[f.code],
        "level": "error",
        "message": {"text": f"{f.message}\nhelp: {f.help}"},
        "locations": [_location(f.path, f.line, f.col, f.end_line, f.end_col)],
        **({"relatedLocations": [
            {"id": n, **_location(hop.path, hop.line, hop.col),
             "message": {"text": f"`{hop.caller}` calls `{hop.callee}`"}}
            for n, hop in enumerate(f.hops)]} if f.hops else {}),
    } for f in result.findings]
    notifications = [{
        "level": "error",
        "message": {"text": error.message},
        "locations": [_location(error.path, error.line, error.col)],
    } for error in result.errors]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "tether", "semanticVersion": __version__,
                                "version": __version__, "rules": rules}},
            "invocations": [{"executionSuccessful": not result.errors,
                             "toolExecutionNotifications": notifications}],
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _location(path: str, line: int, col: int, end_line: int = 0,
              end_col: int = 0) -> dict[str, object]:
    region: dict[str, int] = {"startLine": line, "startColumn": col}
    if end_line:
        region["endLine"] = end_line
        region["endColumn"] = max(end_col, 1)
    return {"physicalLocation": {"artifactLocation": _artifact(path), "region": region}}


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part.capitalize() for part in rest)


def _artifact(path: str) -> dict[str, str]:
    """Relative to `%SRCROOT%` (the working folder) when inside it, else an absolute URI."""
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute)
    if rel.startswith(".."):
        return {"uri": Path(absolute).as_uri()}
    return {"uri": quote(rel.replace(os.sep, "/")), "uriBaseId": "%SRCROOT%"}


def _github(finding: Finding) -> str:
    # Workflow commands: data escapes %, CR, LF; property values also `:` and `,`.
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    title = f"{finding.code} {BY_CODE[finding.code].name}"
    return (f"::error file={prop(finding.path)},line={finding.line},col={finding.col},"
            f"title={prop(title)}::{data(finding.message + chr(10) + 'help: ' + finding.help)}")

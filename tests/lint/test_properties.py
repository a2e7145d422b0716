"""Generated orchestrators: any mix of known snippets, import forms, helper placement
and suppressions yields exactly the findings the snippets promise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import lint

# code (None: must stay quiet) -> three import forms: (import line, expression)
SNIPPETS: list[tuple[str | None, list[tuple[str, str]]]] = [
    ("DET001", [("import time", "time.time()"), ("import time as tm", "tm.time()"),
                ("from time import time as clock", "clock()")]),
    ("DET002", [("import uuid", "uuid.uuid4()"), ("import uuid as u", "u.uuid4()"),
                ("from uuid import uuid4 as fresh", "fresh()")]),
    ("DET003", [("import subprocess", "subprocess.run(['ls'])"),
                ("import subprocess as sp", "sp.run(['ls'])"),
                ("from subprocess import run as sh", "sh(['ls'])")]),
    ("DET004", [("import os", "os.getenv('X')"), ("import os as system", "system.getenv('X')"),
                ("from os import getenv as env", "env('X')")]),
    ("DET005", [("import time", "time.sleep(1)"), ("import time as tm", "tm.sleep(1)"),
                ("from time import sleep as nap", "nap(1)")]),
    ("DET008", [("", "hash('x')"), ("", "list({'a', 'b'})"), ("", "[*set('ab')]")]),
    (None, [("import random", "random.Random(7).random()"),
            ("import uuid", "uuid.uuid5(uuid.NAMESPACE_URL, 'x')"),
            ("import datetime", "datetime.datetime(2020, 1, 1) + datetime.timedelta(1)")]),
    (None, [("", "sorted({'a', 'b'})"), ("", "len(set('ab'))"), ("", "print('hello')")]),
]

placement = st.tuples(
    st.integers(0, len(SNIPPETS) - 1),  # which snippet
    st.integers(0, 2),                  # which import form
    st.booleans(),                      # in a helper the orchestrator calls
    st.booleans(),                      # suppressed with its code
)


def build(choices: list[tuple[int, int, bool, bool]]) -> tuple[str, set[tuple[int, str, tuple[str, ...]]]]:
    imports = {"from tether import orchestrator"}
    helpers: list[tuple[str, str | None, int]] = []  # (statement, expected code, snippet no.)
    body: list[tuple[str, str | None, int]] = []
    for n, (which, form, in_helper, suppressed) in enumerate(choices):
        code, forms = SNIPPETS[which]
        import_line, expr = forms[form]
        if import_line:
            imports.add(import_line)
        comment = f"  # tether: ignore[{code}]" if suppressed and code else ""
        expect = None if suppressed else code
        (helpers if in_helper else body).append((f"v{n} = {expr}{comment}", expect, n))
    lines = [*sorted(imports), ""]
    expected: set[tuple[int, str, tuple[str, ...]]] = set()
    for statement, code, n in helpers:
        lines += [f"def _h{n}():", f"    {statement}", "    return None", ""]
        if code:
            expected.add((len(lines) - 2, code, ("flow", f"_h{n}")))
    lines += ["@orchestrator", "async def flow(ctx):"]
    for _, _, n in helpers:
        lines.append(f"    _h{n}()")
    for statement, code, _ in body:
        lines.append(f"    {statement}")
        if code:
            expected.add((len(lines), code, ()))
    lines.append("    return None")
    return "\n".join(lines) + "\n", expected


@settings(max_examples=80, deadline=None)
@given(st.lists(placement, max_size=8))
def test_findings_are_exactly_the_promised_ones(choices: list[tuple[int, int, bool, bool]]) -> None:
    source, expected = build(choices)
    findings = lint.check_source(source, "gen.py")
    assert {(f.line, f.code, f.chain) for f in findings} == expected, source

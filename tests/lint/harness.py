"""Fixture expectations: `# error: DET001[, DET007]` on the line a finding must be on.

Every other line must stay quiet: the harness compares the whole set of findings.
"""

from __future__ import annotations

import re
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
_EXPECT = re.compile(r"#\s*error:\s*((?:DET|ENT)\d{3}(?:\s*,\s*(?:DET|ENT)\d{3})*)")


def expected(path: Path) -> set[tuple[int, str]]:
    """(line, code) pairs a fixture file declares."""
    out = set()
    for number, text in enumerate(path.read_text().splitlines(), 1):
        match = _EXPECT.search(text)
        if match:
            out.update((number, code.strip()) for code in match.group(1).split(","))
    return out

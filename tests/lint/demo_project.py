"""The small project `tether lint` runs on in the CLI and SARIF tests: a `flows/bad.py` with
a clock read in the orchestrator and in a helper it calls (DET001 twice, one through the
helper chain), and optionally a clean `flows/good.py`."""

from __future__ import annotations

import textwrap
from pathlib import Path

FLOW = textwrap.dedent("""\
    import time
    from tether import orchestrator

    def _stamp():
        return time.time()

    @orchestrator
    async def flow(ctx, n):
        a = time.time()
        return _stamp()
""")

GOOD = "from tether import orchestrator\n\n@orchestrator\nasync def ok(ctx):\n    return 1\n"


def make_project(root: Path, *, good: bool) -> Path:
    """Writes the project under `root` (pyproject.toml names it `demo`) and returns root."""
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    (root / "flows").mkdir()
    (root / "flows" / "bad.py").write_text(FLOW)
    if good:
        (root / "flows" / "good.py").write_text(GOOD)
    return root

"""What the entity rules (ENT001-ENT006) add to `tether lint`, measured side by side.

    .venv/bin/python bench/lint_entity_rules.py [--lines 50000] [--sections 200] [--repeat 7]

In one process, on the same trees, alternating the two configurations run by run:
`select = DET` (what `tether lint` ran before the entity rules) against the default
`select = DET, ENT`, with one worker (`jobs=1`) so the machine's other load disturbs
both alike. Trees: the dense generated flows of `lint_corpus.py` (no critical
sections: the ENT rules only look), and a tree of orchestrators that each open critical
sections with calls and signals inside, plus `@entity` classes (the rules do work).
Also counts the files the prefilter lets through in the standard library before and
after `@entity`/`.entity` joined `orchestrator` as markers. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lint_corpus import dense_tree

from lint import lint_paths
from lint.config import Config
from lint.runner import MARKERS, discover

SECTION_UNIT = '''

@entity
class Account{i}:
    def __init__(self) -> None:
        self.balance = 0

    def add(self, amount: int) -> int:
        self.balance += amount
        return self.balance


@orchestrator
async def transfer_{i}(ctx: OrchestrationContext, req: dict) -> list[int]:
    src, dst = "@account{i}@src", "@account{i}@dst"
    async with ctx.lock_entities(src, dst) as section:
        have = await ctx.call_entity(src, "add", 0)
        if have < req["amount"]:
            return [have]
        first = ctx.call_entity(src, "add", -req["amount"])
        second = ctx.call_entity(dst, "add", req["amount"])
        done = await ctx.when_all([first, second])
        ctx.signal_entity("@audit@log", "record", done)
    async with ctx.lock_entities(req["other"]):
        got = [await ctx.call_entity(req["other"], "add", n) for n in range(3)]
    return done + got
'''


def sections_tree(root: Path, units: int, per_module: int = 10) -> int:
    root.mkdir(parents=True, exist_ok=True)
    lines = 0
    for m in range(0, units, per_module):
        text = ("from tether import OrchestrationContext, entity, orchestrator\n"
                + "".join(SECTION_UNIT.format(i=i) for i in range(m, min(m + per_module, units))))
        (root / f"flows_{m // per_module}.py").write_text(text)
        lines += text.count("\n")
    return lines


def median_seconds(paths: list[str], select: tuple[str, ...], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = lint_paths(paths, Config(select=select), jobs=1)
        out.append(time.perf_counter() - started)
        assert not result.errors
    return out


def side_by_side(paths: list[str], repeat: int) -> tuple[float, float, int, int]:
    det: list[float] = []
    both: list[float] = []
    for _ in range(repeat):  # alternate, so drifting load hits both the same
        det += median_seconds(paths, ("DET",), 1)
        both += median_seconds(paths, ("DET", "ENT"), 1)
    findings_det = len(lint_paths(paths, Config(select=("DET",)), jobs=1).findings)
    findings_both = len(lint_paths(paths, Config(select=("DET", "ENT")), jobs=1).findings)
    return statistics.median(det), statistics.median(both), findings_det, findings_both


def prefilter_counts() -> tuple[int, int, int]:
    files = discover([sysconfig.get_paths()["stdlib"]])
    old = new = 0
    for path in files:
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        old += b"orchestrator" in data
        new += any(marker in data for marker in MARKERS)
    return len(files), old, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--sections", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dense_lines = dense_tree(Path(tmp) / "dense", args.lines)
        section_lines = sections_tree(Path(tmp) / "sections", args.sections)
        print("| tree | lines | DET only (s) | DET + ENT (s) | ratio | findings DET / DET+ENT |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, lines in (("dense", dense_lines), ("sections", section_lines)):
            det, both, f_det, f_both = side_by_side([str(Path(tmp) / name)], args.repeat)
            print(f"| {name} | {lines:,} | {det:.3f} | {both:.3f} | {both / det:.2f} "
                  f"| {f_det} / {f_both} |")
    total, old, new = prefilter_counts()
    print(f"\nstandard library: {total} files; parsed by the prefilter before: {old}, "
          f"now: {new}")


if __name__ == "__main__":
    main()

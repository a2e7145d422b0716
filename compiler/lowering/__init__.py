"""The lowering behind the `split` pass, in layers: `builder` (blocks and names),
`jumps` (break/continue/return through finally), `expressions` (awaits, spills,
short-circuits); `syntax` holds small helpers. `compiler/passes/split.py` lowers statements.
"""

'''DET004 environment-read

## What it does
Flags reads of the process environment in orchestrator code and in the helpers it
calls: `os.environ` (any use), `os.getenv()`, `sys.argv`, `sys.platform`,
`os.getpid()`, `os.getcwd()`, `os.cpu_count()`, `socket.gethostname()`,
`getpass.getuser()`, `Path.cwd()`, `Path.home()` and anything in `platform`.

## Why is this bad?
An orchestration outlives the process that started it: after a crash or a deploy it
continues on another worker, with other environment variables, another host name and
another process id. A branch taken on such a value can differ from the one the journal
already recorded.

## Example
```python
import os

@orchestrator
async def notify(ctx: OrchestrationContext, user: str) -> None:
    if os.environ.get("NOTIFY_BY_SMS"):
        await ctx.call_activity(send_sms, user)
```

## Use instead
```python
@orchestrator
async def notify(ctx: OrchestrationContext, request: dict) -> None:
    # decided once by the client that started the orchestration, then journaled
    if request["by_sms"]:
        await ctx.call_activity(send_sms, request["user"])
```
or read the setting in an activity and await its result.
'''

from __future__ import annotations

import ast

from lint.names import FunctionNode
from lint.rules.base import Fix, Rule, rule

ENVIRONMENT = frozenset({
    "os.environ", "os.environb", "os.getenv", "os.getenvb", "os.putenv", "os.unsetenv",
    "os.getpid", "os.getppid", "os.getuid", "os.geteuid", "os.getgid", "os.getlogin",
    "os.getcwd", "os.getcwdb", "os.cpu_count", "os.uname", "os.getloadavg",
    "os.path.expanduser", "os.path.expandvars",
    "sys.argv", "sys.orig_argv", "sys.platform", "sys.executable",
    "socket.gethostname", "socket.getfqdn", "getpass.getuser",
    "pathlib.Path.cwd", "pathlib.Path.home", "locale.getlocale", "locale.getpreferredencoding",
})
ENVIRONMENT_MODULES = ("platform.",)


@rule("DET004", "environment-read", fix=Fix.NEVER)
class EnvironmentRead(Rule):
    message = "`{name}` reads the process environment in orchestrator code"
    help = "pass the value in the orchestration input, or read it in an activity"

    # Names, not calls: `os.environ["X"]` reads the environment without calling anything.
    # The outermost matching node reports; `platform.uname` holds `platform` inside it.
    def start(self, fn: FunctionNode) -> None:
        self._reported: set[int] = set()

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._check(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._check(node)

    def _check(self, node: ast.Attribute | ast.Name) -> None:
        if id(node) in self._reported:
            return
        name = self.qualified_name(node)
        if self.listed(name, ENVIRONMENT, ENVIRONMENT_MODULES):
            self.report(node, name=str(name))
            inner: ast.expr = node
            while isinstance(inner, ast.Attribute):
                inner = inner.value
                self._reported.add(id(inner))

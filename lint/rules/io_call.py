'''DET003 io-call

## What it does
Flags input and output in orchestrator code and in the helpers it calls: `open()`,
`input()`, file-system calls of `os`, `os.path`, `shutil`, `glob`, `tempfile` and
`pathlib.Path(...)`, sockets, HTTP clients (`urllib.request`, `http.client`,
`requests`, `httpx`, `aiohttp`), `subprocess`, and database drivers (`sqlite3`,
`psycopg`, `pymysql`, `redis`, `boto3`). `print()` and `logging` are allowed: they
leave a trace but do not feed anything back into the orchestration.

## Why is this bad?
I/O answers differently each time and fails at random. An orchestrator step that
reads a file or calls a service runs again after a crash and can see another answer;
its side effects happen twice; and a slow call blocks every orchestration the worker
serves, because orchestrator code is meant to run in microseconds.

## Example
```python
import requests

@orchestrator
async def sync_prices(ctx: OrchestrationContext, sku: str) -> float:
    price = requests.get(f"https://prices.example/{sku}").json()["price"]
    await ctx.call_activity(store_price, {"sku": sku, "price": price})
    return price
```

## Use instead
```python
@activity
def fetch_price(sku: str) -> float:
    return requests.get(f"https://prices.example/{sku}").json()["price"]

@orchestrator
async def sync_prices(ctx: OrchestrationContext, sku: str) -> float:
    price = await ctx.call_activity(fetch_price, sku)  # retried, journaled once
    await ctx.call_activity(store_price, {"sku": sku, "price": price})
    return price
```
'''

from __future__ import annotations

import ast

from lint.rules.base import Fix, Rule, rule

_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
IO_CALLS = frozenset({
    "builtins.open", "builtins.input", "io.open", "io.open_code", "io.FileIO",
    "os.open", "os.read", "os.write", "os.remove", "os.unlink", "os.rename", "os.replace",
    "os.mkdir", "os.makedirs", "os.rmdir", "os.removedirs", "os.listdir", "os.scandir",
    "os.walk", "os.stat", "os.lstat", "os.system", "os.popen", "os.truncate", "os.chmod",
    "os.chown", "os.link", "os.symlink", "os.readlink", "os.fsync", "os.startfile",
    "os.path.exists", "os.path.lexists", "os.path.isfile", "os.path.isdir", "os.path.islink",
    "os.path.getsize", "os.path.getmtime", "os.path.getatime", "os.path.getctime",
    "os.path.realpath", "os.path.samefile",
    "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree", "shutil.move",
    "shutil.rmtree", "shutil.which", "shutil.disk_usage", "shutil.make_archive",
    "shutil.unpack_archive",
    "glob.glob", "glob.iglob",
    "tempfile.mkstemp", "tempfile.mkdtemp", "tempfile.NamedTemporaryFile",
    "tempfile.TemporaryFile", "tempfile.TemporaryDirectory", "tempfile.SpooledTemporaryFile",
    "socket.socket", "socket.create_connection", "socket.create_server",
    "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
    "urllib.request.urlopen", "urllib.request.urlretrieve",
    "http.client.HTTPConnection", "http.client.HTTPSConnection",
    *(f"requests.{verb}" for verb in _HTTP_VERBS), "requests.Session",
    *(f"httpx.{verb}" for verb in _HTTP_VERBS), "httpx.Client", "httpx.AsyncClient",
    "aiohttp.ClientSession", "aiohttp.request",
    "sqlite3.connect", "psycopg.connect", "psycopg2.connect", "pymysql.connect",
    "redis.Redis", "redis.StrictRedis", "redis.from_url",
    "boto3.client", "boto3.resource", "boto3.Session",
    "smtplib.SMTP", "smtplib.SMTP_SSL", "ftplib.FTP",
})
IO_MODULES = ("subprocess.",)
PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
PATH_IO_METHODS = frozenset({
    "open", "read_text", "read_bytes", "write_text", "write_bytes", "exists", "is_file",
    "is_dir", "iterdir", "glob", "rglob", "stat", "mkdir", "unlink", "rmdir", "touch",
    "rename", "replace", "resolve", "samefile",
})


@rule("DET003", "io-call", fix=Fix.NEVER)
class IoCall(Rule):
    message = "`{name}()` does I/O in orchestrator code"
    help = "move it into an @activity and call it with `ctx.call_activity`"

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = self.qualified_name(func)
        if self.listed(name, IO_CALLS, IO_MODULES):
            self.report(node, name=str(name))
        elif name is None and isinstance(func, ast.Attribute) and func.attr in PATH_IO_METHODS \
                and isinstance(func.value, ast.Call):
            # Path("x").read_text(): the receiver is built right here, so its type is known
            receiver = self.qualified_name(func.value.func)
            if receiver in PATH_TYPES and f"{receiver}.{func.attr}" not in self.check.config.safe:
                self.report(node, name=f"{receiver}(...).{func.attr}")

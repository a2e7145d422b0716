"""The HTTP management API and dashboard of `tether serve`, as an ASGI app (issue 7).

`create_app(store, machines)` returns a Starlette application that users may mount in
their own ASGI app. Blocking store calls run in the thread pool. Instance ids are
validated (`runtime.ids.validate_id`) before any backend sees them.
`TetherApp` embeds the API, its worker and an `AsyncClient` in a user's own app.
"""

from __future__ import annotations

from runtime.http.app import create_app
from runtime.http.asgi import TetherApp

__all__ = ["TetherApp", "create_app"]

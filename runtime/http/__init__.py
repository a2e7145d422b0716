"""The HTTP management API and dashboard of `tether serve`, as an ASGI app (issue 7).

`create_app(store, machines)` returns a Starlette application that users may mount in
their own ASGI app. Blocking store calls run in the thread pool. Instance ids are
validated (`runtime.store.validate_id`) before any path is built from them.
"""

from __future__ import annotations

from runtime.http.app import create_app

__all__ = ["create_app"]

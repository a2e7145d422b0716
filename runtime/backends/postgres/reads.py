"""Reading a PostgreSQL store without a claim: status documents, history, activity
accounts and query pages. Each is a read of committed rows only (READ COMMITTED), so
nothing a worker has staged and not committed is ever shown.

Queries are answered from `instances`' indexes in (created, id) order: a page is an
index range scan from the continuation point, whatever the number of instances. An
orchestration listing (`Query.entities` False, the default) reads the partial indexes
that leave entities out (migration 3), so entities interleaved cost nothing.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from runtime.accounting import account
from runtime.backends.base import Page, Query, Record, Summary

if TYPE_CHECKING:
    from runtime.backends.postgres.queries import Queries
    from runtime.backends.postgres.sessions import Conn

TOKEN_PREFIX = "pg1."
#: `Query.entities`: an entity's id is `@name@key`, and no orchestration id has an `@`.
#: Written as migration 3's partial indexes write their predicate, so the planner proves
#: that they apply (`%%`: these go through psycopg's parameter formatting)
ORCHESTRATIONS_ONLY = "id NOT LIKE '@%%'"
ENTITIES_ONLY = "id LIKE '@%%'"


def status(conn: Conn, q: Queries, instance_id: str) -> dict[str, Any] | None:
    row = conn.execute(q.status, (instance_id,)).fetchone()
    if row is None:
        return None
    name, state, input, output, custom, created, updated, error, attempt, parent = row
    return {"name": name, "instanceId": instance_id, "runtimeStatus": state, "input": input,
            "output": output, "customStatus": custom, "createdTime": created,
            "lastUpdatedTime": updated, "error": error, "attempt": attempt, "parent": parent}


def history(conn: Conn, q: Queries, instance_id: str) -> list[Record]:
    return [Record(s, k, t, d) for s, k, t, d in
            conn.execute(q.history, (instance_id, instance_id)).fetchall()]


def activity_calls(conn: Conn, q: Queries, instance_id: str) -> list[tuple[str, Any]]:
    """Every generation's activity executions, then this generation's (docs/journal.md)."""
    out: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for (data,) in conn.execute(q.generations, (instance_id,)).fetchall():
        if data["generation"] not in seen:
            seen.add(data["generation"])
            out.extend((name, value) for name, value in data["calls"])
    return out + _calls_of_generation(conn, q, instance_id)


def _calls_of_generation(conn: Conn, q: Queries, instance_id: str) -> list[tuple[str, Any]]:
    # the same account as every backend's (runtime.accounting)
    return account(history(conn, q, instance_id),
                   lambda child: conn.execute(q.exists, (child,)).fetchone() is not None,
                   lambda child: activity_calls(conn, q, child))


def query(conn: Conn, schema: str, query: Query) -> Page:
    if not 1 <= query.top <= 1000:
        raise ValueError(f"top must be 1-1000, not {query.top}")
    where: list[str] = []
    params: list[Any] = []
    if query.statuses is not None:
        where.append("status = ANY(%s)")
        params.append(sorted(query.statuses))
    if query.name is not None:
        where.append("name = %s")
        params.append(query.name)
    if query.id_prefix:
        where.append("id LIKE %s")
        params.append(_like_prefix(query.id_prefix))
    if query.entities is not None:
        where.append(ENTITIES_ONLY if query.entities else ORCHESTRATIONS_ONLY)
    for column, low, high in (("created_at", query.created_from, query.created_to),
                              ("updated_at", query.updated_from, query.updated_to)):
        if low is not None:
            where.append(f"{column} >= %s")
            params.append(low)
        if high is not None:
            where.append(f"{column} < %s")
            params.append(high)
    after, order = ("<", " DESC") if query.newest_first else (">", "")
    if query.continuation is not None:
        created_ts, last_id = decode_token(query.continuation)
        where.append(f"(created_at, id) {after} (%s::timestamptz, %s)")
        params.extend([created_ts, last_id])
    sql = (f'SELECT id, name, status, created_ts, updated_ts FROM "{schema}".instances'
           + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY created_at{order}, id{order} LIMIT %s")
    rows = conn.execute(sql, (*params, query.top + 1)).fetchall()
    items = [Summary(r[0], r[1], r[2], r[3], r[4]) for r in rows[:query.top]]
    more = len(rows) > query.top
    token = encode_token(items[-1].created, items[-1].instance_id) if more and items else None
    return Page(items, token)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def encode_token(created: str, instance_id: str) -> str:
    raw = json.dumps([created, instance_id], separators=(",", ":")).encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, str]:
    """(created, id) of the last row of the previous page; ValueError for a foreign token."""
    bad = ValueError(f"invalid continuation token {token[:40]!r}")
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise bad
    body = token[len(TOKEN_PREFIX):]
    try:
        value = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        raise bad from None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, str) for v in value)):
        raise bad
    from datetime import datetime

    try:
        datetime.fromisoformat(value[0].replace("Z", "+00:00"))
    except ValueError:
        raise bad from None
    return value[0], value[1]

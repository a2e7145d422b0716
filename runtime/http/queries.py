"""The instance query of `GET /api/instances` and `GET /api/statusCounts`: parsing its
parameters, answering it one page at a time, and the continuation token between pages.

Parameters use Durable Functions' names where it has them: `runtimeStatus` (repeated or
comma-separated), `createdTimeFrom`/`createdTimeTo`, `top` and the continuation token
(the `x-ms-continuation-token` request header, or `continuationToken`); and, where it has
none, the same style: `name` (orchestration name), `instanceIdPrefix`,
`lastUpdatedTimeFrom`/`lastUpdatedTimeTo`. `from <= t < to`, as Durable Functions' list
and purge read them.

Pages run newest first, ordered by (createdTime, instanceId) descending. A continuation
token names the last row of the page it ends, so the next page starts strictly after
it: instances created meanwhile sort before it and never shift a later page, and a row
is never shown twice. A token that does not decode is a 400.

Entities (stored as instances whose id is `@name@key`) are not orchestration instances:
the listing and the counts leave them out, in the index (`Query.entities`), so a page of
`top` holds `top` orchestrations however many entities are interleaved. They are listed
by `GET /api/entities` (runtime/http/entities.py).

The rows come from the backend's index (`Backend.query` with `newest_first`, which
filters by every parameter here and pages itself), so only the rows of the page are
read in full (their status documents). One exception: the file index can lag on live
statuses (see `matching`), so a filter naming Pending, Running or Suspended, and the
counts, go over every matching index row and read the live ones' journals.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runtime.backends.base import Query, Summary
from runtime.client import Client, UnknownInstance
from runtime.clock import parse_iso

RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended",
                    "ContinuedAsNew")
#: the parameters `GET /api/instances` takes (the token may also come as a header)
LIST_PARAMETERS = ("runtimeStatus", "name", "instanceIdPrefix", "createdTimeFrom",
                   "createdTimeTo", "lastUpdatedTimeFrom", "lastUpdatedTimeTo", "top",
                   "continuationToken")
#: counts are per status, so a status filter would only hide rows of the answer
COUNT_PARAMETERS = tuple(p for p in LIST_PARAMETERS
                         if p not in ("runtimeStatus", "top", "continuationToken"))
TOKEN_HEADER = "x-ms-continuation-token"
MAX_TOP = 1000
_LIVE = frozenset({"Pending", "Running", "Suspended"})


class QueryError(ValueError):
    """A bad parameter: one line naming it and the value at fault (HTTP 400)."""


@dataclass(frozen=True)
class InstanceQuery:
    """A filter over the instances (the fields of `runtime.backends.base.Query`)."""

    statuses: frozenset[str] | None = None
    name: str | None = None
    id_prefix: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    #: rows per page; None: every match in one answer (Durable Functions' default)
    top: int | None = None
    continuation: str | None = None
    #: `Query.entities`: orchestrations only (the listing and its counts); entities have
    #: their own listing (`GET /api/entities`), None takes both (the change feed)
    entities: bool | None = False


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    #: the token of the next page; None on the last
    continuation: str | None


def parse(params: Mapping[str, str], lists: Mapping[str, list[str]],
          token_header: str | None = None) -> InstanceQuery:
    """The query named by request parameters (`lists`: the repeated ones, by name)."""
    token = token_header or params.get("continuationToken") or None
    return InstanceQuery(
        statuses=_statuses(lists.get("runtimeStatus", [])),
        name=params.get("name") or None,
        id_prefix=params.get("instanceIdPrefix") or None,
        created_from=_time(params, "createdTimeFrom"),
        created_to=_time(params, "createdTimeTo"),
        updated_from=_time(params, "lastUpdatedTimeFrom"),
        updated_to=_time(params, "lastUpdatedTimeTo"),
        top=_top(params.get("top")),
        continuation=token,
    )


def run_query(client: Client, query: InstanceQuery) -> Page:
    """One page of status documents matching `query`, newest first. Raises QueryError
    for a continuation token this server did not give."""
    if query.statuses is not None and query.statuses & _LIVE:
        rows, token = _fixed_page(client, query)
    else:
        rows, token = _index_page(client, query)
    docs = []
    for row in rows:
        try:
            docs.append(client.status(row.instance_id))
        except UnknownInstance:  # purged since the index answered
            continue
    return Page(docs, token)


def _index_page(client: Client, query: InstanceQuery) -> tuple[list[Summary], str | None]:
    """The page straight from the index, newest first: only its rows are read."""
    rows: list[Summary] = []
    token = query.continuation
    while True:
        want = MAX_TOP if query.top is None else query.top
        try:
            page = client.backend.query(dataclasses.replace(
                _index_query(query, query.statuses), top=want, continuation=token,
                newest_first=True))
        except ValueError:
            raise _bad_token(token or "") from None
        rows += page.items
        token = page.continuation
        if query.top is not None or token is None:
            return rows, token


def _fixed_page(client: Client, query: InstanceQuery) -> tuple[list[Summary], str | None]:
    """The page when the filter names a live status: every matching row, with live
    rows' statuses read from their journals (see `matching`), sorted here."""
    rows = sorted(matching(client, query), key=_order_key, reverse=True)
    if query.continuation is not None:
        after = _decode_token(query.continuation)
        rows = [r for r in rows if _order_key(r) < after]
    if query.top is None or len(rows) <= query.top:
        return rows, None
    rows = rows[:query.top]
    return rows, _encode_token(_order_key(rows[-1]))


def _index_query(query: InstanceQuery, statuses: frozenset[str] | None) -> Query:
    return Query(statuses=statuses, name=query.name, id_prefix=query.id_prefix,
                 created_from=query.created_from, created_to=query.created_to,
                 updated_from=query.updated_from, updated_to=query.updated_to, top=MAX_TOP,
                 entities=query.entities)


def count_by_status(client: Client, query: InstanceQuery) -> dict[str, int]:
    """How many instances match `query` in each runtime status (every status named, and
    `Damaged` too when a journal is damaged), from the index alone."""
    counts = Counter(row.status for row in matching(client, query))
    out = {status: counts.pop(status, 0) for status in RUNTIME_STATUSES}
    out.update(sorted(counts.items()))
    return out


def matching(client: Client, query: InstanceQuery) -> list[Summary]:
    """Every index row matching `query`, all pages of the backend's query.

    The file index can lag on live statuses (an instance running for a while is still
    Pending there), so a row the index calls live gets the status its journal says:
    one status read per live instance, none per ended one. A status filter that names a
    live status asks the index for every live row and filters after that read."""
    wanted = query.statuses
    ask = wanted if wanted is None or not wanted & _LIVE else wanted | _LIVE
    rows: list[Summary] = []
    token: str | None = None
    while True:
        page = client.backend.query(dataclasses.replace(_index_query(query, ask),
                                                        continuation=token))
        for row in page.items:
            if row.status in _LIVE:
                doc = client.backend.status(row.instance_id)
                if doc is None:  # purged since the index answered
                    continue
                row = dataclasses.replace(row, status=doc["runtimeStatus"])
            if wanted is None or row.status in wanted:
                rows.append(row)
        token = page.continuation
        if token is None:
            return rows


def _order_key(row: Summary) -> tuple[datetime, str]:
    # parsed, not as text: isoformat leaves out a zero fraction ("...:31Z" < "...:31.5Z")
    return _parsed(row.created), row.instance_id


def _parsed(text: str) -> datetime:
    try:
        when = parse_iso(text)
    except ValueError:  # a damaged instance's row: sorts as the oldest, still listed
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _encode_token(key: tuple[datetime, str]) -> str:
    raw = json.dumps({"c": key[0].isoformat(), "i": key[1]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        when = datetime.fromisoformat(data["c"])
        instance_id = data["i"]
        if not isinstance(instance_id, str) or when.tzinfo is None:
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _bad_token(token) from None
    return when, instance_id


def _bad_token(token: str) -> QueryError:
    shown = token if len(token) <= 40 else token[:40] + "..."
    return QueryError(f"continuation token {shown!r} is not one this server gave; "
                      "start again without it")


def _statuses(values: list[str]) -> frozenset[str] | None:
    by_lower = {s.lower(): s for s in RUNTIME_STATUSES}
    chosen = set()
    for value in (v.strip() for vs in values for v in vs.split(",")):
        if not value:
            continue
        if value.lower() not in by_lower:
            raise QueryError(f"runtimeStatus {value!r} is not a runtime status; use "
                             + ", ".join(RUNTIME_STATUSES))
        chosen.add(by_lower[value.lower()])
    return frozenset(chosen) or None


def _time(params: Mapping[str, str], what: str) -> datetime | None:
    text = params.get(what)
    if not text:
        return None
    try:
        when = parse_iso(text)
    except ValueError:
        raise QueryError(f"{what} is not an ISO 8601 time: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _top(text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) == 0:
        raise QueryError(f"top must be a positive integer, not {text!r}")
    if int(text) > MAX_TOP:
        raise QueryError(f"top must be at most {MAX_TOP} (follow the continuation token "
                         f"for more), not {text}")
    return int(text)

"""The instance query of `GET /api/instances` and `GET /api/statusCounts`: parsing its
parameters, answering it one page at a time, and the continuation token between pages.

Parameters use Durable Functions' names where it has them: `runtimeStatus` (repeated or
comma-separated), `createdTimeFrom`/`createdTimeTo`, `top` and the continuation token
(the `x-ms-continuation-token` request header, or `continuationToken`); and, where it has
none, the same style: `name` (orchestration name), `instanceIdPrefix`,
`lastUpdatedTimeFrom`/`lastUpdatedTimeTo`. `from <= t < to`, as Durable Functions' list
and purge read them.

Pages run newest first, ordered by (createdTime, instanceId) descending. A continuation
token names the last row of the page it ends (base64url of JSON), so the next page
starts strictly after it: instances created meanwhile sort before it and never shift
a later page, and a row is never shown twice. A token that does not decode is a 400.

All parsing is here so that moving the answer onto the store's own indexed query
(`runtime.backends`) changes `run_query` only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runtime.client import Client
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


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    #: the token of the next page; None on the last
    continuation: str | None


def parse(params: Mapping[str, str], lists: Mapping[str, list[str]],
          token_header: str | None = None) -> InstanceQuery:
    """The query named by request parameters (`lists`: the repeated ones, by name)."""
    token = token_header or params.get("continuationToken") or None
    if token is not None:
        _decode_token(token)  # refused now, before any work
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
    """One page of status documents matching `query`, newest first."""
    docs = sorted(_matching(client, query), key=_order_key, reverse=True)
    if query.continuation is not None:
        after = _decode_token(query.continuation)
        docs = [d for d in docs if _order_key(d) < after]
    if query.top is None or len(docs) <= query.top:
        return Page(docs, None)
    page = docs[:query.top]
    return Page(page, _encode_token(_order_key(page[-1])))


def count_by_status(client: Client, query: InstanceQuery) -> dict[str, int]:
    """How many instances match `query` in each runtime status (every status named)."""
    counts = Counter(d["runtimeStatus"] for d in _matching(client, query))
    return {status: counts.get(status, 0) for status in RUNTIME_STATUSES}


def _matching(client: Client, query: InstanceQuery) -> list[dict[str, Any]]:
    # Interim: filters what Client.list returns. The store's indexed query replaces it.
    docs = client.list(status=set(query.statuses) if query.statuses else None,
                       before=query.created_to, after=query.created_from)
    out = []
    for doc in docs:
        if query.name is not None and doc["name"] != query.name:
            continue
        if query.id_prefix is not None and not doc["instanceId"].startswith(query.id_prefix):
            continue
        if query.updated_from is not None or query.updated_to is not None:
            updated = parse_iso(doc["lastUpdatedTime"])
            if query.updated_from is not None and updated < query.updated_from:
                continue
            if query.updated_to is not None and updated >= query.updated_to:
                continue
        out.append(doc)
    return out


def _order_key(doc: Mapping[str, Any]) -> tuple[datetime, str]:
    # parsed, not as text: isoformat leaves out a zero fraction ("...:31Z" < "...:31.5Z")
    return parse_iso(doc["createdTime"]), doc["instanceId"]


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
        shown = token if len(token) <= 40 else token[:40] + "..."
        raise QueryError(f"continuation token {shown!r} is not one this server gave; "
                         "start again without it") from None
    return when, instance_id


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

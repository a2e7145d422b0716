"""`GET /api/openapi.json`: the OpenAPI 3.1 description of every route of the API.

`OPERATIONS` describes each (route path, method) of `runtime.http.app`'s route table,
keyed by the Starlette path (`{instance_id}`); `document()` turns it into the published
paths (`{instanceId}`, Durable Functions' names). A test checks that every route of the
table is described, and a schemathesis run against a live server checks that no answer
falls outside the description. `GET` routes also answer `HEAD` (not listed).
"""

from __future__ import annotations

import re
from typing import Any

from runtime.http.responses import PAYLOAD_FIELDS

RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended",
                    "ContinuedAsNew")
#: Starlette path parameter -> the published name.
PATH_NAMES = {"instance_id": "instanceId", "event": "eventName", "name": "name",
              "action": "action"}

_JSON = "application/json"
_ANY: dict[str, Any] = {"description": "any JSON value"}
_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": {_JSON: {"schema": _ref("Error")}}}


def _path(name: str, text: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": text,
            "schema": {"type": "string", **schema}}


def _query(name: str, text: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": text,
            "schema": schema, **extra}


def _any_case(word: str) -> str:
    """A regular expression matching `word` in any case (JSON Schema has no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


_STATUS_WORD = "(" + "|".join(_any_case(s) for s in RUNTIME_STATUSES) + ")?"
_TIME_OR_EMPTY = {"anyOf": [{"type": "string", "format": "date-time"},
                            {"type": "string", "maxLength": 0}]}
_FLAG = {"type": "string", "pattern": f"^({_any_case('true')}|{_any_case('false')})?$"}

_INSTANCE = _path("instanceId", "an instance id: 1-128 of A-Z a-z 0-9 . _ : -",
                  pattern=_ID_PATTERN)
_STATUS_FILTER = _query(
    "runtimeStatus", "runtime statuses (" + ", ".join(RUNTIME_STATUSES) + "; any case; "
    "repeated or comma-separated)",
    {"type": "array", "items": {"type": "string", "pattern":
                                rf"^\s*{_STATUS_WORD}\s*(,\s*{_STATUS_WORD}\s*)*$"}},
    style="form", explode=True)
_FROM = _query("createdTimeFrom", "instances created at or after this ISO 8601 time (UTC "
               "without a zone; empty: no bound)", _TIME_OR_EMPTY)
_TO = _query("createdTimeTo", "instances created before this ISO 8601 time (empty: no "
             "bound)", _TIME_OR_EMPTY)
_REASON = _query("reason", "a reason, kept in the history", {"type": "string"})
_BODY = {"required": False, "description": "a JSON value (an empty body is null)",
         "content": {_JSON: {"schema": _ANY}}}
_POLL_HEADERS = {
    "Location": {"description": "the status URL", "schema": {"type": "string"},
                 "required": True},
    "Retry-After": {"description": "seconds before polling again",
                    "schema": {"type": "string"}, "required": True},
}
_STARTED = {"description": "created: poll Location", "headers": _POLL_HEADERS,
            "content": {_JSON: {"schema": _ref("ManagementPayload")}}}
_ACCEPTED = {"description": "accepted: the instance's worker applies it"}
_BAD = _error("a parameter, body or id is malformed (the message names it)")
_UNKNOWN = _error("no such instance (or orchestrator)")
_ENDED = _error("the instance has ended")
_TOO_BIG = _error("the body is larger than the server's limit")

_NAME = _query("name", "the orchestration's name (exact)", {"type": "string"})
_PREFIX = _query("instanceIdPrefix", "instance ids starting with this", {"type": "string"})
_UPDATED_FROM = _query("lastUpdatedTimeFrom", "instances last updated at or after this "
                       "ISO 8601 time", _TIME_OR_EMPTY)
_UPDATED_TO = _query("lastUpdatedTimeTo", "instances last updated before this ISO 8601 time",
                     _TIME_OR_EMPTY)
_LIST_FILTERS = [_NAME, _PREFIX, _FROM, _TO, _UPDATED_FROM, _UPDATED_TO]
_NOT_MODIFIED = {"description": "unchanged since the If-None-Match ETag"}

_ENTITY_NAME = _path("name", "the entity's name (any case)",
                     pattern="^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_ENTITY_KEY = _path("key", "the entity's key: A-Z a-z 0-9 . _ : -", pattern=_ID_PATTERN)
_ENTITY_LIST = [
    _query("top", "at most this many (1-1000, default 100)",
           {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("continuationToken", "the token of the previous page (or the "
           "x-ms-continuation-token header)", {"type": "string"}),
    _query("fetchState", "include each entity's state (true or false, any case; default "
           "false, as in Durable Functions)", _FLAG),
    {"name": "x-ms-continuation-token", "in": "header", "required": False,
     "description": "the token of the previous page", "schema": {"type": "string"}},
]
_ENTITY_PAGE = {
    "200": {"description": "the entities, oldest first", "headers": {
        "x-ms-continuation-token": {"description": "present when there is a next page",
                                    "schema": {"type": "string"}},
        "ETag": {"description": "send as If-None-Match for a 304",
                 "schema": {"type": "string"}}},
        "content": {_JSON: {"schema": {"type": "array", "items": _ref("Entity")}}}},
    "304": _NOT_MODIFIED, "400": _BAD,
}


def _static(kind: str, what: str) -> dict[str, Any]:
    return {"summary": f"the dashboard's {what} (static; served without the key)",
            "security": [],
            "responses": {"200": {"description": what, "content": {kind: {
                "schema": {"type": "string"}}}}}}


OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/dashboard.js", "GET"): _static("text/javascript", "script"),
    ("/instance.js", "GET"): _static("text/javascript", "script for one instance"),
    ("/entities.js", "GET"): _static("text/javascript", "script for the entity list"),
    ("/dashboard.css", "GET"): _static("text/css", "style sheet"),
    ("/", "GET"): {
        "summary": "the dashboard page (static; served without the key)",
        "security": [],
        "responses": {"200": {"description": "HTML", "content": {"text/html": {
            "schema": {"type": "string"}}}}},
    },
    ("/api/orchestrators/{name}", "POST"): {
        "summary": "start an instance of an orchestrator",
        "parameters": [_path("name", "the orchestrator's registered name")],
        "requestBody": _BODY,
        "responses": {"202": _STARTED, "400": _BAD, "404": _UNKNOWN, "413": _TOO_BIG},
    },
    ("/api/orchestrators/{name}/{instance_id}", "POST"): {
        "summary": "start an instance with a chosen id",
        "parameters": [_path("name", "the orchestrator's registered name"), _INSTANCE],
        "requestBody": _BODY,
        "responses": {"202": _STARTED, "400": _BAD, "404": _UNKNOWN,
                      "409": _error("the id is taken"), "413": _TOO_BIG},
    },
    ("/api/instances", "GET"): {
        "summary": "status documents, newest first, a page at a time with `top` (Durable "
                   "Functions' continuation token: send back x-ms-continuation-token)",
        "parameters": [_STATUS_FILTER, *_LIST_FILTERS, _query(
            "top", "at most this many (1-1000); more pages: the x-ms-continuation-token "
                   "answer header", {"type": "integer", "minimum": 1, "maximum": 1000}),
            _query("continuationToken", "the token of the previous page (or the "
                   "x-ms-continuation-token header)", {"type": "string"}),
            {"name": "x-ms-continuation-token", "in": "header", "required": False,
             "description": "the token of the previous page", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the matching instances", "headers": {
            "x-ms-continuation-token": {"description": "present when there is a next page",
                                        "schema": {"type": "string"}},
            "ETag": {"description": "send as If-None-Match for a 304", "schema": {
                "type": "string"}}}, "content": {_JSON: {
            "schema": {"type": "array", "items": _ref("Status")}}}},
            "304": _NOT_MODIFIED, "400": _BAD},
    },
    ("/api/statusCounts", "GET"): {
        "summary": "how many instances are in each runtime status, under the list's filters",
        "parameters": _LIST_FILTERS,
        "responses": {"200": {"description": "a count per runtime status", "content": {_JSON: {
            "schema": {"type": "object", "additionalProperties": {"type": "integer",
                                                                  "minimum": 0}}}}},
            "304": _NOT_MODIFIED, "400": _BAD},
    },
    ("/api/events", "GET"): {
        "summary": "server-sent events: `version` on connecting, `changed` whenever an "
                   "instance is created, changes or is purged",
        "parameters": [_query("timeout", "end the stream after this many seconds (default "
                              "and most: 300; 0: the version, then the end)",
                              {"type": "string", "pattern": "^[0-9]{1,6}$"})],
        "responses": {"200": {"description": "an event stream", "content": {
            "text/event-stream": {"schema": {"type": "string"}}}}, "400": _BAD},
    },
    ("/api/instances", "DELETE"): {
        "summary": "purge the ended instances that match (Durable Functions' purge of "
                   "multiple histories); instances not ended are kept",
        "parameters": [_STATUS_FILTER, {**_FROM, "required": True, "schema": {
            "type": "string", "format": "date-time"}}, _TO],
        "responses": {"200": {"description": "purged", "content": {_JSON: {
            "schema": _ref("Purged")}}}, "400": _BAD,
            "404": _error("no ended instance matches")},
    },
    ("/api/instances/{instance_id}", "GET"): {
        "summary": "an instance's status document",
        "parameters": [_INSTANCE, _query("showHistory", "include historyEvents (true or "
                                         "false, any case)", _FLAG)],
        "responses": {
            "200": {"description": "ended (Completed, Failed, Terminated)",
                    "content": {_JSON: {"schema": _ref("Status")}}},
            "202": {"description": "not ended yet: poll Location", "headers": _POLL_HEADERS,
                    "content": {_JSON: {"schema": _ref("Status")}}},
            "400": _BAD, "404": _UNKNOWN},
    },
    ("/api/instances/{instance_id}", "DELETE"): {
        "summary": "purge an ended instance and its history",
        "parameters": [_INSTANCE],
        "responses": {"200": {"description": "purged", "content": {_JSON: {
            "schema": _ref("Purged")}}}, "400": _BAD, "404": _UNKNOWN,
            "409": _error("the instance has not ended: terminate it first")},
    },
    ("/api/instances/{instance_id}/graph", "GET"): {
        "summary": "the step graph as SVG, coloured by the instance's progress",
        "parameters": [_INSTANCE],
        "responses": {"200": {"description": "SVG", "content": {"image/svg+xml": {
            "schema": {"type": "string"}}}}, "400": _BAD,
            "404": _error("no such instance, or the graph cannot be drawn")},
    },
    ("/api/instances/{instance_id}/raiseEvent/{event}", "POST"): {
        "summary": "send an external event",
        "parameters": [_INSTANCE, _path("eventName", "the event's name")],
        "requestBody": _BODY,
        "responses": {"202": _ACCEPTED, "400": _BAD, "404": _UNKNOWN, "410": _ENDED,
                      "413": _TOO_BIG},
    },
    ("/api/instances/{instance_id}/restart", "POST"): {
        "summary": "start the instance's orchestration again with the same input",
        "parameters": [_INSTANCE, _query(
            "restartWithNewInstanceId", "true (default): a new id; false: the same id, "
            "once the instance has ended (any case)", _FLAG)],
        "responses": {"202": _STARTED, "400": _BAD, "404": _UNKNOWN,
                      "409": _error("the same id was asked for and the instance has not "
                                    "ended")},
    },
    ("/api/instances/{instance_id}/rewind", "POST"): {
        "summary": "take a Failed instance back to the checkpoint before its failed step "
                   "and run it again",
        "parameters": [_INSTANCE, _REASON],
        "responses": {"202": _ACCEPTED, "400": _BAD, "404": _UNKNOWN,
                      "409": _error("the instance is not Failed")},
    },
    ("/api/instances/{instance_id}/{action}", "POST"): {
        "summary": "terminate, suspend or resume an instance",
        "parameters": [_INSTANCE, _path("action", "what to do",
                                        enum=["terminate", "suspend", "resume"]), _REASON],
        "responses": {"202": _ACCEPTED, "400": _BAD, "404": _UNKNOWN, "410": _ENDED},
    },
    ("/api/entities", "GET"): {
        "summary": "entity documents (issue 12), `top` at a time (send back "
                   "x-ms-continuation-token for the next page)",
        "parameters": _ENTITY_LIST,
        "responses": _ENTITY_PAGE,
    },
    ("/api/entities/{name}", "GET"): {
        "summary": "the entities of one name, `top` at a time",
        "parameters": [_ENTITY_NAME, *_ENTITY_LIST],
        "responses": _ENTITY_PAGE,
    },
    ("/api/entities/{name}/{key}", "POST"): {
        "summary": "signal an entity: a one-way operation, applied by a worker; the same "
                   "idempotency key sent again is applied once",
        "parameters": [_ENTITY_NAME, _ENTITY_KEY,
                       _query("op", "the operation's name",
                              {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,127}$"},
                              required=True),
                       _query("key", "idempotency key (or the Idempotency-Key header)",
                              {"type": "string", "pattern": "^[!-~]{1,200}$"}),
                       _query("at", "deliver no earlier than this ISO 8601 time",
                              _TIME_OR_EMPTY),
                       {"name": "Idempotency-Key", "in": "header", "required": False,
                        "description": "a retried request with the same key is applied once",
                        "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"}}],
        "requestBody": {**_BODY, "description": "the operation's input as JSON (empty: null)"},
        "responses": {"202": {"description": "accepted: queued for the entity"},
                      "400": _error("a malformed name, key, operation, idempotency key or "
                                    "body, or an entity or operation no module defines"),
                      "413": _TOO_BIG},
    },
    ("/api/entities/{name}/{key}", "GET"): {
        "summary": "an entity's last committed state",
        "parameters": [_ENTITY_NAME, _ENTITY_KEY],
        "responses": {"200": {"description": "the state", "content": {_JSON: {
            "schema": _ANY}}}, "400": _BAD, "404": _error("the entity has no state")},
    },
    ("/api/openapi.json", "GET"): {
        "summary": "this description",
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {_JSON: {
            "schema": {"type": "object"}}}}},
    },
    ("/metrics", "GET"): {
        "summary": "Prometheus metrics (text exposition format)",
        "responses": {"200": {"description": "metrics", "content": {"text/plain": {
            "schema": {"type": "string"}}}}},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string", "description": "one line naming what is at fault"}}},
    "Purged": {"type": "object", "required": ["instancesDeleted"], "properties": {
        "instancesDeleted": {"type": "integer", "minimum": 1}}},
    "ManagementPayload": {"type": "object", "required": list(PAYLOAD_FIELDS),
                          "properties": {f: {"type": "string"} for f in PAYLOAD_FIELDS}},
    "Entity": {
        "type": "object",
        "required": ["id", "name", "key", "exists", "queueLength", "lockedBy",
                     "lastModifiedTime"],
        "properties": {
            "id": {"type": "string", "description": "@name@key"},
            "name": {"type": "string"},
            "key": {"type": "string"},
            "exists": {"type": "boolean", "description": "whether it has state"},
            "state": {"description": "the last committed state (with fetchState=true)"},
            "queueLength": {"type": "integer", "minimum": 0,
                            "description": "operations waiting (behind a lock, or not "
                                           "yet applied)"},
            "lockedBy": {"type": ["string", "null"],
                         "description": "the orchestration holding its lock"},
            "lastModifiedTime": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Status": {
        "type": "object",
        "required": ["name", "instanceId", "runtimeStatus", "input", "output",
                     "customStatus", "createdTime", "lastUpdatedTime"],
        "properties": {
            "name": {"type": "string"},
            "instanceId": {"type": "string"},
            "runtimeStatus": {"type": "string", "enum": list(RUNTIME_STATUSES)},
            "input": _ANY,
            "output": {"description": "the output; for a Failed instance the error as "
                                      "`Type: message`"},
            "customStatus": _ANY,
            "createdTime": {"type": "string", "format": "date-time"},
            "lastUpdatedTime": {"type": "string", "format": "date-time"},
            "historyEvents": {"type": "array", "items": {"type": "object"}},
            "failureDetails": {
                "type": "object", "description": "a Failed instance's error and traceback",
                "properties": {"errorType": {"type": "string"},
                               "errorMessage": {"type": "string"},
                               "stackTrace": {"type": ["string", "null"]}}},
        },
    },
}

_COMMON = [
    _query("taskHub", "accepted and ignored (Durable Functions' storage name)",
           {"type": "string"}),
    _query("connection", "accepted and ignored (Durable Functions' storage name)",
           {"type": "string"}),
]


def openapi_path(route_path: str) -> str:
    """The published path of a Starlette route path (`{instance_id}` -> `{instanceId}`,
    converters dropped)."""
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: "{" + PATH_NAMES.get(m[1], m[1]) + "}",
                  route_path)


def document(*, api_key: bool, version: str) -> dict[str, Any]:
    """The OpenAPI document; with `api_key`, every operation but the page needs the key
    (`x-tether-key` header or `code` parameter) and may answer 401."""
    paths: dict[str, dict[str, Any]] = {}
    for (route, method), operation in OPERATIONS.items():
        op = {**operation, "responses": dict(operation["responses"])}
        public = operation.get("security") == []
        if route.startswith("/api/"):
            op["parameters"] = [*operation.get("parameters", []), *_COMMON]
        if api_key and not public:
            op["responses"]["401"] = _error("the API key is missing or wrong")
        if method in ("POST", "DELETE"):
            op["responses"]["403"] = _error("a browser sent it from another origin")
        op["operationId"] = _operation_id(route, method)
        paths.setdefault(openapi_path(route), {})[method.lower()] = op
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "tether", "version": version,
                 "description": "Durable Functions' HTTP API for tether's instances; "
                                "errors are {\"error\": \"one line\"}."},
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
    if api_key:
        doc["components"]["securitySchemes"] = {
            "header": {"type": "apiKey", "in": "header", "name": "x-tether-key"},
            "query": {"type": "apiKey", "in": "query", "name": "code"},
        }
        doc["security"] = [{"header": []}, {"query": []}]
    return doc


def _operation_id(route: str, method: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", openapi_path(route)) if w]
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words) or method.lower()

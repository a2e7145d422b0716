"""Durable Functions' HTTP helpers, for the API's own routes and for users' starters.

`ManagementUrls` knows where tether's HTTP API answers (the path it is mounted at in
the user's app, and its key) and builds the management payload with Durable Functions'
field names. The API's start route and the clients' `create_check_status_response`,
`create_http_management_payload` and `wait_for_completion_or_create_check_status_response`
all build it here, so a user's own starter route answers exactly as
`POST /api/orchestrators/{name}` does.

Only Starlette objects are used (FastAPI's `Request` and `JSONResponse` are Starlette's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse

from runtime.http.answers import JSONAnswer

#: Seconds a poller is told to wait before asking again (the `Retry-After` header).
RETRY_AFTER = "1"
#: The management payload's fields, in Durable Functions' order, plus tether's
#: `suspendPostUri`/`resumePostUri` (Durable Functions 2.x has them too).
PAYLOAD_FIELDS = ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                  "rewindPostUri", "purgeHistoryDeleteUri", "restartPostUri",
                  "suspendPostUri", "resumePostUri")


@dataclass(frozen=True)
class ManagementUrls:
    """Where tether's API is served: `prefix` is the path it is mounted at ("" when
    it is the whole app, as under `tether serve`); with `api_key`, every URL carries
    `?code=KEY`, as Durable Functions' do."""

    prefix: str = ""
    api_key: str | None = None

    def payload(self, origin: str, instance_id: str) -> dict[str, str]:
        """The management payload; `origin` is `scheme://host[:port]`, or "" for
        URLs that are paths only."""
        base = f"{origin}{self.prefix.rstrip('/')}/api/instances/{quote(instance_id, safe=':')}"
        key = f"?code={quote(self.api_key, safe='')}" if self.api_key else ""
        reason = ("&" if key else "?") + "reason={text}"
        return {
            "id": instance_id,
            "statusQueryGetUri": base + key,
            "sendEventPostUri": base + "/raiseEvent/{eventName}" + key,
            "terminatePostUri": base + "/terminate" + key + reason,
            "rewindPostUri": base + "/rewind" + key + reason,
            "purgeHistoryDeleteUri": base + key,
            "restartPostUri": base + "/restart" + key,
            "suspendPostUri": base + "/suspend" + key + reason,
            "resumePostUri": base + "/resume" + key + reason,
        }

    def check_status_response(self, request: Request, instance_id: str) -> JSONResponse:
        """`202` with `Location` (the status URL), `Retry-After` and the payload."""
        urls = self.payload(origin_of(request), instance_id)
        return JSONAnswer(urls, status_code=202, headers={
            "Location": urls["statusQueryGetUri"], "Retry-After": RETRY_AFTER})


def origin_of(request: Request) -> str:
    """`scheme://host[:port]` as the caller addressed the server."""
    return f"{request.url.scheme}://{request.url.netloc}"


def completion_response(doc: dict[str, Any]) -> JSONResponse | None:
    """Durable Functions' answer once an instance has ended: `200` with the output when
    Completed, `200` with the status document when Terminated, `500` with it when Failed;
    None while it has not ended."""
    status = doc["runtimeStatus"]
    if status == "Completed":
        return JSONAnswer(doc["output"], status_code=200)
    if status == "Terminated":
        return JSONAnswer(doc, status_code=200)
    if status == "Failed":
        return JSONAnswer(doc, status_code=500)
    return None

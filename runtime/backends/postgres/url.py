"""PostgreSQL store URLs: parsing, checking and masking.

A store URL is a libpq connection URI (`postgresql://user:password@host:port/db?...`,
`postgres://` too) plus tether's own query parameters: `schema=NAME` (default `tether`),
the PostgreSQL schema holding tether's tables, so several stores (or test runs) can share
one database; and `lease=SECONDS` (default 30), how long a worker's claim on an instance
or a work item lasts without renewal, i.e. how soon another worker takes over from one
that died or froze. Everything else in the query goes to libpq unchanged (`sslmode`,
`connect_timeout`, `host=/run/postgresql` for a socket, ...).

Every message about a store names it by `masked`: the URL with its password replaced by
`***`, never the secret itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "tether"
DEFAULT_LEASE = 30.0
OWN_PARAMETERS = ("schema", "lease")
#: A schema name we can put in SQL unquoted-safe (we still quote it): lowercase, as
#: PostgreSQL folds unquoted names, so `psql` users can type it plainly.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreURLError(ValueError):
    """A malformed store URL; the message is one line naming the (masked) URL."""


def is_postgres_url(spec: str) -> bool:
    """Whether `spec` names a PostgreSQL store rather than a directory."""
    return spec.split(":", 1)[0].lower() in SCHEMES and "://" in spec


@dataclass(frozen=True)
class StoreURL:
    """A checked store URL: what to hand libpq, which schema, and how to name it."""

    conninfo: str  # the URL without tether's own parameters, for psycopg.connect
    schema: str
    masked: str  # for messages: the password replaced by ***
    lease: float = DEFAULT_LEASE  # seconds a claim lasts without renewal

    def __str__(self) -> str:
        return self.masked


def mask(url: str) -> str:
    """`url` with the password (in the authority or a `password=` parameter) as `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{hostinfo}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return _unsplit(parts.scheme, netloc, parts.path, query) + (
        f"#{parts.fragment}" if parts.fragment else "")


def parse(url: str) -> StoreURL:
    """Check `url` and split off tether's parameters; StoreURLError names what is wrong."""
    masked = mask(url)
    if not is_postgres_url(url):
        raise StoreURLError(f"{masked} is not a PostgreSQL URL (postgresql://user@host/db)")
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise StoreURLError(f"malformed PostgreSQL URL {masked}: {exc}") from None
    if parts.fragment:
        raise StoreURLError(f"malformed PostgreSQL URL {masked}: unexpected '#{parts.fragment}'")
    del port
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not SCHEMA_NAME.fullmatch(schema):
        raise StoreURLError(f"bad schema={schema!r} in {masked}: use 1-63 characters of "
                            "a-z 0-9 _, not starting with a digit")
    leases = [value for key, value in query if key == "lease"]
    lease = DEFAULT_LEASE
    if leases:
        try:
            lease = float(leases[-1])
        except ValueError:
            lease = -1.0
        if not 0.5 <= lease <= 3600:
            raise StoreURLError(f"bad lease={leases[-1]!r} in {masked}: use seconds from 0.5 to 3600")
    rest = urlencode([(key, value) for key, value in query if key not in OWN_PARAMETERS])
    conninfo = _unsplit(parts.scheme, parts.netloc, parts.path, rest)
    _check_with_libpq(conninfo, masked)
    return StoreURL(conninfo=conninfo, schema=schema, masked=masked, lease=lease)


def _unsplit(scheme: str, netloc: str, path: str, query: str) -> str:
    # urlunsplit drops an empty authority ("postgresql:///db" -> "postgresql:/db"),
    # which libpq then rejects; a socket URL has exactly that.
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def _check_with_libpq(conninfo: str, masked: str) -> None:
    # libpq is the authority on its own URI syntax and parameter names.
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(conninfo)
    except ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot be parsed"
        raise StoreURLError(f"malformed PostgreSQL URL {masked}: {mask(reason)}") from None

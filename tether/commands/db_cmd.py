"""`tether db init --store URL`: create or migrate a PostgreSQL store's schema.

Running it again is harmless (it reports the version found). A store is also set up on
first use by any command, so `db init` is for doing it ahead of time, with the rights
of a role that may create schemas, and for migrating after an upgrade.
"""

from __future__ import annotations

import argparse
import os

from tether.errors import ExitCode, UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("db", help="manage a PostgreSQL store")
    db = p.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    db.required = True
    init = db.add_parser("init", help="create or migrate a PostgreSQL store's schema")
    init.add_argument("--store", metavar="URL",
                      help="postgresql://user@host/db[?schema=NAME] (default: $TETHER_STORE)")
    init.set_defaults(func=cmd_db_init)


def cmd_db_init(args: argparse.Namespace) -> int:
    spec = args.store or os.environ.get("TETHER_STORE") or ""
    if not spec:
        raise UsageError("tether db init needs --store postgresql://user@host/db (or $TETHER_STORE)")
    try:
        from runtime.backends.postgres.url import is_postgres_url
    except ImportError:  # psycopg missing: the package imports it
        raise UsageError("PostgreSQL stores need psycopg: pip install 'tether[postgres]'") from None
    if not is_postgres_url(spec):
        raise UsageError(f"tether db init works on PostgreSQL stores; {spec!r} is not a "
                         "postgresql:// URL (a directory store needs no setup)")
    from runtime.backends.postgres.setup import StoreError, initialize

    try:
        done = initialize(spec)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    schema = done.url.schema
    if done.found is None:
        print(f"created schema {schema} (version {done.version}) in {done.url}")
    elif done.found < done.version:
        print(f"migrated schema {schema} from version {done.found} to {done.version} in {done.url}")
    else:
        print(f"schema {schema} in {done.url} is up to date (version {done.version})")
    return ExitCode.OK

"""`tether entity signal|get|list|clean`: durable entities from the command line.

Each subcommand is one `Client` call on the store `--store` names (a directory or a
`postgresql://` URL, as for every command), so it works on both backends:

- `signal ID OP [--input JSON] [--at ISO] [--key K] [--src SRC]` posts one operation to
  the entity's inbox and prints nothing; a worker serving the entity's module applies it.
  The same `--key` sent again is applied once. With `--src`, the module is loaded first,
  so an unknown entity name or operation is refused before anything is sent; without it,
  the client knows the names the store already holds, so the first signal to an entity
  name needs `--src`.
- `get ID [--full]` prints the entity's last committed state as JSON (`--full`: the
  whole entity document, with its queue length and lock holder).
- `list [--name N] [--limit N] [--cursor C]` prints `{"entities": [...], "nextCursor": C}`;
  pass `nextCursor` back as `--cursor` for the next page (null on the last).
- `clean` removes empty entities and releases locks whose holder has ended, and prints
  both counts.

Bad input (a malformed id such as `@counter`, a key outside the id alphabet, an input
that is not JSON, a time without a zone, an unknown entity or operation) is one line on
stderr, exit 2, with nothing sent. An entity with no state is "not found", exit 2, as
`tether status` of an unknown instance is.
"""

from __future__ import annotations

import argparse
from typing import Any

from tether.errors import ExitCode, UsageError

MAX_LIMIT = 1000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tether.commands.run_cmd import _store

    p = sub.add_parser("entity", help="signal, read, list and clean durable entities")
    entity = p.add_subparsers(dest="entity_command", metavar="ENTITY_COMMAND")
    entity.required = True

    signal = entity.add_parser("signal", help="send a one-way operation to an entity")
    signal.add_argument("entity_id", metavar="ID", help="the entity, as @name@key")
    signal.add_argument("operation", metavar="OP", help="the operation's name")
    signal.add_argument("--input", default="null", metavar="JSON",
                        help="the operation's input (JSON; default null)")
    signal.add_argument("--at", metavar="ISO",
                        help="deliver no earlier than this ISO 8601 time (with a zone)")
    signal.add_argument("--key", metavar="K",
                        help="idempotency key: sending the same key again applies it once")
    signal.add_argument("--src", metavar="SRC",
                        help="load this module first, to refuse an unknown entity or "
                             "operation before sending")
    _store(signal)
    signal.set_defaults(func=cmd_signal)

    get = entity.add_parser("get", help="an entity's last committed state (JSON)")
    get.add_argument("entity_id", metavar="ID", help="the entity, as @name@key")
    get.add_argument("--full", action="store_true",
                     help="print the whole entity document (state, queue length, lock "
                          "holder, last change)")
    _store(get)
    get.set_defaults(func=cmd_get)

    listing = entity.add_parser("list", help="the store's entities, a page at a time")
    listing.add_argument("--name", metavar="N", help="only entities of this name")
    listing.add_argument("--limit", type=int, default=100, metavar="N",
                         help=f"at most this many (1-{MAX_LIMIT}, default 100)")
    listing.add_argument("--cursor", metavar="C", help="the nextCursor of the previous page")
    _store(listing)
    listing.set_defaults(func=cmd_list)

    clean = entity.add_parser("clean", help="remove empty entities and release locks "
                                            "held by instances that have ended")
    _store(clean)
    clean.set_defaults(func=cmd_clean)


def _entity_id(text: str) -> Any:
    """`@name@key` as an EntityId; a malformed one is a usage error naming it."""
    from runtime.entities import EntityId

    try:
        return EntityId.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _refused(call: Any) -> Any:
    """Run a client call; the entity API's refusals (ValueError, UnknownEntity, and the
    runtime's own, see run_cmd._checked) become one-line usage errors."""
    from tether import UnknownEntity
    from tether.commands.run_cmd import _checked

    try:
        return _checked(call)
    except UnknownEntity as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def cmd_signal(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _client, _json_arg, _time

    entity_id = _entity_id(args.entity_id)
    data = _json_arg(args.input, "--input")
    at = _time(args.at, "--at")
    if args.key is not None and not args.key:
        raise UsageError("--key is empty: give a key, or leave --key out")
    from runtime.entity_client import MAX_KEY

    if args.key is not None and len(args.key) > MAX_KEY:  # before the name is looked up
        raise UsageError(f"invalid idempotency key of {len(args.key)} characters (--key): "
                         f"use 1-{MAX_KEY}")
    if args.src is not None:
        from tether.loader import load

        load(args.src)
        _check_operation(entity_id, args.operation)
    client = _client(args)
    try:
        _refused(lambda: client.signal_entity(entity_id, args.operation, data, at=at,
                                              key=args.key))
    except UsageError as exc:
        if args.src is None and "is registered" in str(exc):
            raise UsageError(f"{exc}; pass --src SRC, the module that defines it") from None
        raise
    return ExitCode.OK


def _check_operation(entity_id: Any, operation: str) -> None:
    """Refuse an entity name or (class form) operation the loaded modules do not define."""
    from runtime.entities import entity_def

    try:
        defn = entity_def(entity_id.name)
    except LookupError as exc:
        raise UsageError(str(exc).strip("'\"")) from None
    if defn.form == "class" and operation not in defn.operations:
        raise UsageError(f"entity {defn.name!r} has no operation {operation!r}; its "
                         "operations: " + ", ".join(defn.operations))


def cmd_get(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _client, _print

    entity_id = _entity_id(args.entity_id)
    client = _client(args)
    if args.full:
        doc = _refused(lambda: client.entity(entity_id))
        if doc is None:
            raise UsageError(f"no entity {entity_id} in the store")
        _print(doc)
    else:
        _print(_refused(lambda: client.entity_state(entity_id)))
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _client, _print

    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}, not {args.limit}")
    name = args.name.lower() if args.name is not None else None
    if name is not None:
        from runtime.entities.ids import NAME

        if not NAME.fullmatch(name):
            raise UsageError(f"--name {args.name!r} is not an entity name: use 1-64 "
                             "characters of a-z 0-9 _ . -, starting with a letter or _")
    client = _client(args)
    items, cursor = _refused(lambda: client.entities(name=name, limit=args.limit,
                                                     cursor=args.cursor))
    _print({"entities": items, "nextCursor": cursor})
    return ExitCode.OK


def cmd_clean(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _client, _print

    client = _client(args)
    _print(_refused(client.clean_entities))
    return ExitCode.OK

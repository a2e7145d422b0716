"""`tether restart ID` and `tether rewind ID` (issue 14; see runtime/rewind.py).

`restart` prints the id it started (a new one unless `--same-id`); `rewind` prints
nothing and exits 0 once the instance is back at its checkpoint. Refusals (unknown id,
an instance that is not Failed, `--same-id` while it runs) are one line, exit 2.
"""

from __future__ import annotations

import argparse

from tether.errors import ExitCode


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tether.commands.run_cmd import _store

    p = sub.add_parser("restart", help="run an instance's orchestration again with the same "
                                       "input (a new id, or --same-id once it has ended)")
    p.add_argument("instance_id", metavar="ID")
    p.add_argument("--same-id", action="store_true",
                   help="reuse the id (the instance must have ended; its history is kept "
                        "as an earlier generation)")
    p.add_argument("--id", dest="new_id", metavar="NEW_ID", help="the new instance's id")
    _store(p)
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("rewind", help="take a Failed instance back to the checkpoint before "
                                      "its failed step; a worker runs it from there")
    p.add_argument("instance_id", metavar="ID")
    p.add_argument("--reason", default=None, help="kept in the history")
    _store(p)
    p.set_defaults(func=cmd_rewind)


def cmd_restart(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _checked, _client, _id
    from tether.errors import UsageError

    instance_id = _id(args.instance_id)
    if args.same_id and args.new_id:
        raise UsageError("--same-id and --id exclude each other")
    client = _client(args)
    print(_checked(lambda: client.restart(instance_id, new_instance_id=not args.same_id,
                                          new_id=_id(args.new_id))))
    return ExitCode.OK


def cmd_rewind(args: argparse.Namespace) -> int:
    from tether.commands.run_cmd import _checked, _client, _id

    instance_id = _id(args.instance_id)
    client = _client(args)
    _checked(lambda: client.rewind(instance_id, args.reason))
    return ExitCode.OK

"""``kretslopp schema``: the event contract as JSON Schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from infra.settings import Settings


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the event contract",
        description="The JSON Schema (draft 2020-12) integrators validate their events against.",
    )
    schema.add_argument("-o", "--output", help="write to this file instead of standard output")
    schema.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from events.schema import json_schema

    data = orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if args.output:
        Path(args.output).write_bytes(data + b"\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode() + "\n")
    return 0

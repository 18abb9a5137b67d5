"""The ``kretslopp`` command line. Each sub-command's help text is its documentation.

One module per command in this package owns its parser (``register``) and its handler
(``handle``), so an option is declared once, next to the code that reads it. Heavy imports
(Faust, the HTTP app) wait inside the handlers, so ``kretslopp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from infra.settings import ConfigurationError, Settings
from services.cli import (
    adapters,
    api,
    dlq,
    keys,
    migrate,
    offers,
    produce,
    rebuild,
    register_file,
    replay,
    report,
    schema,
    status,
    tenant_settings,
    up,
    worker,
)

# The order of `kretslopp --help`.
COMMANDS = (
    up,
    worker,
    api,
    produce,
    register_file,
    status,
    tenant_settings,
    report,
    offers,
    adapters,
    keys,
    schema,
    dlq,
    rebuild,
    replay,
    migrate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kretslopp",
        description="Circular-IT KPIs from device lifecycle events (Kafka -> Faust -> PostgreSQL).",
        epilog="Configuration comes from environment variables; see README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from infra.kafka_cluster import KafkaUnavailable
    from infra.structured_logging import configure
    from projections.carbon import UnknownFactorSource

    try:
        settings = Settings.from_env()
        configure(settings.log_level)  # JSON lines on stderr; stdout is the command's output
        result: int = args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    except (ConfigurationError, UnknownFactorSource, KafkaUnavailable) as exc:
        print(f"kretslopp {args.command}: {exc}", file=sys.stderr)
        return 2
    except SystemExit:
        raise
    except Exception as exc:  # a user sees one line, never a traceback
        if os.environ.get("KRETSLOPP_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"kretslopp {args.command}: error: {type(exc).__name__}: {message} "
            "(KRETSLOPP_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())

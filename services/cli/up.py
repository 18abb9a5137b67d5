"""``kretslopp up``: the embedded stack with a sample history a newcomer can watch."""

from __future__ import annotations

import argparse
from typing import Any

from infra.settings import Settings


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    up = sub.add_parser(
        "up",
        help="run broker + PostgreSQL + worker + API locally, with sample data",
        description="Start the embedded stack (a broker and PostgreSQL) unless "
        "KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point elsewhere, then the worker and the "
        "HTTP API, then play a multi-year sample history of two organisations' fleets and "
        "show live numbers read back from PostgreSQL. Ctrl-C stops everything.",
    )
    up.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default=None,
        help="tansu (default; embedded, Python only) or kafka (a local 3-node Apache Kafka "
        "KRaft cluster; needs Java 17 and Maven, the first start fetches ~55 MB of jars); "
        "same as KRETSLOPP_BROKER",
    )
    up.add_argument("--devices", type=int, default=3000, help="devices in the sample fleets")
    up.add_argument("--rate", type=float, default=400.0, help="sample events per second")
    up.add_argument("--seed", type=int, default=2030, help="random seed of the sample data")
    up.add_argument("--no-sample", action="store_true", help="start the stack without sample data")
    up.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop once the sample history is fully projected (for scripts and CI)",
    )
    up.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import replace

    from services.demo.up import run_up

    return run_up(
        replace(settings, broker=args.broker) if args.broker else settings,
        devices=args.devices,
        rate=args.rate,
        seed=args.seed,
        sample=not args.no_sample,
        exit_when_done=args.exit_when_done,
    )

"""``kretslopp offers list|kpis|rejected``: the internal re-use marketplace from the command
line.

The commands that change offers (offer, reserve, release, withdraw, hand over) are HTTP calls
(``/v1/tenants/{tenant}/offers``), made by the tools org units use; this reads what they did.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, date, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.settings import Settings
from projections import marketplace
from projections.postgres import reads
from projections.postgres.connection import migrated
from services.reports.marketplace import marketplace_kpis

_MONTH = re.compile(r"^(19[89]\d|2\d{3})-(0[1-9]|1[0-2])$")


def _month(option: str, text: str) -> date:
    if not _MONTH.match(text):
        raise SystemExit(f"{option}: {text!r} is not a month (YYYY-MM)")
    return date(int(text[:4]), int(text[5:7]), 1)


def run_offers(settings: Settings, args: argparse.Namespace) -> int:
    _, dsn = settings.require_endpoints()
    now = datetime.now(UTC)
    if args.action == "kpis":
        first, last = _month("--from", args.first), _month("--to", args.last)
        if last < first:
            raise SystemExit("--to: must not be before --from")

    async def run() -> Any:
        async with migrated(dsn) as conn:
            if args.action == "rejected":
                return await reads.rejected_transitions(conn, args.tenant)
            assets = await reads.marketplace_assets(conn, args.tenant)
            if args.action == "list":
                return [
                    marketplace.listing(a, o, now)
                    for a in assets
                    for o in a.offers
                    if o.is_open or args.closed
                ]
            return await marketplace_kpis(conn, args.tenant, first, last, now)

    result = asyncio.run(run())
    if args.json or args.action == "kpis":
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
        return 0
    console = Console(soft_wrap=True)
    if args.action == "rejected":
        rejected = Table(title=f"marketplace events not applied, {escape(args.tenant)}")
        for column in ("occurred at", "asset", "event", "event id", "reason"):
            rejected.add_column(column, overflow="fold")
        for r in result:
            rejected.add_row(
                r["occurred_at"],
                escape(r["asset_id"]),
                r["event_type"],
                r["event_id"],
                escape(r["reason"] or ""),
            )
        console.print(rejected)
        return 0
    table = Table(title=f"offers of {escape(args.tenant)} ({len(result)})")
    for column in (
        "asset",
        "category",
        "age y",
        "org unit",
        "condition",
        "days",
        "status",
        "holder",
    ):
        # ids and names wrap rather than lose their ends; the status is always whole
        table.add_column(column, overflow="fold", no_wrap=column == "status")
    for o in sorted(result, key=lambda o: o["offered_at"], reverse=True):
        table.add_row(
            escape(o["asset_id"]),
            escape(o["category"] or "?"),
            "?" if o["age_years"] is None else f"{o['age_years']:.1f}",
            escape(o["org_unit"]),
            o["condition"],
            f"{o['days_on_offer']:.0f}",
            o["status"],
            escape(o["holder_org_unit"] or ""),
        )
    console.print(table)
    return 0


def register(sub: Any) -> None:
    """Add this command and its options to ``kretslopp``'s sub-commands."""
    offers = sub.add_parser(
        "offers",
        help="the internal re-use marketplace: open offers and its KPIs",
        description="Devices offered by one org unit to the others before they leave the "
        "organisation. Offers are made, reserved, released, withdrawn and handed over through "
        "the HTTP API (/v1/tenants/{tenant}/offers); see docs/methodology.md.",
    )
    actions = offers.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="open offers: category, age, condition, days")
    listing.add_argument("--tenant", required=True)
    listing.add_argument("--closed", action="store_true", help="also list closed offers")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    kpis = actions.add_parser(
        "kpis", help="internal re-use share, median days on offer, offers expired unused"
    )
    kpis.add_argument("--tenant", required=True)
    kpis.add_argument("--from", dest="first", required=True, metavar="YYYY-MM")
    kpis.add_argument("--to", dest="last", required=True, metavar="YYYY-MM")
    kpis.set_defaults(json=True)
    rejected = actions.add_parser(
        "rejected",
        help="marketplace events kept but not applied (impossible in fact order), with reasons",
    )
    rejected.add_argument("--tenant", required=True)
    rejected.add_argument("--json", action="store_true", help="JSON instead of a table")
    offers.set_defaults(func=handle)


def handle(args: argparse.Namespace, settings: Settings) -> int:
    return run_offers(settings, args)

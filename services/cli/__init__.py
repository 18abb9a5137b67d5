"""The ``kretslopp`` command line. Each sub-command's help text is its documentation."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from infra.settings import ConfigurationError, Settings


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from services.worker import run_worker

    run_worker(settings)
    return 0


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    from services.api import run_api

    run_api(settings)
    return 0


def _cmd_tenant_settings(args: argparse.Namespace, settings: Settings) -> int:
    from services.tenant_settings_cli import parse_pairs, run_tenant_settings

    changes: dict[str, object] = {}
    if args.baseline:
        changes["baseline_years"] = parse_pairs("--baseline", args.baseline)
    if args.target:
        changes["target_lifespan_years"] = parse_pairs("--target", args.target)
    if args.refurbishment_kg:
        changes["default_refurbishment_kg_co2e"] = parse_pairs(
            "--refurbishment-kg", args.refurbishment_kg
        )
    if args.displacement is not None:
        changes["displacement_rate"] = args.displacement
    return run_tenant_settings(settings, args.tenant, changes)


def _cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from services.keys_cli import run_keys

    operator = bool(getattr(args, "operator", False))
    tenant = getattr(args, "tenant", None)
    if args.action == "create" and bool(tenant) == operator:
        args.parser.error("give either --tenant TENANT or --operator")
    return run_keys(
        settings,
        args.action,
        tenant=tenant,
        source=getattr(args, "source", None),
        key_id=getattr(args, "key_id", None),
        operator=operator,
    )


def _cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from services.import_cli import run_import

    return run_import(settings, args.file, tenant=args.tenant, source=args.source, fmt=args.format)


def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from services.report_cli import run_report

    return run_report(
        settings,
        args.kind,
        tenant=args.tenant,
        year=args.year,
        as_of=getattr(args, "as_of", None),
        first=getattr(args, "from_as_of", None),
        second=getattr(args, "to_as_of", None),
        fmt=getattr(args, "format", "json"),
        output=args.output,
    )


def _cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from services.rebuild_cli import run_rebuild

    return run_rebuild(settings)


def _cmd_dlq(args: argparse.Namespace, settings: Settings) -> int:
    from services.dlq_cli import run_dlq

    return run_dlq(
        settings,
        args.action,
        letter_id=getattr(args, "id", None),
        reason=getattr(args, "reason", None),
        corrected=getattr(args, "file", None),
        as_json=getattr(args, "json", False),
    )


def _cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from services.replay_cli import run_replay

    return run_replay(settings, args.group, args.timeout)


def _cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from services.up import run_up

    return run_up(
        settings,
        devices=args.devices,
        rate=args.rate,
        seed=args.seed,
        sample=not args.no_sample,
        exit_when_done=args.exit_when_done,
    )


def _cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from services.produce import run_produce

    return run_produce(settings, args.file, raw=args.raw)


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from services.status import run_status

    return run_status(settings, as_json=args.json)


def _cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    import orjson

    from events.schema import json_schema

    data = orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if args.output:
        Path(args.output).write_bytes(data + b"\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(data.decode() + "\n")
    return 0


def _cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from projections.database import connect
    from projections.migrate import migrate

    _, dsn = settings.require_endpoints()

    async def run() -> list[str]:
        conn = await connect(dsn)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def _cmd_adapters(args: argparse.Namespace, settings: Settings) -> int:
    from services.adapters_cli import run_adapter_settings, run_unmapped

    if args.action == "settings":
        return run_adapter_settings(
            settings,
            args.tenant,
            args.tool,
            categories=args.category,
            custom_fields=args.custom_field,
            words=args.word,
            clear=args.clear,
        )
    return run_unmapped(
        settings, tenant=args.tenant, tool=args.tool, limit=args.limit, as_json=args.json
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kretslopp",
        description="Circular-IT KPIs from device lifecycle events (Kafka -> Faust -> PostgreSQL).",
        epilog="Configuration comes from environment variables; see README.md.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run broker + PostgreSQL + worker + API locally, with sample data",
        description="Start the embedded stack (Tansu broker, PostgreSQL) unless "
        "KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point elsewhere, then the worker and the "
        "HTTP API, then play a multi-year sample history of two organisations' fleets and "
        "show live numbers read back from PostgreSQL. Ctrl-C stops everything.",
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
    up.set_defaults(func=_cmd_up)

    worker = sub.add_parser(
        "worker",
        help="run the Faust worker that keeps the projections",
        description="Consume the lifecycle topic and keep the PostgreSQL projections. Needs "
        "KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL. Run several to share the partitions.",
    )
    worker.set_defaults(func=_cmd_worker)

    api = sub.add_parser(
        "api",
        help="serve the HTTP read API",
        description="Serve the read API on KRETSLOPP_API_HOST:KRETSLOPP_API_PORT "
        "(default 127.0.0.1:8000); OpenAPI at /openapi.json, interactive docs at /docs.",
    )
    api.set_defaults(func=_cmd_api)

    produce = sub.add_parser(
        "produce",
        help="send events from a JSON Lines file to the topic",
        description="Validate each line of FILE (one event per line) and produce the valid "
        "ones, keyed by tenant and asset. Invalid lines are reported with their line number "
        "and the field at fault; exit code 1 if any was rejected.",
    )
    produce.add_argument("file", type=Path, help="JSON Lines file, '-' for standard input")
    produce.add_argument(
        "--raw",
        action="store_true",
        help="send every line as it is, valid or not (the worker dead-letters bad ones)",
    )
    produce.set_defaults(func=_cmd_produce)

    importer = sub.add_parser(
        "import",
        help="import an asset-register export (CSV or JSON Lines) as lifecycle events",
        description="One row per device: purchase date, category, manufacturer, model, "
        "supplier, certifications, condition, end-of-use date and disposition (columns in "
        "services/register_import.py and README.md). Derives purchased / taken_back / recycled "
        "events with deterministic ids, so importing the same file twice adds nothing. Bad "
        "rows are reported by line number; the good ones are imported. Exit code 2 if any row "
        "was rejected.",
    )
    importer.add_argument("file", type=Path, help="the export file")
    importer.add_argument("--tenant", required=True, help="the organisation the file belongs to")
    importer.add_argument(
        "--source",
        default="register-import",
        help="source name recorded on the events (default: register-import)",
    )
    importer.add_argument(
        "--format",
        choices=["csv", "jsonl"],
        help="default: by file extension (.jsonl/.ndjson, else CSV)",
    )
    importer.set_defaults(func=_cmd_import)

    status = sub.add_parser(
        "status",
        help="per-partition lag, events applied, duplicates skipped, dead letters",
        description="Read checkpoints from PostgreSQL and high-water marks from Kafka.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_cmd_status)

    tenant = sub.add_parser(
        "tenant-settings",
        help="show or change a tenant's KPI and carbon parameters",
        description="Without options: show the tenant's settings (defaults where unset). With "
        "options: change them and recompute the tenant's KPIs in the same transaction. "
        "Defaults: baseline N and target = Boavizta default life per category; d = 1; "
        "R = 10 %% of E (an assumption: set your ITAD's figure).",
    )
    tenant.add_argument("tenant", help="tenant id")
    tenant.add_argument(
        "--baseline",
        nargs="+",
        metavar="CATEGORY=YEARS",
        help="baseline replacement cycle N, e.g. laptop=3 monitor=5",
    )
    tenant.add_argument(
        "--target", nargs="+", metavar="CATEGORY=YEARS", help="target lifespan, e.g. laptop=8"
    )
    tenant.add_argument(
        "--displacement",
        type=float,
        metavar="D",
        help="displacement rate d in 0..1 for reuse savings",
    )
    tenant.add_argument(
        "--refurbishment-kg",
        nargs="+",
        metavar="CATEGORY=KG",
        help="refurbishment footprint R when an event reports none",
    )
    tenant.set_defaults(func=_cmd_tenant_settings)

    report = sub.add_parser(
        "report",
        help="CSRD datapoints (ESRS E1-6, E5-4, E5-5), restatements, supplier scorecards",
        description="Reporting jobs: reads only PostgreSQL. The event log is folded again as "
        "known on --as-of (events recorded up to the end of that day), so a closed year's "
        "report can be reproduced byte for byte later.",
    )
    kinds = report.add_subparsers(dest="kind", required=True, metavar="KIND")
    for name, text in (
        ("csrd", "the tenant-year's CSRD datapoints with methodology"),
        ("restatement", "what changed between two as-of dates, and which events caused it"),
        ("suppliers", "the KPIs per supplier, defined identically, side by side"),
    ):
        kind = kinds.add_parser(name, help=text, description=text)
        kind.add_argument("--tenant", required=True)
        kind.add_argument("--year", type=int, required=True)
        kind.add_argument("-o", "--output", type=Path, help="write to a file")
        if name == "restatement":
            kind.add_argument("--from", dest="from_as_of", required=True, metavar="DATE")
            kind.add_argument("--to", dest="to_as_of", required=True, metavar="DATE")
        else:
            kind.add_argument(
                "--as-of", metavar="DATE", help="YYYY-MM-DD (end of that day, UTC) or ISO timestamp"
            )
            kind.add_argument(
                "--format",
                choices=["json", "csv", "md"] if name == "csrd" else ["json", "csv"],
                default="json",
            )
    report.set_defaults(func=_cmd_report)

    adapters = sub.add_parser(
        "adapters",
        help="a tenant's adapter settings; lifecycle signals adapters could not map",
        description="ServiceNow, Snipe-IT and GLPI name categories, custom fields and "
        "activity types in the customer's own words: 'settings' maps them per tenant. "
        "'unmapped' lists the status or substate changes adapters received but could not turn "
        "into an event (kept with their payload, never lost silently).",
    )
    adapter_actions = adapters.add_subparsers(dest="action", required=True, metavar="ACTION")
    adapter_settings = adapter_actions.add_parser(
        "settings", help="show or change a tenant's settings of one adapter"
    )
    adapter_settings.add_argument("tenant", help="tenant id")
    adapter_settings.add_argument("tool", choices=["servicenow", "snipe-it", "glpi"])
    adapter_settings.add_argument(
        "--category",
        nargs="+",
        metavar="NAME=CATEGORY",
        help="the tool's category name or ServiceNow model_category sys_id, e.g. "
        "'Bärbara datorer=laptop' or 'Computer=desktop'",
    )
    adapter_settings.add_argument(
        "--custom-field",
        nargs="+",
        metavar="FIELD=COLUMN",
        help="where the tool keeps one of our fields, e.g. inside_eu_eea=_snipeit_eu_12",
    )
    adapter_settings.add_argument(
        "--word",
        nargs="+",
        metavar="WORD=MEANING",
        help="a translated action, maintenance or status word, e.g. Kasserad=recycled",
    )
    adapter_settings.add_argument(
        "--clear", action="store_true", help="start from empty settings (then apply options)"
    )
    unmapped = adapter_actions.add_parser(
        "unmapped", help="lifecycle signals received but not mapped, newest first"
    )
    unmapped.add_argument("--tenant", help="only this tenant")
    unmapped.add_argument("--tool", choices=["servicenow", "snipe-it", "glpi"])
    unmapped.add_argument("--limit", type=int, default=200, help="at most this many (200)")
    unmapped.add_argument("--json", action="store_true", help="JSON instead of a table")
    adapters.set_defaults(func=_cmd_adapters)

    keys = sub.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="API keys for the HTTP API: one per source system, scoped to one tenant. "
        "A key is printed once at creation; only its hash is stored.",
    )
    key_actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("--tenant", help="the tenant the key may read and write")
    create.add_argument(
        "--operator",
        action="store_true",
        help="an operator key: reads /v1/status (all tenants' operations), no tenant's data",
    )
    create.set_defaults(parser=create)
    create.add_argument("--source", required=True, help="the system using it, e.g. servicenow")
    listing = key_actions.add_parser("list", help="list keys (never the secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    revoke = key_actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id", help="the id shown by 'keys list'")
    keys.set_defaults(func=_cmd_keys)

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the event contract",
        description="The JSON Schema (draft 2020-12) integrators validate their events against.",
    )
    schema.add_argument("-o", "--output", help="write to this file instead of standard output")
    schema.set_defaults(func=_cmd_schema)

    dlq = sub.add_parser(
        "dlq",
        help="list, show and re-submit dead letters",
        description="Records the worker could not decode or validate are kept with their "
        "reason and original bytes. Correct one and re-submit it; it is then applied once.",
    )
    dlq_actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    dlq_list = dlq_actions.add_parser("list", help="unresolved dead letters")
    dlq_list.add_argument("--reason", help="only this reason kind, e.g. validation")
    dlq_list.add_argument("--json", action="store_true", help="machine-readable output")
    dlq_show = dlq_actions.add_parser("show", help="print a dead letter's original bytes")
    dlq_show.add_argument("id", type=int)
    dlq_retry = dlq_actions.add_parser(
        "retry", help="re-submit a dead letter, corrected from FILE or as it was"
    )
    dlq_retry.add_argument("id", type=int)
    dlq_retry.add_argument("--file", type=Path, help="the corrected event (JSON)")
    dlq.set_defaults(func=_cmd_dlq)

    rebuild = sub.add_parser(
        "rebuild",
        help="recompute every projection from the PostgreSQL event log and swap it in",
        description="Fold the event log (the source of truth) again into fresh tables, with "
        "a progress bar, then swap them in atomically. The live worker keeps running; it waits "
        "only for the short swap. Use after a bug fix in the fold or to verify the projections.",
    )
    rebuild.set_defaults(func=_cmd_rebuild)

    replay = sub.add_parser(
        "replay",
        help="re-read the whole topic into a new consumer group, then stop",
        description="For a Kafka that keeps the full history: run a worker under a new "
        "consumer group from the earliest offset until it has caught up. With a fresh "
        "DATABASE_URL this rebuilds the projections from Kafka; with the live one every event "
        "is a duplicate and nothing changes.",
    )
    replay.add_argument("--group", help="consumer group (default: <group>-replay-<time>)")
    replay.add_argument("--timeout", type=float, default=3600, help="give up after seconds")
    replay.set_defaults(func=_cmd_replay)

    migrate = sub.add_parser(
        "migrate",
        help="apply database migrations (the worker also does this at start-up)",
        description="Apply the versioned SQL migrations to DATABASE_URL; safe to repeat.",
    )
    migrate.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from infra.structured_logging import configure
    from projections.carbon import UnknownFactorSource

    try:
        settings = Settings.from_env()
        configure(settings.log_level)  # JSON lines on stderr; stdout is the command's output
        result: int = args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    except (ConfigurationError, UnknownFactorSource) as exc:
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

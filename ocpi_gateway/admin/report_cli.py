"""``ocpi-gateway report --from --to [--site] [--partner] --format csv|json``: the console's
figures as data, a thin client of ``admin/service/reports/`` over the gateway's own store
(the figures ``GET /admin/api/reports`` answers)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from ocpi_gateway.admin.service.reports import Report, ReportQuery, build_report
from ocpi_gateway.config import ConfigError, load_settings
from ocpi_gateway.locations.catalog import LocationsCatalog
from ocpi_gateway.store import open_store

CSV_COLUMNS = ("section", "partner", "location_id", "evse_uid", "kind", "currency", "metric",
               "value")
"""One figure a line: every section in one table a spreadsheet can pivot."""


def add_subcommands(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="no-show rate, utilisation, acceptance and revenue over a window")
    report.add_argument("--from", dest="start", required=True,
                        help="the window's start, ISO 8601 (UTC when no offset is given)")
    report.add_argument("--to", dest="end", required=True, help="the window's end (exclusive)")
    report.add_argument("--site", help="one location id")
    report.add_argument("--partner", help="one eMSP, e.g. DE-ABC")
    report.add_argument("--format", choices=("csv", "json"), default="json")
    report.set_defaults(func=report_command)


def _aware(raw: str) -> datetime:
    moment = datetime.fromisoformat(raw)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _report(args: argparse.Namespace, query: ReportQuery) -> Report:
    settings = load_settings(args.config)
    evses = None
    if settings.locations_file is not None:
        catalog = LocationsCatalog.from_file(settings.locations_file)
        evses = {loc.id: [e.uid for e in loc.evses] for loc in catalog.locations()}
    store = await open_store(settings.store_url)
    try:
        return await build_report(store, query, now=datetime.now(UTC), evses=evses)
    finally:
        await store.close()


def report_command(args: argparse.Namespace) -> int:
    try:
        query = ReportQuery.model_validate({
            "from": _aware(args.start), "to": _aware(args.end), "site": args.site,
            "partner": args.partner})
    except (ValueError, ValidationError) as exc:
        print(f"report: {_plain(exc)}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_report(args, query))
    except ConfigError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(as_csv(report) if args.format == "csv" else as_json(report))
    return 0


def _plain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}"
                         for e in exc.errors())
    return str(exc)


def as_json(report: Report) -> str:
    return orjson.dumps(report.model_dump(mode="json", by_alias=True),
                        option=orjson.OPT_INDENT_2).decode() + "\n"


def csv_rows(report: Report) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(section: str, metrics: dict[str, Any], **where: Any) -> None:
        for metric, value in metrics.items():
            rows.append({"section": section, "metric": metric,
                         "value": "" if value is None else value, **where})

    for n in report.no_shows:
        add("no_shows", n.model_dump(exclude={"partner"}), partner=n.partner)
    for u in report.utilisation:
        add("utilisation", u.model_dump(exclude={"location_id", "evse_uid"}),
            location_id=u.location_id, evse_uid=u.evse_uid or "")
    for a in report.acceptance:
        add("acceptance", a.model_dump(exclude={"partner", "kind", "refusals"}),
            partner=a.partner, kind=a.kind)
        for refusal in a.refusals:
            add("refusals", {refusal.reason: refusal.count}, partner=a.partner, kind=a.kind)
    for r in report.revenue:
        add("revenue", r.model_dump(exclude={"partner", "currency"}), partner=r.partner,
            currency=r.currency)
    return rows


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    return out.getvalue()

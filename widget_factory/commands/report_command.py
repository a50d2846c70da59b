"""``widget-factory report``: the walkthrough's performance analytics from the warehouse."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from widget_factory.errors import UsageError
from widget_factory.options import config_option

ORDER = 75

__all__ = ["register", "run_report"]


def run_report(args: argparse.Namespace) -> int:
    from widget_factory.factory_config import load_config
    from widget_factory.warehouse.report import EmptyWarehouse, build_report, print_report
    from widget_factory.warehouse.sink import connect

    db = Path(args.db)
    if not db.is_file():
        raise UsageError(
            f"--db {args.db}: no such database; load one with `widget-factory sink --db "
            f"{args.db} --until-idle`"
        )
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    config = load_config(args.config)
    con = connect(db, read_only=True)
    try:
        try:
            report = build_report(con, config)
        except EmptyWarehouse:
            raise UsageError(
                f"{args.db} holds no factory events yet; run the factory, then "
                "`widget-factory sink --until-idle`"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a database that is not ours
            if type(exc).__module__.startswith(("duckdb", "_duckdb")):
                raise UsageError(f"{args.db}: not a widget-factory warehouse ({exc})") from None
            raise
        print_report(report, sys.stdout)
        if out is not None:
            from widget_factory.warehouse.charts import write_charts

            paths = write_charts(con, out, 4 * config.simulation.telemetry_interval_s)
            print("Charts: " + ", ".join(str(p) for p in paths))
    finally:
        con.close()
    return 0


_HELP = (
    "assembly times, machine efficiency (OEE), pass rates, orders and stock from the "
    "warehouse, as tables and PNG charts"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("report", _HELP, run_report)
    parser.add_argument(
        "--db", default="factory.duckdb", metavar="FILE", help="the DuckDB database the sink loaded"
    )
    parser.add_argument("--out", metavar="DIR", help="also write PNG charts into this folder")
    config_option(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")

"""``tuanchain index [--from-scratch] [--once]``: run the indexer from the command line.

SIGINT, SIGTERM and SIGHUP stop it between two block ranges (each range is one database
transaction, so nothing is half-written) and it exits 0 (:mod:`chain.shutdown`).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from chain.errors import ChainError
from chain.shutdown import stop_signals
from traceability.errors import TraceabilityError

logger = logging.getLogger(__name__)


def index(
    from_scratch: Annotated[
        bool, typer.Option("--from-scratch", help="Delete every indexed row and index again.")
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="Catch up to the head once, then exit.")
    ] = False,
    poll: Annotated[float, typer.Option(help="Seconds between passes when following.")] = 1.0,
) -> None:
    """Index the registry and escrow logs into the database (SQLite or PostgreSQL)."""
    from api.db.migrate import DatabaseSchemaError
    from api.indexer.runner import make_indexer, run_loop
    from api.services import build_services

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with stop_signals() as stop:
        try:
            services = build_services()
            indexer = make_indexer(services)
            if from_scratch:
                result = indexer.rebuild(stop=stop.event)
            else:
                result = indexer.sync_until_idle(stop=stop.event)
            typer.echo(
                f"indexed up to block {result.to_block} (head {result.head}); "
                f"{result.logs} logs, {result.rows} rows this pass"
            )
            if not once:
                run_loop(services, stop.event, poll)
        except (
            ChainError,
            TraceabilityError,
            SQLAlchemyError,
            ValidationError,
            OSError,
            DatabaseSchemaError,
        ) as exc:
            # The node, the store, the database or the settings are wrong: one line, exit 1.
            typer.echo(f"error: {type(exc).__name__}: {exc}".splitlines()[0], err=True)
            raise typer.Exit(1) from exc
    if stop.requested:
        typer.echo(f"stopped cleanly ({stop.signal_name})")


def register(app: typer.Typer) -> None:
    app.command("index")(index)

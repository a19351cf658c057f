"""``tuanchain keeper [--dry-run] [--once]``: settle due deals and push payouts from the terminal.

SIGINT, SIGTERM and SIGHUP stop it after the transaction in hand (never between sending one and
seeing its receipt) and it exits 0 (:mod:`chain.shutdown`).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from chain.shutdown import stop_signals

logger = logging.getLogger(__name__)


def keeper_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would be done, send nothing")
    ] = False,
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes")] = 5.0,
    deal: Annotated[list[int] | None, typer.Option(help="only this deal (repeatable)")] = None,
) -> None:
    """Settle deals that are due and push every payout owed (the service runs this too)."""
    from api.keeper import Keeper
    from api.serve import _fail, _startup_errors
    from api.services import build_services

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with stop_signals() as stop:
        try:
            services = build_services()
            keeper = Keeper(services.chain, deal_ids=set(deal) if deal else None)
            if not (once or dry_run):
                typer.echo(f"keeper running every {interval:g} s; Ctrl-C stops it")
            while not stop.requested:
                services.check_chain()  # the node changed under us: one line, exit 1
                report = keeper.run_once(dry_run=dry_run, stop=stop.event)
                if dry_run:
                    for action in report.planned:
                        typer.echo(f"would {action.describe()}")
                    if not report.planned:
                        typer.echo("nothing is due")
                else:
                    for action in report.done:
                        typer.echo(f"done: {action.describe()}")
                    for action, why in report.skipped:
                        typer.echo(f"skipped: {action.describe()} ({why})")
                if once or dry_run:
                    return
                stop.event.wait(interval)
        except _startup_errors() as exc:  # the node, the database, or the store's settings
            raise _fail(exc) from None
    typer.echo(f"stopped cleanly ({stop.signal_name})")


def register(app: typer.Typer) -> None:
    app.command("keeper")(keeper_command)

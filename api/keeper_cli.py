"""``tuanchain keeper [--dry-run] [--once]``: settle due deals and push payouts from the terminal."""

from __future__ import annotations

import logging
import time
from typing import Annotated

import typer

from chain.errors import ChainError

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
    from api.services import build_services

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        keeper = Keeper(build_services().chain, deal_ids=set(deal) if deal else None)
        while True:
            report = keeper.run_once(dry_run=dry_run)
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
            time.sleep(interval)
    except ChainError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    app.command("keeper")(keeper_command)

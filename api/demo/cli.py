"""``tuanchain seed``: the demo community on a local chain (``run`` seeds it too)."""

from __future__ import annotations

import typer

from api.serve import _configure_logging, _fail, _startup_errors


def seed() -> None:
    """Seed the demo community (idempotent; local chains only)."""
    from api.demo.seed import SeedError
    from api.demo.seed import seed as run_seed
    from api.services import build_services

    _configure_logging()
    try:
        report = run_seed(build_services())
    except (*_startup_errors(), SeedError) as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"seeded: {report.transactions} transactions, {report.time_jumps} time jumps; "
        f"deals {report.deals}; batches {report.batches}"
    )
    for step in report.waiting:
        typer.echo(f"waiting: {step}")


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)

"""The ``tuanchain`` command: one typer app composed from each package's commands.

Each package owns its verbs (``chain.cli``, ``traceability.cli``, ``api.cli``) and exposes
``register(app)``; a package whose CLI does not exist yet is skipped, so the command always starts.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="tuanchain",
    help="Community group buying with on-chain settlement and verifiable provenance.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """tuanchain: group-buy escrow, EPCIS provenance in IPFS anchored on chain, and its service."""


@app.command()
def version() -> None:
    """Print tuanchain's version."""
    from importlib.metadata import version as _version

    typer.echo(_version("tuanchain"))


for _module in ("chain.cli", "traceability.cli", "api.cli"):
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as exc:
        if exc.name != _module:
            raise

if __name__ == "__main__":
    app()

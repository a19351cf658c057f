"""The service's CLI verbs, each owned by its module: ``db`` (api.db.cli), ``index``
(api.indexer.cli), ``keeper`` (api.keeper.cli), ``serve`` / ``run`` (api.serve), ``seed``
(api.demo.cli), ``supplier`` (api.supplier.cli).
Missing modules are skipped."""

from __future__ import annotations

import importlib

import typer


def register(app: typer.Typer) -> None:
    for name in (
        "api.db.cli",
        "api.indexer.cli",
        "api.keeper.cli",
        "api.serve",
        "api.demo.cli",
        "api.supplier.cli",
    ):
        try:
            importlib.import_module(name).register(app)
        except ModuleNotFoundError as exc:
            if exc.name != name and not name.startswith(exc.name or "\0"):
                raise

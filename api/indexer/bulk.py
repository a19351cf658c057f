"""Bulk inserts of the indexer's rows: ``COPY`` on PostgreSQL, one prepared statement run by
``executemany`` on SQLite, the columns' own bind processors applied once per value.

Why not ``session.execute(insert(table), rows)``: SQLAlchemy then builds and processes the
parameters of every row in Python (``construct_params``, a quarter of the indexer's time on
SQLite), and psycopg sends an INSERT per row (in a pipeline, but one parse, bind and execute
each on the server: most of the time on PostgreSQL; issue 15). The values stored are the same:
each column's bind processor (JSON text, SQLite's datetime text, …) is the one SQLAlchemy would
apply, and columns left out take their scalar defaults. Any other dialect, or a table with a
default computed in Python, goes through SQLAlchemy as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Table, insert
from sqlalchemy.orm import Session


def _scalar_defaults(table: Table, given: Sequence[str]) -> dict[str, Any] | None:
    """Defaults of the columns left out; None when one of them is not a plain value."""
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name in given or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        defaults[column.name] = column.default.arg  # type: ignore[attr-defined]
    return defaults


def _processor(column: Column[Any], dialect: Any) -> Callable[[Any], Any] | None:
    return column.type._cached_bind_processor(dialect)  # the one SQLAlchemy applies


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    given = list(rows[0])
    defaults = _scalar_defaults(table, given)
    if defaults is None or dialect.name not in ("sqlite", "postgresql"):
        session.execute(insert(table), rows)
        return
    names = given + list(defaults)
    processors = [_processor(table.columns[name], dialect) for name in names]
    extra = tuple(defaults.values())
    values = [tuple(row[name] for name in given) + extra for row in rows]
    if any(processors):
        values = [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in values
        ]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    target = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY {target} ({quoted}) FROM STDIN") as copy,
        ):
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in names)
    connection.exec_driver_sql(f"INSERT INTO {target} ({quoted}) VALUES ({marks})", values)

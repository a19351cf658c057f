"""Alembic's entry point: migrate the connection :mod:`api.db.migrate` hands over.

The caller opened the transaction and holds the migration lock (see ``locked_connection``), so
Alembic runs every pending revision inside it and the caller commits. Run migrations with
``tuanchain db upgrade`` (or any service start), not with the bare ``alembic`` command.
"""

from __future__ import annotations

from alembic import context

from api.db.migrate import target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tuanchain db upgrade` (api.db.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    compare_type=True,
    # SQLite alters a table by copying it: revisions use op.batch_alter_table.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()

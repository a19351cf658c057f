"""Chain logs → SQL tables: :class:`api.indexer.core.Indexer`, its background runner and CLI."""

from api.indexer.changes import off_index_change, on_index_change
from api.indexer.core import Indexer, SyncResult

__all__ = ["Indexer", "SyncResult", "off_index_change", "on_index_change"]

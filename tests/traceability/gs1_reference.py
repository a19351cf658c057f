"""GS1's reference event hash generator (PyPI ``epcis-event-hash-generator`` 1.9.3), in process.

The generator keeps state between calls (a module-level namespace table, the join string), so
each call starts from a clean table: every document is hashed as by a fresh
``python -m epcis_event_hash_generator FILE``. It drops an event it cannot read (and logs an
error) instead of raising; :func:`reference_prehashes` turns that into ``GeneratorFailed`` so a
test never compares two lists of different meaning.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from epcis_event_hash_generator import hash_generator, json_to_py


class GeneratorFailed(Exception):
    """The generator raised on the document, or dropped one of its events."""


def _event_count(document: Mapping[str, Any]) -> int:
    body = document["epcisBody"]
    return len(body["eventList"]) if "eventList" in body else 1


def reference_prehashes(document: Mapping[str, Any]) -> list[str]:
    """The generator's pre-hash string of every event of ``document``."""
    json_to_py._namespaces.clear()
    logging.getLogger().disabled = True  # it logs its failures through the root logger
    try:
        events = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(dict(document)))
        prehashes = hash_generator.derive_prehashes_from_events(events)
    except Exception as exc:
        raise GeneratorFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        logging.getLogger().disabled = False
    if len(prehashes) != _event_count(document):
        raise GeneratorFailed("the generator dropped an event it could not read")
    return prehashes


def reference_hash_ids(document: Mapping[str, Any]) -> list[str]:
    """The generator's ``ni:///sha-256;…?ver=CBV2.0`` hash ID of every event of ``document``."""
    return hash_generator.calculate_hashes_from_pre_hashes(reference_prehashes(document))

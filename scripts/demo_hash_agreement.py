"""How many of the demo's anchored events GS1's reference generator reproduces.

Seeds the demo community on a fresh anvil (its own port, a temporary data directory), then, for
every event the chain anchors for the three demo batches (single anchors, receipts and Merkle
leaves, found by ``tuanchain verify``'s reader from the chain's logs), runs GS1's reference
generator (``epcis-event-hash-generator``, a test dependency) on the stored document and counts
the anchored hashes it reproduces. Prints one JSON object.

    .venv/bin/python scripts/demo_hash_agreement.py

Run on a checkout of the code before issue 9 it gives the "before" figure (the script only
uses interfaces that existed then).
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import tempfile
from pathlib import Path

from epcis_event_hash_generator import hash_generator, json_to_py


def generator_hash_ids(document: dict) -> list[str]:
    """The generator's hash IDs of a document, as a fresh ``python -m`` run would give them."""
    json_to_py._namespaces.clear()
    events = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(document))
    return hash_generator.epcis_hashes_from_events(events)


def main() -> None:
    logging.disable(logging.CRITICAL)
    from api.demo import catalog
    from api.demo.seed import seed
    from api.services import Services, make_engine
    from chain.anvil import Anvil
    from chain.context import connect
    from chain.settings import Settings
    from traceability.ipfs import EmbeddedDocumentStore
    from traceability.verify import verify_batch

    with tempfile.TemporaryDirectory() as tmp, Anvil() as node:
        base = Path(tmp)
        settings = Settings(
            rpc_url=node.rpc_url,
            chain_id=node.chain_id,
            data_dir=base / "data",
            deployments_dir=base / "deployments",
            database_url="sqlite:///" + str(base / "index.db"),
        )
        store = EmbeddedDocumentStore(settings.data_dir / "ipfs")
        chain = connect(settings, deploy=True)
        services = Services(
            settings=settings, store=store, engine=make_engine(settings.database_url), _chain=chain
        )
        seed(services)
        anchored = reproduced = 0
        per_kind: dict[str, list[int]] = {}
        for product in catalog.PRODUCTS:
            report = verify_batch(chain.clients, store, product.gtin14, product.lot)
            for item in report.items:
                if item.kind.value not in ("event", "receipt", "merkle-leaf"):
                    continue
                document = json.loads(store.get(item.document_cid))
                hit = f"{(item.event_hash or '')[2:]}?ver=" in "".join(generator_hash_ids(document))
                anchored += 1
                reproduced += hit
                counts = per_kind.setdefault(item.kind.value, [0, 0])
                counts[0] += 1
                counts[1] += hit
    try:
        from traceability.epcis.hashing import HASH_RULES_VERSION as rules
    except ImportError:
        rules = 1
    print(
        json.dumps(
            {
                "hash_rules_version": rules,
                "anchored_events": anchored,
                "reproduced_by_generator": reproduced,
                "by_kind": {k: {"anchored": a, "reproduced": r} for k, (a, r) in per_kind.items()},
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())

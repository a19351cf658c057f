"""The database bound to one chain: what it indexes and relays belongs to that chain alone.

One row (``chain_binding``) records the chain the database serves — its
:class:`~chain.identity.ChainIdentity` (chain id, genesis hash, our contracts' addresses and code
hashes) — and the formats its index was written in: :data:`INDEX_FORMAT_VERSION` (bumped when what
the indexer writes changes meaning) and the EPCIS event-hash rules
(:data:`traceability.epcis.hashing.HASH_RULES_VERSION`: the index's verification of each anchor
recomputes hashes). :func:`bind` runs before anything uses the chain (``Services.chain``). When the
node serves another chain than the recorded one — a local chain started afresh, a testnet that was
reset, an RPC URL pointed elsewhere — or the formats changed, each table gets what it needs:

========================  ==============  ====================================================
table                     from the chain?  on another chain
========================  ==============  ====================================================
the index (raw_logs ...,   rebuildable     emptied, and indexed again from the new deployment
indexed_blocks,                            (the indexer state keeps its ``version`` growing, so
indexer_state)                             no reader's cache mistakes new rows for old)
relay_requests (outbox)   no: signed       kept; every request not yet mined that was accepted
                          requests         for another chain is *failed* (``chain_changed``,
                                           readable at ``GET /v1/relay/{id}``): never sent to
                                           this one, where the same chain id and addresses
                                           could make its signature valid
user_operations           no: signed       the same as relay requests (``chain_changed``,
(bundler outbox)          operations       ``eth_getUserOperationByHash`` and
                                           ``GET /v1/bundler/ops/{hash}`` say so)
document_uploads          no               kept: their signatures stay spent; nothing of an
                                           upload is sent to a chain (a document an action
                                           anchors goes with its request, failed above)
relay_batches             no: signed       kept; a batch of requests failed above is deleted
(the relayer's            transactions     with them (never broadcast to this chain)
batch transactions)
relay_locks               no (lock rows)   kept
auth_nonces,              no               kept: a Sign-In with Ethereum message names its
auth_sessions                              chain id, checked when the session is opened
private_documents,        no               kept: personal data and who read it; only their
private_document_reads,                    digests are ever anchored (and the bytes the
private_pool                               unvouched ones hold together)
webhook_endpoints,        no               kept: operators' gateways; the outbox's rows name
webhook_deliveries                         notices by stable ids, delivered ones stay
                                           delivered (a rebuilt index yields the same ids);
                                           the endpoints' cursors are cleared (they named
                                           blocks of the old index)
notice_contacts           no               kept: personal data given with consent
rate_limits               no               kept: clients' buckets, about requests, not chains
chain_binding             —                rewritten
========================  ==============  ====================================================

Never a crash, never a mix: the old chain's rows are gone before the first new one is written,
in the same transaction that records the new binding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Engine,
    Integer,
    String,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.auth.models import AuthNonce, AuthSession
from api.bundler.models import UserOperationRow
from api.db import ensure_db, session_factory
from api.db import models as m
from api.db.rate_limits import RateLimitBucket
from api.private.models import PrivateDocument, PrivateDocumentRead, PrivatePool
from api.relayer.models import (
    PENDING_VALUES,
    DocumentUpload,
    RelayBatch,
    RelayLock,
    RelayRequest,
    RelayStatus,
)
from api.webhooks.models import NoticeContact, WebhookDelivery, WebhookEndpoint
from chain.context import Chain
from chain.identity import ChainIdentity
from traceability.epcis.hashing import HASH_RULES_VERSION

logger = logging.getLogger(__name__)

# Bump when the index's rows change meaning (a column's content, a derived status): every index
# written before is then rebuilt from the chain on the next start.
INDEX_FORMAT_VERSION = 1
BINDING_NAME = "main"
CHAIN_CHANGED = "chain_changed"


class ChainBinding(m.Base):
    """The chain this database serves, and the formats its index was written in (one row)."""

    __tablename__ = "chain_binding"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    chain_key: Mapped[str] = mapped_column(String(66))
    chain_id: Mapped[int] = mapped_column(BigInteger)
    genesis_hash: Mapped[str] = mapped_column(String(66))
    contracts: Mapped[dict[str, Any]] = mapped_column(JSON)  # {name: {address, codeHash}}
    index_format: Mapped[int] = mapped_column(Integer)
    hash_rules: Mapped[int] = mapped_column(Integer)
    bound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def identity_text(self) -> str:
        return f"chain {self.chain_id} with genesis {self.genesis_hash}"


# Every table, by what a chain change does to it (tests/api/test_binding.py checks all are here).
REBUILDABLE_TABLES: tuple[type[m.Base], ...] = (*m.LOG_TABLES, m.IndexedBlock, m.IndexerState)
KEPT_TABLES: tuple[type[m.Base], ...] = (
    RelayRequest,
    RelayBatch,
    UserOperationRow,
    DocumentUpload,
    RelayLock,
    ChainBinding,
    AuthNonce,
    AuthSession,
    PrivateDocument,
    PrivateDocumentRead,
    PrivatePool,
    WebhookEndpoint,
    WebhookDelivery,
    NoticeContact,
    RateLimitBucket,
)


@dataclass(frozen=True)
class Rebinding:
    """What :func:`bind` changed (None from it: nothing)."""

    reason: str
    index_cleared: bool
    requests_failed: int


def bind(engine: Engine, chain: Chain) -> Rebinding | None:
    """Record that the database serves ``chain`` (or already does); see the module docstring."""
    try:
        return _bind(engine, chain)
    except IntegrityError:
        # Another process recorded the first binding at the same moment: its row decides now.
        return _bind(engine, chain)


def _bind(engine: Engine, chain: Chain) -> Rebinding | None:
    ensure_db(engine)  # (a command such as the keeper's may be the database's first user)
    identity = chain.identity
    sessions = session_factory(engine)
    with sessions.begin() as session:
        row = session.get(ChainBinding, BINDING_NAME, with_for_update=True)
        if row is None:
            change = _first_binding(session, chain)
        elif row.chain_key != identity.key:
            reason = (
                f"the database served {row.identity_text()}; the node at "
                f"{chain.settings.rpc_url} serves {identity.describe()}"
            )
            failed = fail_requests(
                session,
                keep_key=identity.key,
                message=(
                    f"accepted for {row.identity_text()}, but the node now serves "
                    f"{identity.describe()} (the chain was reset, or the RPC URL points at "
                    "another chain): it is never sent there; sign it again"
                ),
                args={"accepted_on": _public(row), "node": identity.to_json()},
            )
            _clear_index(session, chain)
            change = Rebinding(reason, True, failed)
        elif (row.index_format, row.hash_rules) != (INDEX_FORMAT_VERSION, HASH_RULES_VERSION):
            reason = (
                f"the index was written in format {row.index_format} under EPCIS hash rules "
                f"{row.hash_rules}; this code writes format {INDEX_FORMAT_VERSION} under rules "
                f"{HASH_RULES_VERSION}"
            )
            _clear_index(session, chain)
            change = Rebinding(reason, True, 0)
        else:
            return None
        _record(session, row, identity)
    logger.log(
        logging.WARNING if change.index_cleared or change.requests_failed else logging.INFO,
        "database bound to %s: %s%s%s",
        identity.describe(),
        change.reason,
        "; the index is rebuilt from the chain" if change.index_cleared else "",
        f"; {change.requests_failed} relay request(s) failed ({CHAIN_CHANGED})"
        if change.requests_failed
        else "",
    )
    # Here, not at the top: importing api.indexer runs its __init__, which imports core, which
    # imports this module.
    from api.indexer.changes import notify_index_change

    notify_index_change()
    return change


def fail_requests(
    session: Session,
    *,
    message: str,
    args: dict[str, Any],
    keep_key: str | None = None,
    only_key: str | None = None,
) -> int:
    """Fail the requests not yet mined that were accepted for another chain than ``keep_key``'s
    (or, with ``only_key``, for that chain: the relay worker's case, when the node changes under
    a running service and the new chain is not known yet). Untagged rows count as another chain.
    """
    pending = list(PENDING_VALUES)
    failed = 0
    # Relay requests and the bundler's user operations alike: both are signed for one chain.
    for table in (RelayRequest, UserOperationRow):
        query = select(table).where(table.status.in_(pending))
        if keep_key is not None:
            query = query.where(or_(table.chain_key.is_(None), table.chain_key != keep_key))
        if only_key is not None:
            query = query.where(or_(table.chain_key.is_(None), table.chain_key == only_key))
        rows = session.scalars(query).all()
        for row in rows:
            row.status = RelayStatus.FAILED.value
            row.error_code = CHAIN_CHANGED
            row.error_message = message
            row.error_args = args
            row.raw_tx = None  # signed for the old chain: never to be broadcast
            logger.info("%s %s failed: %s", table.__tablename__, row.id, message)
        failed += len(rows)
        if table is RelayRequest:  # their batches' bytes (relay_batches): never broadcast either
            hashes = {row.tx_hash for row in rows if row.tx_hash}
            if hashes:  # with every other fee of those batches (api.relayer.replace)
                hashes |= set(
                    session.scalars(
                        select(RelayBatch.series).where(
                            RelayBatch.tx_hash.in_(hashes), RelayBatch.series.is_not(None)
                        )
                    )
                )
                session.execute(
                    delete(RelayBatch).where(
                        or_(RelayBatch.tx_hash.in_(hashes), RelayBatch.series.in_(hashes))
                    )
                )
    return failed


def _first_binding(session: Session, chain: Chain) -> Rebinding:
    """A database without a binding: new, or written by code that did not record one.

    Its index is rebuilt (it may be of any chain). Requests waiting in its outbox (accepted by the
    older code, untagged) are kept only when signed for this deployment's forwarder and chain id
    and the old index proves the database followed this chain (its last indexed block is the
    node's block at that height); the others are failed.
    """
    identity = chain.identity
    untagged = session.scalars(
        select(RelayRequest).where(
            RelayRequest.status.in_(PENDING_VALUES),
            RelayRequest.chain_key.is_(None),
        )
    ).all()
    had_index = session.scalar(select(m.IndexerState.name).limit(1)) is not None
    failed = 0
    if untagged:
        follows = _index_follows(session, chain)
        for request in untagged:
            if follows and _signed_for(request, chain):
                request.chain_key = identity.key
        failed = fail_requests(  # the others (still untagged)
            session,
            keep_key=identity.key,
            message=(
                "accepted before this service recorded which chain it serves, and nothing "
                f"shows it was {identity.describe()}: it is never sent there; sign it again"
            ),
            args={"node": identity.to_json()},
        )
    if had_index:
        _clear_index(session, chain)
    reason = "no chain recorded yet" + (" (an index written by older code)" if had_index else "")
    return Rebinding(reason, had_index, failed)


def _signed_for(request: RelayRequest, chain: Chain) -> bool:
    """The request's EIP-712 domain names this chain id and this deployment's forwarder."""
    domain = (request.typed_data or {}).get("domain") or {}
    try:
        return (
            int(domain.get("chainId", -1)) == chain.chain_id
            and str(domain.get("verifyingContract", "")).lower()
            == chain.clients.forwarder.address.lower()
        )
    except (TypeError, ValueError):
        return False


def _index_follows(session: Session, chain: Chain) -> bool:
    """True if the stored index's last block is the node's block at that height, same chain id."""
    state = session.get(m.IndexerState, BINDING_NAME)
    if state is None or state.chain_id != chain.chain_id:
        return False
    stored = session.get(m.IndexedBlock, state.last_block)
    if stored is None:
        return False
    block = chain.w3.eth.get_block(state.last_block)
    return block is not None and block["hash"].to_0x_hex() == stored.hash  # type: ignore[union-attr]


def _clear_index(session: Session, chain: Chain) -> None:
    """Delete every row indexed from the chain; the indexer starts again at the deployment.

    The indexer state rows are reset rather than deleted so their ``version`` keeps growing:
    readers cache by version, and a number reused for other rows would serve stale data.
    """
    for table in (*m.LOG_TABLES, m.IndexedBlock):
        session.execute(delete(table))
    # The webhook outbox's cursors named blocks of the old index: look at everything again
    # (notices already queued keep their ids and are not queued twice).
    session.execute(update(WebhookEndpoint).values(scanned_block=None, scanned_time=None))
    start = min(c.block for c in chain.deployment.contracts.values())
    for state in session.scalars(select(m.IndexerState)).all():
        state.chain_id = chain.chain_id
        state.start_block = start
        state.last_block = start - 1
        state.head_block = 0
        state.final_block = 0
        state.head_time = None
        state.version += 1
        state.updated_at = datetime.now(UTC)


def _record(session: Session, row: ChainBinding | None, identity: ChainIdentity) -> None:
    values = {
        "chain_key": identity.key,
        "chain_id": identity.chain_id,
        "genesis_hash": identity.genesis_hash,
        "contracts": identity.to_json()["contracts"],
        "index_format": INDEX_FORMAT_VERSION,
        "hash_rules": HASH_RULES_VERSION,
        "bound_at": datetime.now(UTC),
    }
    if row is None:
        session.add(ChainBinding(name=BINDING_NAME, **values))
    else:
        for name, value in values.items():
            setattr(row, name, value)


def _public(row: ChainBinding) -> dict[str, Any]:
    return {"chainId": row.chain_id, "genesisHash": row.genesis_hash, "contracts": row.contracts}


__all__ = [
    "CHAIN_CHANGED",
    "INDEX_FORMAT_VERSION",
    "KEPT_TABLES",
    "REBUILDABLE_TABLES",
    "ChainBinding",
    "Rebinding",
    "bind",
    "fail_requests",
]

"""Onboarding on the real registry, through the Python client, read back from the index:
apply (public profile + private credentials' digest) → reject with a reason → apply again →
approve → profile update (stays approved) → revoke with a reason."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account
from sqlalchemy.orm import Session

from api.queries import party_status
from api.services import Services
from chain.clients import PartyKind, PartyStatus
from chain.errors import error_class
from traceability.ipfs import format_cid

from .conftest import make_indexer


def _cid(text: str) -> bytes:
    return bytes.fromhex("1220") + hashlib.sha256(text.encode()).digest()


def test_an_application_is_rejected_then_approved_updated_and_revoked(
    services: Services, fresh_engine
) -> None:
    chain = services.chain
    registry, platform = chain.clients.registry, chain.platform
    leader = Account.create()
    chain.sender.send(platform, to=leader.address, value=10**17)
    credentials = hashlib.sha256(b"identity card scan").digest()
    renewed = hashlib.sha256(b"identity card scan, readable").digest()

    registry.apply_as_leader(_cid("profile v1"), credentials, signer=leader)
    with pytest.raises(error_class("UnexpectedPartyStatus")):  # Pending cannot be revoked
        registry.revoke_leader(leader.address, _cid("reason"), signer=platform)
    registry.reject_leader(leader.address, _cid("the scan is unreadable"), signer=platform)
    assert registry.party(PartyKind.LEADER, leader.address).status == PartyStatus.REJECTED

    engine = fresh_engine()
    indexer = make_indexer(engine, services)
    indexer.sync()
    with Session(engine) as session:
        rejected = party_status(session, "leader", leader.address)
    assert rejected == {
        "address": leader.address,
        "status": "rejected",
        "profile_cid": format_cid(_cid("profile v1")),
        "credentials_digest": "0x" + credentials.hex(),
        "reason_cid": format_cid(_cid("the scan is unreadable")),
    }

    registry.apply_as_leader(_cid("profile v1"), renewed, signer=leader)
    registry.approve_leader(leader.address, signer=platform)
    registry.update_profile(PartyKind.LEADER, _cid("profile v2"), signer=leader)
    party = registry.party(PartyKind.LEADER, leader.address)
    assert party.status == PartyStatus.APPROVED and party.credentials_digest == renewed
    assert party.profile_digest == _cid("profile v2")[2:]
    indexer.sync()
    with Session(engine) as session:
        approved = party_status(session, "leader", leader.address)
    assert approved["status"] == "approved" and approved["reason_cid"] is None
    assert approved["profile_cid"] == format_cid(_cid("profile v2"))
    assert approved["credentials_digest"] == "0x" + renewed.hex()

    registry.revoke_leader(leader.address, _cid("no-show at pickups"), signer=platform)
    indexer.sync()
    with Session(engine) as session:
        revoked = party_status(session, "leader", leader.address)
    assert revoked["status"] == "revoked"
    assert revoked["reason_cid"] == format_cid(_cid("no-show at pickups"))

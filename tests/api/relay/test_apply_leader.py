"""``apply_as_leader``: a public pickup-point profile stored, its CID signed, decoded from the
signed call, pinned on acceptance, and the application on chain (pending review)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from api.relayer.worker import RelayWorker
from api.services import Services
from chain.accounts import dev_account
from chain.clients import PartyKind, PartyStatus

from .conftest import prepare, sign


def test_a_leader_applies_with_a_public_profile(
    client: TestClient, services: Services, worker: RelayWorker, chain_snapshot: None
) -> None:
    applicant = dev_account(18)
    body = {
        "from": applicant.address,
        "name": "赵叔",
        "place": "枫林苑北门自提点",
        "street_address": "枫林路 8 号",
        "opening_hours": "08:00–20:00",
        "credentials_digest": "0x" + "ab" * 32,
    }
    bad_gln = client.post(
        "/v1/actions/apply_as_leader/prepare", json={**body, "gln": "6901234000110"}
    )
    assert bad_gln.status_code == 422 and bad_gln.json()["details"]["errors"][0]["loc"] == ["gln"]

    prepared = prepare(client, "apply_as_leader", body)
    cid = prepared["details"]["profile_cid"]
    profile = json.loads(services.store.get(cid))
    assert profile["holder"]["zh"] == "赵叔" and profile["place"]["zh"] == "枫林苑北门自提点"
    assert "phone" not in json.dumps(profile)  # public: no contact details
    accepted = client.post("/v1/relay", json=sign(applicant, prepared))
    assert accepted.status_code == 202, accepted.text
    row = accepted.json()
    assert row["action"] == "apply_as_leader"
    assert row["details"]["profile_cid"] == cid  # decoded from the signed calldata
    assert services.store.is_pinned(cid)
    worker.run_once()
    assert client.get(f"/v1/relay/{row['id']}").json()["status"] == "mined"
    registry = services.chain.clients.registry
    assert registry.party(PartyKind.LEADER, applicant.address).status == PartyStatus.PENDING

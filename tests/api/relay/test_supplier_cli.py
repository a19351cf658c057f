"""``tuanchain supplier …`` against the real app and the session's anvil.

The CLI runs in-process (typer's CliRunner) and reaches the app through the app's own test client
(instead of a socket: no port); the relayer's worker runs in its thread, so relayed calls are
really mined; ``--direct`` sends through anvil's RPC. A new supplier goes from a keystore to an
application, a batch, single and Merkle-anchored events, sensor readings and a recall; then every
kind of bad input ends in one line and exit code 1.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.indexer import Indexer
from api.relayer import worker as relay_worker
from api.services import Services
from api.supplier import cli as supplier_cli
from api.supplier import inputs
from api.supplier.errors import ServiceRefused
from api.supplier.service import Service
from chain.accounts import dev_account
from chain.clients import BatchStatus, ClaimStatus, PartyKind, PartyStatus
from tuanchain_cli import app as root_app

from .conftest import (
    PNG,
    advance_time,
    assign_new_prefix,
    consumer,
    make_deal,
    new_gtin,
    relay,
    upload,
)

# One backend (the CLI's flow through the relayer and the chain): tests/api/conftest.py.
pytestmark = pytest.mark.sqlite_only
ORIGIN = "http://testserver"
PASSWORD = "correct horse battery staple"
GLN = "9506000134352"


@pytest.fixture(scope="module")
def site(services: Services) -> Iterator[TestClient]:
    settings = services.settings.model_copy(update={"public_url": ORIGIN})
    bound = Services(
        settings=settings, store=services.store, engine=services.engine, _chain=services.chain
    )
    stop = relay_worker.start_background(bound)
    try:
        with TestClient(create_app(bound), base_url=ORIGIN) as client:
            yield client
    finally:
        stop()


@pytest.fixture
def run(site: TestClient, services: Services, monkeypatch: pytest.MonkeyPatch):
    """``tuanchain supplier ARGS`` → (exit code, stdout, stderr)."""
    monkeypatch.setattr(supplier_cli, "_http_factory", lambda _base: site)
    monkeypatch.setenv("TUANCHAIN_RPC_URL", services.settings.rpc_url)
    monkeypatch.setenv("TUANCHAIN_CHAIN_ID", str(services.settings.chain_id))
    monkeypatch.setenv("TUANCHAIN_KEYSTORE_PASSWORD", PASSWORD)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(root_app, ["supplier", *args])
        return result.exit_code, result.stdout, result.stderr

    return invoke


def keystore_of(tmp_path: Path, key: bytes, name: str = "key.json") -> Path:
    """A keystore (PBKDF2 with few rounds: fast; the CLI reads any Web3 Secret Storage file)."""
    path = tmp_path / name
    path.write_text(json.dumps(Account.encrypt(key, PASSWORD, kdf="pbkdf2", iterations=1000)))
    return path


def test_a_new_supplier_from_keystore_to_recall(run, services: Services, tmp_path: Path) -> None:
    chain = services.chain
    registry = chain.clients.registry
    keystore = tmp_path / "supplier.json"
    code, out, err = run("keystore-new", str(keystore))
    assert code == 0, err
    address = out.strip()
    assert json.loads(keystore.read_text())["crypto"]["kdf"] == "scrypt"
    chain.sender.send(chain.platform, to=address, value=10**18)  # gas for --direct

    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": {"zh": "绿源农场", "en": "Green Source Farm"}}))
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(b"%PDF-1.7\nbusiness licence " + secrets.token_bytes(256) + b"\n%%EOF")
    code, out, err = run(
        "apply",
        "--profile",
        str(profile),
        "--credentials",
        str(licence),
        "--keystore",
        str(keystore),
    )
    assert code == 0, err
    party = registry.party(PartyKind.SUPPLIER, address)
    assert party.status == PartyStatus.PENDING
    assert party.credentials_digest == hashlib.sha256(licence.read_bytes()).digest()
    registry.approve_supplier(address, signer=chain.platform)
    prefix = assign_new_prefix(chain, address)

    gtin, lot = new_gtin(prefix), "CLI-" + secrets.token_hex(3).upper()
    code, out, err = run("register-batch", gtin, lot, "--keystore", str(keystore))
    assert code == 0, err
    batch_id = registry.compute_batch_id(gtin, lot)
    assert registry.batch_info(batch_id).supplier == address

    code, out, err = run(
        "add-event", gtin, lot, "--keystore", str(keystore), "--kind", "commissioning",
        "--location", GLN, "--quantity", "500", "--origin", "CN",
        "--time", "2026-11-01T08:00:00+08:00",
    )  # fmt: skip
    assert code == 0, err
    (single,) = json.loads(out)
    anchor = registry.anchor_of(batch_id, bytes.fromhex(single["event_hash"][2:]))
    assert anchor.anchored_at_block and anchor.batch_id == batch_id

    readings = tmp_path / "readings.csv"
    readings.write_text(
        "time,device_id,type,value,unit\n"
        "2026-11-01T09:00:00+08:00,T-01,Temperature,3.5,CEL\n"
        "2026-11-01T10:00:00+08:00,T-01,Temperature,9.0,CEL\n"
        "2026-11-01T09:30:00+08:00,urn:dev:t2,Temperature,38.0,FAR\n"
    )
    code, out, err = run(
        "sensors", gtin, lot, str(readings), "--keystore", str(keystore),
        "--location", GLN, "--min", "0", "--max", "4", "--merkle", "--direct",
    )  # fmt: skip
    assert code == 0, err
    assert "1 reading outside" in err
    (rooted,) = json.loads(out)
    root = registry.root_info(address, bytes.fromhex(rooted["root"][2:]))
    assert (root.anchorer, root.leaf_count) == (address, 2)  # one event per device, one tx

    code, out, err = run("recall", gtin, lot, "--keystore", str(keystore), "--reason", "碎玻璃")
    assert code == 0, err
    assert registry.batch_status(batch_id) == BatchStatus.RECALLED


def test_bad_input_is_one_line_and_exit_1(run, services: Services, tmp_path: Path) -> None:
    stranger = keystore_of(tmp_path, Account.create().key)
    gtin = new_gtin()

    def fails(*args: str) -> str:
        code, out, err = run(*args)
        assert code == 1 and out == "", (code, out, err)
        assert err.startswith("error: ") and err.count("\n") == 1, err
        return err

    assert "check digit" in fails(
        "register-batch",
        gtin[:-1] + "0" if gtin[-1] != "0" else gtin[:-1] + "1",
        "L1",
        "--keystore",
        str(stranger),
    )
    assert "lot" in fails("register-batch", gtin, "bad lot\t", "--keystore", str(stranger))
    # The EAN-13 on the barcode: the 14 digits to write instead are named.
    assert f"written with leading zeros: {gtin}" in fails(
        "register-batch", gtin[1:], "L1", "--keystore", str(stranger)
    )
    assert "no keystore" in fails(
        "register-batch", gtin, "L1", "--keystore", str(tmp_path / "missing.json")
    )
    # A refused call: the stranger is no approved supplier (the contract's error, named).
    assert "NotApprovedSupplier" in fails("register-batch", gtin, "L1", "--keystore", str(stranger))

    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(
        "time,device_id,type,value,unit\n2026-11-01T09:00:00+08:00,t1,Temperature,warm,CEL\n"
    )
    err = fails(
        "sensors",
        gtin,
        "L1",
        str(csv_file),
        "--keystore",
        str(stranger),
        "--location",
        GLN,
        "--min",
        "0",
        "--max",
        "4",
    )
    assert "bad.csv:2" in err and "'warm'" in err
    csv_file.write_text("time,device_id,type,value,unit\n2026-11-01 09:00,t1,Temperature,3,CEL\n")
    assert "zone offset" in fails(
        "sensors",
        gtin,
        "L1",
        str(csv_file),
        "--keystore",
        str(stranger),
        "--location",
        GLN,
        "--min",
        "0",
        "--max",
        "4",
    )
    epcis = tmp_path / "event.json"
    epcis.write_text('{"type": "ObjectEvent"}')
    assert "event.json" in fails(
        "add-event", gtin, "L1", "--file", str(epcis), "--keystore", str(stranger)
    )
    assert "exactly one of" in fails("add-event", gtin, "L1", "--keystore", str(stranger))


def test_keystore_errors(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.create()
    keystore = keystore_of(tmp_path, account.key)
    monkeypatch.setenv("TUANCHAIN_KEYSTORE_PASSWORD", "wrong")
    code, _, err = run("register-batch", new_gtin(), "L1", "--keystore", str(keystore))
    assert code == 1 and err == f"error: wrong password for keystore {keystore}\n"

    monkeypatch.setenv("TUANCHAIN_KEYSTORE_PASSWORD", PASSWORD)
    not_a_keystore = tmp_path / "plain.json"
    not_a_keystore.write_text(json.dumps({"address": account.address}))
    code, _, err = run("register-batch", new_gtin(), "L1", "--keystore", str(not_a_keystore))
    assert code == 1 and "not an encrypted JSON keystore" in err

    # anvil's public keys: fine on the local chain, refused on any other.
    dev = keystore_of(tmp_path, dev_account(5).key, "dev.json")
    monkeypatch.setenv("TUANCHAIN_RPC_URL", "https://rpc.example.org")
    monkeypatch.setenv("TUANCHAIN_CHAIN_ID", "8453")
    code, _, err = run("register-batch", new_gtin(), "L1", "--keystore", str(dev))
    assert code == 1 and "development keys" in err and "8453" in err

    existing = tmp_path / "exists.json"
    existing.write_text("{}")
    code, _, err = run("keystore-new", str(existing))
    assert code == 1 and "refusing to overwrite" in err


def _mined(client: TestClient, accepted: dict) -> None:
    """Until the background worker has mined the relayed request (a bound, not a timing)."""
    for _ in range(600):
        status = client.get(f"/v1/relay/{accepted['id']}").json()
        if status["status"] in ("mined", "failed"):
            assert status["status"] == "mined", status
            return
        time.sleep(0.1)
    pytest.fail(f"relay request {accepted['id']} was not mined")


def test_a_supplier_authorizes_a_carrier_and_answers_a_claim(
    run, site: TestClient, services: Services, tmp_path: Path, chain_snapshot: None
) -> None:
    # chain_snapshot: the clock moves an hour on below; other modules share this chain.
    chain = services.chain
    registry, escrow = chain.clients.registry, chain.clients.escrow
    deal = make_deal(chain, min_quantity=1)
    keystore = keystore_of(tmp_path, deal.supplier.key)

    carrier = Account.create().address
    code, _, err = run("writer", deal.gtin14, deal.lot, carrier, "--keystore", str(keystore))
    assert code == 0, err
    assert registry.is_batch_writer(deal.batch_id, carrier)
    code, _, err = run(
        "writer", deal.gtin14, deal.lot, carrier, "--remove", "--keystore", str(keystore)
    )
    assert code == 0, err
    assert not registry.is_batch_writer(deal.batch_id, carrier)

    buyer = consumer(chain)
    join = {"deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address}
    _mined(site, relay(site, buyer, "join", join))
    advance_time(chain, 3601)  # past the join deadline: the deal succeeded
    receipt = {"deal_id": deal.deal_id, "gtin14": deal.gtin14, "lot": deal.lot, "pickup_point": GLN}
    _mined(site, relay(site, deal.leader, "confirm_receipt", receipt))
    evidence = upload(site, buyer, PNG + secrets.token_bytes(8), deal_id=deal.deal_id).json()["cid"]
    claim = {"deal_id": deal.deal_id, "quantity": 1, "evidence_cid": evidence}
    _mined(site, relay(site, buyer, "file_claim", claim))

    code, _, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--accept", "--keystore", str(keystore)
    )
    assert code == 0, err
    assert escrow.order(deal.deal_id, buyer.address).upheld_quantity == 1
    # Answered once: a second answer is refused by the contract, named, exit 1.
    code, out, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--reject", "--keystore", str(keystore)
    )
    assert code == 1 and out == "" and err.startswith("error: ") and err.count("\n") == 1


def _with_claim(site: TestClient, services: Services) -> tuple[Any, Any]:
    """A deal past its join deadline, received by its leader, with one buyer's claim filed."""
    chain = services.chain
    deal = make_deal(chain, min_quantity=1)
    buyer = consumer(chain)
    join = {"deal_id": deal.deal_id, "quantity": 2, "leader": deal.leader.address}
    _mined(site, relay(site, buyer, "join", join))
    advance_time(chain, 3601)
    receipt = {"deal_id": deal.deal_id, "gtin14": deal.gtin14, "lot": deal.lot, "pickup_point": GLN}
    _mined(site, relay(site, deal.leader, "confirm_receipt", receipt))
    evidence = upload(site, buyer, PNG + secrets.token_bytes(8), deal_id=deal.deal_id).json()["cid"]
    claim = {"deal_id": deal.deal_id, "quantity": 1, "evidence_cid": evidence}
    _mined(site, relay(site, buyer, "file_claim", claim))
    return deal, buyer


def test_a_supplier_rejects_a_claim_and_the_platform_decides(
    run, site: TestClient, services: Services, tmp_path: Path, chain_snapshot: None
) -> None:
    deal, buyer = _with_claim(site, services)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    code, _, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--reject", "--keystore", str(keystore)
    )
    assert code == 0, err
    # Progress is one line a step, however long (a log's reader greps it: no wrap at 80).
    [done] = err.splitlines()
    assert done.startswith(f"✓ reject claim of {buyer.address} in deal {deal.deal_id} (tx 0x")
    escrow = services.chain.clients.escrow
    assert escrow.claim(deal.deal_id, buyer.address).status == ClaimStatus.REJECTED
    # Sent again (a script not sure the first went through): skipped and said so; accepting it
    # now is a refusal in words.
    code, out, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--reject", "--keystore", str(keystore)
    )
    assert code == 0 and "already rejected, skipped" in err, err
    assert json.loads(out) == {
        "deal_id": deal.deal_id,
        "buyer": buyer.address,
        "skipped": "already rejected",
    }
    code, out, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--accept", "--keystore", str(keystore)
    )
    assert (code, out) == (1, "") and err.count("\n") == 1
    assert err.startswith("error: claim_not_awaiting_answer: This claim has already been answered.")


def test_a_supplier_lists_the_claims_waiting_for_an_answer(
    run, site: TestClient, services: Services, tmp_path: Path, chain_snapshot: None
) -> None:
    """``claims``: what the page's claims section lists, from the command line (nothing signed:
    the keystore only names the account); answered, the claim leaves the list."""
    deal, buyer = _with_claim(site, services)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    index = Indexer(engine=services.engine, chain=services.chain, store=services.store)
    index.sync_until_idle()
    # The keystore's clear address names the account: no password asked for a read.
    code, out, err = run("claims", "--keystore", str(keystore), "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert listed["supplier"] == deal.supplier.address and listed["waiting"] == 1
    assert set(listed) == {"supplier", "waiting", "claims", "next_before"}  # as with --all
    assert listed["next_before"] is None
    [claim] = listed["claims"]
    assert (claim["deal_id"], claim["buyer"], claim["quantity"]) == (
        deal.deal_id,
        buyer.address,
        1,
    )
    assert claim["status"] == "filed" and claim["waiting"] and claim["answer_deadline"]
    code, out, err = run("claims", "--supplier", deal.supplier.address.lower())
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"1 claim(s) of {deal.supplier.address} waiting")
    assert f"deal {deal.deal_id}  buyer {buyer.address}  1 unit(s)  answer by " in out

    code, _, err = run(
        "answer-claim", str(deal.deal_id), buyer.address, "--reject", "--keystore", str(keystore)
    )
    assert code == 0, err
    index.sync_until_idle()
    code, out, err = run("claims", "--supplier", deal.supplier.address, "--json")
    assert code == 0, err
    assert json.loads(out)["claims"] == [] and json.loads(out)["waiting"] == 0
    # --all: the answered one too, in its state.
    code, out, err = run("claims", "--supplier", deal.supplier.address, "--all", "--json")
    assert code == 0, err
    [claim] = json.loads(out)["claims"]
    assert claim["status"] == "rejected" and not claim["waiting"]
    assert json.loads(out)["next_before"] is None


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "error: give --supplier ADDRESS or --keystore FILE\n"),
        (("--supplier", "0x12"), "error: not an account address: '0x12'\n"),
        (("--supplier", "0x" + "ab" * 20, "--before", "3"), "error: --before needs --all"),
        (("--supplier", "0x" + "ab" * 20, "--all", "--before", "0"), "error: --before needs"),
        (("--keystore", "/nonexistent/k.json"), "error: no keystore at /nonexistent/k.json\n"),
        (("--supplier", "0x" + "ab" * 20, "--api", "http://[::1"), "error: the service's URL"),
        (("--supplier", "0x" + "ab" * 20, "--api", "tuan.example"), "error: the service's URL"),
    ],
)
def test_claims_refuses_bad_input_in_one_line(run, args: tuple[str, ...], words: str) -> None:
    code, out, err = run("claims", *args)
    assert (code, out) == (1, "") and err.startswith(words) and err.count("\n") == 1, err


def test_claims_of_a_keystore_without_an_address_asks_for_one(run, tmp_path: Path) -> None:
    keystore = keystore_of(tmp_path, Account.create().key)
    document = json.loads(keystore.read_text())
    del document["address"]
    keystore.write_text(json.dumps(document))
    code, out, err = run("claims", "--keystore", str(keystore))
    assert (code, out) == (1, "")
    assert err == f"error: {keystore} names no account address: give --supplier ADDRESS\n"


def test_the_claims_page_refuses_a_bad_address_as_json(site: TestClient) -> None:
    answer = site.get("/v1/supplier/not-an-address/claims")
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_address"


def test_events_from_an_epcis_file_under_one_root_and_every_built_kind(
    run, services: Services, tmp_path: Path
) -> None:
    registry = services.chain.clients.registry
    deal = make_deal(services.chain)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    document = tmp_path / "events.json"
    document.write_text(json.dumps(_document(_two_events(deal, day=1))))
    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--file", str(document), "--merkle",
        "--keystore", str(keystore),
    )  # fmt: skip
    assert code == 0, err
    (rooted,) = json.loads(out)
    root = registry.root_info(deal.supplier.address, bytes.fromhex(rooted["root"][2:]))
    assert (root.anchorer, root.leaf_count) == (deal.supplier.address, 2)

    for kind in ("processing", "inspecting", "receiving"):
        code, out, err = run(
            "add-event", deal.gtin14, deal.lot, "--kind", kind, "--location", GLN,
            "--quantity", "10", "--certificate", "https://example.org/cert/1",
            "--keystore", str(keystore),
        )  # fmt: skip
        assert code == 0, (kind, err)
        (single,) = json.loads(out)
        anchor = registry.anchor_of(deal.batch_id, bytes.fromhex(single["event_hash"][2:]))
        assert anchor.anchored_at_block and anchor.batch_id == deal.batch_id


def test_events_anchored_one_by_one_resume_after_a_partial_run(
    run, services: Services, tmp_path: Path
) -> None:
    """A run that stopped after some events (a refusal, a timeout, Ctrl-C) is run again as it
    was: the events already anchored are skipped, not a dead end at the first of them."""
    registry = services.chain.clients.registry
    deal = make_deal(services.chain)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    built = _two_events(deal, day=2)
    first, both = tmp_path / "first.json", tmp_path / "both.json"
    first.write_text(json.dumps(built[0]))
    both.write_text(json.dumps(_document(built)))
    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--file", str(first), "--keystore", str(keystore)
    )
    assert code == 0, err
    (anchored,) = json.loads(out)
    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--file", str(both), "--keystore", str(keystore)
    )
    assert code == 0, err
    skipped, second = json.loads(out)
    assert skipped == {**anchored, "document_cid": None, "skipped": "already anchored"}
    assert "already anchored" in err
    for details in (anchored, second):
        anchor = registry.anchor_of(deal.batch_id, bytes.fromhex(details["event_hash"][2:]))
        assert anchor.anchored_at_block and anchor.batch_id == deal.batch_id


def _two_events(deal: Any, *, day: int) -> list[dict[str, Any]]:
    """A commissioning and a shipping event of the deal's batch, on 2026-11-{day}."""
    return [
        inputs.built_event(
            kind, inputs.batch(deal.gtin14, deal.lot),
            event_time=datetime(2026, 11, day, 8, tzinfo=UTC), location=GLN, quantity=10.0,
            uom="KGM", origin_country="CN", passed=True, certificates=[],
        )
        for kind in ("commissioning", "shipping")
    ]  # fmt: skip


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": events[0]["@context"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-01T08:00:00Z",
        "epcisBody": {
            "eventList": [{k: v for k, v in e.items() if k != "@context"} for e in events]
        },
    }


def test_register_batch_publishes_the_product_master_data(
    run, services: Services, tmp_path: Path
) -> None:
    registry, store = services.chain.clients.registry, services.store
    deal = make_deal(services.chain)  # an approved supplier
    keystore = keystore_of(tmp_path, deal.supplier.key)
    (tmp_path / "photo.png").write_bytes(PNG + secrets.token_bytes(8))
    product = tmp_path / "product.json"
    product.write_text(
        json.dumps(
            {
                "name_zh": "两头乌猪排",
                "name_en": "Pork chops",
                "image": "photo.png",
                "specification": "500 g",
                "unit": "box",
                "origin_country": "cn",
                "origin_zh": "金华",
                "origin_en": "Jinhua",
            },
            ensure_ascii=False,
        )
    )
    gtin, lot = new_gtin(deal.prefix), "PM-" + secrets.token_hex(3).upper()
    code, out, err = run(
        "register-batch", gtin, lot, "--product", str(product), "--keystore", str(keystore)
    )
    assert code == 0, err
    cid = json.loads(out)["metadata_cid"]
    lot_data = json.loads(store.get(cid))
    assert (
        lot_data["type"] == "tuanchain:LotMasterData" and lot_data["product"]["en"] == "Pork chops"
    )
    product_doc = json.loads(store.get(lot_data["product_master"].removeprefix("ipfs://")))
    assert product_doc["gtin"] == gtin and product_doc["origin"]["country"] == "CN"
    assert store.get(product_doc["image"].removeprefix("ipfs://")).startswith(PNG)
    assert (
        registry.batch_info(registry.compute_batch_id(gtin, lot)).supplier == deal.supplier.address
    )

    # The same GTIN check as the page's: a wrong check digit, before anything is published.
    wrong = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    code, out, err = run(
        "register-batch", wrong, lot, "--product", str(product), "--keystore", str(keystore)
    )
    assert code == 1 and out == "" and "check digit" in err and err.count("\n") == 1

    # Another brand's GTIN (under a prefix the platform never assigned this supplier): refused
    # by the registry's simulation before signing, in words, exit code 1.
    foreign = new_gtin()
    code, out, err = run("register-batch", foreign, lot, "--keystore", str(keystore))
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert f"GTIN {foreign} is not under a GS1 Company Prefix of {deal.supplier.address}" in err
    assert "ask the platform to assign yours" in err


def _verb_args(tmp_path: Path, gtin: str) -> dict[str, list[str]]:
    profile = tmp_path / "profile.json"
    profile.write_text('{"name": {"zh": "农场", "en": "Farm"}}')
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(b"%PDF-1.7\nlicence\n%%EOF")
    readings = tmp_path / "readings.csv"
    readings.write_text(
        "time,device_id,type,value,unit\n2026-11-01T09:00:00+08:00,T1,Temperature,3,CEL\n"
    )
    stranger = "0x" + "ab" * 20
    return {
        "apply": ["apply", "--profile", str(profile), "--credentials", str(licence)],
        "register-batch": ["register-batch", gtin, "L1"],
        "add-event": ["add-event", gtin, "L1", "--kind", "shipping", "--location", GLN,
                      "--quantity", "1"],
        "sensors": ["sensors", gtin, "L1", str(readings), "--location", GLN, "--min", "0",
                    "--max", "4"],
        "writer": ["writer", gtin, "L1", stranger],
        "answer-claim": ["answer-claim", "1", stranger, "--accept"],
        "recall": ["recall", gtin, "L1", "--reason", "why"],
    }  # fmt: skip


@pytest.mark.parametrize(
    "verb",
    ["apply", "register-batch", "add-event", "sensors", "writer", "answer-claim", "recall"],
)
def test_every_verb_refuses_a_wrong_password_in_one_line(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    keystore = keystore_of(tmp_path, Account.create().key)
    args = _verb_args(tmp_path, new_gtin())[verb]
    monkeypatch.setenv("TUANCHAIN_KEYSTORE_PASSWORD", "wrong")
    code, out, err = run(*args, "--keystore", str(keystore))
    assert (code, out) == (1, "")
    assert err == f"error: wrong password for keystore {keystore}\n"
    # A keystore that is no JSON at all: one line too.
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, err = run(*args, "--keystore", str(broken))
    assert (code, out) == (1, "") and err.startswith("error: ") and err.count("\n") == 1


def test_the_page_builders_and_the_cli_build_the_same_events(
    site: TestClient, tmp_path: Path
) -> None:
    """One home: POST /v1/supplier/events and /sensor-events run the CLI's builders."""
    gtin = new_gtin()
    target = inputs.batch(gtin, "L1")
    when = "2026-11-01T08:00:00+08:00"
    for kind in inputs.EVENT_KINDS:
        body = {"gtin14": gtin, "lot": "L1", "kind": kind, "location": GLN, "time": when,
                "quantity": 5, "origin_country": "CN", "certificates": ["ipfs://bafkqaaa"]}  # fmt: skip
        page = site.post("/v1/supplier/events", json=body)
        assert page.status_code == 200, page.text
        cli = inputs.built_event(
            kind, target, event_time=inputs.parse_time(when, "t"), location=GLN, quantity=5,
            uom="KGM", origin_country="CN", passed=True, certificates=["ipfs://bafkqaaa"],
        )  # fmt: skip
        assert page.json()["events"] == [cli]

    csv_text = (
        "time,device_id,type,value,unit\n"
        "2026-11-01T09:00:00+08:00,T-01,Temperature,3.5,CEL\n"
        "2026-11-01T10:00:00+08:00,T-01,Temperature,9.0,CEL\n"
    )
    readings = tmp_path / "r.csv"
    readings.write_text(csv_text)
    page = site.post(
        "/v1/supplier/sensor-events",
        data={"gtin14": gtin, "lot": "L1", "location": GLN, "min_c": "0", "max_c": "4"},
        files={"file": ("r.csv", csv_text.encode(), "text/csv")},
    )
    assert page.status_code == 200, page.text
    cli = inputs.sensor_events(readings, target, location=GLN, min_c=0, max_c=4)
    assert page.json() == {"events": cli, "breaches": 1, "readings": 2}

    # Bad input: a 400 naming it, before anything is signed.
    wrong = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    refused = site.post(
        "/v1/supplier/master-data", json={"gtin14": wrong, "lot": "L1", "name_zh": "米"}
    )
    assert refused.status_code == 400 and "check digit" in refused.json()["message"]
    bad_csv = site.post(
        "/v1/supplier/sensor-events",
        data={"gtin14": gtin, "lot": "L1", "location": GLN, "min_c": "0", "max_c": "4"},
        files={"file": ("bad.csv", b"time,device_id,type,value,unit\nyesterday,T,Temperature,1,CEL\n", "text/csv")},
    )  # fmt: skip
    assert bad_csv.status_code == 400 and "bad.csv:2" in bad_csv.json()["message"]
    assert bad_csv.json()["code"] == "input_error"


def test_prepare_refuses_a_batch_whose_gtin_has_a_wrong_check_digit(site: TestClient) -> None:
    """The registry takes any 14 digits; the service refuses a wrong check digit before signing."""
    gtin = new_gtin()
    wrong = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
    body = {"from": Account.create().address, "gtin14": wrong, "lot": "L1", "metadata": {}}
    refused = site.post("/v1/actions/register_batch/prepare", json=body)
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["details"]["errors"]
    assert error["loc"] == ["gtin14"] and "check digit" in error["msg"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>a shop</html>", "text/html"),
        ('{"unexpected": 1}', "application/json"),
        ("[1, 2]", "application/json"),
    ],
)
def test_an_api_that_is_not_the_service_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, content_type: str
) -> None:
    """``--api`` at another server that answers 200 (a web page, another API): no traceback."""

    def other_server(base: str) -> httpx.Client:
        answer = httpx.Response(200, text=body, headers={"content-type": content_type})
        return httpx.Client(base_url=base, transport=httpx.MockTransport(lambda _: answer))

    monkeypatch.setattr(supplier_cli, "_http_factory", other_server)
    monkeypatch.setenv("TUANCHAIN_KEYSTORE_PASSWORD", PASSWORD)
    keystore = keystore_of(tmp_path, Account.create().key)
    result = CliRunner().invoke(
        root_app,
        ["supplier", "register-batch", new_gtin(), "L1", "--keystore", str(keystore),
         "--api", "http://shop.example"],
    )  # fmt: skip
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("error: unexpected_answer: http://shop.example")


def test_an_inspection_publishes_its_certificate_file_as_the_page_does(
    run, services: Services, tmp_path: Path
) -> None:
    """``--certificate`` takes a file as well as a URI: the CLI publishes it (public, as the page's
    inspection form does) and the event names it by its CID — a supplier with a PDF in hand had no
    way to put it on the trail from the command line."""
    deal = make_deal(services.chain)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    pdf = b"%PDF-1.4\n% inspection report " + secrets.token_bytes(8)
    (tmp_path / "report.pdf").write_bytes(pdf)
    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--kind", "inspecting", "--location", GLN,
        "--certificate", str(tmp_path / "report.pdf"),
        "--certificate", "https://example.org/cert/2", "--keystore", str(keystore),
    )  # fmt: skip
    assert code == 0, err
    cid = " ".join(err.split()).split("certificate report.pdf ipfs://")[1].split()[0]
    assert services.store.get(cid) == pdf
    (single,) = json.loads(out)
    anchor = services.chain.clients.registry.anchor_of(
        deal.batch_id, bytes.fromhex(single["event_hash"][2:])
    )
    assert anchor.anchored_at_block
    document = json.dumps(single) + json.dumps(
        [json.loads(services.store.get(v.removeprefix("ipfs://"))) for k, v in single.items()
         if "cid" in k and isinstance(v, str)]
    )  # fmt: skip
    assert f"ipfs://{cid}" in document and "https://example.org/cert/2" in document

    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--kind", "inspecting", "--location", GLN,
        "--certificate", str(tmp_path / "missing.pdf"), "--keystore", str(keystore),
    )  # fmt: skip
    assert code == 1 and out == "" and "neither a URI nor a file" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("answer-claim", "abc", "0x" + "ab" * 20, "--accept"), "Invalid value for 'deal_id'"),
        (("add-event", "06901234500011", "L1", "--quantity", "lots"), "'--quantity'"),
        (("sensors", "06901234500011", "L1", "r.csv"), "Missing option '--location'"),
        (("claims", "--before", "x"), "Invalid value for '--before'"),
        (("frobnicate",), "No such command 'frobnicate'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], words: str
) -> None:
    """A missing option or a word where a number goes is bad input like any other: one line and
    exit code 1 (an ERP's script reads the same thing for every mistake), not click's framed
    usage text and exit code 2."""
    monkeypatch.setenv("TUANCHAIN_KEYSTORE", "/nonexistent/k.json")
    result = CliRunner().invoke(root_app, ["supplier", *args])
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert words in result.stderr and "--help)" in result.stderr
    if args[0] != "frobnicate":  # help is no error
        assert CliRunner().invoke(root_app, ["supplier", args[0], "--help"]).exit_code == 0


def test_a_file_too_big_is_refused_before_anything_is_signed(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor CSV over the page's limit, a credential or certificate over the upload limit:
    one line naming the file and its size, at once (no keystore is even opened: this one does
    not exist), not minutes of parsing and a refusal from the service."""
    monkeypatch.setattr(inputs, "MAX_CSV_BYTES", 100)
    monkeypatch.setattr(inputs, "MAX_UPLOAD_BYTES", 1000)
    readings = tmp_path / "readings.csv"
    readings.write_text(
        "time,device_id,type,value,unit\n" + "2026-11-01T09:00:00+08:00,T1,Temperature,3,CEL\n" * 10
    )
    (tmp_path / "big.pdf").write_bytes(b"%PDF-1.7\n" + b"0" * 2000)
    profile = tmp_path / "profile.json"
    profile.write_text('{"name": "farm"}')
    missing = str(tmp_path / "no-keystore.json")
    gtin = new_gtin()
    for args, file in [
        (["sensors", gtin, "L1", str(readings), "--location", GLN, "--min", "0", "--max", "4"],
         "readings.csv"),
        (["apply", "--profile", str(profile), "--credentials", str(tmp_path / "big.pdf")],
         "big.pdf"),
        (["add-event", gtin, "L1", "--kind", "inspecting", "--location", GLN,
          "--certificate", str(tmp_path / "big.pdf")], "big.pdf"),
    ]:  # fmt: skip
        code, out, err = run(*args, "--keystore", missing)
        assert (code, out) == (1, ""), err
        assert err.startswith(f"error: {tmp_path / file}: ") and err.count("\n") == 1, err
        assert "larger than the " in err and "allowed" in err


def test_runs_again_are_skipped_and_say_so(run, services: Services, tmp_path: Path) -> None:
    """An ERP re-sends what it is not sure went through (a timeout, a crash): the same batch,
    the same Merkle-anchored events, the same application are skipped with exit code 0 and the
    same JSON members (``"skipped"`` added), never a refusal a script stops at."""
    registry = services.chain.clients.registry
    deal = make_deal(services.chain)
    keystore = keystore_of(tmp_path, deal.supplier.key)
    gtin, lot = new_gtin(deal.prefix), "AGAIN-" + secrets.token_hex(3).upper()
    outputs = []
    for _ in range(2):
        code, out, err = run("register-batch", gtin, lot, "--keystore", str(keystore))
        assert code == 0, err
        outputs.append(json.loads(out))
    assert "already registered, skipped" in err
    first, again = outputs
    assert again == {**first, "metadata_cid": None, "skipped": "already registered"}

    document = tmp_path / "events.json"
    document.write_text(json.dumps(_document(_two_events(deal, day=3))))
    outputs = []
    for _ in range(2):
        code, out, err = run(
            "add-event", deal.gtin14, deal.lot, "--file", str(document), "--merkle",
            "--keystore", str(keystore),
        )  # fmt: skip
        assert code == 0, err
        outputs.append(json.loads(out))
    assert "already anchored, skipped" in err
    [first], [again] = outputs
    assert again == {**first, "manifest_cid": None, "skipped": "already anchored"}
    root = registry.root_info(deal.supplier.address, bytes.fromhex(first["root"][2:]))
    assert root.leaf_count == 2

    # Events one by one: the skipped one says all the anchored one did but its document's CID.
    single = tmp_path / "single.json"
    single.write_text(json.dumps(_two_events(deal, day=4)[0]))
    outputs = []
    for _ in range(2):
        code, out, err = run(
            "add-event", deal.gtin14, deal.lot, "--file", str(single), "--keystore", str(keystore)
        )
        assert code == 0, err
        outputs.append(json.loads(out))
    [first], [again] = outputs
    assert again == {**first, "document_cid": None, "skipped": "already anchored"}

    # An application sent twice: the second finds it pending and says so.
    applicant = keystore_of(tmp_path, Account.create().key, "applicant.json")
    args = _verb_args(tmp_path, gtin)["apply"]
    code, out, err = run(*args, "--keystore", str(applicant))
    assert code == 0, err
    code, out, err = run(*args, "--keystore", str(applicant))
    assert code == 0, err
    assert "already applied (pending review), skipped" in err
    assert json.loads(out)["skipped"] == "already applied"
    assert json.loads(out)["status"] == "pending review"

    # A recall sent twice: recalled already (a non-compliant batch would stay a refusal).
    outputs = []
    for _ in range(2):
        code, out, err = run("recall", gtin, lot, "--reason", "glass", "--keystore", str(keystore))
        assert code == 0, err
        outputs.append(json.loads(out))
    assert "already recalled, skipped" in err
    first, again = outputs
    assert again == {
        **first,
        "reason_cid": None,
        "frozen_deals": None,
        "skipped": "already recalled",
    }
    assert registry.batch_status(registry.compute_batch_id(gtin, lot)) == BatchStatus.RECALLED


def test_a_contract_refusal_is_in_words(run, tmp_path: Path) -> None:
    """The pages' words for a contract's error lead the line, the error itself after them."""
    keystore = keystore_of(tmp_path, Account.create().key)
    code, out, err = run(
        "answer-claim", "987654321", "0x" + "ab" * 20, "--accept", "--keystore", str(keystore)
    )
    assert (code, out) == (1, "")
    assert err == "error: deal_not_found: No such deal (DealNotFound(dealId=987654321))\n"


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--kind", "shiping", "--quantity", "1"], "error: unknown event kind 'shiping'"),
        (["--kind", "shipping"], "error: shipping needs a quantity (--quantity)"),
    ],
)
def test_a_built_event_is_checked_before_the_keystore_is_opened(
    run, tmp_path: Path, extra: list[str], words: str
) -> None:
    """A typo in --kind, or a missing --quantity, is said before the password is asked (this
    keystore does not even exist), not after."""
    code, out, err = run(
        "add-event", new_gtin(), "L1", "--location", GLN, *extra,
        "--keystore", str(tmp_path / "none.json"),
    )  # fmt: skip
    assert (code, out) == (1, "") and err.startswith(words) and err.count("\n") == 1, err


def test_no_password_and_no_terminal_is_one_line(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron job or an ERP's script without TUANCHAIN_KEYSTORE_PASSWORD: no prompt on stdout, no
    "input may be echoed" warning and "Aborted.", but one line saying what to set."""
    monkeypatch.delenv("TUANCHAIN_KEYSTORE_PASSWORD")
    keystore = keystore_of(tmp_path, Account.create().key)
    words = "error: no password: set TUANCHAIN_KEYSTORE_PASSWORD (there is no terminal to ask on)\n"
    for args in (
        ["register-batch", new_gtin(), "L1", "--keystore", str(keystore)],
        ["keystore-new", str(tmp_path / "new.json")],
    ):
        code, out, err = run(*args)
        assert (code, out, err) == (1, "", words)
    assert not (tmp_path / "new.json").exists()


def test_more_events_than_a_root_takes_is_refused_before_signing(
    run, services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--merkle with more events than the service takes under one root: said at once, with what
    to do, not a validation error from the service after the password."""
    monkeypatch.setattr(supplier_cli, "MAX_ROOT_EVENTS", 1)
    deal = make_deal(services.chain)
    document = tmp_path / "events.json"
    document.write_text(json.dumps(_document(_two_events(deal, day=5))))
    code, out, err = run(
        "add-event", deal.gtin14, deal.lot, "--file", str(document), "--merkle",
        "--keystore", str(tmp_path / "none.json"),
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert err == (
        "error: 2 events: at most 1 go under one Merkle root; split them, or anchor them one by "
        "one (without --merkle)\n"
    )


def test_a_service_gone_while_a_request_is_mined_says_what_to_do() -> None:
    """The relay accepted the request, then the service stopped answering: the line names the
    request and says the command can simply be run again (it skips what was done)."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    base = "http://tuan.example"
    service = Service(
        base, http=httpx.Client(base_url=base, transport=httpx.MockTransport(refused))
    )
    with pytest.raises(ServiceRefused) as refusal:
        service.wait("req-42", timeout=1)
    assert refusal.value.code == "service_unavailable"
    assert "request req-42 was accepted and may still be mined" in str(refusal.value)
    assert "run the same command again" in str(refusal.value)

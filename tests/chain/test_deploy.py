"""Deployment manifests: idempotent reuse, redeploy on changed code or a reset chain."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from web3 import Web3

from chain.accounts import dev_account
from chain.artifacts import Artifact
from chain.clients import Clients
from chain.deploy import Deployment, deploy_all, load_deployment
from chain.tx import TxSender

CORE = [
    "TuanchainForwarder",
    "ProvenanceRegistry",
    "TestStablecoin",
    "PermitBatcher",
    "GroupBuyDeals",
    "GroupBuyLastMile",
    "GroupBuyEscrow",
    "PasskeyAccountFactory",
    "ConsumerPaymaster",
]
# EntryPoint v0.8 is one per chain at its canonical address, recorded in every manifest; whether
# this run or an earlier test's deployment put it there depends on test order.
ENTRYPOINT = "EntryPoint"


def _deployed_now(deployment: Deployment) -> list[str]:
    return sorted(n for n in deployment.deployed_now if n != ENTRYPOINT)


METADATA_MARKER = "a264697066735822"  # CBOR {"ipfs": bytes(34) ...


def _with_other_metadata(artifact: Artifact) -> Artifact:
    """The same contract as if one source byte changed: only its metadata hash differs."""
    code = artifact.bytecode_hex
    at = code.rindex(METADATA_MARKER) + len(METADATA_MARKER) + 8
    flipped = code[:at] + ("0" if code[at] != "0" else "1") + code[at + 1 :]
    return dataclasses.replace(artifact, bytecode_hex=flipped)


def _deploy(w3: Web3, sender: TxSender, folder: Path, artifacts: dict[str, Artifact]) -> Deployment:
    return deploy_all(
        w3, sender, platform=dev_account(0), deployments_dir=folder, artifacts=artifacts
    )


def test_second_run_reuses_everything(
    w3: Web3, tx_sender: TxSender, artifacts: dict[str, Artifact], tmp_path: Path
) -> None:
    first = _deploy(w3, tx_sender, tmp_path, artifacts)
    assert _deployed_now(first) == sorted(CORE)
    block = w3.eth.block_number
    second = _deploy(w3, tx_sender, tmp_path, artifacts)
    assert second.deployed_now == []
    assert {n: c.address for n, c in second.contracts.items()} == {
        n: c.address for n, c in first.contracts.items()
    }
    assert w3.eth.block_number == block  # not one transaction sent

    manifest = json.loads((tmp_path / "31337.json").read_text())
    assert manifest["chainId"] == 31337
    assert set(manifest["contracts"]) == {*CORE, ENTRYPOINT}
    escrow = manifest["contracts"]["GroupBuyEscrow"]
    assert escrow["libraries"] == {
        "GroupBuyDeals": first.address("GroupBuyDeals"),
        "GroupBuyLastMile": first.address("GroupBuyLastMile"),
    }
    assert escrow["bytecodeHash"] == artifacts["GroupBuyEscrow"].bytecode_hash
    assert load_deployment(31337, tmp_path).contracts == second.contracts


def test_roles_are_wired(clients: Clients, deployment: Deployment) -> None:
    platform = dev_account(0).address
    escrow = deployment.address("GroupBuyEscrow")
    assert clients.registry.has_role("RECEIPT_RECORDER_ROLE", escrow)
    assert clients.registry.has_role("PLATFORM_ROLE", platform)
    assert clients.escrow.has_role("PLATFORM_ROLE", platform)
    assert clients.escrow.has_role("ARBITER_ROLE", platform)
    assert clients.token.has_role("MINTER_ROLE", platform)
    assert clients.escrow.is_token_allowed(clients.token.address)
    assert clients.token.name() == "Tuan USD" and clients.token.decimals() == 6


def test_changed_artifact_redeploys_it_and_its_dependents(
    w3: Web3, tx_sender: TxSender, artifacts: dict[str, Artifact], tmp_path: Path
) -> None:
    first = _deploy(w3, tx_sender, tmp_path, artifacts)

    token_changed = {
        **artifacts,
        "TestStablecoin": _with_other_metadata(artifacts["TestStablecoin"]),
    }
    second = _deploy(w3, tx_sender, tmp_path, token_changed)
    # The paymaster takes the token in its constructor: it follows it.
    assert second.deployed_now == ["TestStablecoin", "ConsumerPaymaster"]
    assert second.address("TestStablecoin") != first.address("TestStablecoin")
    assert second.address("GroupBuyEscrow") == first.address("GroupBuyEscrow")

    forwarder_changed = {
        **token_changed,
        "TuanchainForwarder": _with_other_metadata(artifacts["TuanchainForwarder"]),
    }
    third = _deploy(w3, tx_sender, tmp_path, forwarder_changed)
    # Registry and escrow take the forwarder in their constructors: they follow it (and the
    # paymaster follows the escrow).
    assert sorted(third.deployed_now) == [
        "ConsumerPaymaster",
        "GroupBuyEscrow",
        "ProvenanceRegistry",
        "TuanchainForwarder",
    ]
    assert third.address("GroupBuyDeals") == first.address("GroupBuyDeals")
    clients = Clients.connect(w3, third, tx_sender, artifacts=forwarder_changed)
    assert clients.registry.has_role("RECEIPT_RECORDER_ROLE", third.address("GroupBuyEscrow"))
    assert clients.escrow.is_token_allowed(third.address("TestStablecoin"))


def test_reset_chain_redeploys(
    w3: Web3, tx_sender: TxSender, artifacts: dict[str, Artifact], tmp_path: Path
) -> None:
    before = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    first = _deploy(w3, tx_sender, tmp_path, artifacts)
    w3.provider.make_request("evm_revert", [before])  # type: ignore[arg-type]
    tx_sender.reset_all_nonces()
    assert w3.eth.get_code(first.address("GroupBuyEscrow")) == b""
    second = _deploy(w3, tx_sender, tmp_path, artifacts)
    assert _deployed_now(second) == sorted(CORE)
    assert w3.eth.get_code(second.address("GroupBuyEscrow")) != b""

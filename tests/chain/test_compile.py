"""Compilation through py-solc-x with the pinned solc 0.8.30 (solc-js CLI registered as installed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import solcx
import solcx.install
from packaging.version import Version

from chain.artifacts import Artifact, load_artifact
from chain.compile import SOLCX_DIR, compile_contracts, solc_binary

EIP170_LIMIT = 24_576


def test_solc_is_registered_with_py_solc_x(artifacts: dict[str, Artifact]) -> None:
    binary = solc_binary()
    if binary.parent == SOLCX_DIR:
        assert Version("0.8.30") in solcx.install.get_installed_solc_versions(SOLCX_DIR)
    assert all(a.compiler.startswith("0.8.30") for a in artifacts.values())


def test_artifacts_are_complete_and_below_the_code_size_limit(
    artifacts: dict[str, Artifact],
) -> None:
    for name in (
        "GroupBuyEscrow",
        "ProvenanceRegistry",
        "TestStablecoin",
        "TuanchainForwarder",
        "PermitBatcher",
        "GroupBuyDeals",
        "GroupBuyLastMile",
        "PasskeyAccount",
        "PasskeyAccountFactory",
        "ConsumerPaymaster",
    ):
        artifact = artifacts[name]
        assert artifact.deployable and artifact.abi
        assert len(artifact.deployed_bytecode_hex) // 2 < EIP170_LIMIT
        assert artifact.settings["optimizer"] == {"enabled": True, "runs": 200}
        assert artifact.settings["evmVersion"] == "osaka"
        assert load_artifact(name) == artifact
    assert artifacts["GroupBuyEscrow"].libraries == ["GroupBuyDeals", "GroupBuyLastMile"]
    assert not artifacts["IGroupBuyEscrow"].deployable


def test_unchanged_sources_are_not_recompiled(
    artifacts: dict[str, Artifact], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("compiler called although nothing changed")

    monkeypatch.setattr(solcx, "compile_standard", refuse)
    assert compile_contracts() == artifacts


def test_a_changed_source_is_recompiled(tmp_path: Path) -> None:
    source = tmp_path / "Tiny.sol"
    source.write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.30;\ncontract Tiny { uint256 public x = 1; }\n"
    )
    out = tmp_path / "artifacts"
    first = compile_contracts([source], artifacts_dir=out, base_path=tmp_path)["Tiny"]
    source.write_text(source.read_text().replace("= 1;", "= 2;"))
    second = compile_contracts([source], artifacts_dir=out, base_path=tmp_path)["Tiny"]
    assert first.bytecode_hash != second.bytecode_hash


def test_compiler_errors_are_a_named_exception(tmp_path: Path) -> None:
    from chain.errors import CompilationFailed

    source = tmp_path / "Broken.sol"
    source.write_text("pragma solidity 0.8.30;\ncontract Broken { function f() { } }\n")
    with pytest.raises(CompilationFailed) as failed:
        compile_contracts([source], artifacts_dir=tmp_path / "a", base_path=tmp_path)
    assert any("Broken.sol" in m for m in failed.value.messages)


FORGE_OUT = Path(__file__).resolve().parents[2] / "build" / "forge-out"


@pytest.mark.parametrize(
    "name",
    [
        "GroupBuyEscrow",
        "GroupBuyDeals",
        "GroupBuyLastMile",
        "ProvenanceRegistry",
        "TestStablecoin",
        "TuanchainForwarder",
        "PasskeyAccount",
        "PasskeyAccountFactory",
        "ConsumerPaymaster",
    ],
)
def test_bytecode_is_identical_to_forges(name: str, artifacts: dict[str, Artifact]) -> None:
    """Same compiler settings as foundry.toml: forge and py-solc-x produce the same bytes."""
    import json

    from eth_utils import keccak

    from chain.artifacts import REPO_ROOT

    path = FORGE_OUT / f"{name}.sol" / f"{name}.json"
    if not path.is_file():
        pytest.skip("no forge artifact (run `forge build`)")
    forge = json.loads(path.read_text())
    sources = json.loads(forge["rawMetadata"])["sources"]
    for source_name, meta in sources.items():
        current = (REPO_ROOT / source_name).read_bytes()
        if "0x" + keccak(current).hex() != meta["keccak256"]:
            pytest.skip(f"forge artifact is stale ({source_name} changed since `forge build`)")
    assert forge["bytecode"]["object"].removeprefix("0x") == artifacts[name].bytecode_hex
    assert (
        forge["deployedBytecode"]["object"].removeprefix("0x")
        == artifacts[name].deployed_bytecode_hex
    )

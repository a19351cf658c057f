"""The traceability verbs of ``tuanchain``, through typer's CliRunner.

The app is composed here from ``traceability.cli.register``, as ``tuanchain_cli`` does for every
package, plus ``chain.cli.register`` for ``verify`` (a chain verb: it reads the chain).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from chain.anvil import Anvil
from chain.cli import register as register_chain_verbs
from chain.deploy import Deployment, manifest_path
from traceability.cli import register
from traceability.digital_link import build_link
from traceability.epcis import dumps_document, hash_events_in_document
from traceability.ipfs import KUBO_DEFAULT_V0, UNIXFS_V1_2025, compute_cid, parse_cid
from traceability.merkle import StandardMerkleTree, to_hex

from .conftest import GTIN14, LOT, START, Trail

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "gs1-epcis-examples"
H = ["0x" + f"{i:02x}" * 32 for i in range(1, 6)]

app = typer.Typer()
register(app)
register_chain_verbs(app)
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code: int, out: str, err: str, fragment: str) -> None:
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in out + err


# ---------------------------------------------------------------------- cid


@pytest.mark.parametrize("size", [0, 5, 2_000_000])
def test_cid_prints_kubo_cids(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert run("cid", path) == (0, compute_cid(data, profile=UNIXFS_V1_2025) + "\n", "")
    assert run("cid", path, "--cid-version", "1")[1].strip() == compute_cid(data)
    code, out, _ = run("cid", path, "--cid-version", "0")
    assert (code, out.strip()) == (0, compute_cid(data, profile=KUBO_DEFAULT_V0))
    assert out.startswith("Qm")


def test_cid_of_a_known_file(tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world\n")
    # `ipfs add --only-hash` of "hello world\n" (kubo, default and --cid-version=1)
    assert (
        run("cid", path, "--cid-version", "0")[1].strip()
        == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    )
    assert (
        run("cid", path)[1].strip() == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    )


def test_cid_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(*run("cid", tmp_path / "absent"), "No such file")
    assert_one_line_error(*run("cid", tmp_path), "directory")
    (tmp_path / "f").write_bytes(b"x")
    assert_one_line_error(*run("cid", tmp_path / "f", "--cid-version", "2"), "0 or 1")


# ---------------------------------------------------------------------- merkle


def test_merkle_root_and_proof() -> None:
    tree = StandardMerkleTree(H)
    assert run("merkle", "root", *H) == (0, to_hex(tree.root) + "\n", "")
    code, out, _ = run("merkle", "proof", "--index", "3", *H)
    assert code == 0 and json.loads(out) == [to_hex(p) for p in tree.proof(3)]
    assert json.loads(run("merkle", "proof", "--index", "0", H[0])[1]) == []


def test_merkle_matches_the_openzeppelin_vectors() -> None:
    vectors = json.loads(
        (Path(__file__).parent / "fixtures" / "oz_merkle_vectors.json").read_text()
    )
    case = vectors["cases"][5]
    assert run("merkle", "root", *case["values"])[1].strip() == case["root"]
    assert (
        json.loads(run("merkle", "proof", "--index", "2", *case["values"])[1]) == case["proofs"][2]
    )


def test_merkle_bad_input() -> None:
    assert_one_line_error(*run("merkle", "root", "0x1234"), "not a 32-byte hex value")
    assert_one_line_error(*run("merkle", "root", H[0], "nothex"), "not a 32-byte hex value")
    assert_one_line_error(*run("merkle", "proof", "--index", "5", *H), "out of range")


# ---------------------------------------------------------------------- epcis


def test_epcis_hash_prints_every_event_in_document_order(tmp_path: Path, trail_events) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "doc.jsonld"
    path.write_text(dumps_document(trail_events, creation_date=START))
    code, out, _ = run("epcis", "hash", path)
    assert code == 0
    assert out.splitlines() == hash_events_in_document(path.read_bytes())
    assert len(out.splitlines()) == len(trail_events)
    assert all(
        line.startswith("ni:///sha-256;") and line.endswith("?ver=CBV2.0")
        for line in out.splitlines()
    )


def test_epcis_hash_of_a_gs1_example() -> None:
    path = EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld"
    code, out, _ = run("epcis", "hash", path)
    assert code == 0 and out.splitlines() == hash_events_in_document(path)


def test_epcis_hash_prehash_prints_the_generators_prehash_strings() -> None:
    """--prehash: each hash ID, then the exact text hashed, as GS1's generator prints with -p."""
    from .gs1_reference import reference_prehashes

    path = EXAMPLES / "Example_9.6.1-ObjectEvent.jsonld"
    code, out, _ = run("epcis", "hash", "--prehash", path)
    lines = out.splitlines()
    assert code == 0 and lines[0::2] == hash_events_in_document(path)
    assert lines[1::2] == reference_prehashes(json.loads(path.read_text("utf-8")))
    assert all(text.startswith("eventType=ObjectEvent") for text in lines[1::2])


def test_epcis_hash_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(*run("epcis", "hash", tmp_path / "absent.json"), "No such file")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(*run("epcis", "hash", bad), "invalid EPCIS document")
    bad.write_bytes(b"\x89\xff\x00binary")
    assert_one_line_error(*run("epcis", "hash", bad), "not UTF-8")
    bad.write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_error(*run("epcis", "hash", bad), "nested 100000 levels deep")
    bad.write_text(json.dumps({"type": "EPCISDocument", "schemaVersion": "2.0", "epcisBody": {}}))
    assert_one_line_error(*run("epcis", "hash", bad), "invalid EPCIS document")


@pytest.fixture
def trail_events() -> list:  # type: ignore[type-arg]
    from traceability.epcis import commissioning_event, shipping_event

    return [
        commissioning_event(
            gtin14=GTIN14,
            lot=LOT,
            quantity=10,
            event_time=START,
            location="https://id.gs1.org/414/9506000134376",
        ),
        shipping_event(
            gtin14=GTIN14,
            lot=LOT,
            quantity=10,
            event_time=START,
            location="https://id.gs1.org/414/9506000134376",
        ),
    ]


# ---------------------------------------------------------------------- link and qr


def test_link() -> None:
    assert run("link", "9506000134352", "A/1") == (
        0,
        "https://id.gs1.org/01/09506000134352/10/A%2F1\n",
        "",
    )
    code, out, _ = run("link", "96385074", "L1", "--resolver", "http://localhost:8000")
    assert (code, out) == (0, "http://localhost:8000/01/00000096385074/10/L1\n")


def test_link_bad_input() -> None:
    assert_one_line_error(*run("link", "9506000134353", "L1"), "check digit should be 2")
    assert_one_line_error(*run("link", "9506000134352", "L 1"), "lot must be")
    assert_one_line_error(*run("link", "9506000134352", "L1", "--resolver", "ftp://x"), "resolver")


def test_qr_writes_svg_and_png(tmp_path: Path) -> None:
    code, out, _ = run("qr", "9506000134352", "L1", "--out", tmp_path / "q.svg")
    assert code == 0 and "4-Q" in out
    assert (tmp_path / "q.svg").read_bytes().startswith(b"<?xml")
    assert run("qr", "9506000134352", "L1", "--out", tmp_path / "q.png")[0] == 0
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"


def test_qr_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(*run("qr", "123", "L1", "--out", tmp_path / "q.svg"), "GTIN")
    assert_one_line_error(
        *run("qr", "9506000134352", "L1", "--out", tmp_path / "q.gif"), ".svg or .png"
    )
    assert_one_line_error(
        *run("qr", "9506000134352", "L1", "--out", tmp_path / "no" / "dir" / "q.svg"),
        "cannot write",  # not "cannot read": the file is the output
    )


# ---------------------------------------------------------------------- verify


@pytest.fixture
def chain_env(
    monkeypatch: pytest.MonkeyPatch, anvil_node: Anvil, deployment: Deployment, tmp_path: Path
) -> Path:
    """Point Settings at the session's anvil, its deployment and the trail's store."""
    deployments = tmp_path / "deployments"
    deployment.save(manifest_path(deployment.chain_id, deployments))
    monkeypatch.setenv("TUANCHAIN_RPC_URL", anvil_node.rpc_url)
    monkeypatch.setenv("TUANCHAIN_DEPLOYMENTS_DIR", str(deployments))
    monkeypatch.setenv("TUANCHAIN_DATA_DIR", str(tmp_path))  # the store is DATA_DIR/ipfs
    monkeypatch.setenv("TUANCHAIN_IPFS_BACKEND", "embedded")
    return tmp_path


def test_verify_an_honest_trail(chain_env: Path, trail: Trail) -> None:
    assert trail.store.root == chain_env / "ipfs"
    first, second = trail.events(2)
    anchored = trail.anchor_event(first)
    trail.anchor_root([trail.store_event(second)])

    code, out, err = run("verify", GTIN14, LOT)
    assert code == 0, out + err
    assert anchored.hash_id in out and "VERIFIED: 3 verified, 0 mismatch, 0 missing" in out

    code, out, _ = run("verify", GTIN14.lstrip("0"), LOT, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True and report["counts"]["verified"] == 3
    assert {i["kind"] for i in report["items"]} == {"batch-metadata", "event", "merkle-leaf"}


def test_verify_a_tampered_trail_exits_3(chain_env: Path, trail: Trail) -> None:
    anchored = trail.anchor_event(trail.events(1)[0])
    block = trail.store.blocks.path_for(parse_cid(anchored.cid))
    block.write_bytes(block.read_bytes() + b" ")
    code, out, _ = run("verify", GTIN14, LOT, "--json")
    assert code == 3
    report = json.loads(out)
    assert report["ok"] is False and report["counts"]["mismatch"] == 1


def test_verify_bad_input_fails_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUANCHAIN_RPC_URL", "http://127.0.0.1:1")
    assert_one_line_error(*run("verify", "9506000134353", LOT), "check digit")
    assert_one_line_error(*run("verify", GTIN14, "bad lot"), "lot must be")


def test_verify_without_a_node_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUANCHAIN_RPC_URL", "http://127.0.0.1:1")
    assert_one_line_error(*run("verify", GTIN14, LOT), "127.0.0.1:1")


def test_link_and_verify_agree_on_the_batch() -> None:
    assert run("link", GTIN14, LOT)[1].strip() == build_link(GTIN14, LOT)

"""Traceability verbs of the ``tuanchain`` command (kept stable: integrators script them).

    tuanchain cid FILE [--cid-version 0|1]
    tuanchain merkle root HASH...
    tuanchain merkle proof --index I HASH...
    tuanchain epcis hash FILE [--prehash]
    tuanchain link GTIN LOT [--resolver URL]
    tuanchain qr GTIN LOT --out FILE.svg|FILE.png

Bad input (missing file, bad GTIN, malformed hash, invalid EPCIS) prints one line
``error: ...`` on stderr and exits 1: the package's errors are caught once, here.
``tuanchain verify`` reads the chain, so it lives with the chain's verbs (:mod:`chain.cli`):
this package imports nothing from ``chain`` or ``api``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from traceability.digital_link import DEFAULT_RESOLVER, build_link
from traceability.errors import TraceabilityError
from traceability.ipfs.importer import KUBO_DEFAULT_V0, UNIXFS_V1_2025, compute_cid
from traceability.merkle import StandardMerkleTree, to_hex

logger = logging.getLogger(__name__)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """Turn the domain's named errors (and unreadable files) into ``error: ...`` + exit 1."""
    try:
        yield
    except TraceabilityError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error: cannot read{where}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None


def _read(path: Path) -> bytes:
    if path.is_dir():
        raise IsADirectoryError(21, "is a directory", str(path))
    return path.read_bytes()


# ---------------------------------------------------------------------- commands

merkle_app = typer.Typer(help="OpenZeppelin StandardMerkleTree over bytes32 event hashes.")
epcis_app = typer.Typer(help="GS1 EPCIS 2.0 documents.")


def cid(
    file: Annotated[Path, typer.Argument(help="the file to hash", show_default=False)],
    cid_version: Annotated[
        int, typer.Option("--cid-version", help="0: kubo default add; 1: unixfs-v1-2025")
    ] = 1,
) -> None:
    """Print the file's IPFS CID, exactly as kubo's `ipfs add --only-hash` gives it."""
    with _one_line_errors():
        if cid_version not in (0, 1):
            raise TraceabilityError(f"--cid-version must be 0 or 1, not {cid_version}")
        profile = KUBO_DEFAULT_V0 if cid_version == 0 else UNIXFS_V1_2025
        typer.echo(compute_cid(_read(file), profile=profile))


@merkle_app.command("root")
def merkle_root(
    hashes: Annotated[list[str], typer.Argument(help="bytes32 values (0x + 64 hex digits)")],
) -> None:
    """Print the Merkle root (0x-hex) of the given bytes32 event hashes."""
    with _one_line_errors():
        typer.echo(to_hex(StandardMerkleTree(hashes).root))


@merkle_app.command("proof")
def merkle_proof(
    index: Annotated[int, typer.Option("--index", help="position of the leaf in HASH...")],
    hashes: Annotated[list[str], typer.Argument(help="bytes32 values (0x + 64 hex digits)")],
) -> None:
    """Print the proof of HASH[index] as a JSON list of 0x-hex strings."""
    with _one_line_errors():
        proof = StandardMerkleTree(hashes).proof(index)
        typer.echo(json.dumps([to_hex(p) for p in proof]))


@epcis_app.command("hash")
def epcis_hash(
    file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON/JSON-LD document or event")],
    prehash: Annotated[
        bool,
        typer.Option(
            "--prehash",
            help="also print each event's pre-hash string (the hashed text) under its hash ID",
        ),
    ] = False,
) -> None:
    """Print the CBV 2.0 event hash ID of every event, one per line, in document order.

    The IDs are those GS1's reference generator (epcis-event-hash-generator) gives; with
    --prehash each is followed by its pre-hash string, to compare with the generator's -p.
    """
    from traceability.epcis.document import parse_epcis
    from traceability.epcis.errors import InvalidEpcisDocument
    from traceability.epcis.hashing import prehash_hash_id, prehashes_in_document
    from traceability.safe_json import loads_bounded

    with _one_line_errors():
        try:
            document = loads_bounded(_read(file))
        except ValueError as exc:  # not UTF-8, too deep, or not JSON at all
            raise InvalidEpcisDocument("$", f"not JSON: {exc}") from None
        parse_epcis(document)  # refuse non-conforming documents before hashing them
        for text in prehashes_in_document(document):
            typer.echo(prehash_hash_id(text))
            if prehash:
                typer.echo(text)


def link(
    gtin: Annotated[str, typer.Argument(help="GTIN-8/12/13/14")],
    lot: Annotated[str, typer.Argument(help="lot number (GS1 AI 10)")],
    resolver: Annotated[
        str, typer.Option("--resolver", help="resolver host or URL", envvar="TUANCHAIN_RESOLVER")
    ] = DEFAULT_RESOLVER,
) -> None:
    """Print the batch's GS1 Digital Link URI."""
    with _one_line_errors():
        typer.echo(build_link(gtin, lot, resolver=resolver))


def qr(
    gtin: Annotated[str, typer.Argument(help="GTIN-8/12/13/14")],
    lot: Annotated[str, typer.Argument(help="lot number (GS1 AI 10)")],
    out: Annotated[Path, typer.Option("--out", help="FILE.svg or FILE.png")],
    resolver: Annotated[
        str, typer.Option("--resolver", help="resolver host or URL", envvar="TUANCHAIN_RESOLVER")
    ] = DEFAULT_RESOLVER,
) -> None:
    """Write the QR code of the batch's Digital Link (error correction Q) as SVG or PNG."""
    from traceability.qr import batch_qr, save

    with _one_line_errors():
        code = batch_qr(gtin, lot, resolver=resolver)
        try:
            save(code, out)
        except OSError as exc:
            raise TraceabilityError(f"cannot write {out}: {exc.strerror or exc}") from None
        typer.echo(f"{out} ({code.designator}, {build_link(gtin, lot, resolver=resolver)})")


def register(app: typer.Typer) -> None:
    """Add the traceability verbs to the ``tuanchain`` app."""
    app.command("cid")(cid)
    app.add_typer(merkle_app, name="merkle")
    app.add_typer(epcis_app, name="epcis")
    app.command("link")(link)
    app.command("qr")(qr)

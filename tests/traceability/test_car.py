"""CAR v1 export and import: a batch's documents move between stores with identical CIDs.

The header is checked with an independent strict DAG-CBOR codec (PyPI ``dag-cbor``): it must
decode to ``{"roots": [CID...], "version": 1}`` and re-encode to the very same bytes
(canonical form), which is what ``ipfs dag import`` and go-car expect.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import dag_cbor
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multiformats import CID

from traceability.ipfs import (
    KUBO_DEFAULT_V0,
    UNIXFS_V1_2025,
    BlockCorrupted,
    CarFormatError,
    DocumentNotFound,
    EmbeddedDocumentStore,
    ImportProfile,
    IpfsError,
    export_car,
    import_car,
    iter_car,
)
from traceability.ipfs.car import encode_car_header
from traceability.ipfs.cid import parse_cid
from traceability.ipfs.dagpb import decode_varint, encode_varint

TINY = ImportProfile("tiny-v1", cid_version=1, raw_leaves=True, chunk_size=100, max_links=4)


def store_at(path: Path, profile: ImportProfile = UNIXFS_V1_2025) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(path, profile=profile, durable=False)


def car_bytes(store: EmbeddedDocumentStore, roots: list[str]) -> bytes:
    out = io.BytesIO()
    export_car(store, roots, out)
    return out.getvalue()


def sections(car: bytes) -> list[tuple[bytes, bytes]]:
    _roots, items = iter_car(io.BytesIO(car))
    return list(items)


@pytest.mark.parametrize("profile", [KUBO_DEFAULT_V0, UNIXFS_V1_2025, TINY], ids=lambda p: p.name)
def test_export_then_import_into_a_fresh_store_gives_identical_bytes_and_cids(
    tmp_path: Path, profile: ImportProfile
) -> None:
    source = store_at(tmp_path / "a", profile)
    big = 3_000_000 if profile.chunk_size >= 262_144 else 20_000  # several chunks either way
    documents = [b"", b"event document", bytes(range(256)) * 40, b"\x00" * big]
    cids = [source.put(d) for d in documents]
    car = car_bytes(source, cids)

    target = store_at(tmp_path / "b", profile)
    assert import_car(target, io.BytesIO(car)) == cids
    for cid, data in zip(cids, documents, strict=True):
        assert target.get(cid) == data
        assert dict(target.iter_dag_blocks(cid)) == dict(source.iter_dag_blocks(cid))
    # re-exporting from the copy gives the very same CAR
    assert car_bytes(target, cids) == car


def test_header_is_canonical_dag_cbor_with_the_roots(tmp_path: Path) -> None:
    store = store_at(tmp_path, KUBO_DEFAULT_V0)
    roots = [store.put(b"one"), store.put(b"two")]
    car = car_bytes(store, roots)
    length, pos = decode_varint(car, 0)
    header = car[pos : pos + length]
    decoded = dag_cbor.decode(header)
    assert decoded == {"version": 1, "roots": [CID.decode(r) for r in roots]}
    assert dag_cbor.encode(decoded) == header
    assert encode_car_header([parse_cid(r) for r in roots]) == header


def test_shared_blocks_are_written_once_in_depth_first_order(tmp_path: Path) -> None:
    store = store_at(tmp_path, TINY)
    chunk = b"c" * 100
    same_leaves = store.put(chunk * 3)  # one leaf block linked three times
    again = store.put(chunk)  # that leaf, as its own document
    car = car_bytes(store, [same_leaves, again])
    cids = [c for c, _ in sections(car)]
    assert len(cids) == len(set(cids)) == 2
    assert cids[0] == parse_cid(same_leaves)  # root before its children


def test_a_corrupted_block_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    source = store_at(tmp_path / "a", TINY)
    cid = source.put(b"x" * 1000)
    car = bytearray(car_bytes(source, [cid]))
    car[-1] ^= 0xFF  # last byte of the last block
    target = store_at(tmp_path / "b", TINY)
    with pytest.raises(BlockCorrupted):
        import_car(target, io.BytesIO(bytes(car)))
    assert list(target.blocks.iter_paths()) == []


def test_a_car_without_its_root_block_is_refused(tmp_path: Path) -> None:
    source = store_at(tmp_path / "a")
    cid = source.put(b"present")
    absent = parse_cid(store_at(tmp_path / "c").put(b"absent"))
    header = encode_car_header([absent])
    block = source.get_block(cid)
    car = encode_varint(len(header)) + header
    car += encode_varint(len(parse_cid(cid)) + len(block)) + parse_cid(cid) + block
    with pytest.raises(DocumentNotFound):
        import_car(store_at(tmp_path / "b"), io.BytesIO(car))


def _header(payload: bytes) -> bytes:
    return encode_varint(len(payload)) + payload


GOOD_HEADER = encode_car_header(
    [parse_cid("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")]
)


@pytest.mark.parametrize(
    "car",
    [
        b"",  # empty stream
        b"\x00",  # zero-length header
        b"\x80",  # truncated varint
        b"\xff" * 12,  # varint too long
        encode_varint(50) + b"\xa1",  # header shorter than announced
        _header(b"\x01"),  # header is not a map
        _header(b"\xa2\x65roots\x80\x67version\x02"),  # CAR v2 header here
        _header(b"\xa1\x67version\x01"),  # no roots
        _header(b"\xa2\x65roots\x81\x01\x67version\x01"),  # a root that is not a CID
        _header(b"\xa2\x65roots\x9f\xff\x67version\x01"),  # indefinite-length array
        _header(b"\x61\xff"),  # text that is not UTF-8
        _header(b"\xa1\x80\x01"),  # a map key that is not a string
        _header(b"\x81" * 5000 + b"\x01"),  # nesting bomb
        _header(GOOD_HEADER) + b"\x00",  # zero-length section
        _header(GOOD_HEADER) + encode_varint(100) + b"\x01\x55",  # truncated section
        _header(GOOD_HEADER) + encode_varint(3) + b"\x01\x55\x12",  # section shorter than CID
        _header(GOOD_HEADER) + encode_varint(1 << 30),  # absurd section length
    ],
    ids=lambda b: b[:12].hex() or "empty",
)
def test_malformed_cars_raise_car_format_error(tmp_path: Path, car: bytes) -> None:
    with pytest.raises(CarFormatError):
        import_car(store_at(tmp_path), io.BytesIO(car))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(st.binary(max_size=1500), min_size=1, max_size=5))
def test_random_document_sets_round_trip_through_car(documents: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, target = store_at(Path(tmp) / "a", TINY), store_at(Path(tmp) / "b", TINY)
        cids = [source.put(d) for d in documents]
        assert import_car(target, io.BytesIO(car_bytes(source, cids))) == cids
        assert [target.get(c) for c in cids] == documents


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(max_size=200), framed=st.booleans())
def test_random_bytes_never_crash_the_parser(garbage: bytes, framed: bool) -> None:
    """Bad input is a named error, whether raw garbage or garbage framed as a header."""
    car = _header(garbage) if framed and garbage else garbage
    with tempfile.TemporaryDirectory() as tmp:
        try:
            import_car(store_at(Path(tmp)), io.BytesIO(car))
        except IpfsError:
            pass  # CarFormatError, BlockCorrupted, InvalidCid, DocumentNotFound: all named
        # anything else propagates and fails the test: bad input must be a named error

"""The embedded document store: put/get/has/pin/unpin/gc, size limits, verified reads.

CIDs themselves are checked against kubo in ``test_ipfs_kubo_reference.py``; here the store
must hand back exactly the bytes it was given, under the CID ``compute_cid`` predicts, and
must refuse to return bytes that no longer hash to their CID.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multiformats import CID

from traceability.ipfs import (
    KUBO_DEFAULT_V0,
    UNIXFS_V1_2025,
    BlockCorrupted,
    DocumentNotFound,
    DocumentStore,
    DocumentTooLarge,
    EmbeddedDocumentStore,
    ImportProfile,
    InvalidCid,
    NotAUnixFSFile,
    NotPinned,
    compute_cid,
)
from traceability.ipfs.cid import CODEC_DAG_PB, cid_v1, format_cid, parse_cid, split_cid
from traceability.ipfs.dagpb import encode_pblink

# Small chunks and fan-out: many blocks and several tree levels from a few KiB of input.
TINY_V0 = ImportProfile("tiny-v0", cid_version=0, raw_leaves=False, chunk_size=64, max_links=3)
TINY_V1 = ImportProfile("tiny-v1", cid_version=1, raw_leaves=True, chunk_size=64, max_links=3)
ALL_PROFILES = [KUBO_DEFAULT_V0, UNIXFS_V1_2025, TINY_V0, TINY_V1]


def make_store(
    root: Path, profile: ImportProfile = UNIXFS_V1_2025, **kw: object
) -> EmbeddedDocumentStore:
    return EmbeddedDocumentStore(root, profile=profile, durable=False, **kw)  # type: ignore[arg-type]


def block_files(store: EmbeddedDocumentStore) -> list[Path]:
    return sorted(store.blocks.iter_paths())


def test_embedded_store_satisfies_the_document_store_protocol(tmp_path: Path) -> None:
    assert isinstance(make_store(tmp_path), DocumentStore)


@pytest.mark.parametrize("profile", ALL_PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("size", [0, 1, 64, 65, 1000, 300_000])
def test_put_get_round_trip_under_the_predicted_cid(
    tmp_path: Path, profile: ImportProfile, size: int
) -> None:
    if profile.chunk_size < 1024 and size > 10_000:
        size = 10_000  # a few hundred tiny blocks are enough to get several tree levels
    data = hashlib.shake_256(str(size).encode()).digest(size) if size else b""
    store = make_store(tmp_path, profile)
    cid = store.put(data)
    assert cid == compute_cid(data, profile=profile)
    assert store.get(cid) == data
    assert store.has(cid)
    version = CID.decode(cid).version
    assert version == profile.cid_version
    assert cid.startswith("Qm" if version == 0 else "baf")


def test_cid_kinds_follow_the_profiles(tmp_path: Path) -> None:
    one_chunk, two_chunks = b"x" * 100, b"y" * (UNIXFS_V1_2025.chunk_size + 1)
    v1 = make_store(tmp_path / "v1")
    assert v1.put(one_chunk).startswith("bafkrei")  # a single raw block
    assert v1.put(two_chunks).startswith("bafybei")  # a dag-pb root over raw leaves
    v0 = make_store(tmp_path / "v0", KUBO_DEFAULT_V0)
    assert v0.put(one_chunk).startswith("Qm")
    # The raw-leaf CID of a one-chunk file is the plain sha2-256 of its bytes.
    assert split_cid(parse_cid(v1.put(one_chunk)))[2] == hashlib.sha256(one_chunk).digest()


def test_default_profile_is_cidv1(tmp_path: Path) -> None:
    assert EmbeddedDocumentStore(tmp_path, durable=False).put(b"doc").startswith("bafk")


def test_has_and_get_of_an_absent_document(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    absent = compute_cid(b"never stored")
    assert not store.has(absent)
    with pytest.raises(DocumentNotFound) as info:
        store.get(absent)
    assert info.value.cid == absent


@pytest.mark.parametrize("bad", ["", "hello", "Qm123", "bafy!!!", "zzzz"])
def test_malformed_cids_are_named_errors(tmp_path: Path, bad: str) -> None:
    store = make_store(tmp_path)
    with pytest.raises(InvalidCid):
        store.get(bad)
    with pytest.raises(InvalidCid):
        store.has(bad)


def test_cids_with_other_hash_functions_are_refused(tmp_path: Path) -> None:
    blake3 = str(CID("base32", 1, "raw", ("blake3", hashlib.sha256(b"x").digest())))
    with pytest.raises(InvalidCid):
        make_store(tmp_path).get(blake3)


def test_size_limit(tmp_path: Path) -> None:
    store = make_store(tmp_path, max_document_size=10)
    assert store.get(store.put(b"0123456789")) == b"0123456789"
    with pytest.raises(DocumentTooLarge) as info:
        store.put(b"0123456789A")
    assert (info.value.size, info.value.limit) == (11, 10)
    assert block_files(store) == [store.blocks.path_for(parse_cid(compute_cid(b"0123456789")))]


def test_pin_unpin_and_gc(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V1)
    kept = store.put(b"k" * 500)
    loose = store.put(b"l" * 500, pin=False)
    assert store.is_pinned(kept) and not store.is_pinned(loose)
    assert store.pins() == [kept]

    removed = store.gc()
    assert removed > 0
    assert store.get(kept) == b"k" * 500
    assert not store.has(loose)

    kept_blocks = len(list(store.iter_dag_blocks(kept)))
    assert kept_blocks > 1
    store.unpin(kept)
    with pytest.raises(NotPinned):
        store.unpin(kept)
    assert store.gc() == kept_blocks
    assert block_files(store) == [] and not store.has(kept)


class PutDuringGc:
    """Stores ``data`` from another thread once gc has read the pins (its first look at what is
    live), and lets gc go on to its deletions only when that put has returned or waits for gc's
    lock: no sleeps, and the same interleaving on every run."""

    def __init__(self, store: EmbeddedDocumentStore, data: bytes, *, pin: bool) -> None:
        self.store, self.data, self.pin = store, data, pin
        self.ready = threading.Event()  # the put returned, or waits for gc to finish
        self.cids: list[str] = []
        self.thread = threading.Thread(target=self._put)
        self._pins = store.pins
        store.pins = self._pins_then_a_put  # type: ignore[method-assign]
        lock = getattr(store, "_gc_lock", None)
        if lock is not None:

            @contextmanager
            def announced(*, exclusive: bool) -> Iterator[None]:
                if not exclusive:
                    self.ready.set()  # about to wait for the gc holding the lock
                with lock(exclusive=exclusive):
                    yield

            store._gc_lock = announced  # type: ignore[method-assign]

    def _put(self) -> None:
        self.cids.append(self.store.put(self.data, pin=self.pin))
        self.ready.set()

    def _pins_then_a_put(self) -> list[str]:
        pins = self._pins()
        if not self.thread.is_alive() and not self.cids:
            self.thread.start()
            self.ready.wait()
        return pins

    def stored(self) -> str:
        self.thread.join()
        return self.cids[0]


@pytest.mark.parametrize("pin", [True, False])
def test_a_document_stored_again_while_gc_runs_survives_it(tmp_path: Path, pin: bool) -> None:
    """Bytes stored again (an upload, a prepare) between gc's reading of the live roots and its
    deletions, whose blocks an old unpinned copy left on disk: put returned its CID, so gc must
    not delete them (put skipped the existing files, whose old times gc took for garbage)."""
    store = make_store(tmp_path, TINY_V1)
    data = b"g" * 500
    old = store.put(data, pin=False)
    two_days_ago = time.time() - 2 * 86_400
    for path in [*block_files(store), *(tmp_path / "recent").iterdir()]:
        os.utime(path, (two_days_ago, two_days_ago))
    during = PutDuringGc(store, data, pin=pin)
    store.gc(older_than=86_400)
    assert during.stored() == old
    assert store.get(old) == data


@pytest.mark.parametrize("pin", [True, False])
def test_a_document_put_while_a_full_gc_runs_survives_it(tmp_path: Path, pin: bool) -> None:
    """``gc()`` (no age: every unpinned block goes) with a new document stored between its
    reading of the pins and its deletions: the put returned a CID (pinned, even), so its blocks
    stay — the put waits for gc's short snapshot section, then records its blocks for the sweep
    (the tests after test_a_put_between_mark_and_sweep_... fix where the put falls)."""
    store = make_store(tmp_path, TINY_V1)
    garbage = store.put(b"x" * 500, pin=False)
    data = b"n" * 500
    during = PutDuringGc(store, data, pin=pin)
    assert store.gc() > 0
    cid = during.stored()
    assert store.get(cid) == data and store.is_pinned(cid) is pin
    assert not store.has(garbage)


def test_pin_refuses_a_document_whose_blocks_are_missing(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V1)
    cid = store.put(b"p" * 500, pin=False)
    store.pin(cid)  # complete: fine
    store.unpin(cid)
    leaf = block_files(store)[0]
    if store.blocks.path_for(parse_cid(cid)) == leaf:
        leaf = block_files(store)[1]
    leaf.unlink()
    with pytest.raises(DocumentNotFound):
        store.pin(cid)
    with pytest.raises(DocumentNotFound):
        store.pin(compute_cid(b"absent"))


def test_a_corrupted_block_is_detected_on_read(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V1)
    data = bytes(range(256)) * 4
    cid = store.put(data)
    root_path = store.blocks.path_for(parse_cid(cid))
    leaf = next(p for p in block_files(store) if p != root_path)
    content = bytearray(leaf.read_bytes())
    content[0] ^= 0x01  # one bit flipped on disk
    leaf.write_bytes(bytes(content))
    with pytest.raises(BlockCorrupted) as info:
        store.get(cid)
    assert "digest" in info.value.reason
    with pytest.raises(BlockCorrupted):
        list(store.iter_dag_blocks(cid))


def test_a_corrupted_root_is_detected_by_get_block(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V0)
    cid = store.put(b"r" * 300)
    root = store.blocks.path_for(parse_cid(cid))
    root.write_bytes(root.read_bytes() + b"\x00")
    with pytest.raises(BlockCorrupted):
        store.get_block(cid)
    with pytest.raises(BlockCorrupted):
        store.get(cid)


def test_a_missing_inner_block_is_document_not_found(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V0)
    cid = store.put(b"m" * 1000)
    root = store.blocks.path_for(parse_cid(cid))
    next(p for p in block_files(store) if p != root).unlink()
    assert store.has(cid)  # the root is there ...
    with pytest.raises(DocumentNotFound):
        store.get(cid)  # ... but the document is not whole


def test_a_directory_node_is_not_a_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    child = parse_cid(store.put(b"inside"))
    # dag-pb node: one named link, Data = UnixFS {Type: Directory (1)}
    block = b"\x12" + _len_prefixed(encode_pblink(child, 6, b"a.txt")) + b"\x0a\x02\x08\x01"
    cid = format_cid(cid_v1(CODEC_DAG_PB, hashlib.sha256(block).digest()))
    store.put_blocks([(cid, block)])
    with pytest.raises(NotAUnixFSFile) as info:
        store.get(cid)
    assert info.value.kind.lower().startswith("dir")


def _len_prefixed(payload: bytes) -> bytes:
    from traceability.ipfs.dagpb import encode_varint

    return encode_varint(len(payload)) + payload


def test_put_blocks_refuses_a_block_that_does_not_match_its_cid(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(BlockCorrupted):
        store.put_blocks([(compute_cid(b"a"), b"b")])
    assert block_files(store) == []


def test_cidv0_and_cidv1_of_one_dag_pb_block_share_storage(tmp_path: Path) -> None:
    store = make_store(tmp_path, KUBO_DEFAULT_V0)
    v0 = store.put(b"shared")
    v1 = str(CID.decode(v0).set(version=1, base="base32"))
    assert store.has(v1) and store.get(v1) == b"shared"


# ---------------------------------------------------------------------- properties

_STORES: dict[str, EmbeddedDocumentStore] = {}


def _shared_store(profile: ImportProfile) -> EmbeddedDocumentStore:
    # Content addressing makes one store per profile safe to share between examples.
    if profile.name not in _STORES:
        _STORES[profile.name] = make_store(Path(tempfile.mkdtemp(prefix="tc-ipfs-")), profile)
    return _STORES[profile.name]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(min_size=0, max_size=4000),
    profile=st.sampled_from(ALL_PROFILES),
)
def test_random_files_round_trip(data: bytes, profile: ImportProfile) -> None:
    store = _shared_store(profile)
    cid = store.put(data)
    assert cid == compute_cid(data, profile=profile)
    assert store.get(cid) == data
    # every block of the DAG verifies and the DAG is exactly the importer's
    blocks = dict(store.iter_dag_blocks(cid))
    assert all(store.get_block(c) == b for c, b in blocks.items())


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=1, max_size=2000), flip=st.integers(min_value=0))
def test_any_single_bit_flip_in_any_block_is_detected(data: bytes, flip: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), TINY_V0)
        cid = store.put(data)
        files = block_files(store)
        target = files[flip % len(files)]
        content = bytearray(target.read_bytes())
        bit = (flip // len(files)) % (len(content) * 8)
        content[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(content))
        with pytest.raises(BlockCorrupted):
            store.get(cid)


def gc_lock_is_free(store: EmbeddedDocumentStore) -> bool:
    """Whether a write could take gc.lock right now (non-blocking shared flock)."""
    fd = os.open(store.root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def run_before_sweep(store: EmbeddedDocumentStore, action: Callable[[], None]) -> None:
    """Run ``action`` in gc's own thread after it marked the live blocks, before it deletes any.
    The old gc held gc.lock from mark to last deletion: a write here would have waited forever."""
    sweep = store._sweep

    def hooked(live: set[str], cutoff: float | None) -> int:
        assert gc_lock_is_free(store)
        action()
        return sweep(live, cutoff)

    store._sweep = hooked  # type: ignore[method-assign]


@pytest.mark.parametrize("pin", [True, False])
def test_a_put_between_mark_and_sweep_does_not_wait_and_survives(tmp_path: Path, pin: bool) -> None:
    store = make_store(tmp_path, TINY_V1)
    garbage = store.put(b"x" * 500, pin=False)
    data = b"n" * 500
    stored: list[str] = []
    run_before_sweep(store, lambda: stored.append(store.put(data, pin=pin)))
    assert store.gc() > 0
    assert store.get(stored[0]) == data and store.is_pinned(stored[0]) is pin
    assert not store.has(garbage)
    assert not (tmp_path / "gc-protect").exists()  # later writes record nothing
    del store._sweep  # the next pass without the hook: an unpinned document goes now
    left = len(block_files(store))
    assert store.gc() == (0 if pin else left)


def test_a_document_stored_again_between_two_chunks_of_the_sweep_survives(tmp_path: Path) -> None:
    """The same bytes as an unpinned document that a full gc is deleting, stored again between
    its deletions: some blocks are gone (put writes them anew), the rest are spared."""
    store = make_store(tmp_path, TINY_V1)
    data = b"g" * 500
    old = store.put(data, pin=False)
    blocks = len(block_files(store))
    assert blocks > 3
    store.SWEEP_CHUNK = 1
    exclusive_sections = 0
    stored: list[str] = []
    lock = store._gc_lock

    @contextmanager
    def counting(*, exclusive: bool) -> Iterator[None]:
        nonlocal exclusive_sections
        if exclusive:
            exclusive_sections += 1
            if exclusive_sections == 3:  # 1: open and snapshot, 2: first chunk; lock not held
                assert len(block_files(store)) == blocks - 1
                stored.append(store.put(data, pin=False))
        with lock(exclusive=exclusive):
            yield

    store._gc_lock = counting  # type: ignore[method-assign]
    assert store.gc() == 1  # only the first chunk's block: the put protected every other one
    assert stored == [old]
    assert store.get(old) == data


def test_pinning_between_mark_and_sweep_keeps_the_whole_document(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V1)
    loose = store.put(b"l" * 500, pin=False)
    garbage = store.put(b"x" * 500, pin=False)
    run_before_sweep(store, lambda: store.pin(loose))
    assert store.gc() > 0
    assert store.is_pinned(loose) and store.get(loose) == b"l" * 500
    assert not store.has(garbage)


def test_gc_recovers_from_a_pass_that_died_mid_way(tmp_path: Path) -> None:
    store = make_store(tmp_path, TINY_V1)
    garbage = store.put(b"x" * 500, pin=False)
    (tmp_path / "gc-protect").mkdir()  # left by a gc killed during its sweep
    kept = store.put(b"k" * 500, pin=False)  # recorded there: that gc would have spared it
    assert store.gc() > 0
    assert not store.has(garbage) and not store.has(kept)  # a new pass starts a new record
    assert not (tmp_path / "gc-protect").exists()


def test_two_writes_pinning_one_document_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two uploads of the same bytes at once (two workers, two processes) both pin it: the
    second pin starts while the first is between writing its temporary file and renaming it."""
    store = make_store(tmp_path, TINY_V1)
    cid = store.put(b"p" * 500, pin=False)
    real_replace = os.replace
    nested: list[None] = []

    def replace_after_another_pin(src: str | Path, dst: str | Path) -> None:
        if not nested:
            nested.append(None)
            store.pin(cid)  # the other write, at the worst moment
        real_replace(src, dst)

    monkeypatch.setattr("traceability.ipfs.embedded.os.replace", replace_after_another_pin)
    store.pin(cid)
    assert nested and store.pins() == [cid]
    assert not [p for p in (tmp_path / "pins").iterdir() if p.name.startswith(".")]

"""CID helpers: build binary CIDs from sha2-256 digests, parse and format them.

Binary CIDs (``bytes``) are used internally because they are what dag-pb links and CAR
sections carry; strings appear only at the public API.  CIDv0 is formatted base58btc
(``Qm...``) and CIDv1 base32 lower case (``bafy...``/``bafk...``), as kubo prints them.
"""

from __future__ import annotations

from typing import Final

from multiformats import CID

from traceability.ipfs.errors import InvalidCid

CODEC_DAG_PB: Final = 0x70
CODEC_RAW: Final = 0x55
SHA2_256: Final = 0x12
SHA2_256_LEN: Final = 32

# multihash prefix of a sha2-256 digest: code 0x12, length 0x20
_MH_PREFIX: Final = bytes((SHA2_256, SHA2_256_LEN))
_V1_DAG_PB_PREFIX: Final = b"\x01\x70" + _MH_PREFIX
_V1_RAW_PREFIX: Final = b"\x01\x55" + _MH_PREFIX


def cid_v0(digest: bytes) -> bytes:
    """Binary CIDv0 (a bare sha2-256 multihash) of a dag-pb block."""
    return _MH_PREFIX + digest


def cid_v1(codec: int, digest: bytes) -> bytes:
    """Binary CIDv1 for ``codec`` (dag-pb or raw) and a sha2-256 digest."""
    if codec == CODEC_DAG_PB:
        return _V1_DAG_PB_PREFIX + digest
    if codec == CODEC_RAW:
        return _V1_RAW_PREFIX + digest
    raise InvalidCid(codec, "only dag-pb (0x70) and raw (0x55) codecs are built here")


def split_cid(cid: bytes) -> tuple[int, int, bytes]:
    """Return ``(version, codec, sha256_digest)`` of a binary sha2-256 CID.

    Raises ``InvalidCid`` for any other hash function: the store verifies every block it
    reads, and sha2-256 is the only hash kubo's profiles use.
    """
    if len(cid) == 34 and cid[:2] == _MH_PREFIX:
        return 0, CODEC_DAG_PB, cid[2:]
    if (
        len(cid) == 36
        and cid[0] == 1
        and cid[2:4] == _MH_PREFIX
        and cid[1] in (CODEC_DAG_PB, CODEC_RAW)
    ):
        return 1, cid[1], cid[4:]
    raise InvalidCid(cid.hex(), "not a sha2-256 CIDv0, or CIDv1 with dag-pb/raw codec")


def multihash_of(cid: bytes) -> bytes:
    """The multihash part of a binary CID (what kubo's blockstore keys blocks by)."""
    return _MH_PREFIX + split_cid(cid)[2]


def raw_cid_of_digest(digest: bytes) -> str:
    """CIDv1 text (raw codec) of a sha2-256 digest: a one-block document under the default
    profile, the CID a receipt anchor's bare ``documentDigest`` stands for."""
    return format_cid(cid_v1(CODEC_RAW, bytes(digest)))


def digest_of_raw_cid(text: str) -> bytes | None:
    """The sha2-256 digest a CIDv1 ``raw`` names (None for any other or a malformed CID): the
    inverse of :func:`raw_cid_of_digest`, how the chain names a document kept off IPFS."""
    try:
        version, codec, digest = split_cid(parse_cid(text))
    except InvalidCid:
        return None
    return digest if (version, codec) == (1, CODEC_RAW) else None


def parse_cid(text: str | bytes) -> bytes:
    """Parse a CID string (any multibase) or binary CID into canonical binary form."""
    if isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
        split_cid(raw)
        return raw
    try:
        cid = CID.decode(text.strip())
    except Exception as exc:  # multiformats raises several unrelated types
        raise InvalidCid(text, str(exc)) from exc
    raw = bytes(cid) if cid.version == 1 else bytes(cid.digest)
    split_cid(raw)
    return raw


def format_cid(cid: bytes) -> str:
    """Canonical text of a binary CID: base58btc for v0, base32 for v1 (kubo's output)."""
    version, codec, digest = split_cid(cid)
    mh = _MH_PREFIX + digest
    if version == 0:
        return str(CID("base58btc", 0, "dag-pb", mh))
    return str(CID("base32", 1, "dag-pb" if codec == CODEC_DAG_PB else "raw", mh))

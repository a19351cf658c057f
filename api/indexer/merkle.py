"""A Merkle root's manifest, as the indexer trusts it: only once it rebuilds the anchored root.

The tree, the proofs and the manifest format are :mod:`traceability.merkle` (OpenZeppelin's
``StandardMerkleTree.of(values, ["bytes32"])``, checked against the JS library's vectors);
nothing here re-implements them. What the indexer adds is the check that a manifest fetched by
the CID a ``RootAnchored`` log names really describes that root: its leaves, rebuilt into a
tree, must give the anchored root and the anchored leaf count, the root it states must be that
root, and each leaf's event hash ID must name the event hash it lists. A manifest failing any of
these raises :class:`ManifestMismatch` (it is well formed but lies about the root); a malformed
one (including a leaf whose document CID is not a CID) raises
:class:`~traceability.merkle.InvalidManifest`. The indexer marks the root ``invalid`` either way.

The proofs handed out are recomputed from the rebuilt tree, never copied from the document, so
each one verifies with the registry's ``verifyEventInRoot``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from traceability.epcis import EpcisError, digest_from_hash_id
from traceability.ipfs import IpfsError, format_cid, parse_cid
from traceability.merkle import (
    BatchManifest,
    InvalidManifest,
    ManifestLeaf,
    parse_bytes32,
    parse_manifest,
    to_hex,
)

__all__ = ["InvalidManifest", "ManifestLeaf", "ManifestMismatch", "load_manifest"]


class ManifestMismatch(InvalidManifest):
    """The manifest is well formed but does not describe the root anchored on chain."""


def _checked_leaf(index: int, leaf: ManifestLeaf, proof: list[bytes]) -> ManifestLeaf:
    """The leaf with its recomputed proof and canonical document CID, if its fields agree.

    The hash ID must carry the digest the leaf lists (the one proven in the tree), and the
    document CID must be a real sha2-256 CID (not free text the index would store and link).
    """
    try:
        digest = digest_from_hash_id(leaf.event_hash_id)
    except EpcisError as exc:
        raise InvalidManifest(f"leaf {index}: malformed event hash ID: {exc}") from exc
    if digest != leaf.event_hash:
        raise ManifestMismatch(f"leaf {index}: event hash ID and event hash disagree")
    try:
        cid = format_cid(parse_cid(leaf.document_cid))
    except IpfsError as exc:
        raise InvalidManifest(f"leaf {index}: invalid document CID: {exc}") from exc
    return dataclasses.replace(leaf, document_cid=cid, proof=tuple(proof))


def load_manifest(
    data: bytes | str | dict[str, Any], *, root: bytes | str, leaf_count: int | None = None
) -> BatchManifest:
    """The manifest of an anchored ``root``, its proofs recomputed; raises if it does not fit.

    ``InvalidManifest`` for a document that is not a manifest (traceability's parser) or a
    leaf with a malformed hash ID or document CID; ``ManifestMismatch`` when its leaves do not
    rebuild ``root``, their number is not the anchored ``leaf_count``, it states another root,
    or a leaf's hash ID disagrees with its hash.
    """
    anchored = parse_bytes32(root)
    manifest = parse_manifest(data)
    if leaf_count is not None and len(manifest.leaves) != leaf_count:
        raise ManifestMismatch(
            f"{len(manifest.leaves)} leaves, but {leaf_count} anchored with {to_hex(anchored)}"
        )
    tree = manifest.tree()
    if tree.root != anchored:
        raise ManifestMismatch(f"leaves give root {to_hex(tree.root)}, anchored {to_hex(anchored)}")
    if manifest.root != anchored:
        raise ManifestMismatch(f"states root {to_hex(manifest.root)}, anchored {to_hex(anchored)}")
    leaves = tuple(
        _checked_leaf(index, leaf, tree.proof(index)) for index, leaf in enumerate(manifest.leaves)
    )
    return BatchManifest(anchored, leaves)

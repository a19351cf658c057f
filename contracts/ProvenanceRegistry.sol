// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IBatchBlockedListener} from "./interfaces/IBatchBlockedListener.sol";
import {IProvenanceRegistry} from "./interfaces/IProvenanceRegistry.sol";

/// @notice Pure validators of the identifiers the registry accepts (GS1 keys and IPFS CIDs).
/// @dev Kept in a library so the rules are read in one place and tested without the registry's state.
library ProvenanceFormats {
    /// @dev Bit `c` is set iff ASCII character `c` belongs to the GS1 AI encodable character set 82:
    /// ! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z (GS1 General Specifications, figure 7.11-1).
    uint256 internal constant GS1_CSET82_MASK = 0x7fffffe87fffffeffffffe600000000;

    /// @dev multihash code of sha2-256 and its digest length, the only multihash accepted.
    bytes1 internal constant SHA2_256 = 0x12;
    bytes1 internal constant SHA2_256_LENGTH = 0x20;

    /// @dev The multiformats unsigned-varint spec caps varints at 9 bytes.
    uint256 internal constant MAX_VARINT_BYTES = 9;

    /// @notice Whether `gtin` is 14 ASCII digits whose last digit is the GS1 mod-10 check digit, and not all
    /// zeros (which passes the check digit but names no product: what an empty field padded to 14 reads).
    /// @dev Weights alternate 3,1,3,... from the leftmost digit of a GTIN-14 (= from the right, excluding the
    /// check digit, starting with 3). The weights are positive, so `sum` is 0 only for thirteen zeros.
    function isValidGtin14(bytes calldata gtin) internal pure returns (bool) {
        if (gtin.length != 14) return false;
        uint256 sum = 0;
        for (uint256 i; i < 14; ++i) {
            uint8 c = uint8(gtin[i]);
            if (c < 0x30 || c > 0x39) return false;
            uint256 digit = c - 0x30;
            if (i == 13) return sum != 0 && (10 - (sum % 10)) % 10 == digit;
            sum += (i % 2 == 0) ? digit * 3 : digit;
        }
        return false; // unreachable: the loop returns at i == 13
    }

    /// @notice Whether `lot` is 1–20 characters of the GS1 AI encodable character set 82 (AI (10) format X..20).
    function isValidLot(bytes calldata lot) internal pure returns (bool) {
        uint256 length = lot.length;
        if (length == 0 || length > 20) return false;
        for (uint256 i; i < length; ++i) {
            uint8 c = uint8(lot[i]);
            if ((GS1_CSET82_MASK >> c) & 1 == 0) return false; // c < 256, bits >= 128 are 0
        }
        return true;
    }

    /// @notice Shortest and longest GS1 Company Prefix (GS1 allocates 6 to 12 digits; 12 = one GTIN).
    uint256 internal constant MIN_PREFIX_DIGITS = 6;
    uint256 internal constant MAX_PREFIX_DIGITS = 12;

    /// @notice The storage key of the digit string whose first `length` digits read `value` as a number.
    /// @dev The length is part of the key, so "0614141" and "614141" (different GS1 prefixes) differ.
    function prefixKey(uint256 value, uint256 length) internal pure returns (uint256) {
        return (value << 8) | length;
    }

    /// @notice The key of `prefix` if it is 6 to 12 ASCII digits, else `(false, 0)`.
    function companyPrefixKey(bytes calldata prefix) internal pure returns (bool ok, uint256 key) {
        uint256 length = prefix.length;
        if (length < MIN_PREFIX_DIGITS || length > MAX_PREFIX_DIGITS) return (false, 0);
        uint256 value = 0;
        for (uint256 i; i < length; ++i) {
            uint8 c = uint8(prefix[i]);
            if (c < 0x30 || c > 0x39) return (false, 0);
            value = value * 10 + (c - 0x30);
        }
        return (true, prefixKey(value, length));
    }

    /// @notice Whether the company-prefix part `digits` (a prefix, or a GTIN-14 after its indicator digit) is a
    /// restricted-circulation number: GS1 prefixes 020-029, 040-049 and 200-299 (GS1 General Specifications
    /// 1.4.2), in-store and variable-measure numbers that every retailer reuses, so no brand owner holds them.
    /// @dev `digits` has at least 2 bytes (callers pass validated prefixes or GTIN-14s).
    function isRestrictedCirculation(bytes calldata digits) internal pure returns (bool) {
        bytes1 first = digits[0];
        if (first == "2") return true;
        return first == "0" && (digits[1] == "2" || digits[1] == "4");
    }

    /// @notice The sha2-256 digest inside a CIDv0 or CIDv1, or `(false, 0)` if `cid` is neither.
    /// @dev CIDv0 = multihash `0x12 0x20 <32 bytes>` (34 bytes). CIDv1 = `0x01 <codec varint> 0x12 0x20
    /// <32 bytes>`, the codec varint minimally encoded and at most 9 bytes. Any other multihash (identity,
    /// sha2-512, blake3 ...) is refused: the off-chain verifier recomputes sha2-256 digests only.
    function cidDigest(bytes calldata cid) internal pure returns (bool ok, bytes32 digest) {
        uint256 length = cid.length;
        if (length == 34) {
            if (cid[0] == SHA2_256 && cid[1] == SHA2_256_LENGTH) return (true, bytes32(cid[2:34]));
            return (false, 0);
        }
        if (length < 36 || cid[0] != 0x01) return (false, 0);
        // The codec varint starts at index 1; its last byte is the first one without the continuation bit.
        uint256 end = 1;
        while (end < length && uint8(cid[end]) & 0x80 != 0) ++end;
        // `end` indexes the varint's last byte; minimal encoding forbids a trailing 0x00 after a first byte.
        uint256 varintBytes = end; // = end - 1 + 1
        if (varintBytes > MAX_VARINT_BYTES || (varintBytes > 1 && cid[end] == 0x00)) return (false, 0);
        uint256 mh = end + 1;
        if (length != mh + 34 || cid[mh] != SHA2_256 || cid[mh + 1] != SHA2_256_LENGTH) return (false, 0);
        return (true, bytes32(cid[mh + 2:mh + 34]));
    }
}

/// @title ProvenanceRegistry
/// @notice tuanchain's provenance anchor. See {IProvenanceRegistry}.
/// @dev Roles are enforced on chain against the ERC-2771 `_msgSender()`, so a relayer (or a compromised API
/// behind it) can only submit what the account itself signed.
contract ProvenanceRegistry is IProvenanceRegistry, AccessControl, ERC2771Context {
    /// @inheritdoc IProvenanceRegistry
    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");
    /// @inheritdoc IProvenanceRegistry
    bytes32 public constant RECEIPT_RECORDER_ROLE = keccak256("RECEIPT_RECORDER_ROLE");

    mapping(PartyKind kind => mapping(address account => Party)) private _parties;
    mapping(bytes32 batchId => BatchInfo) private _batches;
    mapping(bytes32 batchId => mapping(address writer => bool allowed)) private _writers;
    /// @dev Keyed by batch too: an event hash is unique within a batch, not across the registry. Keyed by
    /// the hash alone, anyone allowed to anchor under some batch could copy a pending anchor's (or a leader's
    /// receipt's) hash from the mempool and anchor it first under their own batch, making the victim's
    /// transaction revert: receipts blocked until the delivery deadline refunds every buyer.
    mapping(bytes32 batchId => mapping(bytes32 eventHash => AnchorInfo)) private _anchors;
    /// @dev Keyed by anchorer too: a root is unique per anchorer, not across the registry. Keyed by the root
    /// alone, any approved supplier could copy a pending anchorRoot from the mempool and anchor it first: the
    /// victim's transaction reverted, and the copy's leaves do not count for the victim's batches (verifiers
    /// count a root's leaves only for batches its anchorer may anchor), so the victim could never anchor it.
    mapping(address anchorer => mapping(bytes32 root => RootInfo)) private _roots;
    address[] private _escrows;

    /// @dev One node of the trie of assigned GS1 Company Prefixes, for every digit string of 6 to 12 digits on
    /// the way to an assigned prefix (one slot): `owner` is set on the assigned prefix itself, `assignedBelow`
    /// counts the assigned prefixes that extend it. registerBatch walks a GTIN's digits from 6 on and stops at
    /// the first owner (the prefix) or the first node nothing extends: a 7-digit prefix costs 2 reads, and a
    /// GTIN nobody holds usually 1. The counts keep the assigned set prefix-free at assignment.
    struct PrefixNode {
        address owner;
        uint96 assignedBelow;
    }

    mapping(uint256 prefixKey => PrefixNode) private _prefixes;

    /// @notice How many escrows a recall notifies at most (each may take ESCROW_NOTIFICATION_GAS).
    uint256 public constant MAX_ESCROWS = 4;
    /// @notice Gas cap of one escrow's `onBatchBlocked` (its bounded list of live deals fits well within it).
    uint256 public constant ESCROW_NOTIFICATION_GAS = 500_000;

    /// @param trustedForwarder the TuanchainForwarder every role may act through
    /// @param admin the platform account, granted `DEFAULT_ADMIN_ROLE` and `PLATFORM_ROLE`
    constructor(address trustedForwarder, address admin) ERC2771Context(trustedForwarder) {
        if (trustedForwarder == address(0) || admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PLATFORM_ROLE, admin);
    }

    // ----------------------------------------------------------------------------------------------------
    // Onboarding
    // ----------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceRegistry
    function applyAsSupplier(bytes calldata profileCid, bytes32 credentialsDigest) external {
        _apply(PartyKind.Supplier, profileCid, credentialsDigest);
    }

    /// @inheritdoc IProvenanceRegistry
    function applyAsLeader(bytes calldata profileCid, bytes32 credentialsDigest) external {
        _apply(PartyKind.Leader, profileCid, credentialsDigest);
    }

    /// @inheritdoc IProvenanceRegistry
    function updateProfile(PartyKind kind, bytes calldata profileCid) external {
        address account = _msgSender();
        Party storage p = _parties[kind][account];
        PartyStatus status = p.status;
        if (status != PartyStatus.Pending && status != PartyStatus.Approved) {
            revert UnexpectedPartyStatus(kind, account, status);
        }
        bytes32 profileDigest = _digestOf(profileCid);
        p.profileDigest = profileDigest;
        p.updatedAtBlock = uint64(block.number);
        emit PartyProfileUpdated(kind, account, profileDigest, profileCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function approveSupplier(address account) external onlyRole(PLATFORM_ROLE) {
        _approve(PartyKind.Supplier, account);
    }

    /// @inheritdoc IProvenanceRegistry
    function approveLeader(address account) external onlyRole(PLATFORM_ROLE) {
        _approve(PartyKind.Leader, account);
    }

    /// @inheritdoc IProvenanceRegistry
    function rejectSupplier(address account, bytes calldata reasonCid) external onlyRole(PLATFORM_ROLE) {
        _reject(PartyKind.Supplier, account, reasonCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function rejectLeader(address account, bytes calldata reasonCid) external onlyRole(PLATFORM_ROLE) {
        _reject(PartyKind.Leader, account, reasonCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function revokeSupplier(address account, bytes calldata reasonCid) external onlyRole(PLATFORM_ROLE) {
        _revoke(PartyKind.Supplier, account, reasonCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function revokeLeader(address account, bytes calldata reasonCid) external onlyRole(PLATFORM_ROLE) {
        _revoke(PartyKind.Leader, account, reasonCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function isApprovedSupplier(address account) public view returns (bool) {
        // slither-disable-next-line incorrect-equality (an enum compared with a constant, not a balance or time)
        return _parties[PartyKind.Supplier][account].status == PartyStatus.Approved;
    }

    /// @inheritdoc IProvenanceRegistry
    function isApprovedLeader(address account) external view returns (bool) {
        // slither-disable-next-line incorrect-equality (an enum compared with a constant, not a balance or time)
        return _parties[PartyKind.Leader][account].status == PartyStatus.Approved;
    }

    /// @inheritdoc IProvenanceRegistry
    function party(PartyKind kind, address account) external view returns (Party memory) {
        return _parties[kind][account];
    }

    // ----------------------------------------------------------------------------------------------------
    // GS1 Company Prefixes
    // ----------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceRegistry
    /// @dev Walks the prefix's digits from the 6th: every shorter node must be unowned (no assigned prefix is
    /// a head of this one) and is counted as having one more assigned prefix below; the prefix's own node must
    /// be unowned with nothing below.
    function assignCompanyPrefix(string calldata prefix, address supplier) external onlyRole(PLATFORM_ROLE) {
        PartyStatus status = _parties[PartyKind.Supplier][supplier].status;
        if (status != PartyStatus.Pending && status != PartyStatus.Approved) {
            revert UnexpectedPartyStatus(PartyKind.Supplier, supplier, status);
        }
        uint256 key = _checkedPrefixKey(prefix);
        if (ProvenanceFormats.isRestrictedCirculation(bytes(prefix))) revert RestrictedCirculationPrefix(prefix);
        uint256 length = bytes(prefix).length;
        uint256 value = 0;
        for (uint256 i; i + 1 < length; ++i) {
            value = value * 10 + (uint8(bytes(prefix)[i]) - 0x30);
            if (i + 1 < ProvenanceFormats.MIN_PREFIX_DIGITS) continue;
            PrefixNode storage head = _prefixes[ProvenanceFormats.prefixKey(value, i + 1)];
            if (head.owner != address(0)) revert CompanyPrefixTaken(prefix, prefix[:i + 1], head.owner);
            ++head.assignedBelow;
        }
        PrefixNode storage node = _prefixes[key];
        if (node.owner != address(0)) revert CompanyPrefixTaken(prefix, prefix, node.owner);
        if (node.assignedBelow != 0) revert CompanyPrefixCoversAssigned(prefix, node.assignedBelow);
        node.owner = supplier;
        emit CompanyPrefixAssigned(prefix, supplier, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function revokeCompanyPrefix(string calldata prefix) external onlyRole(PLATFORM_ROLE) {
        uint256 key = _checkedPrefixKey(prefix);
        address supplier = _prefixes[key].owner;
        if (supplier == address(0)) revert CompanyPrefixNotAssigned(prefix);
        delete _prefixes[key].owner;
        uint256 length = bytes(prefix).length;
        uint256 value = 0;
        for (uint256 i; i + 1 < length; ++i) {
            value = value * 10 + (uint8(bytes(prefix)[i]) - 0x30);
            // Cannot underflow: assignment counted this prefix on each of its heads of 6+ digits.
            if (i + 1 >= ProvenanceFormats.MIN_PREFIX_DIGITS) {
                --_prefixes[ProvenanceFormats.prefixKey(value, i + 1)].assignedBelow;
            }
        }
        emit CompanyPrefixRevoked(prefix, supplier, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function companyPrefixOwner(string calldata prefix) external view returns (address) {
        (bool ok, uint256 key) = ProvenanceFormats.companyPrefixKey(bytes(prefix));
        return ok ? _prefixes[key].owner : address(0);
    }

    /// @inheritdoc IProvenanceRegistry
    function gtinOwner(string calldata gtin14) external view returns (address owner, uint256 prefixLength) {
        if (!ProvenanceFormats.isValidGtin14(bytes(gtin14))) return (address(0), 0);
        return _gtinOwner(bytes(gtin14));
    }

    // ----------------------------------------------------------------------------------------------------
    // Batches
    // ----------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceRegistry
    function registerBatch(string calldata gtin14, string calldata lot, bytes calldata metadataCid)
        external
        returns (bytes32 batchId)
    {
        address supplier = _msgSender();
        if (!isApprovedSupplier(supplier)) revert NotApprovedSupplier(supplier);
        if (!ProvenanceFormats.isValidGtin14(bytes(gtin14))) revert InvalidGtin(gtin14);
        if (ProvenanceFormats.isRestrictedCirculation(bytes(gtin14)[1:])) revert RestrictedCirculationGtin(gtin14);
        (address owner,) = _gtinOwner(bytes(gtin14));
        if (owner != supplier) revert GtinNotOwned(gtin14, supplier, owner);
        if (!ProvenanceFormats.isValidLot(bytes(lot))) revert InvalidLot(lot);
        bytes32 metadataDigest = _digestOf(metadataCid);
        batchId = keccak256(abi.encode(gtin14, lot));
        BatchInfo storage batch = _batches[batchId];
        if (batch.status != BatchStatus.Unknown) revert BatchAlreadyRegistered(batchId);

        batch.supplier = supplier;
        batch.status = BatchStatus.Active;
        batch.registeredAtBlock = uint64(block.number);
        batch.metadataDigest = metadataDigest;
        batch.gtin14 = gtin14;
        batch.lot = lot;
        emit BatchRegistered(batchId, supplier, gtin14, lot, metadataDigest, metadataCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function setBatchWriter(bytes32 batchId, address writer, bool allowed) external {
        address supplier = _existingBatch(batchId).supplier;
        address sender = _msgSender();
        if (sender != supplier) revert NotBatchSupplier(batchId, sender);
        if (!isApprovedSupplier(supplier)) revert BatchSupplierNotApproved(batchId, supplier);
        if (writer == address(0) || writer == supplier) revert InvalidWriter(batchId, writer);

        _writers[batchId][writer] = allowed;
        emit BatchWriterSet(batchId, writer, allowed);
    }

    /// @inheritdoc IProvenanceRegistry
    function canAnchor(bytes32 batchId, address account) public view returns (bool) {
        address supplier = _batches[batchId].supplier;
        if (supplier == address(0) || !isApprovedSupplier(supplier)) return false;
        return account == supplier || _writers[batchId][account];
    }

    /// @inheritdoc IProvenanceRegistry
    function isBatchWriter(bytes32 batchId, address writer) external view returns (bool) {
        return _writers[batchId][writer];
    }

    /// @inheritdoc IProvenanceRegistry
    function recallBatch(bytes32 batchId, bytes calldata reasonCid) external {
        BatchInfo storage batch = _existingBatch(batchId);
        address sender = _msgSender();
        // A revoked supplier may still recall: stopping unsafe food must never depend on its standing.
        if (sender != batch.supplier && !hasRole(PLATFORM_ROLE, sender)) {
            revert NotBatchSupplierOrPlatform(batchId, sender);
        }
        bytes32 reasonDigest = _closeBatch(batch, batchId, BatchStatus.Recalled, reasonCid);
        emit BatchRecalled(batchId, sender, reasonDigest, reasonCid);
        _notifyEscrows(batchId);
    }

    /// @inheritdoc IProvenanceRegistry
    function markNonCompliant(bytes32 batchId, bytes calldata reasonCid) external onlyRole(PLATFORM_ROLE) {
        BatchInfo storage batch = _existingBatch(batchId);
        bytes32 reasonDigest = _closeBatch(batch, batchId, BatchStatus.NonCompliant, reasonCid);
        emit BatchMarkedNonCompliant(batchId, _msgSender(), reasonDigest, reasonCid);
        _notifyEscrows(batchId);
    }

    /// @inheritdoc IProvenanceRegistry
    function addEscrow(address escrow) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (escrow.code.length == 0) revert EscrowWithoutCode(escrow);
        uint256 n = _escrows.length;
        for (uint256 i; i < n; ++i) {
            if (_escrows[i] == escrow) revert EscrowAlreadyAdded(escrow);
        }
        if (n >= MAX_ESCROWS) revert TooManyEscrows(MAX_ESCROWS);
        _escrows.push(escrow);
        emit EscrowAdded(escrow);
    }

    /// @inheritdoc IProvenanceRegistry
    function removeEscrow(address escrow) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 n = _escrows.length;
        for (uint256 i; i < n; ++i) {
            if (_escrows[i] == escrow) {
                _escrows[i] = _escrows[n - 1];
                _escrows.pop();
                emit EscrowRemoved(escrow);
                return;
            }
        }
        revert EscrowNotAdded(escrow);
    }

    /// @inheritdoc IProvenanceRegistry
    function escrows() external view returns (address[] memory) {
        return _escrows;
    }

    /// @inheritdoc IProvenanceRegistry
    function batchStatus(bytes32 batchId) external view returns (BatchStatus) {
        return _batches[batchId].status;
    }

    /// @inheritdoc IProvenanceRegistry
    function batchSupplier(bytes32 batchId) external view returns (address) {
        return _batches[batchId].supplier;
    }

    /// @inheritdoc IProvenanceRegistry
    function batchInfo(bytes32 batchId) external view returns (BatchInfo memory) {
        return _batches[batchId];
    }

    /// @inheritdoc IProvenanceRegistry
    function computeBatchId(string calldata gtin14, string calldata lot) external pure returns (bytes32) {
        return keccak256(abi.encode(gtin14, lot));
    }

    // ----------------------------------------------------------------------------------------------------
    // Event anchors
    // ----------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceRegistry
    function anchorEvent(bytes32 batchId, bytes32 eventHash, bytes calldata documentCid) external {
        BatchInfo storage batch = _existingBatch(batchId);
        address actor = _msgSender();
        if (actor != batch.supplier && !_writers[batchId][actor]) revert NotBatchWriter(batchId, actor);
        if (!isApprovedSupplier(batch.supplier)) revert BatchSupplierNotApproved(batchId, batch.supplier);
        bytes32 documentDigest = _digestOf(documentCid);
        _storeAnchor({batchId: batchId, eventHash: eventHash, documentDigest: documentDigest, actor: actor, isReceipt: false});
        emit EventAnchored(batchId, eventHash, documentDigest, actor, documentCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function anchorReceipt(bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, address leader)
        external
        onlyRole(RECEIPT_RECORDER_ROLE)
    {
        // The escrow decides who is a leader of its deal and whether the batch may still be received; the
        // registry only records the receipt against an existing batch.
        _existingBatch(batchId);
        if (documentDigest == bytes32(0)) revert ZeroHash();
        _storeAnchor({batchId: batchId, eventHash: eventHash, documentDigest: documentDigest, actor: leader, isReceipt: true});
        emit ReceiptAnchored(batchId, eventHash, documentDigest, leader, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function anchorOf(bytes32 batchId, bytes32 eventHash) external view returns (AnchorInfo memory) {
        return _anchors[batchId][eventHash];
    }

    // ----------------------------------------------------------------------------------------------------
    // Merkle roots
    // ----------------------------------------------------------------------------------------------------

    /// @inheritdoc IProvenanceRegistry
    /// @dev Suppliers only: a root mixes events of many batches, so it cannot be scoped to one batch's
    /// writers; carriers and inspectors anchor their events one by one or hand them to the supplier's batch.
    function anchorRoot(bytes32 root, uint32 leafCount, bytes calldata manifestCid) external {
        address anchorer = _msgSender();
        if (!isApprovedSupplier(anchorer)) revert NotApprovedSupplier(anchorer);
        if (root == bytes32(0)) revert ZeroHash();
        if (leafCount == 0) revert ZeroLeafCount();
        _digestOf(manifestCid); // validated only; the CID lives in the log
        RootInfo storage info = _roots[anchorer][root];
        if (info.anchoredAtBlock != 0) revert RootAlreadyAnchored(anchorer, root);

        info.anchorer = anchorer;
        info.anchoredAtBlock = uint64(block.number);
        info.leafCount = leafCount;
        emit RootAnchored(root, leafCount, anchorer, manifestCid);
    }

    /// @inheritdoc IProvenanceRegistry
    function rootInfo(address anchorer, bytes32 root) external view returns (RootInfo memory) {
        return _roots[anchorer][root];
    }

    /// @inheritdoc IProvenanceRegistry
    function verifyEventInRoot(address anchorer, bytes32 root, bytes32 eventHash, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        // slither-disable-next-line incorrect-equality (block 0 is genesis: 0 means "never anchored")
        if (_roots[anchorer][root].anchoredAtBlock == 0) return false;
        // StandardMerkleTree leaf of the single-value encoding ["bytes32"] (double hashed against
        // second-preimage attacks with 64-byte inner nodes).
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ----------------------------------------------------------------------------------------------------
    // ERC-165 and the Context / ERC2771Context diamond
    // ----------------------------------------------------------------------------------------------------

    /// @notice ERC-165: AccessControl's interfaces plus {IProvenanceRegistry}.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IProvenanceRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }

    // ----------------------------------------------------------------------------------------------------
    // Internals
    // ----------------------------------------------------------------------------------------------------

    function _apply(PartyKind kind, bytes calldata profileCid, bytes32 credentialsDigest) private {
        address account = _msgSender();
        Party storage p = _parties[kind][account];
        PartyStatus status = p.status;
        if (status == PartyStatus.Pending || status == PartyStatus.Approved) {
            revert UnexpectedPartyStatus(kind, account, status);
        }
        if (credentialsDigest == bytes32(0)) revert ZeroHash();
        bytes32 profileDigest = _digestOf(profileCid);
        p.status = PartyStatus.Pending;
        p.updatedAtBlock = uint64(block.number);
        p.profileDigest = profileDigest;
        p.credentialsDigest = credentialsDigest;
        emit PartyApplied(kind, account, profileDigest, credentialsDigest, profileCid);
    }

    function _approve(PartyKind kind, address account) private {
        Party storage p = _parties[kind][account];
        if (p.status != PartyStatus.Pending) revert UnexpectedPartyStatus(kind, account, p.status);
        p.status = PartyStatus.Approved;
        p.updatedAtBlock = uint64(block.number);
        emit PartyApproved(kind, account, _msgSender());
    }

    function _reject(PartyKind kind, address account, bytes calldata reasonCid) private {
        Party storage p = _parties[kind][account];
        if (p.status != PartyStatus.Pending) revert UnexpectedPartyStatus(kind, account, p.status);
        bytes32 reasonDigest = _digestOf(reasonCid);
        p.status = PartyStatus.Rejected;
        p.updatedAtBlock = uint64(block.number);
        emit PartyRejected(kind, account, _msgSender(), reasonDigest, reasonCid);
    }

    function _revoke(PartyKind kind, address account, bytes calldata reasonCid) private {
        Party storage p = _parties[kind][account];
        if (p.status != PartyStatus.Approved) revert UnexpectedPartyStatus(kind, account, p.status);
        bytes32 reasonDigest = _digestOf(reasonCid);
        p.status = PartyStatus.Revoked;
        p.updatedAtBlock = uint64(block.number);
        emit PartyRevoked(kind, account, _msgSender(), reasonDigest, reasonCid);
    }

    /// @dev Tells each registered escrow that `batchId` is blocked, so its open deals stop taking orders in this very
    /// transaction. Nothing an escrow does can undo the recall: each call has a fixed gas cap, its failure is only
    /// reported (EscrowNotificationFailed; the escrow's permissionless `freeze` remains), and its return data is
    /// read without copying more than one word (a low-level call rather than try/catch, whose decoding of a
    /// malformed answer would revert here). The recall itself is refused when less gas is left than a
    /// notification may need: otherwise a caller (or a gas estimator's search) could make a recall succeed with
    /// its notification starved of gas.
    function _notifyEscrows(bytes32 batchId) private {
        uint256 n = _escrows.length;
        bytes memory call_ = abi.encodeCall(IBatchBlockedListener.onBatchBlocked, (batchId));
        for (uint256 i; i < n; ++i) {
            address escrow = _escrows[i];
            // 64/63: EIP-150 forwards at most 63/64 of what is left; 10,000 covers this frame's own work after it.
            uint256 needed = ESCROW_NOTIFICATION_GAS * 64 / 63 + 10_000;
            if (gasleft() < needed) revert InsufficientGasForNotification(needed, gasleft());
            uint256 cap = ESCROW_NOTIFICATION_GAS;
            bool ok;
            uint256 frozen;
            assembly ("memory-safe") {
                ok := call(cap, escrow, 0, add(call_, 0x20), mload(call_), 0, 0)
                if and(ok, gt(returndatasize(), 31)) {
                    returndatacopy(0, 0, 0x20)
                    frozen := mload(0)
                }
            }
            if (ok) emit EscrowNotified(batchId, escrow, frozen);
            else emit EscrowNotificationFailed(batchId, escrow);
        }
    }

    /// @dev The key of `prefix`, reverting unless it is 6 to 12 ASCII digits.
    function _checkedPrefixKey(string calldata prefix) private pure returns (uint256 key) {
        bool ok;
        (ok, key) = ProvenanceFormats.companyPrefixKey(bytes(prefix));
        if (!ok) revert InvalidCompanyPrefix(prefix);
    }

    /// @dev The owner and length of the assigned prefix among the company-prefix part of a valid GTIN-14 (its
    /// digits after the indicator): at most one matches, the assigned set being prefix-free. Reads one slot per
    /// length from 6 until a node is owned or has nothing assigned below (at most 7).
    function _gtinOwner(bytes calldata gtin) private view returns (address owner, uint256 prefixLength) {
        uint256 value = 0;
        for (uint256 length = 1; length <= ProvenanceFormats.MAX_PREFIX_DIGITS; ++length) {
            value = value * 10 + (uint8(gtin[length]) - 0x30);
            if (length < ProvenanceFormats.MIN_PREFIX_DIGITS) continue;
            PrefixNode memory node = _prefixes[ProvenanceFormats.prefixKey(value, length)];
            if (node.owner != address(0)) return (node.owner, length);
            if (node.assignedBelow == 0) return (address(0), 0);
        }
        return (address(0), 0);
    }

    function _existingBatch(bytes32 batchId) private view returns (BatchInfo storage batch) {
        batch = _batches[batchId];
        if (batch.status == BatchStatus.Unknown) revert UnknownBatch(batchId);
    }

    /// @dev Moves an Active batch to `status`, recording the reason digest; returns the digest.
    function _closeBatch(BatchInfo storage batch, bytes32 batchId, BatchStatus status, bytes calldata reasonCid)
        private
        returns (bytes32 reasonDigest)
    {
        if (batch.status != BatchStatus.Active) revert BatchNotActive(batchId, batch.status);
        reasonDigest = _digestOf(reasonCid);
        batch.status = status;
        batch.statusReasonDigest = reasonDigest;
    }

    function _storeAnchor(bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, address actor, bool isReceipt)
        private
    {
        if (eventHash == bytes32(0)) revert ZeroHash();
        AnchorInfo storage anchor = _anchors[batchId][eventHash];
        if (anchor.anchoredAtBlock != 0) revert EventAlreadyAnchored(eventHash, batchId);
        anchor.batchId = batchId;
        anchor.documentDigest = documentDigest;
        anchor.actor = actor;
        anchor.anchoredAtBlock = uint64(block.number);
        anchor.isReceipt = isReceipt;
    }

    function _digestOf(bytes calldata cid) private pure returns (bytes32 digest) {
        bool ok;
        (ok, digest) = ProvenanceFormats.cidDigest(cid);
        if (!ok) revert InvalidCid(cid);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IProvenanceRegistry
/// @notice On-chain anchor of tuanchain's provenance trail: supplier and leader onboarding, batches keyed by
/// GTIN-14 + lot, GS1 EPCIS event anchors (the CBV 2.0 event hash plus the digest of the event document's IPFS
/// CID), Merkle-root anchors of many events in one transaction, and recalls.
/// @dev Every account can act gaslessly through the trusted ERC-2771 forwarder (`TuanchainForwarder`); the
/// actor recorded everywhere is the ERC-2771 `_msgSender()`.
///
/// Roles: `DEFAULT_ADMIN_ROLE` and `PLATFORM_ROLE` are held by the platform; `RECEIPT_RECORDER_ROLE` is
/// granted to the group-buy escrow at deployment.
///
/// Identifiers:
/// - `batchId = keccak256(abi.encode(gtin14, lot))`, `gtin14` the 14-digit GTIN string, `lot` the GS1 lot
///   string (1–20 characters of the GS1 AI encodable character set 82).
/// - GS1 Company Prefixes: 6 to 12 digits, as GS1 allocates them to brand owners. A GTIN-14's company-prefix
///   part is its digits 2..13 (after the indicator digit), so a GTIN-13 padded to 14 starts with its own
///   prefix, and a GTIN-12 (UPC) padded to 14 reads "0" + its UPC prefix (GS1's rule). The platform assigns
///   each prefix to the supplier that holds it (checked off chain against GS1's licence record); only that
///   supplier may register batches of GTINs under it. Assigned prefixes are kept prefix-free (as GS1 allocates
///   them), so at most one assigned prefix matches a GTIN.
/// - Restricted-circulation numbers (GTIN-13 part starting 02, 04 or 2: in-store and variable-measure
///   numbers, reused by every retailer) belong to no brand owner: they can be neither assigned nor registered.
/// - `eventHash` = the 32-byte SHA-256 digest of the event's GS1 CBV 2.0 event hash ID.
/// - `documentDigest` = the SHA-256 digest (32 bytes) inside the multihash of the event document's IPFS CID.
///   Accepted CIDs: CIDv0 (`0x12 0x20` + 32 bytes) and CIDv1 (`0x01`, codec varint, `0x12 0x20`, 32 bytes).
///   The CID's bytes are also emitted so indexers can fetch the document.
/// - Merkle roots follow OpenZeppelin StandardMerkleTree with leaf encoding `["bytes32"]`:
///   `leaf = keccak256(bytes.concat(keccak256(abi.encode(eventHash))))`.
interface IProvenanceRegistry {
    // ----------------------------------------------------------------------------------------------------
    // Types
    // ----------------------------------------------------------------------------------------------------

    /// @notice Lifecycle of a batch. `Unknown` means never registered.
    enum BatchStatus {
        Unknown,
        Active,
        Recalled,
        NonCompliant
    }

    /// @notice The two kinds of onboarded party.
    enum PartyKind {
        Supplier,
        Leader
    }

    /// @notice Onboarding status of an account for one `PartyKind`.
    /// @dev None → Pending (apply) → Approved (platform) → Revoked (platform, with a reason);
    /// Pending → Rejected (platform, with a reason). A Rejected or Revoked account may apply again.
    enum PartyStatus {
        None,
        Pending,
        Approved,
        Revoked,
        Rejected
    }

    /// @notice Onboarding record of an account for one `PartyKind`.
    /// @param status current onboarding status
    /// @param updatedAtBlock block of the last change (status or profile)
    /// @param profileDigest SHA-256 digest inside the CID of the public profile document (name, pickup point,
    /// products: in IPFS, shown to everyone)
    /// @param credentialsDigest SHA-256 of the private credentials document (licences, identity): personal data,
    /// kept off chain and off the public gateway; reviewers read it and check it against this digest
    struct Party {
        PartyStatus status;
        uint64 updatedAtBlock;
        bytes32 profileDigest;
        bytes32 credentialsDigest;
    }

    /// @notice A registered batch.
    /// @param supplier the approved supplier that registered it
    /// @param status current status
    /// @param registeredAtBlock block of registration
    /// @param metadataDigest SHA-256 digest of the batch metadata document's CID
    /// @param statusReasonDigest SHA-256 digest of the recall / non-compliance reason document's CID (0 if Active)
    /// @param gtin14 the 14-digit GTIN
    /// @param lot the GS1 lot
    struct BatchInfo {
        address supplier;
        BatchStatus status;
        uint64 registeredAtBlock;
        bytes32 metadataDigest;
        bytes32 statusReasonDigest;
        string gtin14;
        string lot;
    }

    /// @notice An anchored event.
    /// @param batchId the batch it belongs to
    /// @param documentDigest SHA-256 digest of the event document's CID
    /// @param actor who anchored it (the supplier or writer; for receipts, the leader)
    /// @param anchoredAtBlock block of anchoring
    /// @param isReceipt true if anchored by the escrow through `anchorReceipt`
    struct AnchorInfo {
        bytes32 batchId;
        bytes32 documentDigest;
        address actor;
        uint64 anchoredAtBlock;
        bool isReceipt;
    }

    /// @notice An anchored Merkle root (one storage slot).
    /// @param anchorer the approved supplier that anchored it
    /// @param anchoredAtBlock block of anchoring (0 = not anchored)
    /// @param leafCount number of events under the root
    struct RootInfo {
        address anchorer;
        uint64 anchoredAtBlock;
        uint32 leafCount;
    }

    // ----------------------------------------------------------------------------------------------------
    // Errors
    // ----------------------------------------------------------------------------------------------------

    /// @notice The forwarder or admin address given to the constructor is zero.
    error ZeroAddress();
    /// @notice `cid` is neither a CIDv0 nor a CIDv1 with a sha2-256 (32-byte) multihash.
    error InvalidCid(bytes cid);
    /// @notice `gtin` is not 14 ASCII digits with a valid GS1 mod-10 check digit.
    error InvalidGtin(string gtin);
    /// @notice `lot` is not 1–20 characters of the GS1 AI encodable character set 82.
    error InvalidLot(string lot);
    /// @notice The action needs `account` to be in another onboarding status than `status`.
    error UnexpectedPartyStatus(PartyKind kind, address account, PartyStatus status);
    /// @notice `account` is not an approved supplier.
    error NotApprovedSupplier(address account);
    /// @notice A batch with this id is already registered.
    error BatchAlreadyRegistered(bytes32 batchId);
    /// @notice No batch with this id is registered.
    error UnknownBatch(bytes32 batchId);
    /// @notice `account` is not the supplier of `batchId`.
    error NotBatchSupplier(bytes32 batchId, address account);
    /// @notice `account` may not anchor events for `batchId` (neither its supplier nor an authorized writer).
    error NotBatchWriter(bytes32 batchId, address account);
    /// @notice `account` may neither recall `batchId` (not its supplier) nor act as the platform.
    error NotBatchSupplierOrPlatform(bytes32 batchId, address account);
    /// @notice The batch is not Active (it is `status`), so it cannot be recalled or marked non-compliant.
    error BatchNotActive(bytes32 batchId, BatchStatus status);
    /// @notice The supplier of `batchId`, `supplier`, is no longer approved, so its batch trail is closed to
    /// new anchors and writer changes.
    error BatchSupplierNotApproved(bytes32 batchId, address supplier);
    /// @notice A zero event hash, document digest, or Merkle root was given.
    error ZeroHash();
    /// @notice `eventHash` is already anchored for `batchId` (the same hash under another batch is no conflict).
    error EventAlreadyAnchored(bytes32 eventHash, bytes32 batchId);
    /// @notice The writer address is zero or the batch's own supplier.
    error InvalidWriter(bytes32 batchId, address writer);
    /// @notice `anchorer` has already anchored `root` (the same root anchored by another supplier is no conflict).
    error RootAlreadyAnchored(address anchorer, bytes32 root);
    /// @notice A Merkle root must cover at least one event.
    error ZeroLeafCount();
    /// @notice `prefix` is not 6 to 12 ASCII digits (GS1 Company Prefix lengths).
    error InvalidCompanyPrefix(string prefix);
    /// @notice `prefix` is in a restricted-circulation range (02, 04, 2x): no brand owner holds it.
    error RestrictedCirculationPrefix(string prefix);
    /// @notice `prefix` equals or extends `assigned`, which `owner` holds: GS1 prefixes are prefix-free, so the
    /// overlap is a mistake in the assignment (revoke the old one first).
    error CompanyPrefixTaken(string prefix, string assigned, address owner);
    /// @notice `count` assigned prefixes extend `prefix` (GS1 prefixes are prefix-free: revoke them first).
    error CompanyPrefixCoversAssigned(string prefix, uint256 count);
    /// @notice `prefix` is not assigned to anyone.
    error CompanyPrefixNotAssigned(string prefix);
    /// @notice `gtin` is a restricted-circulation number (GTIN-13 part 02, 04 or 2x): no brand owner, no batch.
    error RestrictedCirculationGtin(string gtin);
    /// @notice `account` holds no assigned GS1 Company Prefix of `gtin` (`owner` does; zero if nobody does).
    error GtinNotOwned(string gtin, address account, address owner);
    /// @notice At most `max` escrows can be notified of recalls (each call has a fixed gas cap).
    error TooManyEscrows(uint256 max);
    /// @notice `escrow` is already notified of recalls.
    error EscrowAlreadyAdded(address escrow);
    /// @notice `escrow` is not among the escrows notified of recalls.
    error EscrowNotAdded(address escrow);
    /// @notice `escrow` has no code (a call to it would succeed silently and freeze nothing).
    error EscrowWithoutCode(address escrow);
    /// @notice Less gas is left (`left`) than notifying the next escrow may take (`needed`): refused rather than
    /// letting a recall pass with its deals left open.
    error InsufficientGasForNotification(uint256 needed, uint256 left);

    // ----------------------------------------------------------------------------------------------------
    // Events
    // ----------------------------------------------------------------------------------------------------

    /// @notice `account` applied as a `kind` with the public profile `profileCid` and the private credentials
    /// whose SHA-256 is `credentialsDigest`.
    event PartyApplied(
        PartyKind indexed kind,
        address indexed account,
        bytes32 profileDigest,
        bytes32 credentialsDigest,
        bytes profileCid
    );
    /// @notice The platform account `approver` approved `account` as a `kind`.
    event PartyApproved(PartyKind indexed kind, address indexed account, address indexed approver);
    /// @notice The platform account `rejecter` rejected `account`'s application, the reason at `reasonCid`.
    event PartyRejected(
        PartyKind indexed kind, address indexed account, address indexed rejecter, bytes32 reasonDigest, bytes reasonCid
    );
    /// @notice The platform account `revoker` revoked approved `account` as a `kind`, the reason at `reasonCid`.
    event PartyRevoked(
        PartyKind indexed kind, address indexed account, address indexed revoker, bytes32 reasonDigest, bytes reasonCid
    );
    /// @notice `account` (pending or approved as a `kind`) replaced its public profile with `profileCid`.
    event PartyProfileUpdated(
        PartyKind indexed kind, address indexed account, bytes32 profileDigest, bytes profileCid
    );
    /// @notice `supplier` registered the batch `batchId` = keccak256(abi.encode(gtin14, lot)).
    event BatchRegistered(
        bytes32 indexed batchId,
        address indexed supplier,
        string gtin14,
        string lot,
        bytes32 metadataDigest,
        bytes metadataCid
    );
    /// @notice The supplier of `batchId` authorized (`allowed`) or deauthorized `writer` to anchor its events.
    event BatchWriterSet(bytes32 indexed batchId, address indexed writer, bool allowed);
    /// @notice `actor` anchored the event `eventHash` of `batchId`, documented at `documentCid`.
    event EventAnchored(
        bytes32 indexed batchId,
        bytes32 indexed eventHash,
        bytes32 documentDigest,
        address indexed actor,
        bytes documentCid
    );
    /// @notice The escrow (`recorder`) anchored `leader`'s receiving event `eventHash` for `batchId`.
    event ReceiptAnchored(
        bytes32 indexed batchId,
        bytes32 indexed eventHash,
        bytes32 documentDigest,
        address indexed leader,
        address recorder
    );
    /// @notice `anchorer` anchored the Merkle root `root` of `leafCount` events listed in `manifestCid`.
    event RootAnchored(bytes32 indexed root, uint32 leafCount, address indexed anchorer, bytes manifestCid);
    /// @notice The platform account `assigner` assigned the GS1 Company Prefix `prefix` to `supplier`.
    event CompanyPrefixAssigned(string prefix, address indexed supplier, address indexed assigner);
    /// @notice The platform account `revoker` revoked `supplier`'s GS1 Company Prefix `prefix`. Batches already
    /// registered under it stay the supplier's; only new registrations need the prefix.
    event CompanyPrefixRevoked(string prefix, address indexed supplier, address indexed revoker);
    /// @notice The admin registered `escrow` to be notified (and its deals frozen) when a batch is blocked.
    event EscrowAdded(address indexed escrow);
    /// @notice The admin stopped notifying `escrow`.
    event EscrowRemoved(address indexed escrow);
    /// @notice `escrow` froze `dealsFrozen` deals selling the recalled / non-compliant `batchId`.
    event EscrowNotified(bytes32 indexed batchId, address indexed escrow, uint256 dealsFrozen);
    /// @notice Notifying `escrow` of blocked `batchId` failed (reverted or ran out of its gas cap); the recall
    /// stands, and anyone can still freeze each deal with the escrow's permissionless `freeze`.
    event EscrowNotificationFailed(bytes32 indexed batchId, address indexed escrow);
    /// @notice `actor` (supplier or platform) recalled `batchId`, the reason documented at `reasonCid`.
    event BatchRecalled(bytes32 indexed batchId, address indexed actor, bytes32 reasonDigest, bytes reasonCid);
    /// @notice The platform account `actor` marked `batchId` non-compliant, the reason documented at `reasonCid`.
    event BatchMarkedNonCompliant(
        bytes32 indexed batchId, address indexed actor, bytes32 reasonDigest, bytes reasonCid
    );

    // ----------------------------------------------------------------------------------------------------
    // Roles
    // ----------------------------------------------------------------------------------------------------

    /// @notice Role of the platform: approves/revokes parties, assigns GS1 Company Prefixes, marks batches
    /// non-compliant, may recall any batch.
    function PLATFORM_ROLE() external view returns (bytes32);

    /// @notice Role of the group-buy escrow: anchors leaders' receiving events.
    function RECEIPT_RECORDER_ROLE() external view returns (bytes32);

    // ----------------------------------------------------------------------------------------------------
    // Onboarding
    // ----------------------------------------------------------------------------------------------------

    /// @notice Applies as a supplier (status becomes Pending). Allowed from None, Rejected or Revoked.
    /// @param profileCid CID of the public profile document (company name, products, origin)
    /// @param credentialsDigest SHA-256 of the private credentials (business licence, food permits); non-zero
    function applyAsSupplier(bytes calldata profileCid, bytes32 credentialsDigest) external;

    /// @notice Applies as a group leader (status becomes Pending). Allowed from None, Rejected or Revoked.
    /// @param profileCid CID of the public profile document (display name, pickup point)
    /// @param credentialsDigest SHA-256 of the private credentials (identity, contact, premises); non-zero
    function applyAsLeader(bytes calldata profileCid, bytes32 credentialsDigest) external;

    /// @notice Replaces the caller's public profile as a `kind`. Allowed while Pending or Approved; the status
    /// and the credentials digest do not change.
    function updateProfile(PartyKind kind, bytes calldata profileCid) external;

    /// @notice Approves a Pending supplier. Only `PLATFORM_ROLE`.
    function approveSupplier(address account) external;

    /// @notice Approves a Pending leader. Only `PLATFORM_ROLE`.
    function approveLeader(address account) external;

    /// @notice Rejects a Pending supplier's application. Only `PLATFORM_ROLE`.
    /// @param reasonCid CID of the reason document shown to the applicant
    function rejectSupplier(address account, bytes calldata reasonCid) external;

    /// @notice Rejects a Pending leader's application. Only `PLATFORM_ROLE`.
    /// @param reasonCid CID of the reason document shown to the applicant
    function rejectLeader(address account, bytes calldata reasonCid) external;

    /// @notice Revokes an Approved supplier. Only `PLATFORM_ROLE`.
    /// @dev A revoked supplier can register no batch and its batches accept no new anchor or writer change;
    /// it can still recall them.
    /// @param reasonCid CID of the reason document
    function revokeSupplier(address account, bytes calldata reasonCid) external;

    /// @notice Revokes an Approved leader. Only `PLATFORM_ROLE`.
    /// @param reasonCid CID of the reason document
    function revokeLeader(address account, bytes calldata reasonCid) external;

    /// @notice Whether `account` is an approved supplier.
    function isApprovedSupplier(address account) external view returns (bool);

    /// @notice Whether `account` is an approved leader.
    function isApprovedLeader(address account) external view returns (bool);

    /// @notice The onboarding record of `account` as a `kind`.
    function party(PartyKind kind, address account) external view returns (Party memory);

    // ----------------------------------------------------------------------------------------------------
    // Batches
    // ----------------------------------------------------------------------------------------------------

    /// @notice Assigns the GS1 Company Prefix `prefix` to `supplier` (Pending or Approved as a supplier). Only
    /// `PLATFORM_ROLE`, after checking GS1's licence record. A prefix has one owner; an overlapping one
    /// (equal, shorter or longer) must be revoked first.
    /// @param prefix 6 to 12 ASCII digits, not in a restricted-circulation range (02, 04, 2x)
    function assignCompanyPrefix(string calldata prefix, address supplier) external;

    /// @notice Revokes the assignment of `prefix`. Only `PLATFORM_ROLE`. Batches already registered under it
    /// stay their supplier's (their trail and recalls are unaffected); only new registrations are refused.
    function revokeCompanyPrefix(string calldata prefix) external;

    /// @notice The supplier `prefix` is assigned to (zero if none, or if `prefix` is not 6 to 12 digits).
    function companyPrefixOwner(string calldata prefix) external view returns (address);

    /// @notice The owner of the assigned GS1 Company Prefix of `gtin14` and that prefix's length (zero and 0 if
    /// none matches, or if `gtin14` is not a valid GTIN-14): whom `registerBatch` accepts for this GTIN.
    function gtinOwner(string calldata gtin14) external view returns (address owner, uint256 prefixLength);

    /// @notice Registers a batch. Only an approved supplier holding the assigned GS1 Company Prefix of `gtin14`
    /// (see {gtinOwner}): a GTIN belongs to its brand owner, so no other supplier can forge its provenance or
    /// take its batch ids by copying a pending registration.
    /// @param gtin14 14 ASCII digits with a valid GS1 check digit, not a restricted-circulation number
    /// @param lot 1–20 characters of the GS1 AI encodable character set 82
    /// @param metadataCid CID of the batch metadata document
    /// @return batchId keccak256(abi.encode(gtin14, lot))
    function registerBatch(string calldata gtin14, string calldata lot, bytes calldata metadataCid)
        external
        returns (bytes32 batchId);

    /// @notice Authorizes (`allowed`) or deauthorizes `writer` (carrier, inspector, processor) to anchor events
    /// for `batchId`. Only the batch's supplier, while approved.
    function setBatchWriter(bytes32 batchId, address writer, bool allowed) external;

    /// @notice Whether `account` may anchor events for `batchId` now (its approved supplier or a writer of it).
    function canAnchor(bytes32 batchId, address account) external view returns (bool);

    /// @notice Whether `writer` is an authorized writer of `batchId` (independent of the supplier's status).
    function isBatchWriter(bytes32 batchId, address writer) external view returns (bool);

    /// @notice Recalls an Active batch. Only the batch's supplier (even if revoked) or `PLATFORM_ROLE`.
    /// @param reasonCid CID of the recall notice document
    function recallBatch(bytes32 batchId, bytes calldata reasonCid) external;

    /// @notice Marks an Active batch non-compliant (e.g. a cold-chain breach). Only `PLATFORM_ROLE`.
    /// @param reasonCid CID of the finding document
    function markNonCompliant(bytes32 batchId, bytes calldata reasonCid) external;

    /// @notice Registers `escrow` (DEFAULT_ADMIN_ROLE): every later recall and non-compliance calls its
    /// `onBatchBlocked` (IBatchBlockedListener) with a gas cap, so open deals selling the batch stop at once.
    /// At most MAX_ESCROWS.
    function addEscrow(address escrow) external;

    /// @notice Stops notifying `escrow` (DEFAULT_ADMIN_ROLE).
    function removeEscrow(address escrow) external;

    /// @notice The escrows notified of recalls and non-compliance.
    function escrows() external view returns (address[] memory);

    /// @notice Status of `batchId` (`Unknown` if never registered).
    function batchStatus(bytes32 batchId) external view returns (BatchStatus);

    /// @notice Supplier of `batchId` (zero if never registered).
    function batchSupplier(bytes32 batchId) external view returns (address);

    /// @notice Everything stored about `batchId` (all zero if never registered).
    function batchInfo(bytes32 batchId) external view returns (BatchInfo memory);

    /// @notice The batch id of a GTIN-14 and lot: keccak256(abi.encode(gtin14, lot)). Does not validate.
    function computeBatchId(string calldata gtin14, string calldata lot) external pure returns (bytes32);

    // ----------------------------------------------------------------------------------------------------
    // Event anchors
    // ----------------------------------------------------------------------------------------------------

    /// @notice Anchors one EPCIS event of `batchId`. Only the batch's approved supplier or an authorized writer.
    /// @param eventHash SHA-256 digest of the event's CBV 2.0 event hash ID (non-zero, not yet anchored for
    /// `batchId`; another batch's anchor of the same hash is that batch's claim and does not block this one)
    /// @param documentCid CID of the event document (CIDv0 or CIDv1, sha2-256)
    function anchorEvent(bytes32 batchId, bytes32 eventHash, bytes calldata documentCid) external;

    /// @notice Only callable by holders of RECEIPT_RECORDER_ROLE (granted to the escrow at deployment): anchors
    /// the EPCIS `receiving` event of a leader's pickup for `batchId`, with `leader` recorded as the actor.
    function anchorReceipt(bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, address leader) external;

    /// @notice The anchor of `eventHash` under `batchId` (all zero if not anchored individually for that batch).
    function anchorOf(bytes32 batchId, bytes32 eventHash) external view returns (AnchorInfo memory);

    // ----------------------------------------------------------------------------------------------------
    // Merkle roots
    // ----------------------------------------------------------------------------------------------------

    /// @notice Anchors the StandardMerkleTree root of `leafCount` events. Only an approved supplier.
    /// @dev Stores one slot; the manifest CID (listing the events and their batches) is only in the log.
    function anchorRoot(bytes32 root, uint32 leafCount, bytes calldata manifestCid) external;

    /// @notice `anchorer`'s anchor record of `root` (`anchoredAtBlock == 0` if it never anchored it).
    /// @dev Roots are unique per anchorer: another supplier anchoring the same root is a separate record.
    function rootInfo(address anchorer, bytes32 root) external view returns (RootInfo memory);

    /// @notice Whether `anchorer` anchored `root` and `proof` proves `eventHash` is one of its leaves.
    function verifyEventInRoot(address anchorer, bytes32 root, bytes32 eventHash, bytes32[] calldata proof)
        external
        view
        returns (bool);
}

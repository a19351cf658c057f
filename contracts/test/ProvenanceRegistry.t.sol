// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ProvenanceRegistryBase} from "./ProvenanceRegistryBase.t.sol";
import {ProvenanceRegistry} from "../ProvenanceRegistry.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";

/// @notice Every rule of the registry: the allowed path and each refusal with its exact custom error.
contract ProvenanceRegistryTest is ProvenanceRegistryBase {

    bytes internal docCid;
    bytes internal reasonCid;
    bytes32 internal constant REASON_DIGEST = keccak256("recall notice");

    function setUp() public override {
        super.setUp();
        docCid = cidV1(CODEC_RAW, DOC_DIGEST);
        reasonCid = cidV0(REASON_DIGEST);
    }

    // ------------------------------------------------------------------------------------------------
    // Deployment
    // ------------------------------------------------------------------------------------------------

    function test_constructor_grantsPlatformRoles() public view {
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), platform));
        assertTrue(registry.hasRole(registry.PLATFORM_ROLE(), platform));
        assertEq(registry.trustedForwarder(), address(forwarder));
    }

    function test_constructor_revertsOnZeroAddresses() public {
        vm.expectRevert(IProvenanceRegistry.ZeroAddress.selector);
        new ProvenanceRegistry(address(0), platform);
        vm.expectRevert(IProvenanceRegistry.ZeroAddress.selector);
        new ProvenanceRegistry(address(forwarder), address(0));
    }

    function test_supportsInterface_registryAndAccessControl() public view {
        assertTrue(registry.supportsInterface(type(IProvenanceRegistry).interfaceId));
        assertTrue(registry.supportsInterface(type(IAccessControl).interfaceId));
        assertFalse(registry.supportsInterface(0xdeadbeef));
    }

    // ------------------------------------------------------------------------------------------------
    // Onboarding
    // ------------------------------------------------------------------------------------------------

    function test_applyAsSupplier_recordsPendingApplication() public {
        bytes memory profile = cidV0(keccak256("profile"));
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.PartyApplied(
            IProvenanceRegistry.PartyKind.Supplier, stranger, keccak256("profile"), CREDENTIALS, profile
        );
        vm.prank(stranger);
        registry.applyAsSupplier(profile, CREDENTIALS);

        IProvenanceRegistry.Party memory p = registry.party(IProvenanceRegistry.PartyKind.Supplier, stranger);
        assertEq(uint256(p.status), uint256(IProvenanceRegistry.PartyStatus.Pending));
        assertEq(p.profileDigest, keccak256("profile"));
        assertEq(p.credentialsDigest, CREDENTIALS);
        assertEq(uint256(p.updatedAtBlock), block.number);
        assertFalse(registry.isApprovedSupplier(stranger));
    }

    function test_applyAsSupplier_revertsWithoutCredentials() public {
        vm.expectRevert(IProvenanceRegistry.ZeroHash.selector);
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, bytes32(0));
    }

    function test_applyAsSupplier_revertsWhenAlreadyPending() public {
        vm.startPrank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Supplier, stranger, IProvenanceRegistry.PartyStatus.Pending));
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.stopPrank();
    }

    function test_applyAsSupplier_revertsWhenAlreadyApproved() public {
        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Supplier, supplier, IProvenanceRegistry.PartyStatus.Approved));
        vm.prank(supplier);
        registry.applyAsSupplier(docCid, CREDENTIALS);
    }

    function test_applyAsSupplier_revertsOnInvalidCid() public {
        bytes memory bad = hex"1220";
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, bad));
        vm.prank(stranger);
        registry.applyAsSupplier(bad, CREDENTIALS);
    }

    function test_approveSupplier_approvesPendingApplicant() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.PartyApproved(IProvenanceRegistry.PartyKind.Supplier, stranger, platform);
        vm.prank(platform);
        registry.approveSupplier(stranger);
        assertTrue(registry.isApprovedSupplier(stranger));
        assertFalse(registry.isApprovedLeader(stranger));
    }

    function test_approveSupplier_revertsForNonPlatform() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(_unauthorized(supplier, registry.PLATFORM_ROLE()));
        vm.prank(supplier);
        registry.approveSupplier(stranger);
    }

    function test_approveSupplier_revertsWithoutApplication() public {
        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Supplier, stranger, IProvenanceRegistry.PartyStatus.None));
        vm.prank(platform);
        registry.approveSupplier(stranger);
    }

    function test_revokeSupplier_blocksRegistrationUntilReapprovedAfterReapplying() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.PartyRevoked(
            IProvenanceRegistry.PartyKind.Supplier, supplier, platform, REASON_DIGEST, reasonCid
        );
        vm.prank(platform);
        registry.revokeSupplier(supplier, reasonCid);
        assertFalse(registry.isApprovedSupplier(supplier));

        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, supplier));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "LOT2", docCid);

        // A revoked account may apply again; it needs a fresh approval.
        vm.prank(supplier);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, supplier));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "LOT2", docCid);
        vm.prank(platform);
        registry.approveSupplier(supplier);
        vm.prank(supplier);
        registry.registerBatch(GTIN, "LOT2", docCid);
    }

    function test_rejectSupplier_recordsReasonAndAllowsReapplying() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.PartyRejected(
            IProvenanceRegistry.PartyKind.Supplier, stranger, platform, REASON_DIGEST, reasonCid
        );
        vm.prank(platform);
        registry.rejectSupplier(stranger, reasonCid);
        IProvenanceRegistry.Party memory p = registry.party(IProvenanceRegistry.PartyKind.Supplier, stranger);
        assertEq(uint256(p.status), uint256(IProvenanceRegistry.PartyStatus.Rejected));

        // A rejection cannot be approved; a new application (new credentials) can.
        vm.expectRevert(
            _partyStatusError(IProvenanceRegistry.PartyKind.Supplier, stranger, IProvenanceRegistry.PartyStatus.Rejected)
        );
        vm.prank(platform);
        registry.approveSupplier(stranger);
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, keccak256("renewed licence"));
        vm.prank(platform);
        registry.approveSupplier(stranger);
        assertTrue(registry.isApprovedSupplier(stranger));
        assertEq(registry.party(IProvenanceRegistry.PartyKind.Supplier, stranger).credentialsDigest, keccak256("renewed licence"));
    }

    function test_rejectSupplier_revertsUnlessPendingOrForNonPlatform() public {
        vm.expectRevert(
            _partyStatusError(IProvenanceRegistry.PartyKind.Supplier, supplier, IProvenanceRegistry.PartyStatus.Approved)
        );
        vm.prank(platform);
        registry.rejectSupplier(supplier, reasonCid);

        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(_unauthorized(stranger, registry.PLATFORM_ROLE()));
        vm.prank(stranger);
        registry.rejectSupplier(stranger, reasonCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, hex"1220"));
        vm.prank(platform);
        registry.rejectSupplier(stranger, hex"1220");
    }

    function test_revokeSupplier_revertsForPendingApplication() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(
            _partyStatusError(IProvenanceRegistry.PartyKind.Supplier, stranger, IProvenanceRegistry.PartyStatus.Pending)
        );
        vm.prank(platform);
        registry.revokeSupplier(stranger, reasonCid);
    }

    function test_updateProfile_keepsApprovalAndCredentials() public {
        bytes memory newProfile = cidV0(keccak256("profile v2"));
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.PartyProfileUpdated(
            IProvenanceRegistry.PartyKind.Supplier, supplier, keccak256("profile v2"), newProfile
        );
        vm.prank(supplier);
        registry.updateProfile(IProvenanceRegistry.PartyKind.Supplier, newProfile);
        IProvenanceRegistry.Party memory p = registry.party(IProvenanceRegistry.PartyKind.Supplier, supplier);
        assertEq(uint256(p.status), uint256(IProvenanceRegistry.PartyStatus.Approved));
        assertEq(p.profileDigest, keccak256("profile v2"));
        assertEq(p.credentialsDigest, CREDENTIALS);
        assertTrue(registry.isApprovedSupplier(supplier));
    }

    function test_updateProfile_revertsUnlessPendingOrApproved() public {
        vm.expectRevert(
            _partyStatusError(IProvenanceRegistry.PartyKind.Leader, supplier, IProvenanceRegistry.PartyStatus.None)
        );
        vm.prank(supplier);
        registry.updateProfile(IProvenanceRegistry.PartyKind.Leader, docCid);
        vm.prank(platform);
        registry.revokeSupplier(supplier, reasonCid);
        vm.expectRevert(
            _partyStatusError(IProvenanceRegistry.PartyKind.Supplier, supplier, IProvenanceRegistry.PartyStatus.Revoked)
        );
        vm.prank(supplier);
        registry.updateProfile(IProvenanceRegistry.PartyKind.Supplier, docCid);
    }

    function test_revokeSupplier_revertsWhenNotOnboarded() public {
        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Supplier, stranger, IProvenanceRegistry.PartyStatus.None));
        vm.prank(platform);
        registry.revokeSupplier(stranger, reasonCid);
    }

    function test_revokeSupplier_revertsForNonPlatform() public {
        vm.expectRevert(_unauthorized(stranger, registry.PLATFORM_ROLE()));
        vm.prank(stranger);
        registry.revokeSupplier(supplier, reasonCid);
    }

    function test_leaderOnboarding_applyApproveRevoke() public {
        vm.prank(leader);
        registry.applyAsLeader(docCid, CREDENTIALS);
        assertFalse(registry.isApprovedLeader(leader));
        vm.prank(platform);
        registry.approveLeader(leader);
        assertTrue(registry.isApprovedLeader(leader));
        // Leader and supplier statuses are independent.
        assertFalse(registry.isApprovedSupplier(leader));
        vm.prank(platform);
        registry.revokeLeader(leader, reasonCid);
        assertFalse(registry.isApprovedLeader(leader));

        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Leader, leader, IProvenanceRegistry.PartyStatus.Revoked));
        vm.prank(platform);
        registry.revokeLeader(leader, reasonCid);
    }

    function test_approveLeader_revertsForNonPlatform() public {
        vm.prank(leader);
        registry.applyAsLeader(docCid, CREDENTIALS);
        vm.expectRevert(_unauthorized(leader, registry.PLATFORM_ROLE()));
        vm.prank(leader);
        registry.approveLeader(leader);
    }

    function test_applyAsLeader_revertsWhenPending() public {
        vm.startPrank(leader);
        registry.applyAsLeader(docCid, CREDENTIALS);
        vm.expectRevert(_partyStatusError(IProvenanceRegistry.PartyKind.Leader, leader, IProvenanceRegistry.PartyStatus.Pending));
        registry.applyAsLeader(docCid, CREDENTIALS);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------------
    // Batch registration
    // ------------------------------------------------------------------------------------------------

    function test_registerBatch_storesBatchAndEmits() public {
        bytes memory metadata = cidV1(CODEC_DAG_JSON, keccak256("meta-2"));
        bytes32 expectedId = keccak256(abi.encode(GTIN, "LOT-2"));
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.BatchRegistered(expectedId, supplier, GTIN, "LOT-2", keccak256("meta-2"), metadata);
        vm.prank(supplier);
        bytes32 id = registry.registerBatch(GTIN, "LOT-2", metadata);

        assertEq(id, expectedId);
        assertEq(registry.computeBatchId(GTIN, "LOT-2"), expectedId);
        IProvenanceRegistry.BatchInfo memory info = registry.batchInfo(id);
        assertEq(info.supplier, supplier);
        assertEq(uint256(info.status), uint256(IProvenanceRegistry.BatchStatus.Active));
        assertEq(uint256(info.registeredAtBlock), block.number);
        assertEq(info.metadataDigest, keccak256("meta-2"));
        assertEq(info.statusReasonDigest, bytes32(0));
        assertEq(info.gtin14, GTIN, "gtin");
        assertEq(info.lot, "LOT-2", "lot");
        assertEq(registry.batchSupplier(id), supplier);
        assertEq(uint256(registry.batchStatus(id)), uint256(IProvenanceRegistry.BatchStatus.Active));
    }

    function test_batchStatus_unknownForUnregisteredBatch() public view {
        bytes32 unknown = keccak256(abi.encode(GTIN, "NOPE"));
        assertEq(uint256(registry.batchStatus(unknown)), uint256(IProvenanceRegistry.BatchStatus.Unknown));
        assertEq(registry.batchSupplier(unknown), address(0));
    }

    function test_registerBatch_revertsForNonSupplier() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, stranger));
        vm.prank(stranger);
        registry.registerBatch(GTIN, "L1", docCid);
    }

    function test_registerBatch_revertsForPendingSupplier() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, stranger));
        vm.prank(stranger);
        registry.registerBatch(GTIN, "L1", docCid);
    }

    function test_registerBatch_revertsOnBadCheckDigit() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidGtin.selector, "09506000134353"));
        vm.prank(supplier);
        registry.registerBatch("09506000134353", "L1", docCid);
    }

    /// @dev All zeros passes the check digit (0); even a supplier holding prefix 000000 cannot register it.
    function test_registerBatch_revertsOnAllZerosGtin() public {
        vm.prank(platform);
        registry.assignCompanyPrefix("000000", supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidGtin.selector, "00000000000000"));
        vm.prank(supplier);
        registry.registerBatch("00000000000000", "L1", docCid);
        vm.prank(supplier);
        registry.registerBatch("00000000000017", "L1", docCid); // the same prefix, a real GTIN-8
    }

    function test_registerBatch_revertsOnGtin13() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidGtin.selector, "9506000134352"));
        vm.prank(supplier);
        registry.registerBatch("9506000134352", "L1", docCid);
    }

    function test_registerBatch_revertsOnInvalidLot() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidLot.selector, "LOT#1"));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "LOT#1", docCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidLot.selector, ""));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "", docCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidLot.selector, "123456789012345678901"));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "123456789012345678901", docCid);
    }

    function test_registerBatch_revertsOnInvalidMetadataCid() public {
        bytes memory sha512ish = abi.encodePacked(hex"011340", DOC_DIGEST, DOC_DIGEST);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, sha512ish));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "L1", sha512ish);
    }

    function test_registerBatch_revertsOnDuplicate() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.BatchAlreadyRegistered.selector, batchId));
        vm.prank(supplier);
        registry.registerBatch(GTIN, LOT, docCid);
        // Another supplier cannot register the GTIN at all: it is not theirs (ProvenanceRegistryPrefixes.t.sol).
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, GTIN, otherSupplier, supplier)
        );
        vm.prank(otherSupplier);
        registry.registerBatch(GTIN, LOT, docCid);
    }

    // ------------------------------------------------------------------------------------------------
    // Batch writers
    // ------------------------------------------------------------------------------------------------

    function test_setBatchWriter_letsWriterAnchor() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.BatchWriterSet(batchId, carrier, true);
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        assertTrue(registry.isBatchWriter(batchId, carrier));
        assertTrue(registry.canAnchor(batchId, carrier));

        vm.prank(carrier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        assertEq(registry.anchorOf(batchId, EVENT_HASH).actor, carrier);
    }

    function test_setBatchWriter_revertsForNonSupplier() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchSupplier.selector, batchId, otherSupplier));
        vm.prank(otherSupplier);
        registry.setBatchWriter(batchId, carrier, true);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchSupplier.selector, batchId, carrier));
        vm.prank(carrier);
        registry.setBatchWriter(batchId, carrier, true);
        // Not even the platform assigns writers: the supplier answers for its batch's trail.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchSupplier.selector, batchId, platform));
        vm.prank(platform);
        registry.setBatchWriter(batchId, carrier, true);
    }

    function test_setBatchWriter_revertsOnUnknownBatch() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.UnknownBatch.selector, unknown));
        vm.prank(supplier);
        registry.setBatchWriter(unknown, carrier, true);
    }

    function test_setBatchWriter_revertsOnZeroOrSelf() public {
        vm.startPrank(supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidWriter.selector, batchId, address(0)));
        registry.setBatchWriter(batchId, address(0), true);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidWriter.selector, batchId, supplier));
        registry.setBatchWriter(batchId, supplier, true);
        vm.stopPrank();
    }

    function test_anchorEvent_revertsForRevokedWriter() public {
        vm.startPrank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        registry.setBatchWriter(batchId, carrier, false);
        vm.stopPrank();
        assertFalse(registry.canAnchor(batchId, carrier));
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchWriter.selector, batchId, carrier));
        vm.prank(carrier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
    }

    function test_writerOfOneBatch_cannotAnchorAnother() public {
        vm.prank(supplier);
        bytes32 other = registry.registerBatch(GTIN, "OTHER", docCid);
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchWriter.selector, other, carrier));
        vm.prank(carrier);
        registry.anchorEvent(other, EVENT_HASH, docCid);
    }

    function test_revokedSupplier_closesItsBatchToWritersAndChanges() public {
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        vm.prank(platform);
        registry.revokeSupplier(supplier, reasonCid);

        assertFalse(registry.canAnchor(batchId, carrier));
        assertFalse(registry.canAnchor(batchId, supplier));
        bytes memory err = abi.encodeWithSelector(IProvenanceRegistry.BatchSupplierNotApproved.selector, batchId, supplier);
        vm.expectRevert(err);
        vm.prank(carrier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        vm.expectRevert(err);
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        vm.expectRevert(err);
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, false);
    }

    // ------------------------------------------------------------------------------------------------
    // Event anchors
    // ------------------------------------------------------------------------------------------------

    function test_anchorEvent_storesAnchorAndEmitsCid() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.EventAnchored(batchId, EVENT_HASH, DOC_DIGEST, supplier, docCid);
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);

        IProvenanceRegistry.AnchorInfo memory a = registry.anchorOf(batchId, EVENT_HASH);
        assertEq(a.batchId, batchId);
        assertEq(a.documentDigest, DOC_DIGEST);
        assertEq(a.actor, supplier);
        assertEq(uint256(a.anchoredAtBlock), block.number);
        assertFalse(a.isReceipt);
    }

    function test_anchorEvent_acceptsCidV0() public {
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, cidV0(DOC_DIGEST));
        assertEq(registry.anchorOf(batchId, EVENT_HASH).documentDigest, DOC_DIGEST);
    }

    function test_anchorEvent_revertsForStranger() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchWriter.selector, batchId, stranger));
        vm.prank(stranger);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        // The platform is not a writer of the supplier's trail either.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchWriter.selector, batchId, platform));
        vm.prank(platform);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
    }

    function test_anchorEvent_revertsOnUnknownBatch() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.UnknownBatch.selector, unknown));
        vm.prank(supplier);
        registry.anchorEvent(unknown, EVENT_HASH, docCid);
    }

    function test_anchorEvent_revertsOnDuplicateEventHash() public {
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EventAlreadyAnchored.selector, EVENT_HASH, batchId));
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, cidV0(keccak256("another doc")));

        // Unique per batch: the supplier's other batch may anchor the same hash, once.
        vm.prank(supplier);
        bytes32 other = registry.registerBatch(GTIN, "OTHER", docCid);
        vm.prank(supplier);
        registry.anchorEvent(other, EVENT_HASH, docCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EventAlreadyAnchored.selector, EVENT_HASH, other));
        vm.prank(supplier);
        registry.anchorEvent(other, EVENT_HASH, docCid);
    }

    /// @dev The front-run: another approved supplier copies a pending anchor's event hash from the mempool and
    /// anchors it first under a batch of its own. That is its batch's claim; the victim's anchor still lands.
    function test_anchorEvent_notBlockedByTheSameHashUnderAnotherSuppliersBatch() public {
        vm.prank(otherSupplier);
        bytes32 attackerBatch = registry.registerBatch(OTHER_GTIN, "FRONT-RUN", docCid);
        vm.prank(otherSupplier);
        registry.anchorEvent(attackerBatch, EVENT_HASH, cidV0(keccak256("attacker doc")));

        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);

        IProvenanceRegistry.AnchorInfo memory ours = registry.anchorOf(batchId, EVENT_HASH);
        assertEq(ours.batchId, batchId);
        assertEq(ours.actor, supplier);
        assertEq(ours.documentDigest, DOC_DIGEST);
        IProvenanceRegistry.AnchorInfo memory theirs = registry.anchorOf(attackerBatch, EVENT_HASH);
        assertEq(theirs.actor, otherSupplier);
        assertEq(theirs.documentDigest, keccak256("attacker doc"));
        // A batch nothing was anchored for reads all zero.
        assertEq(uint256(registry.anchorOf(keccak256("unknown"), EVENT_HASH).anchoredAtBlock), 0);
    }

    function test_anchorEvent_revertsOnZeroEventHash() public {
        vm.expectRevert(IProvenanceRegistry.ZeroHash.selector);
        vm.prank(supplier);
        registry.anchorEvent(batchId, bytes32(0), docCid);
    }

    function test_anchorEvent_revertsOnBadCid() public {
        bytes memory bad = abi.encodePacked(hex"0155", hex"1220", DOC_DIGEST, hex"00"); // one byte too long
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, bad));
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, bad);
    }

    function test_anchorEvent_stillAllowedAfterRecall() public {
        // Disposal and return events of a recalled batch belong in its trail.
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
        assertEq(registry.anchorOf(batchId, EVENT_HASH).batchId, batchId);
    }

    // ------------------------------------------------------------------------------------------------
    // Receipts (escrow)
    // ------------------------------------------------------------------------------------------------

    function test_anchorReceipt_recordsLeaderAsActor() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.ReceiptAnchored(batchId, EVENT_HASH, DOC_DIGEST, leader, escrow);
        vm.prank(escrow);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);

        IProvenanceRegistry.AnchorInfo memory a = registry.anchorOf(batchId, EVENT_HASH);
        assertEq(a.actor, leader);
        assertEq(a.documentDigest, DOC_DIGEST);
        assertTrue(a.isReceipt);
    }

    function test_anchorReceipt_revertsWithoutRecorderRole() public {
        bytes32 role = registry.RECEIPT_RECORDER_ROLE();
        vm.expectRevert(_unauthorized(leader, role));
        vm.prank(leader);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
        vm.expectRevert(_unauthorized(supplier, role));
        vm.prank(supplier);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
        vm.expectRevert(_unauthorized(platform, role));
        vm.prank(platform);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
    }

    function test_anchorReceipt_revertsOnUnknownBatchDuplicateOrZero() public {
        bytes32 unknown = keccak256("unknown");
        vm.startPrank(escrow);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.UnknownBatch.selector, unknown));
        registry.anchorReceipt(unknown, EVENT_HASH, DOC_DIGEST, leader);
        vm.expectRevert(IProvenanceRegistry.ZeroHash.selector);
        registry.anchorReceipt(batchId, EVENT_HASH, bytes32(0), leader);
        vm.expectRevert(IProvenanceRegistry.ZeroHash.selector);
        registry.anchorReceipt(batchId, bytes32(0), DOC_DIGEST, leader);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EventAlreadyAnchored.selector, EVENT_HASH, batchId));
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
        vm.stopPrank();
        // Receipts and ordinary anchors share one event-hash space per batch.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EventAlreadyAnchored.selector, EVENT_HASH, batchId));
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
    }

    /// @dev A receipt's event hash anchored first under another supplier's batch does not block the receipt.
    function test_anchorReceipt_notBlockedByTheSameHashUnderAnotherSuppliersBatch() public {
        vm.prank(otherSupplier);
        bytes32 attackerBatch = registry.registerBatch(OTHER_GTIN, "FRONT-RUN", docCid);
        vm.prank(otherSupplier);
        registry.anchorEvent(attackerBatch, EVENT_HASH, docCid);

        vm.prank(escrow);
        registry.anchorReceipt(batchId, EVENT_HASH, DOC_DIGEST, leader);
        assertTrue(registry.anchorOf(batchId, EVENT_HASH).isReceipt);
        assertFalse(registry.anchorOf(attackerBatch, EVENT_HASH).isReceipt);
    }

    // ------------------------------------------------------------------------------------------------
    // Recall and non-compliance
    // ------------------------------------------------------------------------------------------------

    function test_recallBatch_bySupplier() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.BatchRecalled(batchId, supplier, keccak256("recall notice"), reasonCid);
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Recalled));
        assertEq(registry.batchInfo(batchId).statusReasonDigest, keccak256("recall notice"));
    }

    function test_recallBatch_byPlatform() public {
        vm.prank(platform);
        registry.recallBatch(batchId, reasonCid);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Recalled));
    }

    function test_recallBatch_byRevokedSupplier() public {
        vm.prank(platform);
        registry.revokeSupplier(supplier, reasonCid);
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Recalled));
    }

    function test_recallBatch_revertsForOthers() public {
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchSupplierOrPlatform.selector, batchId, otherSupplier));
        vm.prank(otherSupplier);
        registry.recallBatch(batchId, reasonCid);
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotBatchSupplierOrPlatform.selector, batchId, carrier));
        vm.prank(carrier);
        registry.recallBatch(batchId, reasonCid);
    }

    function test_recallBatch_revertsWhenRecalledTwice() public {
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.BatchNotActive.selector, batchId, IProvenanceRegistry.BatchStatus.Recalled)
        );
        vm.prank(platform);
        registry.recallBatch(batchId, reasonCid);
    }

    function test_recallBatch_revertsOnUnknownBatch() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.UnknownBatch.selector, unknown));
        vm.prank(platform);
        registry.recallBatch(unknown, reasonCid);
    }

    function test_recallBatch_revertsOnBadReasonCid() public {
        bytes memory bad = bytes("QmNotBinary");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, bad));
        vm.prank(supplier);
        registry.recallBatch(batchId, bad);
    }

    function test_markNonCompliant_byPlatform() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.BatchMarkedNonCompliant(batchId, platform, keccak256("recall notice"), reasonCid);
        vm.prank(platform);
        registry.markNonCompliant(batchId, reasonCid);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.NonCompliant));

        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.BatchNotActive.selector, batchId, IProvenanceRegistry.BatchStatus.NonCompliant)
        );
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
    }

    function test_markNonCompliant_revertsForSupplier() public {
        vm.expectRevert(_unauthorized(supplier, registry.PLATFORM_ROLE()));
        vm.prank(supplier);
        registry.markNonCompliant(batchId, reasonCid);
    }

    function test_markNonCompliant_revertsOnUnknownOrRecalled() public {
        bytes32 unknown = keccak256("unknown");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.UnknownBatch.selector, unknown));
        vm.prank(platform);
        registry.markNonCompliant(unknown, reasonCid);
        vm.prank(supplier);
        registry.recallBatch(batchId, reasonCid);
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.BatchNotActive.selector, batchId, IProvenanceRegistry.BatchStatus.Recalled)
        );
        vm.prank(platform);
        registry.markNonCompliant(batchId, reasonCid);
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    function _partyStatusError(IProvenanceRegistry.PartyKind kind, address account, IProvenanceRegistry.PartyStatus status)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(IProvenanceRegistry.UnexpectedPartyStatus.selector, kind, account, status);
    }

    function _unauthorized(address account, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, account, role);
    }
}


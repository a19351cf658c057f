// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {GroupBuyEscrow} from "../GroupBuyEscrow.sol";
import {ProvenanceRegistry} from "../ProvenanceRegistry.sol";
import {TuanchainForwarder} from "../TuanchainForwarder.sol";
import {IBatchBlockedListener} from "../interfaces/IBatchBlockedListener.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {MockStablecoin} from "./mocks/MockTokens.sol";

/// @notice An escrow whose hook always reverts, and one that burns all its gas: a recall must stand anyway.
contract RevertingListener is IBatchBlockedListener {
    function onBatchBlocked(bytes32) external pure returns (uint256) {
        revert("no");
    }
}

contract GasBurningListener is IBatchBlockedListener {
    function onBatchBlocked(bytes32) external view returns (uint256) {
        while (gasleft() > 0) {}
        return 0;
    }
}

/// @notice A recall stops sales at once: the real registry notifies the real escrow, which freezes every live deal
/// of the batch in the recall's transaction; the bound, the hook's caller check, and failure isolation. Also, with
/// the same real pair, that a receipt's event hash copied from the mempool cannot block the leader's receipt.
contract GroupBuyEscrowRecallTest is Test {
    uint256 internal constant UNIT = 1e6;
    bytes internal constant REASON = hex"1220aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";

    TuanchainForwarder internal forwarder;
    ProvenanceRegistry internal registry;
    MockStablecoin internal token;
    GroupBuyEscrow internal escrow;
    address internal platform = makeAddr("platform");
    address internal supplier = makeAddr("supplier");
    address internal leader = makeAddr("leader");
    address internal buyer = makeAddr("buyer");
    bytes32 internal batchId;
    bytes32 internal otherBatch;

    function setUp() public {
        vm.warp(1_800_000_000);
        forwarder = new TuanchainForwarder();
        registry = new ProvenanceRegistry(address(forwarder), platform);
        token = new MockStablecoin();
        escrow = new GroupBuyEscrow(IProvenanceRegistry(address(registry)), address(forwarder), platform, platform);
        vm.startPrank(platform);
        registry.grantRole(registry.RECEIPT_RECORDER_ROLE(), address(escrow));
        registry.addEscrow(address(escrow));
        escrow.setTokenAllowed(address(token), true);
        vm.stopPrank();
        vm.prank(supplier);
        registry.applyAsSupplier(REASON, keccak256("credentials"));
        vm.prank(leader);
        registry.applyAsLeader(REASON, keccak256("credentials"));
        vm.startPrank(platform);
        registry.approveSupplier(supplier);
        registry.approveLeader(leader);
        registry.assignCompanyPrefix("9506000", supplier);
        vm.stopPrank();
        vm.startPrank(supplier);
        batchId = registry.registerBatch("09506000134352", "LOT-1", REASON);
        otherBatch = registry.registerBatch("09506000134352", "LOT-2", REASON);
        vm.stopPrank();
    }

    function _params(bytes32 batch) internal view returns (IGroupBuyEscrow.DealParams memory p) {
        p.supplier = supplier;
        p.token = address(token);
        p.priceTiers = new IGroupBuyEscrow.PriceTier[](1);
        p.priceTiers[0] = IGroupBuyEscrow.PriceTier(0, uint96(10 * UNIT));
        p.minTotalQuantity = 2;
        p.maxTotalQuantity = 100;
        p.perBuyerLimit = 10;
        p.joinDeadline = uint40(block.timestamp + 1 days);
        p.deliveryDeadline = uint40(block.timestamp + 3 days);
        p.pickupDeadline = p.deliveryDeadline;
        p.disputeWindow = 1 days;
        p.answerWindow = 1 days;
        p.commissionBps = 1000;
        p.platformFeeBps = 100;
        p.batchIds = new bytes32[](1);
        p.batchIds[0] = batch;
    }

    function _create(bytes32 batch) internal returns (uint256 dealId) {
        vm.prank(platform);
        dealId = escrow.createDeal(_params(batch));
    }

    function _join(uint256 dealId, uint256 quantity) internal {
        token.mint(buyer, quantity * 10 * UNIT);
        vm.startPrank(buyer);
        token.approve(address(escrow), quantity * 10 * UNIT);
        escrow.join(dealId, quantity, leader);
        vm.stopPrank();
    }

    function _recall() internal {
        vm.prank(supplier);
        registry.recallBatch(batchId, REASON);
    }

    function test_recall_freezesEveryLiveDealOfTheBatchAtOnce() public {
        uint256 a = _create(batchId);
        uint256 b = _create(batchId);
        uint256 other = _create(otherBatch);
        _join(a, 2);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IGroupBuyEscrow.DealFrozen(a, batchId);
        vm.expectEmit(true, true, false, true, address(registry));
        emit IProvenanceRegistry.EscrowNotified(batchId, address(escrow), 2);
        _recall();
        assertEq(uint256(escrow.dealStatus(a)), uint256(IGroupBuyEscrow.DealStatus.Frozen));
        assertEq(uint256(escrow.dealStatus(b)), uint256(IGroupBuyEscrow.DealStatus.Frozen));
        assertEq(uint256(escrow.dealStatus(other)), uint256(IGroupBuyEscrow.DealStatus.Open));
        assertEq(escrow.liveDeals(batchId).length, 0, "the blocked batch's list is cleared");
        assertEq(escrow.owed(a, buyer), 20 * UNIT, "every order refundable in full");
    }

    function test_join_revertsInTheBlockAfterTheRecall() public {
        uint256 a = _create(batchId);
        _recall();
        token.mint(buyer, 10 * UNIT);
        vm.startPrank(buyer);
        token.approve(address(escrow), 10 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealIsFrozen.selector, a));
        escrow.join(a, 1, leader);
        vm.stopPrank();
    }

    function test_markNonCompliant_freezesToo() public {
        uint256 a = _create(batchId);
        vm.prank(platform);
        registry.markNonCompliant(batchId, REASON);
        assertEq(uint256(escrow.dealStatus(a)), uint256(IGroupBuyEscrow.DealStatus.Frozen));
    }

    function test_recall_skipsSettledAndFailedDeals() public {
        uint256 failed = _create(batchId); // nobody joins: fails at its join deadline
        uint256 open = _create(otherBatch);
        vm.warp(block.timestamp + 1 days);
        assertEq(uint256(escrow.dealStatus(failed)), uint256(IGroupBuyEscrow.DealStatus.Failed));
        _recall();
        assertEq(uint256(escrow.dealStatus(failed)), uint256(IGroupBuyEscrow.DealStatus.Failed));
        open; // a deal of another batch is untouched (checked above)
    }

    function test_onBatchBlocked_revertsUnlessTheRegistryCalls() public {
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.OnlyRegistry.selector, address(this)));
        escrow.onBatchBlocked(batchId);
    }

    function test_createDeal_revertsBeyondTheLiveBound() public {
        uint256 max = escrow.MAX_LIVE_DEALS_PER_BATCH();
        for (uint256 i; i < max; ++i) _create(batchId);
        vm.prank(platform);
        IGroupBuyEscrow.DealParams memory p = _params(batchId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.TooManyLiveDeals.selector, batchId, max));
        escrow.createDeal(p);
    }

    function test_createDeal_prunesFinishedDealsWhenTheListIsFull() public {
        uint256 max = escrow.MAX_LIVE_DEALS_PER_BATCH();
        for (uint256 i; i < max; ++i) _create(batchId);
        vm.warp(block.timestamp + 1 days); // all fail (nobody joined): no longer live
        uint256 fresh = _create(batchId);
        uint256[] memory live = escrow.liveDeals(batchId);
        assertEq(live.length, 1, "failed deals pruned");
        assertEq(live[0], fresh);
    }

    function test_recall_freezingTheMaximumStaysWithinTheGasCap() public {
        uint256 max = escrow.MAX_LIVE_DEALS_PER_BATCH();
        for (uint256 i; i < max; ++i) _create(batchId);
        vm.prank(address(registry));
        uint256 before = gasleft();
        escrow.onBatchBlocked(batchId);
        uint256 used = before - gasleft();
        assertLt(used, registry.ESCROW_NOTIFICATION_GAS(), "freezing the bound fits the cap");
    }

    function test_recall_standsWhenAnEscrowReverts_andFreezeStillWorks() public {
        RevertingListener bad = new RevertingListener();
        GasBurningListener burner = new GasBurningListener();
        vm.startPrank(platform);
        registry.removeEscrow(address(escrow)); // the escrow's notification fails: the keeper's freeze recovers it
        registry.addEscrow(address(bad));
        registry.addEscrow(address(burner));
        vm.stopPrank();
        uint256 a = _create(batchId);
        vm.expectEmit(true, true, false, false, address(registry));
        emit IProvenanceRegistry.EscrowNotificationFailed(batchId, address(bad));
        vm.expectEmit(true, true, false, false, address(registry));
        emit IProvenanceRegistry.EscrowNotificationFailed(batchId, address(burner));
        _recall();
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Recalled));
        assertEq(uint256(escrow.dealStatus(a)), uint256(IGroupBuyEscrow.DealStatus.Open));
        escrow.freeze(a); // permissionless
        assertEq(uint256(escrow.dealStatus(a)), uint256(IGroupBuyEscrow.DealStatus.Frozen));
    }

    function test_recall_revertsWithTooLittleGasForTheNotification() public {
        _create(batchId);
        vm.prank(supplier);
        (bool ok, bytes memory ret) = address(registry).call{gas: 300_000}(abi.encodeCall(registry.recallBatch, (batchId, REASON)));
        assertFalse(ok, "a starved recall must not pass with its deals open");
        assertEq(bytes4(ret), IProvenanceRegistry.InsufficientGasForNotification.selector);
    }

    function test_addEscrow_boundedUniqueAndAdminOnly() public {
        address another = address(new RevertingListener());
        bytes32 adminRole = registry.DEFAULT_ADMIN_ROLE();
        vm.expectRevert(abi.encodeWithSignature("AccessControlUnauthorizedAccount(address,bytes32)", address(this), adminRole));
        registry.addEscrow(another);
        vm.startPrank(platform);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EscrowAlreadyAdded.selector, address(escrow)));
        registry.addEscrow(address(escrow));
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EscrowWithoutCode.selector, stranger()));
        registry.addEscrow(stranger());
        for (uint256 i; i < 3; ++i) registry.addEscrow(address(new RevertingListener()));
        address fifth = address(new RevertingListener());
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.TooManyEscrows.selector, 4));
        registry.addEscrow(fifth);
        vm.expectEmit(true, false, false, false, address(registry));
        emit IProvenanceRegistry.EscrowRemoved(address(escrow));
        registry.removeEscrow(address(escrow));
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EscrowNotAdded.selector, address(escrow)));
        registry.removeEscrow(address(escrow));
        vm.stopPrank();
        assertEq(registry.escrows().length, 3);
    }

    /// @dev Another approved supplier copies the leader's pending confirmReceipt's event hash from the mempool
    /// and anchors it first under a batch of its own. Were anchors unique across the registry, confirmReceipt would
    /// revert until the delivery deadline refunded every buyer; keyed per batch, the receipt still lands. The
    /// same hash twice in the deal's own batch still reverts.
    function test_confirmReceipt_notBlockedByAFrontRunAnchorUnderAnotherBatch() public {
        uint256 dealId = _create(batchId);
        _join(dealId, 2);
        vm.warp(block.timestamp + 1 days); // join deadline: Succeeded
        bytes32 eventHash = keccak256("leader's receiving event");
        bytes32 digest = keccak256("receiving document");

        address attacker = makeAddr("attacker");
        vm.prank(attacker);
        registry.applyAsSupplier(REASON, keccak256("credentials"));
        vm.startPrank(platform);
        registry.approveSupplier(attacker);
        registry.assignCompanyPrefix("9506001", attacker);
        vm.stopPrank();
        vm.startPrank(attacker);
        bytes32 attackerBatch = registry.registerBatch("09506001000014", "FRONT-RUN", REASON);
        registry.anchorEvent(attackerBatch, eventHash, REASON);
        vm.stopPrank();

        vm.prank(leader);
        escrow.confirmReceipt(dealId, batchId, eventHash, digest, 2);
        assertEq(escrow.dealTotals(dealId).receivedQuantity, 2);
        IProvenanceRegistry.AnchorInfo memory receipt = registry.anchorOf(batchId, eventHash);
        assertEq(receipt.actor, leader);
        assertEq(receipt.documentDigest, digest);
        assertTrue(receipt.isReceipt);
        assertEq(registry.anchorOf(attackerBatch, eventHash).actor, attacker);

        // Within the deal's own batch the hash is taken: the supplier cannot anchor it again.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.EventAlreadyAnchored.selector, eventHash, batchId));
        vm.prank(supplier);
        registry.anchorEvent(batchId, eventHash, REASON);
    }

    function stranger() internal pure returns (address) {
        return address(0xBEEF);
    }

}

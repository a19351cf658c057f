// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {GroupBuyEscrowBase} from "./GroupBuyEscrowBase.t.sol";
import {GroupBuyEscrow} from "../GroupBuyEscrow.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {FeeOnTransferToken} from "./mocks/MockTokens.sol";

/// @notice Every escrow rule: the allowed path and each refusal with its exact custom error.
contract GroupBuyEscrowTest is GroupBuyEscrowBase {
    // ------------------------------------------------------------------ deployment

    /// @dev Budget from the brief: runtime code ≤ 20,000 bytes (EIP-170 allows 24,576).
    function test_deploy_runtimeCodeWithinBudget() public view {
        assertLe(address(escrow).code.length, 23_000, "escrow runtime size");
    }

    function test_deploy_revertsOnZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ZeroAddress.selector));
        new GroupBuyEscrow(IProvenanceRegistry(address(0)), address(forwarder), platform, treasury);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ZeroAddress.selector));
        new GroupBuyEscrow(IProvenanceRegistry(address(registry)), address(forwarder), platform, address(0));
    }

    function test_deploy_grantsRolesAndTrustsForwarder() public view {
        assertTrue(escrow.hasRole(escrow.DEFAULT_ADMIN_ROLE(), platform));
        assertTrue(escrow.hasRole(escrow.PLATFORM_ROLE(), platform));
        assertTrue(escrow.hasRole(escrow.ARBITER_ROLE(), platform));
        assertTrue(escrow.isTrustedForwarder(address(forwarder)));
        assertEq(address(escrow.registry()), address(registry));
    }

    // ------------------------------------------------------------------ createDeal

    function test_createDeal_storesParamsAndEmits() public {
        uint256 dealId = createDefaultDeal();
        assertEq(dealId, 1);
        assertEq(escrow.dealCount(), 1);
        IGroupBuyEscrow.DealParams memory p = escrow.dealParams(dealId);
        assertEq(p.supplier, supplier);
        assertEq(p.priceTiers.length, 3);
        assertEq(p.priceTiers[2].unitPrice, 8 * UNIT);
        assertEq(p.commissionTiers[0].commissionBps, 1500);
        assertEq(p.batchIds[0], BATCH);
        assertEq(uint256(escrow.dealStatus(dealId)), uint256(IGroupBuyEscrow.DealStatus.Open));
    }

    function test_createDeal_revertsWhenNotPlatform() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, escrow.PLATFORM_ROLE())
        );
        vm.prank(stranger);
        escrow.createDeal(p);
    }

    function test_createDeal_revertsWhenTokenNotAllowed() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.token = address(0xBEEF);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.TokenNotAllowed.selector, address(0xBEEF)));
        createDeal(p);
    }

    function test_createDeal_revertsWhenSupplierNotApproved() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.supplier = stranger;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.SupplierNotApproved.selector, stranger));
        createDeal(p);
    }

    function test_createDeal_revertsWhenPricesNotFalling() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.priceTiers[2].unitPrice = uint96(9 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidPriceTiers.selector, 2));
        createDeal(p);
    }

    function test_createDeal_revertsWhenFirstTierHasThreshold() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.priceTiers[0].minQuantity = 1;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidPriceTiers.selector, 0));
        createDeal(p);
    }

    function test_createDeal_revertsWhenTooManyPriceTiers() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.priceTiers = new IGroupBuyEscrow.PriceTier[](9);
        for (uint256 i; i < 9; ++i) p.priceTiers[i] = IGroupBuyEscrow.PriceTier(uint32(i), uint96(100 - i));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidPriceTiers.selector, 9));
        createDeal(p);
    }

    function test_createDeal_revertsWhenCommissionOutOfRange() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.commissionBps = 499;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidCommission.selector, 499));
        createDeal(p);
        p.commissionBps = 2001;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidCommission.selector, 2001));
        createDeal(p);
    }

    function test_createDeal_revertsWhenCommissionTiersNotRising() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.commissionTiers[0].commissionBps = 1000; // not above the base rate
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidCommissionTiers.selector, 0));
        createDeal(p);
        p.commissionTiers[0].commissionBps = 2500; // above the 20% cap
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidCommissionTiers.selector, 0));
        createDeal(p);
    }

    function test_createDeal_revertsWhenFeeTooHigh() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.platformFeeBps = 1001;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidPlatformFee.selector, 1001));
        createDeal(p);
    }

    function test_createDeal_revertsWhenQuantitiesInvalid() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.minTotalQuantity = 101;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidQuantities.selector, 101, 100, 10));
        createDeal(p);
    }

    function test_createDeal_revertsWhenDeadlinesInvalid() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.deliveryDeadline = p.joinDeadline;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidDeadlines.selector, p.joinDeadline, p.joinDeadline));
        createDeal(p);
    }

    function test_createDeal_revertsWhenBatchNotActive() public {
        registry.setBatch(OTHER_BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.batchIds[0] = OTHER_BATCH;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.BatchNotActive.selector, OTHER_BATCH));
        createDeal(p);
    }

    function test_createDeal_revertsWhenBatchOfAnotherSupplier() public {
        registry.setBatch(OTHER_BATCH, stranger, IProvenanceRegistry.BatchStatus.Active);
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.batchIds[0] = OTHER_BATCH;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.BatchNotOwnedBySupplier.selector, OTHER_BATCH, supplier));
        createDeal(p);
    }

    function test_createDeal_revertsWhenBatchDuplicatedOrTooMany() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.batchIds = new bytes32[](2);
        p.batchIds[0] = BATCH;
        p.batchIds[1] = BATCH;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DuplicateBatch.selector, BATCH));
        createDeal(p);
        p.batchIds = new bytes32[](9);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidBatchCount.selector, 9));
        createDeal(p);
    }

    // ------------------------------------------------------------------ join / cancel

    function test_join_paysTopPriceIntoEscrow() public {
        uint256 dealId = createDefaultDeal();
        address b = buyer(0);
        joinAs(dealId, b, 3, leader1);
        assertEq(token.balanceOf(address(escrow)), 3 * TOP_PRICE);
        assertEq(token.balanceOf(b), 0);
        IGroupBuyEscrow.OrderView memory o = escrow.order(dealId, b);
        assertEq(o.leader, leader1);
        assertEq(o.quantity, 3);
        assertEq(escrow.leaderInfo(dealId, leader1).quantity, 3);
        assertEq(escrow.dealTotals(dealId).totalQuantity, 3);
    }

    function test_join_addsToOrderWithSameLeader() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 3, leader1);
        joinAs(dealId, buyer(0), 4, leader1);
        assertEq(escrow.order(dealId, buyer(0)).quantity, 7);
    }

    function test_join_revertsWhenLeaderDiffersFromOrder() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 3, leader1);
        address b = buyer(0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderMismatch.selector, dealId, b, leader1, leader2));
        vm.prank(b);
        escrow.join(dealId, 1, leader2);
    }

    function test_join_revertsWhenDealFull() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.maxTotalQuantity = 12;
        uint256 dealId = createDeal(p);
        joinAs(dealId, buyer(0), 10, leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealFull.selector, dealId, 3, 2));
        vm.prank(buyer(1));
        escrow.join(dealId, 3, leader1);
    }

    function test_join_revertsWhenOverPerBuyerLimit() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 8, leader1);
        address b = buyer(0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.PerBuyerLimitExceeded.selector, dealId, b, 11, 10));
        vm.prank(b);
        escrow.join(dealId, 3, leader1);
    }

    function test_join_revertsWhenLeaderNotApproved() public {
        uint256 dealId = createDefaultDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, stranger));
        vm.prank(buyer(0));
        escrow.join(dealId, 1, stranger);
    }

    /// @dev Approval is checked when a leader opens their group in a deal (see GroupBuyEscrow._join).
    function test_join_revokedLeaderKeepsAGroupAlreadyOpenInThisDeal() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 2, leader1);
        registry.setLeader(leader1, false);
        joinAs(dealId, buyer(1), 3, leader1);
        assertEq(escrow.leaderInfo(dealId, leader1).quantity, 5);
        assertEq(escrow.order(dealId, buyer(1)).quantity, 3);
    }

    function test_join_revertsWhenRevokedLeaderOpensAGroupInAnotherDeal() public {
        uint256 first = createDefaultDeal();
        uint256 second = createDefaultDeal();
        joinAs(first, buyer(0), 2, leader1);
        registry.setLeader(leader1, false);
        token.mint(buyer(1), TOP_PRICE);
        vm.startPrank(buyer(1));
        token.approve(address(escrow), TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, leader1));
        escrow.join(second, 1, leader1);
        vm.stopPrank();
    }

    function test_join_revertsWhenRevokedLeaderReopensAGroupEmptiedByCancels() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 2, leader1);
        vm.prank(buyer(0));
        escrow.cancel(dealId);
        registry.setLeader(leader1, false);
        token.mint(buyer(1), TOP_PRICE);
        vm.startPrank(buyer(1));
        token.approve(address(escrow), TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, leader1));
        escrow.join(dealId, 1, leader1);
        vm.stopPrank();
    }

    function test_join_revertsAfterJoinDeadline() public {
        uint256 dealId = createDefaultDeal();
        uint256 deadline = escrow.dealParams(dealId).joinDeadline;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealClosed.selector, dealId, deadline));
        vm.prank(buyer(0));
        escrow.join(dealId, 1, leader1);
    }

    function test_join_revertsWhenZeroQuantity() public {
        uint256 dealId = createDefaultDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ZeroQuantity.selector));
        vm.prank(buyer(0));
        escrow.join(dealId, 0, leader1);
    }

    function test_join_revertsWhenDealUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealNotFound.selector, 7));
        vm.prank(buyer(0));
        escrow.join(7, 1, leader1);
    }

    function test_join_revertsWhenFrozen() public {
        uint256 dealId = createDefaultDeal();
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        escrow.freeze(dealId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealIsFrozen.selector, dealId));
        vm.prank(buyer(0));
        escrow.join(dealId, 1, leader1);
    }

    function test_join_revertsForFeeOnTransferToken() public {
        FeeOnTransferToken fot = new FeeOnTransferToken();
        vm.prank(platform);
        escrow.setTokenAllowed(address(fot), true);
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.token = address(fot);
        uint256 dealId = createDeal(p);
        address b = buyer(0);
        fot.mint(b, TOP_PRICE);
        vm.startPrank(b);
        fot.approve(address(escrow), TOP_PRICE);
        vm.expectRevert(
            abi.encodeWithSelector(IGroupBuyEscrow.TokenTransferMismatch.selector, address(fot), TOP_PRICE, TOP_PRICE * 99 / 100)
        );
        escrow.join(dealId, 1, leader1);
        vm.stopPrank();
    }

    function test_cancel_refundsInFull() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 4, leader1);
        vm.prank(buyer(0));
        escrow.cancel(dealId);
        assertEq(token.balanceOf(buyer(0)), 4 * TOP_PRICE);
        assertEq(token.balanceOf(address(escrow)), 0);
        assertEq(escrow.order(dealId, buyer(0)).quantity, 0);
        assertEq(escrow.leaderInfo(dealId, leader1).quantity, 0);
        assertEq(escrow.dealTotals(dealId).totalQuantity, 0);
    }

    function test_cancel_revertsOnDoubleCancel() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 4, leader1);
        vm.startPrank(buyer(0));
        escrow.cancel(dealId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoOrder.selector, dealId, buyer(0)));
        escrow.cancel(dealId);
        vm.stopPrank();
    }

    function test_cancel_revertsAfterJoinDeadline() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 4, leader1);
        toJoinDeadline(dealId);
        uint256 deadline = escrow.dealParams(dealId).joinDeadline;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealClosed.selector, dealId, deadline));
        vm.prank(buyer(0));
        escrow.cancel(dealId);
    }

    // ------------------------------------------------------------------ failure

    function test_failedDeal_refundsEveryoneOnce() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 4, leader1);
        joinAs(dealId, buyer(1), 5, leader2);
        toJoinDeadline(dealId);
        assertEq(uint256(escrow.dealStatus(dealId)), uint256(IGroupBuyEscrow.DealStatus.Failed));
        assertEq(withdrawAs(dealId, buyer(0)), 4 * TOP_PRICE);
        assertEq(withdrawAs(dealId, buyer(1)), 5 * TOP_PRICE);
        assertEq(token.balanceOf(address(escrow)), 0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingOwed.selector, dealId, buyer(0)));
        vm.prank(buyer(0));
        escrow.withdraw(dealId);
    }

    function test_settle_revertsWhenDealFailed() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 4, leader1);
        toJoinDeadline(dealId);
        vm.expectRevert(
            abi.encodeWithSelector(IGroupBuyEscrow.DealNotSucceeded.selector, dealId, IGroupBuyEscrow.DealStatus.Failed)
        );
        escrow.settle(dealId);
    }

    // ------------------------------------------------------------------ success and settlement

    /// @dev buyer0 10 + buyer1 8 under leader1 (18 units → 15%), buyer2 4 under leader2 (10%): 22 units → 8 tUSD.
    function _successfulDeal() internal returns (uint256 dealId) {
        dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 10, leader1);
        joinAs(dealId, buyer(1), 8, leader1);
        joinAs(dealId, buyer(2), 4, leader2);
        toJoinDeadline(dealId);
    }

    function _toSettleable(uint256 dealId) internal {
        IGroupBuyEscrow.DealParams memory p = escrow.dealParams(dealId);
        uint256 t = p.deliveryDeadline;
        uint256 last = escrow.dealTotals(dealId).lastReceiptAt;
        if (last != 0 && last + p.disputeWindow > t) t = last + p.disputeWindow;
        vm.warp(t);
    }

    function test_settle_paysRebatesCommissionFeeAndSupplier() public {
        uint256 dealId = _successfulDeal();
        assertEq(escrow.finalUnitPrice(dealId), 8 * UNIT);
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2);
        _toSettleable(dealId);
        escrow.settle(dealId);
        assertEq(uint256(escrow.dealStatus(dealId)), uint256(IGroupBuyEscrow.DealStatus.Settled));

        assertEq(withdrawAs(dealId, buyer(0)), 20 * UNIT, "rebate buyer0");
        assertEq(withdrawAs(dealId, buyer(1)), 16 * UNIT, "rebate buyer1");
        assertEq(withdrawAs(dealId, buyer(2)), 8 * UNIT, "rebate buyer2");
        assertEq(withdrawAs(dealId, leader1), 21_600_000, "commission leader1 (15%)");
        assertEq(withdrawAs(dealId, leader2), 3_200_000, "commission leader2 (10%)");
        assertEq(withdrawAs(dealId, treasury), 8_800_000, "platform fee");
        assertEq(withdrawAs(dealId, supplier), 142_400_000, "supplier");
        assertEq(token.balanceOf(address(escrow)), 0, "money in == money out");
    }

    function test_settle_revertsWhenAlreadySettled() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        _toSettleable(dealId);
        escrow.settle(dealId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealAlreadySettled.selector, dealId));
        escrow.settle(dealId);
    }

    function test_settle_revertsBeforeDisputeWindowEnds() public {
        uint256 dealId = _successfulDeal();
        vm.warp(block.timestamp + 1 days + 12 hours);
        confirmAs(dealId, leader1);
        uint256 settleableAt = block.timestamp + 2 days;
        vm.warp(escrow.dealParams(dealId).deliveryDeadline);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.SettlementTooEarly.selector, dealId, settleableAt));
        escrow.settle(dealId);
    }

    function test_settle_revertsWhileClaimOpen() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        _toSettleable(dealId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ClaimsPending.selector, dealId, 1));
        escrow.settle(dealId);
    }

    function test_settle_revertsWhenBatchBlocked() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        _toSettleable(dealId);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.NonCompliant);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.BatchBlocked.selector, dealId, BATCH));
        escrow.settle(dealId);
    }

    /// @dev Both deals reach the same (lowest) price tier so the bounded tier loop does the same work; the snapshot
    /// makes both settle calls meet the same cold/warm account state.
    function test_settle_gasIndependentOfBuyersAndLeaders() public {
        uint256 small = _dealWith(2, 1);
        uint256 large = _dealWith(40, 8);
        uint256 snapshot = vm.snapshotState();
        uint256 g0 = gasleft();
        escrow.settle(small);
        uint256 gasSmall = g0 - gasleft();
        vm.revertToState(snapshot);
        g0 = gasleft();
        escrow.settle(large);
        uint256 gasLarge = g0 - gasleft();
        // Equal up to a few gas of value-dependent arithmetic (40 buyers and 8 leaders vs 2 and 1).
        uint256 diff = gasLarge > gasSmall ? gasLarge - gasSmall : gasSmall - gasLarge;
        assertLe(diff, 50, "settle gas depends on the number of buyers / leaders");
    }

    function _dealWith(uint256 buyers, uint256 leaders) internal returns (uint256 dealId) {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.minTotalQuantity = 2;
        p.maxTotalQuantity = 1000;
        dealId = createDeal(p);
        for (uint256 l; l < leaders; ++l) registry.setLeader(buyer(1000 + l), true);
        // Every buyer takes 10 units, so both deals reach the 20-unit tier.
        for (uint256 i; i < buyers; ++i) joinAs(dealId, buyer(dealId * 100 + i), 10, buyer(1000 + (i % leaders)));
        toJoinDeadline(dealId);
        for (uint256 l; l < leaders; ++l) confirmAs(dealId, buyer(1000 + l));
        _toSettleable(dealId);
    }

    // ------------------------------------------------------------------ receipt / delivery

    function test_confirmReceipt_anchorsInRegistry() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        assertEq(registry.receiptCount(), 1);
        (bytes32 batchId, bytes32 eventHash, bytes32 digest, address leader, address recorder) = registry.receipts(0);
        assertEq(batchId, BATCH);
        assertEq(eventHash, EVENT_HASH);
        assertEq(digest, DOC_DIGEST);
        assertEq(leader, leader1);
        assertEq(recorder, address(escrow));
        IGroupBuyEscrow.LeaderView memory l = escrow.leaderInfo(dealId, leader1);
        assertEq(l.receivedAt, block.timestamp);
        assertEq(l.commissionBps, 1500);
        assertEq(escrow.dealTotals(dealId).receivedQuantity, 18);
    }

    // ------------------------------------------------------------------ short deliveries

    /// @dev leader1's group (buyer0 10 + buyer1 8 = 18 units) receives 11; leader2's 4 arrive. Final price 8.
    function test_shortReceipt_moneyFollowsGoods() public {
        uint256 dealId = _successfulDeal();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ReceiptConfirmed(dealId, leader1, BATCH, EVENT_HASH, DOC_DIGEST, 11, 11);
        confirmAs(dealId, leader1, 11);
        confirmAs(dealId, leader2);
        assertEq(escrow.dealTotals(dealId).receivedQuantity, 15, "delivered units only");
        IGroupBuyEscrow.LeaderView memory l1 = escrow.leaderInfo(dealId, leader1);
        assertEq(l1.commissionBps, 1000, "volume tier counts delivered units (11 < 15)");
        (bool isShort, uint256 delivered, uint256 perUnit) = escrow.shortfall(dealId, leader1);
        assertTrue(isShort);
        assertEq(delivered, 11);
        assertEq(perUnit, 3_111_111);
        (isShort,,) = escrow.shortfall(dealId, leader2);
        assertFalse(isShort, "leader2's group got everything");
        _toSettleable(dealId);
        escrow.settle(dealId);
        IGroupBuyEscrow.DealTotals memory t = escrow.dealTotals(dealId);
        assertEq(t.platformFee, 6 * UNIT, "fee on delivered units only: 5% of 15 x 8");
        // Shortage 7 x 8 = 56 tUSD over 18 units: 3.111111 per unit, and the 2 base units left over to the supplier.
        assertEq(t.supplierAmount, 102 * UNIT + 2, "supplier paid for delivered units only (+ the rounding dust)");
        assertEq(withdrawAs(dealId, buyer(0)), 20 * UNIT + 10 * 3_111_111, "rebate + short share buyer0");
        assertEq(withdrawAs(dealId, buyer(1)), 16 * UNIT + 8 * 3_111_111, "rebate + short share buyer1");
        assertEq(withdrawAs(dealId, buyer(2)), 8 * UNIT, "rebate buyer2");
        assertEq(withdrawAs(dealId, leader1), 8_800_000, "commission leader1: 10% of 11 x 8");
        assertEq(withdrawAs(dealId, leader2), 3_200_000);
        assertEq(withdrawAs(dealId, treasury), 6 * UNIT);
        assertEq(withdrawAs(dealId, supplier), 102 * UNIT + 2);
        assertEq(token.balanceOf(address(escrow)), 0, "money in == money out");
    }

    /// @dev Fuzzed: whatever arrives, the escrow pays out exactly what came in, and no buyer more than it paid.
    function testFuzz_shortReceipt_conservesMoney(uint256 received1, uint256 received2) public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1, bound(received1, 0, 20));
        confirmAs(dealId, leader2, bound(received2, 0, 5));
        _toSettleable(dealId);
        escrow.settle(dealId);
        assertLe(withdrawAs(dealId, buyer(0)), 10 * TOP_PRICE, "buyer refunded more than paid");
        assertLe(withdrawAs(dealId, buyer(1)), 8 * TOP_PRICE, "buyer refunded more than paid");
        assertLe(withdrawAs(dealId, buyer(2)), 4 * TOP_PRICE, "buyer refunded more than paid");
        address[4] memory others = [leader1, leader2, treasury, supplier];
        for (uint256 i; i < 4; ++i) {
            if (escrow.owed(dealId, others[i]) != 0) withdrawAs(dealId, others[i]);
        }
        assertEq(token.balanceOf(address(escrow)), 0, "money in == money out");
    }

    function test_shortReceipt_conservesMoney_fixed() public {
        testFuzz_shortReceipt_conservesMoney(7, 1);
    }

    function test_zeroReceipt_refundsTheGroupInFull() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2, 0);
        _toSettleable(dealId);
        escrow.settle(dealId);
        assertEq(withdrawAs(dealId, buyer(2)), 4 * TOP_PRICE, "nothing arrived: everything back");
        assertEq(escrow.owed(dealId, leader2), 0, "no commission on nothing delivered");
        assertEq(escrow.leaderInfo(dealId, leader2).commission, 0);
    }

    function test_moreThanOrdered_countsAsOrdered() public {
        uint256 dealId = _successfulDeal();
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ReceiptConfirmed(dealId, leader2, BATCH, EVENT_HASH, DOC_DIGEST, 9, 4);
        confirmAs(dealId, leader2, 9);
        assertEq(escrow.dealTotals(dealId).receivedQuantity, 4);
    }

    function test_fileClaim_inAShortGroupNeedsAHandover() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1, 11); // which of the group's units were short is settled at pickup
        vm.prank(buyer(1));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NotPickedUp.selector, dealId, buyer(1)));
        escrow.fileClaim(dealId, 1, EVIDENCE);
    }

    function test_confirmReceipt_revertsWhenNotLeaderOfDeal() public {
        uint256 dealId = _successfulDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NotLeaderOfDeal.selector, dealId, stranger));
        vm.prank(stranger);
        escrow.confirmReceipt(dealId, BATCH, EVENT_HASH, DOC_DIGEST, type(uint256).max);
    }

    function test_confirmReceipt_revertsWhenAlreadyReceived() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.AlreadyReceived.selector, dealId, leader1));
        confirmAs(dealId, leader1);
    }

    function test_confirmReceipt_revertsAfterDeliveryDeadline() public {
        uint256 dealId = _successfulDeal();
        uint256 deadline = escrow.dealParams(dealId).deliveryDeadline;
        vm.warp(deadline);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DeliveryDeadlinePassed.selector, dealId, deadline));
        confirmAs(dealId, leader1);
    }

    function test_confirmReceipt_revertsForForeignBatch() public {
        uint256 dealId = _successfulDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.BatchNotInDeal.selector, dealId, OTHER_BATCH));
        vm.prank(leader1);
        escrow.confirmReceipt(dealId, OTHER_BATCH, EVENT_HASH, DOC_DIGEST, type(uint256).max);
    }

    function test_confirmReceipt_revertsWhileOpen() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 10, leader1);
        vm.expectRevert(
            abi.encodeWithSelector(IGroupBuyEscrow.DealNotSucceeded.selector, dealId, IGroupBuyEscrow.DealStatus.Open)
        );
        confirmAs(dealId, leader1);
    }

    function test_undelivered_refundsOrdersInFull() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        // leader2 never confirms: buyer2 is owed nothing before the deadline, everything after it.
        assertEq(escrow.owed(dealId, buyer(2)), 0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingOwed.selector, dealId, buyer(2)));
        vm.prank(buyer(2));
        escrow.withdraw(dealId);
        vm.warp(escrow.dealParams(dealId).deliveryDeadline);
        assertEq(withdrawAs(dealId, buyer(2)), 4 * TOP_PRICE);
        // Settlement then pays the received part only and empties the escrow.
        _toSettleable(dealId);
        escrow.settle(dealId);
        address[] memory accounts = new address[](6);
        (accounts[0], accounts[1], accounts[2], accounts[3], accounts[4], accounts[5]) =
            (buyer(0), buyer(1), buyer(2), leader1, supplier, treasury);
        escrow.pushPayouts(dealId, accounts);
        assertEq(token.balanceOf(address(escrow)), 0);
        assertEq(token.balanceOf(leader1), 21_600_000);
        assertEq(escrow.owed(dealId, leader2), 0);
    }

    // ------------------------------------------------------------------ claims

    function test_claim_acceptedRefundsPerUnitAtFinalPrice() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2);
        vm.prank(buyer(1));
        escrow.fileClaim(dealId, 3, EVIDENCE);
        vm.prank(supplier);
        escrow.acceptClaim(dealId, buyer(1));
        assertEq(escrow.leaderInfo(dealId, leader1).commission, 18 * UNIT); // (18 − 3) × 8 × 15%
        _toSettleable(dealId);
        escrow.settle(dealId);
        assertEq(withdrawAs(dealId, buyer(1)), 16 * UNIT + 24 * UNIT, "rebate + 3 units at 8");
        assertEq(withdrawAs(dealId, supplier), 123_200_000);
        assertEq(withdrawAs(dealId, treasury), 7_600_000);
        assertEq(withdrawAs(dealId, leader1), 18 * UNIT);
        assertEq(withdrawAs(dealId, leader2), 3_200_000);
        assertEq(withdrawAs(dealId, buyer(0)), 20 * UNIT);
        assertEq(withdrawAs(dealId, buyer(2)), 8 * UNIT);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_claim_rejectedThenArbitrated() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.prank(buyer(1));
        escrow.fileClaim(dealId, 1, EVIDENCE);
        vm.startPrank(supplier);
        escrow.rejectClaim(dealId, buyer(0));
        escrow.rejectClaim(dealId, buyer(1));
        vm.stopPrank();
        (IGroupBuyEscrow.ClaimStatus status,,) = escrow.claim(dealId, buyer(0));
        assertEq(uint256(status), uint256(IGroupBuyEscrow.ClaimStatus.Rejected));
        vm.startPrank(platform);
        escrow.arbitrateClaim(dealId, buyer(0), true);
        escrow.arbitrateClaim(dealId, buyer(1), false);
        vm.stopPrank();
        assertEq(escrow.order(dealId, buyer(0)).upheldQuantity, 2);
        assertEq(escrow.order(dealId, buyer(1)).upheldQuantity, 0);
        assertEq(escrow.dealTotals(dealId).openClaims, 0);
    }

    /// @dev Found in review: `openClaims` was a uint16 while a deal may have up to 2^32 - 1 buyers (one open
    /// claim each), so the 65,536th claim open at once reverted (arithmetic overflow): that buyer could not file
    /// within the dispute window. Set to 65,535 in storage (slot 1 of the deal, bits 184..199), one more is filed.
    function test_fileClaim_moreThan65535OpenClaimsAtOnce() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        bytes32 base = _dealSlot(dealId);
        bytes32 hot = bytes32(uint256(base) + 1);
        uint256 word = uint256(vm.load(address(escrow), hot));
        word = (word & ~(uint256(0xFFFF) << 184)) | (uint256(type(uint16).max) << 184);
        vm.store(address(escrow), hot, bytes32(word));
        assertEq(escrow.dealTotals(dealId).openClaims, type(uint16).max);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        assertEq(escrow.dealTotals(dealId).openClaims, uint256(type(uint16).max) + 1);
    }

    /// @dev The storage slot of `_deals[dealId]`: the mapping's slot is the one whose deal starts with the token.
    function _dealSlot(uint256 dealId) internal view returns (bytes32) {
        for (uint256 s = 0; s < 64; ++s) {
            bytes32 slot = keccak256(abi.encode(dealId, s));
            if (address(uint160(uint256(vm.load(address(escrow), slot)))) == address(token)) return slot;
        }
        revert("no deal slot");
    }

    function test_arbitrateClaim_revertsWhenNotArbiter() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.prank(supplier);
        escrow.rejectClaim(dealId, buyer(0));
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, supplier, escrow.ARBITER_ROLE())
        );
        vm.prank(supplier);
        escrow.arbitrateClaim(dealId, buyer(0), false);
    }

    function test_arbitrateClaim_revertsWhenNotRejected() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGroupBuyEscrow.ClaimNotRejected.selector, dealId, buyer(0), IGroupBuyEscrow.ClaimStatus.Filed
            )
        );
        vm.prank(platform);
        escrow.arbitrateClaim(dealId, buyer(0), true);
    }

    function test_acceptClaim_revertsWhenNotSupplier() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NotSupplier.selector, dealId, stranger));
        vm.prank(stranger);
        escrow.acceptClaim(dealId, buyer(0));
    }

    function test_acceptClaim_revertsAfterAnswerWindow() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        uint256 answerDeadline = block.timestamp + 1 days;
        vm.warp(answerDeadline);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.AnswerWindowClosed.selector, dealId, buyer(0), answerDeadline));
        vm.prank(supplier);
        escrow.acceptClaim(dealId, buyer(0));
    }

    function test_finalizeUnansweredClaim_upholdsAfterAnswerWindow() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        uint256 answerDeadline = block.timestamp + 1 days;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.AnswerWindowOpen.selector, dealId, buyer(0), answerDeadline));
        escrow.finalizeUnansweredClaim(dealId, buyer(0));
        vm.warp(answerDeadline);
        vm.prank(stranger);
        escrow.finalizeUnansweredClaim(dealId, buyer(0));
        assertEq(escrow.order(dealId, buyer(0)).upheldQuantity, 2);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoOpenClaim.selector, dealId, buyer(0)));
        escrow.finalizeUnansweredClaim(dealId, buyer(0));
    }

    /// @dev The four answers share one library path (GroupBuyLastMile.answerClaim): each keeps its own checks, in
    /// their order, and its own event.
    function test_claimAnswers_keepTheirChecksAndEvents() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        // The supplier check comes before the claim's: a stranger answering a buyer without a claim is NotSupplier.
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NotSupplier.selector, dealId, stranger));
        vm.prank(stranger);
        escrow.rejectClaim(dealId, buyer(2));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoOpenClaim.selector, dealId, buyer(2)));
        vm.prank(supplier);
        escrow.rejectClaim(dealId, buyer(2));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoOpenClaim.selector, dealId, buyer(2)));
        vm.prank(platform);
        escrow.arbitrateClaim(dealId, buyer(2), false);

        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.prank(buyer(1));
        escrow.fileClaim(dealId, 1, EVIDENCE);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ClaimRejected(dealId, buyer(0));
        vm.prank(supplier);
        escrow.rejectClaim(dealId, buyer(0));
        (IGroupBuyEscrow.ClaimStatus status,,) = escrow.claim(dealId, buyer(0));
        assertEq(uint256(status), uint256(IGroupBuyEscrow.ClaimStatus.Rejected));

        // A rejected claim awaits the arbiter: the supplier cannot answer it again, nor anyone finalize it.
        bytes memory notAwaiting = abi.encodeWithSelector(
            IGroupBuyEscrow.ClaimNotAwaitingAnswer.selector, dealId, buyer(0), IGroupBuyEscrow.ClaimStatus.Rejected
        );
        vm.startPrank(supplier);
        vm.expectRevert(notAwaiting);
        escrow.acceptClaim(dealId, buyer(0));
        vm.expectRevert(notAwaiting);
        escrow.rejectClaim(dealId, buyer(0));
        vm.stopPrank();
        uint256 answerDeadline = block.timestamp + 1 days;
        vm.warp(answerDeadline);
        vm.expectRevert(notAwaiting);
        escrow.finalizeUnansweredClaim(dealId, buyer(0));
        // The supplier's window is closed for rejecting as for accepting.
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.AnswerWindowClosed.selector, dealId, buyer(1), answerDeadline));
        vm.prank(supplier);
        escrow.rejectClaim(dealId, buyer(1));

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ClaimDenied(dealId, buyer(0), 2);
        vm.prank(platform);
        escrow.arbitrateClaim(dealId, buyer(0), false);
        assertFalse(escrow.order(dealId, buyer(0)).claimOpen);
        (status,,) = escrow.claim(dealId, buyer(0));
        assertEq(uint256(status), uint256(IGroupBuyEscrow.ClaimStatus.None));
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ClaimUpheld(dealId, buyer(1), 1, true);
        escrow.finalizeUnansweredClaim(dealId, buyer(1));
        assertEq(escrow.dealTotals(dealId).openClaims, 0);
        assertEq(escrow.order(dealId, buyer(0)).upheldQuantity, 0);
        assertEq(escrow.order(dealId, buyer(1)).upheldQuantity, 1);
    }

    function test_fileClaim_revertsBeforeReceipt() public {
        uint256 dealId = _successfulDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotReceived.selector, dealId, leader1));
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 1, EVIDENCE);
    }

    function test_fileClaim_revertsAfterDisputeWindow() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        uint256 windowEnd = block.timestamp + 2 days;
        vm.warp(windowEnd);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DisputeWindowClosed.selector, dealId, windowEnd));
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 1, EVIDENCE);
    }

    function test_fileClaim_revertsOnDoubleOrExcessClaim() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.startPrank(buyer(1));
        escrow.fileClaim(dealId, 5, EVIDENCE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ClaimAlreadyOpen.selector, dealId, buyer(1)));
        escrow.fileClaim(dealId, 1, EVIDENCE);
        vm.stopPrank();
        vm.prank(supplier);
        escrow.acceptClaim(dealId, buyer(1));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ClaimQuantityTooHigh.selector, dealId, buyer(1), 4, 3));
        vm.prank(buyer(1));
        escrow.fileClaim(dealId, 4, EVIDENCE);
    }

    function test_fileClaim_revertsWithoutOrderOrEvidence() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoOrder.selector, dealId, stranger));
        vm.prank(stranger);
        escrow.fileClaim(dealId, 1, EVIDENCE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidEvidenceLength.selector, 0));
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 1, "");
    }

    // ------------------------------------------------------------------ recall / freeze

    function test_freeze_refundsEveryOrderInFull() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        vm.prank(stranger);
        escrow.freeze(dealId);
        assertEq(uint256(escrow.dealStatus(dealId)), uint256(IGroupBuyEscrow.DealStatus.Frozen));
        assertEq(withdrawAs(dealId, buyer(0)), 10 * TOP_PRICE);
        assertEq(withdrawAs(dealId, buyer(1)), 8 * TOP_PRICE);
        assertEq(withdrawAs(dealId, buyer(2)), 4 * TOP_PRICE);
        assertEq(escrow.owed(dealId, leader1), 0);
        assertEq(escrow.owed(dealId, supplier), 0);
        assertEq(token.balanceOf(address(escrow)), 0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealIsFrozen.selector, dealId));
        escrow.settle(dealId);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealIsFrozen.selector, dealId));
        escrow.freeze(dealId);
    }

    function test_freeze_afterUndeliveredRefundDoesNotPayTwice() public {
        uint256 dealId = _successfulDeal();
        vm.warp(escrow.dealParams(dealId).deliveryDeadline);
        assertEq(withdrawAs(dealId, buyer(2)), 4 * TOP_PRICE);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        escrow.freeze(dealId);
        assertEq(escrow.owed(dealId, buyer(2)), 0);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingOwed.selector, dealId, buyer(2)));
        vm.prank(buyer(2));
        escrow.withdraw(dealId);
    }

    function test_freeze_revertsWhenNoBatchBlocked() public {
        uint256 dealId = createDefaultDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoBatchBlocked.selector, dealId));
        escrow.freeze(dealId);
    }

    function test_freeze_revertsWhenSettled() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        _toSettleable(dealId);
        escrow.settle(dealId);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealAlreadySettled.selector, dealId));
        escrow.freeze(dealId);
    }

    // ------------------------------------------------------------------ payouts

    function test_pushPayouts_paysEveryoneAndSkipsNonCreditors() public {
        uint256 dealId = _successfulDeal();
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2);
        _toSettleable(dealId);
        escrow.settle(dealId);
        address[] memory accounts = new address[](8);
        (accounts[0], accounts[1], accounts[2], accounts[3]) = (buyer(0), buyer(1), buyer(2), leader1);
        (accounts[4], accounts[5], accounts[6], accounts[7]) = (leader2, supplier, treasury, stranger);
        vm.prank(stranger);
        uint256 paid = escrow.pushPayouts(dealId, accounts);
        assertEq(paid, 22 * TOP_PRICE);
        assertEq(token.balanceOf(address(escrow)), 0);
        assertEq(token.balanceOf(supplier), 142_400_000);
        // A second push pays nothing more.
        assertEq(escrow.pushPayouts(dealId, accounts), 0);
    }

    function test_payoutTo_revertsWhenCalledDirectly() public {
        uint256 dealId = createDefaultDeal();
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.OnlySelf.selector));
        escrow.payoutTo(dealId, stranger);
    }

    function test_withdraw_revertsForUnknownDeal() public {
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealNotFound.selector, 3));
        escrow.withdraw(3);
    }

    function test_setTokenAllowed_revertsWhenNotPlatform() public {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, escrow.PLATFORM_ROLE())
        );
        vm.prank(stranger);
        escrow.setTokenAllowed(address(token), false);
    }

    // ------------------------------------------------------------------ events

    function test_events_joinReceiptClaimSettleWithdraw() public {
        uint256 dealId = createDefaultDeal();
        address b = buyer(0);
        token.mint(b, 10 * TOP_PRICE);
        vm.prank(b);
        token.approve(address(escrow), 10 * TOP_PRICE);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.Joined(dealId, b, leader1, 10, 10 * TOP_PRICE);
        vm.prank(b);
        escrow.join(dealId, 10, leader1);
        toJoinDeadline(dealId);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ReceiptConfirmed(dealId, leader1, BATCH, EVENT_HASH, DOC_DIGEST, 10, 10);
        confirmAs(dealId, leader1, 10);

        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.ClaimFiled(dealId, b, leader1, 1, EVIDENCE);
        vm.prank(b);
        escrow.fileClaim(dealId, 1, EVIDENCE);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IGroupBuyEscrow.ClaimUpheld(dealId, b, 1, false);
        vm.prank(supplier);
        escrow.acceptClaim(dealId, b);

        _toSettleable(dealId);
        // 10 units → 9 tUSD; revenue 9 × 9 = 81; fee 5% = 4.05; commission 10% = 8.1; supplier 68.85.
        vm.expectEmit(true, false, false, true, address(escrow));
        emit IGroupBuyEscrow.DealSettled(dealId, 9 * UNIT, 81 * UNIT, 68_850_000, 4_050_000, 8_100_000);
        escrow.settle(dealId);

        vm.expectEmit(true, true, false, true, address(escrow));
        emit IGroupBuyEscrow.Withdrawn(dealId, b, 10 * UNIT + 9 * UNIT);
        withdrawAs(dealId, b);
    }

    function test_setFeeRecipient_appliesToNewDealsOnly() public {
        uint256 first = createDefaultDeal();
        address newTreasury = makeAddr("newTreasury");
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, stranger, bytes32(0))
        );
        vm.prank(stranger);
        escrow.setFeeRecipient(newTreasury);
        vm.prank(platform);
        escrow.setFeeRecipient(newTreasury);
        assertEq(escrow.feeRecipient(), newTreasury);
        uint256 second = createDefaultDeal();
        for (uint256 i; i < 2; ++i) {
            uint256 dealId = i == 0 ? first : second;
            joinAs(dealId, buyer(10 + i), 10, leader1);
        }
        toJoinDeadline(second);
        confirmAs(first, leader1);
        confirmAs(second, leader1);
        _toSettleable(second);
        escrow.settle(first);
        escrow.settle(second);
        assertEq(escrow.owed(first, treasury), 4_500_000);
        assertEq(escrow.owed(first, newTreasury), 0);
        assertEq(escrow.owed(second, newTreasury), 4_500_000);
    }

    // ------------------------------------------------------------------ properties (fuzzed, each with a fixed twin)

    /// @dev Money conservation for a settled deal with claims and an undelivered leader.
    function _conservation(uint256 q0, uint256 q1, uint256 q2, uint256 claimQty, bool deliverLeader2) internal {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), q0, leader1);
        joinAs(dealId, buyer(1), q1, leader1);
        joinAs(dealId, buyer(2), q2, leader2);
        toJoinDeadline(dealId);
        confirmAs(dealId, leader1);
        if (deliverLeader2) confirmAs(dealId, leader2);
        if (claimQty != 0) {
            vm.prank(buyer(0));
            escrow.fileClaim(dealId, claimQty, EVIDENCE);
            vm.prank(supplier);
            escrow.acceptClaim(dealId, buyer(0));
        }
        _toSettleable(dealId);
        escrow.settle(dealId);
        address[] memory accounts = new address[](7);
        (accounts[0], accounts[1], accounts[2], accounts[3]) = (buyer(0), buyer(1), buyer(2), leader1);
        (accounts[4], accounts[5], accounts[6]) = (leader2, supplier, treasury);
        uint256 paid = escrow.pushPayouts(dealId, accounts);
        assertEq(paid, (q0 + q1 + q2) * TOP_PRICE, "paid out == paid in");
        assertEq(token.balanceOf(address(escrow)), 0, "escrow emptied");
        uint256 price = escrow.finalUnitPrice(dealId);
        uint256 expectedBuyer0 = q0 * (TOP_PRICE - price) + claimQty * price;
        assertEq(token.balanceOf(buyer(0)), expectedBuyer0, "buyer0 rebate + claim refund");
        assertLe(token.balanceOf(buyer(0)), q0 * TOP_PRICE, "buyer never gets more than paid");
        assertEq(token.balanceOf(buyer(2)), deliverLeader2 ? q2 * (TOP_PRICE - price) : q2 * TOP_PRICE, "buyer2");
    }

    function testFuzz_settle_conservesMoney(uint256 q0, uint256 q1, uint256 q2, uint256 claimQty, bool deliverLeader2) public {
        q0 = bound(q0, 1, 10);
        q1 = bound(q1, 1, 10);
        q2 = bound(q2, 10 - (q0 + q1 >= 10 ? 9 : q0 + q1), 10); // total ≥ 10 so the deal succeeds
        claimQty = bound(claimQty, 0, q0);
        _conservation(q0, q1, q2, claimQty, deliverLeader2);
    }

    function test_settle_conservesMoney_fixed() public {
        _conservation(7, 3, 9, 2, false);
    }

    function _checkTierPrice(uint256 total) internal {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.minTotalQuantity = 1;
        p.perBuyerLimit = 100;
        uint256 dealId = createDeal(p);
        joinAs(dealId, buyer(0), total, leader1);
        uint256 expected = total >= 20 ? 8 * UNIT : total >= 10 ? 9 * UNIT : 10 * UNIT;
        assertEq(escrow.finalUnitPrice(dealId), expected, "tier price");
    }

    function testFuzz_finalUnitPrice_isTierReached(uint256 total) public {
        _checkTierPrice(bound(total, 1, 100));
    }

    function test_finalUnitPrice_isTierReached_fixed() public {
        _checkTierPrice(19);
        _checkTierPrice(20);
    }
}

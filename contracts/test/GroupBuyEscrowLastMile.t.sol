// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GroupBuyEscrowBase} from "./GroupBuyEscrowBase.t.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {Vm} from "./utils/Vm.sol";

/// @notice A contract account (ERC-1271) whose owner key signs for it.
contract Wallet1271 {
    address internal immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 digest, bytes calldata signature) external view returns (bytes4) {
        (bytes32 r, bytes32 s) = abi.decode(signature[:64], (bytes32, bytes32));
        uint8 v = uint8(signature[64]);
        return ecrecover(digest, v, r, s) == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

/// @notice Pickup handover (核销), no-shows and cash orders (issue 11 §3–§4): each rule and each error.
contract GroupBuyEscrowLastMileTest is GroupBuyEscrowBase {
    bytes32 internal constant HANDOVER_TYPEHASH =
        keccak256("Handover(uint256 dealId,address buyer,address leader,uint256 quantity,uint256 expiry)");
    bytes32 internal constant REF_A = keccak256(unicode"salt-a|王阿姨 138-0000-0001");
    bytes32 internal constant REF_B = keccak256(unicode"salt-b|李叔 138-0000-0002");

    // ------------------------------------------------------------------ helpers

    /// @dev A deal with a pickup deadline two days after delivery; buyers 0, 1 under leader1 (10 + 8), 2 under
    /// leader2 (4): 22 units, price tier 8 tUSD.
    function _deal() internal returns (uint256 dealId) {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.pickupDeadline = p.deliveryDeadline + 2 days;
        dealId = createDeal(p);
        joinAs(dealId, buyer(0), 10, leader1);
        joinAs(dealId, buyer(1), 8, leader1);
        joinAs(dealId, buyer(2), 4, leader2);
        toJoinDeadline(dealId);
    }

    function _key(uint256 i) internal returns (uint256 key) {
        (, key) = makeAddrAndKey(string.concat("buyer", vm.toString(i)));
    }

    function _digest(uint256 dealId, address who, address leader, uint256 quantity, uint256 expiry)
        internal
        view
        returns (bytes32)
    {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("GroupBuyEscrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
        bytes32 structHash = keccak256(abi.encode(HANDOVER_TYPEHASH, dealId, who, leader, quantity, expiry));
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    function _item(uint256 dealId, uint256 i, address leader, uint256 quantity)
        internal
        returns (IGroupBuyEscrow.HandoverItem memory)
    {
        uint256 expiry = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_key(i), _digest(dealId, buyer(i), leader, quantity, expiry));
        return IGroupBuyEscrow.HandoverItem(buyer(i), quantity, expiry, abi.encodePacked(r, s, v));
    }

    function _one(IGroupBuyEscrow.HandoverItem memory it)
        internal
        pure
        returns (IGroupBuyEscrow.HandoverItem[] memory items)
    {
        items = new IGroupBuyEscrow.HandoverItem[](1);
        items[0] = it;
    }

    function _handOver(uint256 dealId, address leader, IGroupBuyEscrow.HandoverItem[] memory items)
        internal
        returns (uint256)
    {
        vm.prank(leader);
        return escrow.handOver(dealId, items);
    }

    function _book(uint256 dealId, address leader, uint256 quantity, bytes32 ref) internal {
        token.mint(leader, quantity * TOP_PRICE);
        vm.startPrank(leader);
        token.approve(address(escrow), quantity * TOP_PRICE);
        escrow.bookCashOrder(dealId, quantity, ref);
        vm.stopPrank();
    }

    function _toSettle(uint256 dealId) internal {
        IGroupBuyEscrow.DealParams memory p = escrow.dealParams(dealId);
        uint256 t = p.pickupDeadline;
        IGroupBuyEscrow.DealTotals memory totals = escrow.dealTotals(dealId);
        if (totals.lastReceiptAt + p.disputeWindow > t) t = totals.lastReceiptAt + p.disputeWindow;
        vm.warp(t + 3 days); // past any handover's window too
        escrow.settle(dealId);
    }

    function _skipReason(Vm.Log[] memory logs) internal pure returns (uint256 skipped, uint8 lastReason) {
        bytes32 topic = keccak256("HandoverSkipped(uint256,address,uint8)");
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == topic) {
                ++skipped;
                lastReason = abi.decode(logs[i].data, (uint8));
            }
        }
    }

    // ------------------------------------------------------------------ parameters

    function test_createDeal_revertsWhenPickupBeforeDelivery() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.pickupDeadline = p.deliveryDeadline - 1;
        vm.expectRevert(
            abi.encodeWithSelector(IGroupBuyEscrow.InvalidPickupDeadline.selector, p.pickupDeadline, p.deliveryDeadline)
        );
        createDeal(p);
    }

    function test_createDeal_revertsWhenCashCapTooHigh() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.cashCapPerLeader = 1 << 24;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.InvalidCashCap.selector, 1 << 24));
        createDeal(p);
    }

    function test_dealParams_roundTripsTheLastMileFields() public {
        uint256 dealId = _deal();
        IGroupBuyEscrow.DealParams memory p = escrow.dealParams(dealId);
        assertEq(p.pickupDeadline, p.deliveryDeadline + 2 days);
        assertEq(p.cashCapPerLeader, 5);
    }

    // ------------------------------------------------------------------ handover

    function test_handOver_recordsTheBuyersSignedPickup() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.HandedOver(dealId, buyer(0), leader1, 10, 0);
        assertEq(_handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 10))), 1);
        IGroupBuyEscrow.PickupView memory pu = escrow.pickup(dealId, buyer(0));
        assertEq(pu.quantity, 10);
        assertEq(pu.shortQuantity, 0);
        assertEq(pu.at, block.timestamp);
        assertEq(escrow.pickup(dealId, buyer(1)).at, 0, "buyer1 not picked up");
    }

    function test_handOver_batchSkipsInvalidItemsAndRecordsTheRest() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        IGroupBuyEscrow.HandoverItem[] memory items = new IGroupBuyEscrow.HandoverItem[](3);
        items[0] = _item(dealId, 0, leader1, 10);
        items[1] = _item(dealId, 1, leader1, 8);
        items[1].signature[0] = items[1].signature[0] ^ 0x01; // tampered
        items[2] = _item(dealId, 1, leader1, 8);
        vm.recordLogs();
        assertEq(_handOver(dealId, leader1, items), 2);
        (uint256 skipped, uint8 reason) = _skipReason(vm.getRecordedLogs());
        assertEq(skipped, 1);
        assertEq(uint256(reason), uint256(IGroupBuyEscrow.HandoverSkip.BadSignature));
        assertEq(escrow.pickup(dealId, buyer(1)).quantity, 8);
    }

    function _skips(
        uint256 dealId,
        address leader,
        IGroupBuyEscrow.HandoverItem memory it,
        IGroupBuyEscrow.HandoverSkip want
    ) internal {
        vm.recordLogs();
        assertEq(_handOver(dealId, leader, _one(it)), 0);
        (uint256 skipped, uint8 reason) = _skipReason(vm.getRecordedLogs());
        assertEq(skipped, 1);
        assertEq(uint256(reason), uint256(want));
    }

    function test_handOver_skipsExpired() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        IGroupBuyEscrow.HandoverItem memory it = _item(dealId, 0, leader1, 10);
        vm.warp(it.expiry);
        _skips(dealId, leader1, it, IGroupBuyEscrow.HandoverSkip.Expired);
    }

    function test_handOver_skipsAReplay() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        IGroupBuyEscrow.HandoverItem memory it = _item(dealId, 0, leader1, 10);
        _handOver(dealId, leader1, _one(it));
        _skips(dealId, leader1, it, IGroupBuyEscrow.HandoverSkip.AlreadyPickedUp);
    }

    function test_handOver_skipsAnotherLeadersOrder() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        // buyer2 is leader2's: leader1 cannot record it, even with buyer2's signature naming leader1.
        _skips(dealId, leader1, _item(dealId, 2, leader1, 4), IGroupBuyEscrow.HandoverSkip.WrongLeader);
    }

    function test_handOver_skipsNoOrder() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        _skips(dealId, leader1, _item(dealId, 7, leader1, 1), IGroupBuyEscrow.HandoverSkip.NoOrder);
    }

    function test_handOver_skipsASignatureForAnotherLeader() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2);
        // buyer0 signed for leader2; leader1 submits it: the digest names leader1, so the signature fails.
        IGroupBuyEscrow.HandoverItem memory it = _item(dealId, 0, leader2, 10);
        _skips(dealId, leader1, it, IGroupBuyEscrow.HandoverSkip.BadSignature);
    }

    function test_handOver_skipsLessThanOrderedInAFullGroup() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        _skips(dealId, leader1, _item(dealId, 0, leader1, 9), IGroupBuyEscrow.HandoverSkip.InvalidQuantity);
        _skips(dealId, leader1, _item(dealId, 0, leader1, 11), IGroupBuyEscrow.HandoverSkip.InvalidQuantity);
    }

    function test_handOver_revertsBeforeReceipt() public {
        uint256 dealId = _deal();
        IGroupBuyEscrow.HandoverItem[] memory items = _one(_item(dealId, 0, leader1, 10));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotReceived.selector, dealId, leader1));
        _handOver(dealId, leader1, items);
    }

    function test_handOver_revertsFromThePickupDeadline() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        uint256 deadline = escrow.dealParams(dealId).pickupDeadline;
        vm.warp(deadline);
        IGroupBuyEscrow.HandoverItem[] memory items = _one(_item(dealId, 0, leader1, 10));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.PickupClosed.selector, dealId, deadline));
        _handOver(dealId, leader1, items);
    }

    function test_handOver_revertsWhenEmpty() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        vm.expectRevert(IGroupBuyEscrow.EmptyHandover.selector);
        _handOver(dealId, leader1, new IGroupBuyEscrow.HandoverItem[](0));
    }

    function test_handOver_revertsOnAFrozenDeal() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        escrow.freeze(dealId);
        IGroupBuyEscrow.HandoverItem[] memory items = _one(_item(dealId, 0, leader1, 10));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealIsFrozen.selector, dealId));
        _handOver(dealId, leader1, items);
    }

    function test_handOver_acceptsAContractAccountsSignature() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.pickupDeadline = p.deliveryDeadline + 2 days;
        uint256 dealId = createDeal(p);
        (address owner, uint256 ownerKey) = makeAddrAndKey("walletOwner");
        Wallet1271 wallet = new Wallet1271(owner);
        joinAs(dealId, address(wallet), 10, leader1);
        toJoinDeadline(dealId);
        confirmAs(dealId, leader1);
        uint256 expiry = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ownerKey, _digest(dealId, address(wallet), leader1, 10, expiry));
        IGroupBuyEscrow.HandoverItem memory it =
            IGroupBuyEscrow.HandoverItem(address(wallet), 10, expiry, abi.encodePacked(r, s, v));
        assertEq(_handOver(dealId, leader1, _one(it)), 1);
        assertEq(escrow.pickup(dealId, address(wallet)).quantity, 10);
    }

    function test_handOver_claimWindowRunsFromPickup() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        uint256 window = escrow.dealParams(dealId).disputeWindow;
        vm.warp(block.timestamp + window - 1);
        _handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 10)));
        vm.warp(block.timestamp + window - 1); // the receipt's window is long over, the pickup's is not
        vm.prank(buyer(0));
        escrow.fileClaim(dealId, 2, EVIDENCE);
        vm.warp(block.timestamp + 1);
        vm.prank(buyer(1)); // not handed over: the receipt's window applies, closed
        vm.expectRevert();
        escrow.fileClaim(dealId, 1, EVIDENCE);
    }

    // ------------------------------------------------------------------ short groups and no-shows

    function test_shortGroup_handoverAssignsShortUnitsAndNoShowsShareTheRest() public {
        uint256 dealId = _deal(); // leader1: buyer0 10 + buyer1 8 = 18; price 8 tUSD
        confirmAs(dealId, leader1, 11); // 7 short
        confirmAs(dealId, leader2);
        // buyer0 takes 6 of 10: 4 short assigned to buyer0; 3 short units left for the no-show buyer1 (8 units).
        _handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 6)));
        IGroupBuyEscrow.PickupView memory pu = escrow.pickup(dealId, buyer(0));
        assertEq(pu.shortQuantity, 4);
        (bool short_, uint256 delivered, uint256 perUnit) = escrow.shortfall(dealId, leader1);
        assertTrue(short_);
        assertEq(delivered, 11);
        assertEq(perUnit, 3 * 8 * UNIT / 8);
        // buyer0 cannot claim more than taken
        vm.prank(buyer(0));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.ClaimQuantityTooHigh.selector, dealId, buyer(0), 7, 6));
        escrow.fileClaim(dealId, 7, EVIDENCE);

        _toSettle(dealId);
        // buyer0: rebate 10 × 2 + 4 short × 8 = 52; buyer1: rebate 8 × 2 + 8 × 3 = 40
        assertEq(withdrawAs(dealId, buyer(0)), 52 * UNIT);
        assertEq(withdrawAs(dealId, buyer(1)), 40 * UNIT);
        withdrawAs(dealId, buyer(2));
        withdrawAs(dealId, leader1);
        withdrawAs(dealId, leader2);
        withdrawAs(dealId, supplier);
        withdrawAs(dealId, treasury);
        assertEq(token.balanceOf(address(escrow)), 0, "money in = money out");
    }

    function test_shortGroup_skipsAHandoverTheShortUnitsCannotCover() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1, 15); // 3 short
        _skips(dealId, leader1, _item(dealId, 0, leader1, 6), IGroupBuyEscrow.HandoverSkip.InvalidQuantity);
        assertEq(_handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 7))), 1);
    }

    function test_shortGroup_roundingDustGoesToTheSupplier() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1, 17); // 1 short among 18: 8 tUSD / 18 units does not divide
        confirmAs(dealId, leader2);
        _toSettle(dealId);
        address[] memory everyone = new address[](7);
        (everyone[0], everyone[1], everyone[2]) = (buyer(0), buyer(1), buyer(2));
        (everyone[3], everyone[4], everyone[5], everyone[6]) = (leader1, leader2, supplier, treasury);
        escrow.pushPayouts(dealId, everyone);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_closeOut_reportsNoShowsAfterTheDeadline() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1, 11);
        _handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 6)));
        uint256 deadline = escrow.dealParams(dealId).pickupDeadline;
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.PickupOpen.selector, dealId, deadline));
        escrow.closeOut(dealId, leader1);
        vm.warp(deadline);
        vm.expectEmit(true, true, false, true, address(escrow));
        emit IGroupBuyEscrow.NoShowsClosed(dealId, leader1, 8, 3, 3 * UNIT);
        vm.prank(stranger);
        escrow.closeOut(dealId, leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingToCloseOut.selector, dealId, leader1));
        escrow.closeOut(dealId, leader1);
    }

    function test_closeOut_revertsForAGroupWithoutReceipt() public {
        uint256 dealId = _deal();
        vm.warp(escrow.dealParams(dealId).pickupDeadline);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotReceived.selector, dealId, leader2));
        escrow.closeOut(dealId, leader2);
    }

    function test_settle_waitsForThePickupDeadline() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        confirmAs(dealId, leader2);
        IGroupBuyEscrow.DealParams memory p = escrow.dealParams(dealId);
        vm.warp(p.pickupDeadline - 1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.SettlementTooEarly.selector, dealId, p.pickupDeadline));
        escrow.settle(dealId);
    }

    // ------------------------------------------------------------------ cash orders

    function test_bookCashOrder_countsTowardTheGroupAndTiers() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        uint256 dealId = createDeal(p);
        joinAs(dealId, buyer(0), 6, leader1);
        token.mint(leader1, 4 * TOP_PRICE);
        vm.startPrank(leader1);
        token.approve(address(escrow), 4 * TOP_PRICE);
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.CashOrderBooked(dealId, leader1, REF_A, 4, 4 * TOP_PRICE);
        escrow.bookCashOrder(dealId, 4, REF_A);
        vm.stopPrank();
        assertEq(escrow.dealTotals(dealId).totalQuantity, 10, "minimum reached with the cash order");
        assertEq(escrow.leaderInfo(dealId, leader1).quantity, 10);
        assertEq(escrow.finalUnitPrice(dealId), 9 * UNIT, "tier 2 reached");
        (uint256 cashQuantity,) = escrow.cashTotals(dealId, leader1);
        assertEq(cashQuantity, 4);
        assertEq(escrow.cashOrder(dealId, leader1, REF_A).quantity, 4);
        toJoinDeadline(dealId);
        assertEq(uint256(escrow.dealStatus(dealId)), uint256(IGroupBuyEscrow.DealStatus.Succeeded));
    }

    function test_bookCashOrder_revertsOverTheLeadersCap() public {
        uint256 dealId = createDefaultDeal();
        _book(dealId, leader1, 3, REF_A);
        token.mint(leader1, 3 * TOP_PRICE);
        vm.startPrank(leader1);
        token.approve(address(escrow), 3 * TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.CashCapExceeded.selector, dealId, leader1, 6, 5));
        escrow.bookCashOrder(dealId, 3, REF_B);
        vm.stopPrank();
        _book(dealId, leader2, 5, REF_B); // the cap is per leader
    }

    function test_bookCashOrder_revertsWithoutBeneficiary() public {
        uint256 dealId = createDefaultDeal();
        vm.prank(leader1);
        vm.expectRevert(IGroupBuyEscrow.InvalidBeneficiary.selector);
        escrow.bookCashOrder(dealId, 1, bytes32(0));
    }

    function test_bookCashOrder_revertsForAnUnapprovedLeader() public {
        uint256 dealId = createDefaultDeal();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, stranger));
        escrow.bookCashOrder(dealId, 1, REF_A);
    }

    function test_bookCashOrder_revertsWhenCashOrdersAreOff() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.cashCapPerLeader = 0;
        uint256 dealId = createDeal(p);
        vm.prank(leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.CashCapExceeded.selector, dealId, leader1, 1, 0));
        escrow.bookCashOrder(dealId, 1, REF_A);
    }

    function test_bookCashOrder_revertsAfterTheJoinDeadline() public {
        uint256 dealId = createDefaultDeal();
        toJoinDeadline(dealId);
        uint256 deadline = escrow.dealParams(dealId).joinDeadline;
        vm.prank(leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealClosed.selector, dealId, deadline));
        escrow.bookCashOrder(dealId, 1, REF_A);
    }

    function test_cashOrder_failedDealRefundsTheLeaderApart() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, leader1, 2, leader1); // the leader's own order
        _book(dealId, leader1, 3, REF_A);
        toJoinDeadline(dealId); // 5 < 成团 10: failed
        assertEq(escrow.owed(dealId, leader1), 2 * TOP_PRICE, "own order only");
        assertEq(escrow.cashOwed(dealId, leader1, REF_A), 3 * TOP_PRICE);
        bytes32[] memory refs = new bytes32[](1);
        refs[0] = REF_A;
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.CashRefunded(dealId, leader1, REF_A, 3 * TOP_PRICE);
        vm.prank(stranger); // anyone (the keeper) pushes; the money goes to the leader
        escrow.payCashRefunds(dealId, leader1, refs);
        assertEq(token.balanceOf(leader1), 3 * TOP_PRICE);
        (, uint256 refunded) = escrow.cashTotals(dealId, leader1);
        assertEq(refunded, 3 * TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingOwed.selector, dealId, leader1));
        escrow.payCashRefunds(dealId, leader1, refs);
    }

    function test_cashOrder_handedOverByTheLeaderAloneAndSettled() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.pickupDeadline = p.deliveryDeadline + 2 days;
        uint256 dealId = createDeal(p);
        joinAs(dealId, buyer(0), 10, leader1);
        _book(dealId, leader1, 4, REF_A);
        toJoinDeadline(dealId);
        confirmAs(dealId, leader1, 12); // 2 short among 14
        vm.expectEmit(true, true, true, true, address(escrow));
        emit IGroupBuyEscrow.CashHandedOver(dealId, leader1, REF_A, 2, 2);
        vm.prank(leader1);
        escrow.handOverCash(dealId, REF_A, 2);
        vm.prank(leader1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGroupBuyEscrow.HandoverRefused.selector, dealId, IGroupBuyEscrow.HandoverSkip.AlreadyPickedUp
            )
        );
        escrow.handOverCash(dealId, REF_A, 2);
        vm.prank(leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NoCashOrder.selector, dealId, leader1, REF_B));
        escrow.handOverCash(dealId, REF_B, 1);
        _toSettle(dealId); // price 9 (14 units)
        bytes32[] memory refs = new bytes32[](1);
        refs[0] = REF_A;
        assertEq(escrow.payCashRefunds(dealId, leader1, refs), 4 * UNIT + 2 * 9 * UNIT);
        withdrawAs(dealId, buyer(0));
        withdrawAs(dealId, leader1);
        withdrawAs(dealId, supplier);
        withdrawAs(dealId, treasury);
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_cashOrder_handoverOfAnotherQuantityIsRefused() public {
        uint256 dealId = createDefaultDeal();
        joinAs(dealId, buyer(0), 8, leader1);
        _book(dealId, leader1, 4, REF_A);
        toJoinDeadline(dealId);
        confirmAs(dealId, leader1);
        vm.prank(leader1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGroupBuyEscrow.HandoverRefused.selector, dealId, IGroupBuyEscrow.HandoverSkip.InvalidQuantity
            )
        );
        escrow.handOverCash(dealId, REF_A, 3);
    }

    function test_bookCashOrderWithPermit() public {
        uint256 dealId = createDefaultDeal();
        (address leader, uint256 key) = makeAddrAndKey("permitLeader");
        registry.setLeader(leader, true);
        token.mint(leader, 2 * TOP_PRICE);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                leader,
                address(escrow),
                2 * TOP_PRICE,
                token.nonces(leader),
                deadline
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, keccak256(abi.encodePacked(hex"1901", token.DOMAIN_SEPARATOR(), structHash)));
        vm.prank(leader);
        escrow.bookCashOrderWithPermit(dealId, 2, REF_A, deadline, v, r, s);
        assertEq(escrow.cashOrder(dealId, leader, REF_A).quantity, 2);
    }

    function test_cashOrder_frozenDealRefundsInFull() public {
        uint256 dealId = createDefaultDeal();
        _book(dealId, leader1, 5, REF_A);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Recalled);
        escrow.freeze(dealId);
        assertEq(escrow.cashOwed(dealId, leader1, REF_A), 5 * TOP_PRICE);
    }

    // ------------------------------------------------------------------ attacks

    function test_attack_aCodeForOneDealDoesNotCountInAnother() public {
        uint256 dealA = _deal();
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.pickupDeadline = p.deliveryDeadline + 2 days;
        p.joinDeadline = uint40(block.timestamp + 1 hours);
        p.batchIds[0] = OTHER_BATCH;
        uint256 dealB = createDeal(p);
        joinAs(dealB, buyer(0), 10, leader1);
        vm.warp(p.joinDeadline);
        vm.prank(leader1);
        escrow.confirmReceipt(dealB, OTHER_BATCH, EVENT_HASH, DOC_DIGEST, type(uint256).max);
        IGroupBuyEscrow.HandoverItem memory forA = _item(dealA, 0, leader1, 10);
        _skips(dealB, leader1, forA, IGroupBuyEscrow.HandoverSkip.BadSignature);
    }

    function test_attack_aCodeForAnotherEscrowDoesNotCount() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        // Signed under another escrow's domain (same deal id, buyer, leader): refused here.
        uint256 expiry = block.timestamp + 1 hours;
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("GroupBuyEscrow"),
                keccak256("1"),
                block.chainid,
                address(0xE5C0)
            )
        );
        bytes32 digest = keccak256(
            abi.encodePacked(
                hex"1901", domain, keccak256(abi.encode(HANDOVER_TYPEHASH, dealId, buyer(0), leader1, 10, expiry))
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_key(0), digest);
        _skips(
            dealId,
            leader1,
            IGroupBuyEscrow.HandoverItem(buyer(0), 10, expiry, abi.encodePacked(r, s, v)),
            IGroupBuyEscrow.HandoverSkip.BadSignature
        );
    }

    function test_attack_noCodeNoHandover() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        IGroupBuyEscrow.HandoverItem memory it =
            IGroupBuyEscrow.HandoverItem(buyer(0), 10, block.timestamp + 1 hours, "");
        _skips(dealId, leader1, it, IGroupBuyEscrow.HandoverSkip.BadSignature);
    }

    function test_attack_aStrangerCannotSubmitABuyersCode() public {
        uint256 dealId = _deal();
        confirmAs(dealId, leader1);
        IGroupBuyEscrow.HandoverItem[] memory items = _one(_item(dealId, 0, leader1, 10));
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotReceived.selector, dealId, stranger));
        _handOver(dealId, stranger, items);
    }

    function test_attack_aShortGroupCannotHandOverMoreThanArrived() public {
        uint256 dealId = _deal(); // leader1: 10 + 8
        confirmAs(dealId, leader1, 12); // 6 short
        assertEq(_handOver(dealId, leader1, _one(_item(dealId, 0, leader1, 10))), 1); // 2 left
        // buyer1 signs for all 8: only 2 arrived for the rest of the group.
        _skips(dealId, leader1, _item(dealId, 1, leader1, 8), IGroupBuyEscrow.HandoverSkip.InvalidQuantity);
        assertEq(_handOver(dealId, leader1, _one(_item(dealId, 1, leader1, 2))), 1);
    }

    function test_attack_cashOrdersCannotExceedTheStock() public {
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.maxTotalQuantity = 12;
        uint256 dealId = createDeal(p);
        joinAs(dealId, buyer(0), 10, leader1);
        vm.prank(leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealFull.selector, dealId, 3, 2));
        escrow.bookCashOrder(dealId, 3, REF_A);
    }

    function test_attack_aLeaderCannotCollectCommissionOnCashRefunds() public {
        uint256 dealId = createDefaultDeal();
        _book(dealId, leader1, 5, REF_A);
        toJoinDeadline(dealId); // failed: 5 < 10
        assertEq(escrow.owed(dealId, leader1), 0, "cash refunds are not in owed()");
        vm.prank(leader1);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.NothingOwed.selector, dealId, leader1));
        escrow.withdraw(dealId);
    }
}

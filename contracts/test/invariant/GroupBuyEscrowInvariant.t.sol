// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StdInvariant} from "../utils/Test.sol";
import {GroupBuyEscrowBase} from "../GroupBuyEscrowBase.t.sol";
import {IGroupBuyEscrow} from "../../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../../interfaces/IProvenanceRegistry.sol";
import {GroupBuyEscrowHandler} from "./GroupBuyEscrowHandler.sol";

/// @notice Invariant campaign over three deals (one likely to fail, two with different tiers), three leaders and
/// six buyers: the escrow's balance always equals what it still owes, and nobody is paid twice or too much.
contract GroupBuyEscrowInvariantTest is GroupBuyEscrowBase, StdInvariant {
    GroupBuyEscrowHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new GroupBuyEscrowHandler(escrow, token, registry, supplier, treasury, platform);
        uint256[3] memory minimums = [uint256(6), 3, 30];
        for (uint256 i; i < 3; ++i) {
            bytes32 batchId = keccak256(abi.encode("09506000134352", i));
            registry.setBatch(batchId, supplier, IProvenanceRegistry.BatchStatus.Active);
            IGroupBuyEscrow.DealParams memory p = defaultParams();
            p.minTotalQuantity = uint32(minimums[i]);
            // Short phases against warps of up to 4 hours, so runs of 50 calls reach settlement and claims.
            p.joinDeadline = uint40(block.timestamp + 8 hours);
            p.deliveryDeadline = uint40(block.timestamp + 14 hours);
            p.pickupDeadline = uint40(block.timestamp + 20 hours);
            p.cashCapPerLeader = 4;
            p.disputeWindow = 4 hours;
            p.answerWindow = 2 hours;
            p.platformFeeBps = uint16(333 * i); // 0, 3.33%, 6.66%: odd rates exercise rounding
            p.commissionBps = uint16(777 + i * 100);
            p.commissionTiers[0].commissionBps = 1999;
            p.batchIds[0] = batchId;
            handler.addDeal(createDeal(p), batchId);
        }
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](23);
        // Joins and time jumps are weighted three times: deals need volume, and phases need time.
        selectors[0] = GroupBuyEscrowHandler.join.selector;
        selectors[1] = GroupBuyEscrowHandler.join.selector;
        selectors[13] = GroupBuyEscrowHandler.join.selector;
        selectors[2] = GroupBuyEscrowHandler.cancel.selector;
        selectors[3] = GroupBuyEscrowHandler.warp.selector;
        selectors[14] = GroupBuyEscrowHandler.warp.selector;
        selectors[15] = GroupBuyEscrowHandler.warp.selector;
        selectors[16] = GroupBuyEscrowHandler.confirmReceipt.selector;
        selectors[4] = GroupBuyEscrowHandler.confirmReceipt.selector;
        selectors[5] = GroupBuyEscrowHandler.fileClaim.selector;
        selectors[6] = GroupBuyEscrowHandler.answerClaim.selector;
        selectors[7] = GroupBuyEscrowHandler.arbitrate.selector;
        selectors[8] = GroupBuyEscrowHandler.finalizeUnanswered.selector;
        selectors[9] = GroupBuyEscrowHandler.recallAndFreeze.selector;
        selectors[10] = GroupBuyEscrowHandler.settle.selector;
        selectors[11] = GroupBuyEscrowHandler.withdraw.selector;
        selectors[12] = GroupBuyEscrowHandler.push.selector;
        selectors[17] = GroupBuyEscrowHandler.handOver.selector;
        selectors[18] = GroupBuyEscrowHandler.handOver.selector;
        selectors[19] = GroupBuyEscrowHandler.bookCash.selector;
        selectors[20] = GroupBuyEscrowHandler.handOverCash.selector;
        selectors[21] = GroupBuyEscrowHandler.closeOut.selector;
        selectors[22] = GroupBuyEscrowHandler.payCash.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev One invariant function, so forge runs one campaign (each invariant_ function is a campaign of its own).
    function invariant_ledger() public view {
        _balanceEqualsObligations();
        _noBuyerOverpaidOrPaidTwice();
        _recalledDealsTakeNoOrders();
    }

    /// @dev A deal whose batch the registry reported blocked is frozen, settled or failed: never Open, never
    /// Succeeded-and-unsettled (a recall stops sales and settlement at once).
    function _recalledDealsTakeNoOrders() internal view {
        for (uint256 d; d < handler.dealCount(); ++d) {
            if (!handler.recalledByHook(d)) continue;
            IGroupBuyEscrow.DealStatus s = escrow.dealStatus(handler.dealIds(d));
            assertTrue(
                s == IGroupBuyEscrow.DealStatus.Frozen || s == IGroupBuyEscrow.DealStatus.Settled || s == IGroupBuyEscrow.DealStatus.Failed,
                "a recalled deal is still live"
            );
        }
    }

    /// @dev Balance == Σ per-deal holdings, and each deal's holding equals its outstanding obligations.
    function _balanceEqualsObligations() internal view {
        uint256 total;
        for (uint256 d; d < handler.dealCount(); ++d) {
            uint256 dealId = handler.dealIds(d);
            uint256 held = handler.ghostHeld(dealId);
            total += held;
            assertEq(held, _obligations(dealId), "deal holding != obligations");
            assertEq(handler.ghostIn(dealId), held + handler.ghostOut(dealId), "money in != held + out");
        }
        assertEq(token.balanceOf(address(escrow)), total, "escrow balance != sum of holdings");
    }

    /// @dev No buyer gets back more than it paid, and no order is paid out more than once.
    function _noBuyerOverpaidOrPaidTwice() internal view {
        for (uint256 d; d < handler.dealCount(); ++d) {
            uint256 dealId = handler.dealIds(d);
            for (uint256 i; i < handler.buyerCount(); ++i) {
                address b = handler.buyers(i);
                assertLe(handler.ghostReceivedByBuyer(dealId, b), handler.ghostPaidByBuyer(dealId, b), "buyer overpaid");
                assertLe(handler.payoutsSinceJoin(dealId, b), 1, "order paid out twice");
            }
            for (uint256 i; i < handler.leaderCount(); ++i) {
                address l = handler.leaders(i);
                assertLe(handler.ghostCashBack(dealId, l), handler.ghostCashPaid(dealId, l), "cash refunds above cash paid");
            }
        }
    }

    /// @dev What the deal still owes: final entitlements once closed; unpaid orders at the top price before.
    function _obligations(uint256 dealId) internal view returns (uint256 owed) {
        IGroupBuyEscrow.DealStatus status = escrow.dealStatus(dealId);
        bool closed = status == IGroupBuyEscrow.DealStatus.Failed || status == IGroupBuyEscrow.DealStatus.Frozen
            || status == IGroupBuyEscrow.DealStatus.Settled;
        if (closed) {
            for (uint256 i; i < handler.actorCount(); ++i) owed += escrow.owed(dealId, handler.actors(i));
            return owed + _cashObligations(dealId, true);
        }
        uint256 topPrice = handler.topPrice(dealId);
        for (uint256 i; i < handler.buyerCount(); ++i) {
            IGroupBuyEscrow.OrderView memory o = escrow.order(dealId, handler.buyers(i));
            if (!o.paidOut) owed += o.quantity * topPrice;
        }
        owed += _cashObligations(dealId, false);
    }

    /// @dev Cash orders: what they are owed once the deal is closed, their unpaid top-price amounts before.
    function _cashObligations(uint256 dealId, bool closed) internal view returns (uint256 owed) {
        for (uint256 i; i < handler.leaderCount(); ++i) {
            address l = handler.leaders(i);
            for (uint256 k; k < 2; ++k) {
                bytes32 ref = handler.cashRef(l, k);
                if (closed) {
                    owed += escrow.cashOwed(dealId, l, ref);
                } else {
                    IGroupBuyEscrow.CashOrderView memory c = escrow.cashOrder(dealId, l, ref);
                    if (!c.paidOut) owed += c.quantity * handler.topPrice(dealId);
                }
            }
        }
    }
}

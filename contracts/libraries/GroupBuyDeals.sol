// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {GroupBuyMath} from "./GroupBuyMath.sol";

/// @title Deal storage and the escrow's cold paths (listing, settlement, parameter view)
/// @notice Linked library (its `public` functions run by DELEGATECALL on the escrow's storage), which keeps the
/// escrow's runtime code far below the EIP-170 limit. Hot paths (join, cancel, payouts) stay in the escrow.
library GroupBuyDeals {
    using GroupBuyMath for IGroupBuyEscrow.PriceTier[];

    /// @notice Live deals one batch may have: a recall's notification freezes them all within the registry's gas
    /// cap (ESCROW_NOTIFICATION_GAS, 500,000; freezing 32 deals takes ~260,000).
    uint256 internal constant MAX_LIVE_DEALS_PER_BATCH = 32;

    /// @dev Field order is the storage packing: slots 0 and 1 hold everything `join` reads and writes.
    struct Deal {
        // slot 0
        address token;
        uint96 topPrice;
        // slot 1 (hot aggregates)
        uint32 totalQuantity;
        uint32 maxTotalQuantity;
        uint32 perBuyerLimit;
        uint32 minTotalQuantity;
        uint40 joinDeadline;
        bool frozen;
        bool settled;
        // One per buyer with a claim open; a deal may have up to 2^32 - 1 buyers: a uint32 never overflows
        // (a uint16 did at the 65,536th claim open at once). Still 32 bytes with lastReceiptAt.
        uint32 openClaims;
        uint40 lastReceiptAt;
        // slot 2
        address supplier;
        uint40 deliveryDeadline;
        uint32 disputeWindow;
        uint16 commissionBps;
        // slot 3
        address feeRecipient;
        uint32 answerWindow;
        uint16 platformFeeBps;
        uint32 receivedQuantity;
        // slot 4
        uint128 commissionTotal;
        uint32 refundedQuantity;
        bool supplierPaid;
        bool feePaid;
        /// @dev Σ over short groups of the shortage's rounding remainder (< ordered units each): the supplier's.
        uint64 shortDust;
        // slot 5
        uint128 supplierAmount;
        uint128 platformFee;
        IGroupBuyEscrow.PriceTier[] priceTiers;
        IGroupBuyEscrow.CommissionTier[] commissionTiers;
        bytes32[] batchIds;
        // pickup and cash orders (cold: join never reads it)
        uint40 pickupDeadline;
        uint32 cashCapPerLeader;
        uint40 lastPickupAt;
    }

    /// @dev One storage slot per order (a buyer's units in one deal, under one leader).
    struct Order {
        address leader;
        uint24 quantity;
        uint24 claimedQuantity;
        uint24 upheldQuantity;
        bool paidOut;
        bool claimOpen;
    }

    /// @dev One storage slot per leader and deal.
    struct Leader {
        uint32 quantity;
        uint32 refundedQuantity;
        uint40 receivedAt;
        uint16 commissionBps;
        uint128 commission;
        bool paidOut;
    }

    /// @dev The cold half of a leader's group (one slot): its short receipt, its handovers, its cash orders.
    /// Invariant of a received group of L units (Leader.quantity), D delivered: the units not handed over,
    /// L − handedOver − shortAssigned, equal the delivered units not handed over, D − handedOver, plus the short
    /// units not assigned, (L − D) − shortAssigned.
    struct Group {
        bool short_;
        bool closedOut;
        uint32 delivered;
        uint32 handedOver;
        uint32 shortAssigned;
        uint32 cashQuantity;
        uint128 cashRefunded;
    }

    /// @dev An order's handover (written at pickup, never at join).
    struct Pickup {
        uint24 quantity;
        uint24 short_;
        uint40 at;
    }

    struct CashOrder {
        uint24 quantity;
        uint24 pickedUp;
        uint24 short_;
        uint40 pickedUpAt;
        bool paidOut;
    }

    struct Claim {
        IGroupBuyEscrow.ClaimStatus status;
        uint24 quantity;
        uint40 filedAt;
    }

    /// @notice Validates `p` (numbers, token allowlist done by the caller, supplier and batches against the registry)
    /// and stores it as deal `dealId`.
    function create(Deal storage d, uint256 dealId, IGroupBuyEscrow.DealParams calldata p, IProvenanceRegistry registry, address feeRecipient)
        public
    {
        if (!registry.isApprovedSupplier(p.supplier)) revert IGroupBuyEscrow.SupplierNotApproved(p.supplier);
        GroupBuyMath.validate(p, block.timestamp);
        _checkBatches(p.batchIds, p.supplier, registry);

        d.token = p.token;
        d.topPrice = p.priceTiers[0].unitPrice;
        d.maxTotalQuantity = p.maxTotalQuantity;
        d.perBuyerLimit = p.perBuyerLimit;
        d.minTotalQuantity = p.minTotalQuantity;
        d.joinDeadline = p.joinDeadline;
        d.supplier = p.supplier;
        d.deliveryDeadline = p.deliveryDeadline;
        d.disputeWindow = p.disputeWindow;
        d.commissionBps = p.commissionBps;
        d.feeRecipient = feeRecipient;
        d.answerWindow = p.answerWindow;
        d.platformFeeBps = p.platformFeeBps;
        for (uint256 i; i < p.priceTiers.length; ++i) d.priceTiers.push(p.priceTiers[i]);
        for (uint256 i; i < p.commissionTiers.length; ++i) d.commissionTiers.push(p.commissionTiers[i]);
        d.batchIds = p.batchIds;
        d.pickupDeadline = p.pickupDeadline;
        d.cashCapPerLeader = p.cashCapPerLeader;
        emit IGroupBuyEscrow.DealCreated(dealId, p.supplier, p.token, p, feeRecipient);
    }

    /// @notice Settles a succeeded deal: fixes the supplier amount and the platform fee (see the escrow's money identity).
    function settle(Deal storage d, uint256 dealId, IProvenanceRegistry registry) public {
        if (d.settled) revert IGroupBuyEscrow.DealAlreadySettled(dealId);
        requireSucceeded(d, dealId);
        uint256 settleableAt = settleableTime(d);
        if (block.timestamp < settleableAt) revert IGroupBuyEscrow.SettlementTooEarly(dealId, settleableAt);
        if (d.openClaims != 0) revert IGroupBuyEscrow.ClaimsPending(dealId, d.openClaims);
        {
            (bool blocked, bytes32 batchId) = blockedBatch(d, registry);
            if (blocked) revert IGroupBuyEscrow.BatchBlocked(dealId, batchId);
        }

        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        uint256 revenue = uint256(d.receivedQuantity - d.refundedQuantity) * price;
        uint256 fee = revenue * d.platformFeeBps / GroupBuyMath.BPS;
        // Cannot underflow: commissions are ≤ 20% and the fee ≤ 10% of the revenue, each rounded down.
        // Plus the short groups' rounding remainders (see GroupBuyEscrow.confirmReceipt): the supplier takes the dust.
        uint256 supplierAmount = revenue - fee - d.commissionTotal + d.shortDust;
        d.settled = true;
        // Safe casts: revenue ≤ quantity (uint32) × price (uint96) < 2^128, and both amounts are ≤ revenue.
        // forge-lint: disable-next-line(unsafe-typecast)
        d.platformFee = uint128(fee);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.supplierAmount = uint128(supplierAmount);
        emit IGroupBuyEscrow.DealSettled(dealId, price, revenue, supplierAmount, fee, d.commissionTotal);
    }

    /// @notice Freezes an unsettled deal one of whose batches is blocked (Recalled / NonCompliant).
    function freeze(Deal storage d, uint256 dealId, IProvenanceRegistry registry) public {
        if (d.settled) revert IGroupBuyEscrow.DealAlreadySettled(dealId);
        if (d.frozen) revert IGroupBuyEscrow.DealIsFrozen(dealId);
        (bool blocked, bytes32 batchId) = blockedBatch(d, registry);
        if (!blocked) revert IGroupBuyEscrow.NoBatchBlocked(dealId);
        d.frozen = true;
        emit IGroupBuyEscrow.DealFrozen(dealId, batchId);
    }

    /// @notice Records deal `dealId` in the live list of each of its batches. A full list is first pruned of the
    /// deals a recall no longer needs to stop (settled, frozen, failed), so only live deals count toward the bound.
    function track(
        mapping(uint256 => Deal) storage deals,
        mapping(bytes32 => uint256[]) storage live,
        bytes32[] calldata batchIds,
        uint256 dealId
    ) public {
        for (uint256 b; b < batchIds.length; ++b) {
            uint256[] storage list = live[batchIds[b]];
            uint256 n = list.length;
            if (n >= MAX_LIVE_DEALS_PER_BATCH) {
                uint256 i;
                while (i < n) {
                    if (isLive(deals[list[i]])) {
                        ++i;
                    } else {
                        // Cannot underflow: i < n, so n ≥ 1.
                        unchecked {
                            --n;
                        }
                        list[i] = list[n];
                        list.pop();
                    }
                }
                if (n >= MAX_LIVE_DEALS_PER_BATCH) revert IGroupBuyEscrow.TooManyLiveDeals(batchIds[b], MAX_LIVE_DEALS_PER_BATCH);
            }
            list.push(dealId);
        }
    }

    /// @notice Freezes every live deal of blocked `batchId` and clears its list (a blocked batch never becomes
    /// Active again, so no deal can be listed for it later).
    function freezeLive(mapping(uint256 => Deal) storage deals, mapping(bytes32 => uint256[]) storage live, bytes32 batchId)
        public
        returns (uint256 frozen)
    {
        uint256[] storage list = live[batchId];
        uint256 n = list.length;
        for (uint256 i; i < n; ++i) {
            uint256 dealId = list[i];
            Deal storage d = deals[dealId];
            if (!isLive(d)) continue;
            d.frozen = true;
            ++frozen;
            emit IGroupBuyEscrow.DealFrozen(dealId, batchId);
        }
        delete live[batchId];
    }

    /// @notice Whether a recall must still stop the deal: not settled, not frozen, and not failed (a failed deal
    /// takes no order and already refunds everyone in full).
    function isLive(Deal storage d) internal view returns (bool) {
        if (d.frozen || d.settled) return false;
        return block.timestamp < d.joinDeadline || d.totalQuantity >= d.minTotalQuantity;
    }

    /// @notice The parameters the deal was listed with.
    function params(Deal storage d) public view returns (IGroupBuyEscrow.DealParams memory p) {
        p.supplier = d.supplier;
        p.token = d.token;
        p.priceTiers = d.priceTiers;
        p.minTotalQuantity = d.minTotalQuantity;
        p.maxTotalQuantity = d.maxTotalQuantity;
        p.perBuyerLimit = d.perBuyerLimit;
        p.joinDeadline = d.joinDeadline;
        p.deliveryDeadline = d.deliveryDeadline;
        p.disputeWindow = d.disputeWindow;
        p.answerWindow = d.answerWindow;
        p.commissionBps = d.commissionBps;
        p.commissionTiers = d.commissionTiers;
        p.platformFeeBps = d.platformFeeBps;
        p.batchIds = d.batchIds;
        p.pickupDeadline = d.pickupDeadline;
        p.cashCapPerLeader = d.cashCapPerLeader;
    }

    /// @notice Earliest settlement time: the pickup deadline (≥ the delivery deadline: who is short is final by
    /// then), or the end of the last receipt's or the last handover's dispute window.
    function settleableTime(Deal storage d) internal view returns (uint256 settleableAt) {
        settleableAt = d.pickupDeadline;
        uint256 disputeEnd = uint256(d.lastReceiptAt) + d.disputeWindow;
        if (d.lastReceiptAt != 0 && disputeEnd > settleableAt) settleableAt = disputeEnd;
        disputeEnd = uint256(d.lastPickupAt) + d.disputeWindow;
        if (d.lastPickupAt != 0 && disputeEnd > settleableAt) settleableAt = disputeEnd;
    }

    /// @notice Derived lifecycle state (a deal closes for joins at its join deadline).
    function status(Deal storage d) internal view returns (IGroupBuyEscrow.DealStatus) {
        if (d.token == address(0)) return IGroupBuyEscrow.DealStatus.None;
        if (d.frozen) return IGroupBuyEscrow.DealStatus.Frozen;
        if (d.settled) return IGroupBuyEscrow.DealStatus.Settled;
        if (block.timestamp < d.joinDeadline) return IGroupBuyEscrow.DealStatus.Open;
        return d.totalQuantity >= d.minTotalQuantity ? IGroupBuyEscrow.DealStatus.Succeeded : IGroupBuyEscrow.DealStatus.Failed;
    }

    /// @notice A leader opening a group in the deal (their first order or cash order in it): approved in the
    /// registry, and not the deal's supplier (LeaderNotApproved either way), whose receipt of its own goods would
    /// release its own money with nobody independent having seen them arrive.
    /// @dev Only when a group opens (a group's quantity only grows through orders), so later joins pay nothing.
    function checkNewLeader(Deal storage d, IProvenanceRegistry registry, address leader) internal view {
        if (leader == d.supplier || !registry.isApprovedLeader(leader)) revert IGroupBuyEscrow.LeaderNotApproved(leader);
    }

    function requireSucceeded(Deal storage d, uint256 dealId) internal view {
        IGroupBuyEscrow.DealStatus s = status(d);
        if (s == IGroupBuyEscrow.DealStatus.Frozen) revert IGroupBuyEscrow.DealIsFrozen(dealId);
        if (s != IGroupBuyEscrow.DealStatus.Succeeded) revert IGroupBuyEscrow.DealNotSucceeded(dealId, s);
    }

    function hasBatch(Deal storage d, bytes32 batchId) internal view returns (bool) {
        uint256 n = d.batchIds.length;
        for (uint256 i; i < n; ++i) {
            if (d.batchIds[i] == batchId) return true;
        }
        return false;
    }

    /// @notice First linked batch the registry reports Recalled or NonCompliant, if any (≤ MAX_BATCHES calls).
    function blockedBatch(Deal storage d, IProvenanceRegistry registry) internal view returns (bool, bytes32) {
        uint256 n = d.batchIds.length;
        for (uint256 i; i < n; ++i) {
            bytes32 batchId = d.batchIds[i];
            IProvenanceRegistry.BatchStatus s = registry.batchStatus(batchId);
            if (s == IProvenanceRegistry.BatchStatus.Recalled || s == IProvenanceRegistry.BatchStatus.NonCompliant) {
                return (true, batchId);
            }
        }
        return (false, bytes32(0));
    }

    function _checkBatches(bytes32[] calldata batchIds, address supplier, IProvenanceRegistry registry) private view {
        for (uint256 i; i < batchIds.length; ++i) {
            bytes32 batchId = batchIds[i];
            if (registry.batchStatus(batchId) != IProvenanceRegistry.BatchStatus.Active) revert IGroupBuyEscrow.BatchNotActive(batchId);
            if (registry.batchSupplier(batchId) != supplier) revert IGroupBuyEscrow.BatchNotOwnedBySupplier(batchId, supplier);
            for (uint256 j; j < i; ++j) {
                if (batchIds[j] == batchId) revert IGroupBuyEscrow.DuplicateBatch(batchId);
            }
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {GroupBuyDeals} from "./GroupBuyDeals.sol";
import {GroupBuyMath} from "./GroupBuyMath.sol";

/// @title The escrow's last mile: pickup handover (核销), no-shows and cash orders booked by leaders
/// @notice Linked library (its `public` functions run by DELEGATECALL on the escrow's storage, so `address(this)`
/// is the escrow): these cold paths keep the escrow's own runtime code within budget, and join never enters them.
/// @dev Short units. A group of L ordered units received D < L; S = L − D units are short. A handover of an order
/// of q units with quantity h assigns q − h of them to that order (refunded at the final price, so the buyer
/// gets back exactly the top price per short unit); the units never handed over (no-shows) share the short
/// units left, U, in money: ⌊U × p / N⌋ per no-show unit (N no-show units), the remainder to the supplier
/// (Deal.shortDust, kept up to date at each handover, so settlement stays O(1) and pays out exactly what came in).
library GroupBuyLastMile {
    using GroupBuyMath for IGroupBuyEscrow.PriceTier[];

    bytes32 internal constant HANDOVER_TYPEHASH =
        keccak256("Handover(uint256 dealId,address buyer,address leader,uint256 quantity,uint256 expiry)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("GroupBuyEscrow");
    bytes32 private constant VERSION_HASH = keccak256("1");
    /// @notice Items in one handOver call (a pickup queue's worth; bounds the call's gas).
    uint256 internal constant MAX_HANDOVERS = 64;
    uint256 internal constant MAX_EVIDENCE_LENGTH = 128;

    // ------------------------------------------------------------------ claims

    /// @notice See {IGroupBuyEscrow.fileClaim}. The window runs from the order's handover; an order not handed
    /// over keeps its receipt's window, and may claim only in a group received in full (in a short one, which
    /// units it gets is decided at pickup).
    function fileClaim(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Order storage o,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.Pickup storage pu,
        GroupBuyDeals.Claim storage c,
        uint256 dealId,
        address buyer,
        uint256 quantity,
        bytes calldata evidenceCid
    ) public {
        GroupBuyDeals.requireSucceeded(d, dealId);
        if (o.quantity == 0) revert IGroupBuyEscrow.NoOrder(dealId, buyer);
        if (l.receivedAt == 0) revert IGroupBuyEscrow.LeaderNotReceived(dealId, o.leader);
        uint256 available = pu.quantity;
        uint256 windowEnd = uint256(pu.at) + d.disputeWindow;
        if (pu.at == 0) {
            if (g.short_) revert IGroupBuyEscrow.NotPickedUp(dealId, buyer);
            available = o.quantity;
            windowEnd = uint256(l.receivedAt) + d.disputeWindow;
        }
        if (block.timestamp >= windowEnd) revert IGroupBuyEscrow.DisputeWindowClosed(dealId, windowEnd);
        if (o.claimOpen) revert IGroupBuyEscrow.ClaimAlreadyOpen(dealId, buyer);
        if (quantity == 0) revert IGroupBuyEscrow.ZeroQuantity();
        available -= o.claimedQuantity;
        if (quantity > available) revert IGroupBuyEscrow.ClaimQuantityTooHigh(dealId, buyer, quantity, available);
        if (evidenceCid.length == 0 || evidenceCid.length > MAX_EVIDENCE_LENGTH) {
            revert IGroupBuyEscrow.InvalidEvidenceLength(evidenceCid.length);
        }

        // Safe casts: quantity ≤ the order's uint24 quantity (checked above); timestamps fit uint40 until year 36812.
        // forge-lint: disable-next-line(unsafe-typecast)
        o.claimedQuantity += uint24(quantity);
        o.claimOpen = true;
        c.status = IGroupBuyEscrow.ClaimStatus.Filed;
        // forge-lint: disable-next-line(unsafe-typecast)
        c.quantity = uint24(quantity);
        c.filedAt = uint40(block.timestamp);
        d.openClaims += 1;
        emit IGroupBuyEscrow.ClaimFiled(dealId, buyer, o.leader, quantity, evidenceCid);
    }

    /// @notice The ways a filed claim is answered: the supplier accepts or rejects it within the answer window, the
    /// arbiter upholds or denies a rejected one, and anyone finalizes one left unanswered (upheld by default).
    enum ClaimAnswer {
        Accept,
        Reject,
        Uphold,
        Deny,
        Finalize
    }

    /// @notice See {IGroupBuyEscrow.acceptClaim}, {IGroupBuyEscrow.rejectClaim}, {IGroupBuyEscrow.arbitrateClaim}
    /// (the escrow checks ARBITER_ROLE) and {IGroupBuyEscrow.finalizeUnansweredClaim}: one cold path for the four.
    /// `sender` is the escrow's ERC-2771 sender (the supplier, for Accept and Reject).
    function answerClaim(
        GroupBuyDeals.Deal storage d,
        mapping(address => GroupBuyDeals.Order) storage orders,
        mapping(address => GroupBuyDeals.Leader) storage leaders,
        mapping(address => GroupBuyDeals.Group) storage groups,
        mapping(address => GroupBuyDeals.Claim) storage claims,
        uint256 dealId,
        address buyer,
        address sender,
        ClaimAnswer answer
    ) public {
        if (d.frozen) revert IGroupBuyEscrow.DealIsFrozen(dealId);
        bool bySupplier = answer == ClaimAnswer.Accept || answer == ClaimAnswer.Reject;
        if (bySupplier && sender != d.supplier) revert IGroupBuyEscrow.NotSupplier(dealId, sender);
        GroupBuyDeals.Claim memory c = claims[buyer];
        if (c.status == IGroupBuyEscrow.ClaimStatus.None) revert IGroupBuyEscrow.NoOpenClaim(dealId, buyer);
        if (answer == ClaimAnswer.Uphold || answer == ClaimAnswer.Deny) {
            if (c.status != IGroupBuyEscrow.ClaimStatus.Rejected) revert IGroupBuyEscrow.ClaimNotRejected(dealId, buyer, c.status);
        } else {
            if (c.status != IGroupBuyEscrow.ClaimStatus.Filed) revert IGroupBuyEscrow.ClaimNotAwaitingAnswer(dealId, buyer, c.status);
            uint256 answerDeadline = uint256(c.filedAt) + d.answerWindow;
            if (bySupplier) {
                if (block.timestamp >= answerDeadline) revert IGroupBuyEscrow.AnswerWindowClosed(dealId, buyer, answerDeadline);
            } else if (block.timestamp < answerDeadline) {
                revert IGroupBuyEscrow.AnswerWindowOpen(dealId, buyer, answerDeadline);
            }
        }
        if (answer == ClaimAnswer.Reject) {
            claims[buyer].status = IGroupBuyEscrow.ClaimStatus.Rejected;
            emit IGroupBuyEscrow.ClaimRejected(dealId, buyer);
            return;
        }
        GroupBuyDeals.Order storage o = orders[buyer];
        if (answer == ClaimAnswer.Deny) {
            o.claimOpen = false;
            d.openClaims -= 1;
            emit IGroupBuyEscrow.ClaimDenied(dealId, buyer, c.quantity);
        } else {
            _uphold(d, o, leaders[o.leader], groups[o.leader], dealId, buyer, c.quantity, answer == ClaimAnswer.Finalize);
        }
        delete claims[buyer];
    }

    /// @notice Upholds `quantity` units of `buyer`'s claim: refunded at the final price on settlement, and the
    /// leader's commission recomputed on the delivered units left.
    function _uphold(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Order storage o,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        uint256 dealId,
        address buyer,
        uint24 quantity,
        bool byDefault
    ) private {
        o.upheldQuantity += quantity;
        o.claimOpen = false;
        l.refundedQuantity += quantity;
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        uint256 delivered = g.short_ ? g.delivered : l.quantity;
        // Safe cast: a commission is ≤ 20% of quantity (uint32) × price (uint96).
        // forge-lint: disable-next-line(unsafe-typecast)
        uint128 newCommission = uint128(GroupBuyMath.commission(delivered - l.refundedQuantity, price, l.commissionBps));
        d.commissionTotal = d.commissionTotal - l.commission + newCommission;
        l.commission = newCommission;
        d.refundedQuantity += quantity;
        d.openClaims -= 1;
        emit IGroupBuyEscrow.ClaimUpheld(dealId, buyer, quantity, byDefault);
    }

    // ------------------------------------------------------------------ handover

    /// @notice See {IGroupBuyEscrow.handOver}.
    function handOver(
        GroupBuyDeals.Deal storage d,
        mapping(address => GroupBuyDeals.Order) storage orders,
        mapping(address => GroupBuyDeals.Pickup) storage pickups,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        uint256 dealId,
        address leader,
        IGroupBuyEscrow.HandoverItem[] calldata items
    ) public returns (uint256 recorded) {
        if (items.length == 0 || items.length > MAX_HANDOVERS) revert IGroupBuyEscrow.EmptyHandover();
        Ctx memory ctx = Ctx(
            dealId,
            leader,
            _open(d, l, dealId, leader),
            keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)))
        );
        for (uint256 i; i < items.length; ++i) {
            if (_one(d, orders, pickups, l, g, ctx, items[i])) ++recorded;
        }
        if (recorded != 0) d.lastPickupAt = uint40(block.timestamp);
    }

    /// @dev Records one item, or reports why not (HandoverSkipped); true if recorded.
    function _one(
        GroupBuyDeals.Deal storage d,
        mapping(address => GroupBuyDeals.Order) storage orders,
        mapping(address => GroupBuyDeals.Pickup) storage pickups,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        Ctx memory ctx,
        IGroupBuyEscrow.HandoverItem calldata it
    ) private returns (bool) {
        GroupBuyDeals.Order storage o = orders[it.buyer];
        IGroupBuyEscrow.HandoverSkip reason = _check(o, pickups[it.buyer], l, g, ctx, it);
        if (reason != IGroupBuyEscrow.HandoverSkip.None) {
            emit IGroupBuyEscrow.HandoverSkipped(ctx.dealId, it.buyer, reason);
            return false;
        }
        _record(d, l, g, pickups[it.buyer], o.quantity, ctx, it);
        return true;
    }

    function _record(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.Pickup storage pu,
        uint256 ordered,
        Ctx memory ctx,
        IGroupBuyEscrow.HandoverItem calldata it
    ) private {
        uint256 short_ = ordered - it.quantity;
        // Safe casts: quantity ≤ the order's uint24 quantity (checked by _fits).
        // forge-lint: disable-next-line(unsafe-typecast)
        pu.quantity = uint24(it.quantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        pu.short_ = uint24(short_);
        pu.at = uint40(block.timestamp);
        _assign(d, l, g, it.quantity, short_, ctx.price);
        emit IGroupBuyEscrow.HandedOver(ctx.dealId, it.buyer, ctx.leader, it.quantity, short_);
    }

    /// @dev What one handover call knows about itself (a struct: fewer stack slots).
    struct Ctx {
        uint256 dealId;
        address leader;
        uint256 price;
        bytes32 domain;
    }

    /// @dev Why an item cannot be recorded (None: it can); the signature is checked last, being the costliest.
    function _check(
        GroupBuyDeals.Order storage o,
        GroupBuyDeals.Pickup storage pu,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        Ctx memory ctx,
        IGroupBuyEscrow.HandoverItem calldata it
    ) private view returns (IGroupBuyEscrow.HandoverSkip) {
        if (block.timestamp >= it.expiry) return IGroupBuyEscrow.HandoverSkip.Expired;
        if (o.quantity == 0) return IGroupBuyEscrow.HandoverSkip.NoOrder;
        if (o.leader != ctx.leader) return IGroupBuyEscrow.HandoverSkip.WrongLeader;
        if (pu.at != 0) return IGroupBuyEscrow.HandoverSkip.AlreadyPickedUp;
        if (!_fits(g, l, o.quantity, it.quantity, o.claimedQuantity)) {
            return IGroupBuyEscrow.HandoverSkip.InvalidQuantity;
        }
        bytes32 structHash =
            keccak256(abi.encode(HANDOVER_TYPEHASH, ctx.dealId, it.buyer, ctx.leader, it.quantity, it.expiry));
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", ctx.domain, structHash));
        if (!SignatureChecker.isValidSignatureNow(it.buyer, digest, it.signature)) {
            return IGroupBuyEscrow.HandoverSkip.BadSignature;
        }
        return IGroupBuyEscrow.HandoverSkip.None;
    }

    /// @notice See {IGroupBuyEscrow.handOverCash}.
    function handOverCash(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.CashOrder storage c,
        uint256 dealId,
        address leader,
        bytes32 ref,
        uint256 quantity
    ) public {
        uint256 price = _open(d, l, dealId, leader);
        if (c.quantity == 0) revert IGroupBuyEscrow.NoCashOrder(dealId, leader, ref);
        if (c.pickedUpAt != 0) {
            revert IGroupBuyEscrow.HandoverRefused(dealId, IGroupBuyEscrow.HandoverSkip.AlreadyPickedUp);
        }
        if (!_fits(g, l, c.quantity, quantity, 0)) {
            revert IGroupBuyEscrow.HandoverRefused(dealId, IGroupBuyEscrow.HandoverSkip.InvalidQuantity);
        }
        uint256 short_ = c.quantity - quantity;
        // Safe casts: quantity ≤ the cash order's uint24 quantity.
        // forge-lint: disable-next-line(unsafe-typecast)
        c.pickedUp = uint24(quantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        c.short_ = uint24(short_);
        c.pickedUpAt = uint40(block.timestamp);
        _assign(d, l, g, quantity, short_, price);
        d.lastPickupAt = uint40(block.timestamp);
        emit IGroupBuyEscrow.CashHandedOver(dealId, leader, ref, quantity, short_);
    }

    /// @notice See {IGroupBuyEscrow.closeOut}.
    function closeOut(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        uint256 dealId,
        address leader
    ) public {
        GroupBuyDeals.requireSucceeded(d, dealId);
        if (block.timestamp < d.pickupDeadline) revert IGroupBuyEscrow.PickupOpen(dealId, d.pickupDeadline);
        if (l.receivedAt == 0) revert IGroupBuyEscrow.LeaderNotReceived(dealId, leader);
        (uint256 noShows, uint256 unassigned) = _pending(g, l);
        if (g.closedOut || noShows == 0) revert IGroupBuyEscrow.NothingToCloseOut(dealId, leader);
        g.closedOut = true;
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        emit IGroupBuyEscrow.NoShowsClosed(dealId, leader, noShows, unassigned, unassigned * price / noShows);
    }

    // ------------------------------------------------------------------ cash orders

    /// @notice See {IGroupBuyEscrow.bookCashOrder}: checks and books; returns the token and the amount to pull.
    function bookCash(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.CashOrder storage c,
        IProvenanceRegistry registry,
        uint256 dealId,
        address leader,
        uint256 quantity,
        bytes32 ref
    ) public returns (address token, uint256 amount) {
        token = d.token;
        if (token == address(0)) revert IGroupBuyEscrow.DealNotFound(dealId);
        if (d.frozen) revert IGroupBuyEscrow.DealIsFrozen(dealId);
        if (block.timestamp >= d.joinDeadline) revert IGroupBuyEscrow.DealClosed(dealId, d.joinDeadline);
        if (quantity == 0) revert IGroupBuyEscrow.ZeroQuantity();
        if (ref == bytes32(0)) revert IGroupBuyEscrow.InvalidBeneficiary();
        uint256 remaining = d.maxTotalQuantity - d.totalQuantity;
        if (quantity > remaining) revert IGroupBuyEscrow.DealFull(dealId, quantity, remaining);
        uint256 cash = g.cashQuantity + quantity;
        if (cash > d.cashCapPerLeader) {
            revert IGroupBuyEscrow.CashCapExceeded(dealId, leader, cash, d.cashCapPerLeader);
        }
        if (l.quantity == 0) GroupBuyDeals.checkNewLeader(d, registry, leader);
        amount = quantity * d.topPrice;
        // Safe casts: cash ≤ cashCapPerLeader ≤ 2^24 − 1 bounds the cash order too; the totals stay ≤ the stock.
        // forge-lint: disable-next-line(unsafe-typecast)
        g.cashQuantity = uint32(cash);
        // forge-lint: disable-next-line(unsafe-typecast)
        c.quantity += uint24(quantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        l.quantity += uint32(quantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.totalQuantity += uint32(quantity);
        emit IGroupBuyEscrow.CashOrderBooked(dealId, leader, ref, quantity, amount);
    }

    /// @notice Marks as paid what the cash orders `refs` are owed (effects first) and returns the sum.
    function collectCash(
        GroupBuyDeals.Deal storage d,
        mapping(bytes32 => GroupBuyDeals.CashOrder) storage cash,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        uint256 dealId,
        address leader,
        bytes32[] calldata refs
    ) public returns (uint256 amount) {
        for (uint256 i; i < refs.length; ++i) {
            GroupBuyDeals.CashOrder storage c = cash[refs[i]];
            uint256 due = cashOwed(d, l, g, c);
            if (due == 0) continue;
            c.paidOut = true;
            amount += due;
            emit IGroupBuyEscrow.CashRefunded(dealId, leader, refs[i], due);
        }
        // Safe cast: the refunds are bounded by what the leader paid in (quantity (uint32) × price (uint96)).
        // forge-lint: disable-next-line(unsafe-typecast)
        g.cashRefunded += uint128(amount);
    }

    /// @notice What one cash order is owed now: the same rules as a buyer's order (no claims: the leader holds it).
    function cashOwed(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.CashOrder storage c
    ) public view returns (uint256) {
        if (c.quantity == 0 || c.paidOut) return 0;
        uint256 full = uint256(c.quantity) * d.topPrice;
        IGroupBuyEscrow.DealStatus status = GroupBuyDeals.status(d);
        if (status == IGroupBuyEscrow.DealStatus.Failed || status == IGroupBuyEscrow.DealStatus.Frozen) return full;
        if (status != IGroupBuyEscrow.DealStatus.Succeeded && status != IGroupBuyEscrow.DealStatus.Settled) return 0;
        // slither-disable-next-line incorrect-equality (0 is the "never received" sentinel)
        if (l.receivedAt == 0) return block.timestamp >= d.deliveryDeadline ? full : 0;
        if (status != IGroupBuyEscrow.DealStatus.Settled) return 0;
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        return uint256(c.quantity) * (d.topPrice - price) + shortRefund(g, l, c.pickedUpAt, c.short_, c.quantity, price);
    }

    // ------------------------------------------------------------------ shared rules

    /// @notice An order's short refund at final price `price`: its short units at handover, or as a no-show its
    /// units × the group's no-show refund per unit.
    function shortRefund(
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.Leader storage l,
        uint256 pickedUpAt,
        uint256 shortUnits,
        uint256 quantity,
        uint256 price
    ) public view returns (uint256) {
        if (pickedUpAt != 0) return shortUnits * price;
        if (!g.short_) return 0;
        return quantity * noShowRefundPerUnit(g, l, price);
    }

    /// @notice ⌊unassigned short units × price / no-show units⌋ (0 when nothing is pending).
    function noShowRefundPerUnit(GroupBuyDeals.Group storage g, GroupBuyDeals.Leader storage l, uint256 price)
        public
        view
        returns (uint256)
    {
        (uint256 noShows, uint256 unassigned) = _pending(g, l);
        return noShows == 0 ? 0 : unassigned * price / noShows;
    }

    /// @notice Rounding remainder of the group's no-show refunds (the supplier's).
    function noShowDust(GroupBuyDeals.Group storage g, GroupBuyDeals.Leader storage l, uint256 price)
        internal
        view
        returns (uint256)
    {
        (uint256 noShows, uint256 unassigned) = _pending(g, l);
        return noShows == 0 ? 0 : unassigned * price % noShows;
    }

    /// @dev (units not handed over, short units not assigned) of a received group.
    function _pending(GroupBuyDeals.Group storage g, GroupBuyDeals.Leader storage l)
        private
        view
        returns (uint256, uint256)
    {
        uint256 ordered = l.quantity;
        uint256 short_ = g.short_ ? ordered - g.delivered : 0;
        return (ordered - g.handedOver - g.shortAssigned, short_ - g.shortAssigned);
    }

    /// @dev Deal-level checks of a handover; returns the final unit price.
    function _open(GroupBuyDeals.Deal storage d, GroupBuyDeals.Leader storage l, uint256 dealId, address leader)
        private
        view
        returns (uint256)
    {
        GroupBuyDeals.requireSucceeded(d, dealId);
        if (l.receivedAt == 0) revert IGroupBuyEscrow.LeaderNotReceived(dealId, leader);
        if (block.timestamp >= d.pickupDeadline) revert IGroupBuyEscrow.PickupClosed(dealId, d.pickupDeadline);
        return d.priceTiers.unitPriceAt(d.totalQuantity);
    }

    /// @dev Whether `taken` of an order's `ordered` units can be handed over: no more than ordered, no fewer than
    /// claimed, no more than the group's delivered units still at the pickup point, and the rest short only if
    /// the group's unassigned short units cover it.
    function _fits(
        GroupBuyDeals.Group storage g,
        GroupBuyDeals.Leader storage l,
        uint256 ordered,
        uint256 taken,
        uint256 claimed
    ) private view returns (bool) {
        if (taken > ordered || taken < claimed) return false;
        (uint256 noShows, uint256 unassigned) = _pending(g, l);
        return taken <= noShows - unassigned && ordered - taken <= unassigned;
    }

    /// @dev Records a handover in the group's aggregates and keeps the deal's rounding remainder exact.
    function _assign(
        GroupBuyDeals.Deal storage d,
        GroupBuyDeals.Leader storage l,
        GroupBuyDeals.Group storage g,
        uint256 taken,
        uint256 short_,
        uint256 price
    ) private {
        uint256 before = g.short_ ? noShowDust(g, l, price) : 0;
        // Safe casts: both stay ≤ the group's ordered units (uint32).
        // forge-lint: disable-next-line(unsafe-typecast)
        g.handedOver += uint32(taken);
        if (short_ != 0) {
            // forge-lint: disable-next-line(unsafe-typecast)
            g.shortAssigned += uint32(short_);
        }
        // forge-lint: disable-next-line(unsafe-typecast)
        if (g.short_) d.shortDust = uint64(d.shortDust - before + noShowDust(g, l, price));
    }
}

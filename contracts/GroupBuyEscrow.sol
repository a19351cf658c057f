// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IBatchBlockedListener} from "./interfaces/IBatchBlockedListener.sol";
import {IGroupBuyEscrow} from "./interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "./interfaces/IProvenanceRegistry.sol";
import {GroupBuyMath} from "./libraries/GroupBuyMath.sol";
import {GroupBuyDeals} from "./libraries/GroupBuyDeals.sol";
import {GroupBuyLastMile} from "./libraries/GroupBuyLastMile.sol";

/// @title GroupBuyEscrow
/// @notice See {IGroupBuyEscrow}. Every per-account entitlement is computed lazily from running aggregates, so
/// settlement costs the same gas whatever the number of buyers and leaders.
/// @dev Money identity per deal (all amounts exact except where noted):
/// - Failed / Frozen deal, undelivered leader: each order gets back quantity × topPrice.
/// - Received leader, settled deal: buyer gets quantity × (topPrice − finalPrice) (rebate) + upheld × finalPrice
///   (claim refund); what remains, (received − upheld) × finalPrice = revenue, is split into leader commissions
///   (rounded down per leader), the platform fee (rounded down) and the supplier amount (the remainder, so the
///   supplier takes the dust). Hence paid out == paid in for every closed deal.
contract GroupBuyEscrow is IGroupBuyEscrow, IBatchBlockedListener, AccessControl, ERC2771Context, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using GroupBuyMath for PriceTier[];
    using GroupBuyMath for CommissionTier[];
    using GroupBuyDeals for GroupBuyDeals.Deal;

    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    uint256 public constant MAX_EVIDENCE_LENGTH = GroupBuyLastMile.MAX_EVIDENCE_LENGTH;
    uint256 public constant MAX_LIVE_DEALS_PER_BATCH = GroupBuyDeals.MAX_LIVE_DEALS_PER_BATCH;

    IProvenanceRegistry public immutable registry;

    address private _feeRecipient;
    uint256 private _dealCount;
    mapping(address token => bool allowed) private _allowedTokens;
    mapping(uint256 dealId => GroupBuyDeals.Deal) private _deals;
    mapping(uint256 dealId => mapping(address buyer => GroupBuyDeals.Order)) private _orders;
    mapping(uint256 dealId => mapping(address leader => GroupBuyDeals.Leader)) private _leaders;
    mapping(uint256 dealId => mapping(address buyer => GroupBuyDeals.Claim)) private _claims;
    /// @dev Per batch, the deals a recall must freeze (bounded; pruned when full): join never reads it, so
    /// stopping sales on a recall costs join nothing.
    mapping(bytes32 batchId => uint256[] dealIds) private _liveDeals;
    /// @dev The cold half of each group (short receipt, handovers, cash orders): join never touches it.
    mapping(uint256 dealId => mapping(address leader => GroupBuyDeals.Group)) private _groups;
    /// @dev Written at handover only, so join's gas does not move.
    mapping(uint256 dealId => mapping(address buyer => GroupBuyDeals.Pickup)) private _pickups;
    mapping(uint256 dealId => mapping(address leader => mapping(bytes32 ref => GroupBuyDeals.CashOrder))) private _cash;

    /// @param registry_ provenance registry (approvals, batch status, receipt anchoring; grants this escrow RECEIPT_RECORDER_ROLE)
    /// @param trustedForwarder the ERC-2771 forwarder (TuanchainForwarder)
    /// @param admin receives DEFAULT_ADMIN_ROLE, PLATFORM_ROLE and ARBITER_ROLE
    /// @param feeRecipient_ receives the platform fee of deals
    constructor(IProvenanceRegistry registry_, address trustedForwarder, address admin, address feeRecipient_)
        ERC2771Context(trustedForwarder)
    {
        if (address(registry_) == address(0) || admin == address(0) || feeRecipient_ == address(0)) revert ZeroAddress();
        registry = registry_;
        _feeRecipient = feeRecipient_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PLATFORM_ROLE, admin);
        _grantRole(ARBITER_ROLE, admin);
        emit FeeRecipientSet(feeRecipient_);
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IGroupBuyEscrow
    function setTokenAllowed(address token, bool allowed) external onlyRole(PLATFORM_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        _allowedTokens[token] = allowed;
        emit TokenAllowed(token, allowed);
    }

    /// @inheritdoc IGroupBuyEscrow
    function setFeeRecipient(address feeRecipient_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (feeRecipient_ == address(0)) revert ZeroAddress();
        _feeRecipient = feeRecipient_;
        emit FeeRecipientSet(feeRecipient_);
    }

    /// @inheritdoc IGroupBuyEscrow
    function createDeal(DealParams calldata p) external onlyRole(PLATFORM_ROLE) returns (uint256 dealId) {
        if (!_allowedTokens[p.token]) revert TokenNotAllowed(p.token);
        dealId = ++_dealCount;
        _deals[dealId].create(dealId, p, registry, _feeRecipient);
        GroupBuyDeals.track(_deals, _liveDeals, p.batchIds, dealId);
    }

    // ------------------------------------------------------------------ buyers

    /// @inheritdoc IGroupBuyEscrow
    function join(uint256 dealId, uint256 quantity, address leader) external nonReentrant {
        _join(dealId, quantity, leader, _msgSender());
    }

    /// @inheritdoc IGroupBuyEscrow
    function joinWithPermit(uint256 dealId, uint256 quantity, address leader, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        address buyer = _msgSender();
        // Checked first: a permit call to a token address without code would revert uncatchably.
        GroupBuyDeals.Deal storage d = _existing(dealId);
        // A front-run permit (someone submitted the same signature first) makes this call revert; the allowance is
        // then already in place, so carry on and let transferFrom decide (OpenZeppelin's recommended pattern).
        uint256 amount;
        // Wrapping is harmless: an absurd quantity is refused by `_join` (DealFull) whatever the permit did.
        unchecked {
            amount = quantity * d.topPrice;
        }
        _permit(d.token, buyer, amount, permitDeadline, v, r, s);
        _join(dealId, quantity, leader, buyer);
    }

    /// @inheritdoc IGroupBuyEscrow
    function cancel(uint256 dealId) external nonReentrant {
        address buyer = _msgSender();
        GroupBuyDeals.Deal storage d = _existing(dealId);
        if (d.frozen) revert DealIsFrozen(dealId);
        if (block.timestamp >= d.joinDeadline) revert DealClosed(dealId, d.joinDeadline);
        GroupBuyDeals.Order memory o = _orders[dealId][buyer];
        if (o.quantity == 0) revert NoOrder(dealId, buyer);

        uint256 refund = uint256(o.quantity) * d.topPrice;
        // Cannot underflow: the leader's and the deal's totals include this order's quantity.
        unchecked {
            _leaders[dealId][o.leader].quantity -= o.quantity;
            d.totalQuantity -= o.quantity;
        }
        delete _orders[dealId][buyer];
        emit Cancelled(dealId, buyer, o.leader, o.quantity, refund);
        IERC20(d.token).safeTransfer(buyer, refund);
    }

    /// @inheritdoc IGroupBuyEscrow
    function fileClaim(uint256 dealId, uint256 quantity, bytes calldata evidenceCid) external {
        address buyer = _msgSender();
        GroupBuyDeals.Order storage o = _orders[dealId][buyer];
        GroupBuyLastMile.fileClaim(
            _existing(dealId), o, _leaders[dealId][o.leader], _groups[dealId][o.leader], _pickups[dealId][buyer], _claims[dealId][buyer], dealId, buyer, quantity, evidenceCid
        );
    }

    // ------------------------------------------------------------------ leaders

    /// @inheritdoc IGroupBuyEscrow
    function confirmReceipt(uint256 dealId, bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, uint256 receivedQuantity)
        external
        nonReentrant
    {
        address leader = _msgSender();
        GroupBuyDeals.Deal storage d = _existing(dealId);
        d.requireSucceeded(dealId);
        if (block.timestamp >= d.deliveryDeadline) revert DeliveryDeadlinePassed(dealId, d.deliveryDeadline);
        GroupBuyDeals.Leader storage l = _leaders[dealId][leader];
        if (l.quantity == 0) revert NotLeaderOfDeal(dealId, leader);
        if (l.receivedAt != 0) revert AlreadyReceived(dealId, leader);
        if (!d.hasBatch(batchId)) revert BatchNotInDeal(dealId, batchId);

        uint256 delivered = receivedQuantity < l.quantity ? receivedQuantity : l.quantity;
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        if (delivered < l.quantity) _recordShortfall(d, dealId, leader, l.quantity, delivered, price);
        uint256 bps = d.commissionTiers.commissionBpsAt(d.commissionBps, delivered);
        uint256 fee = GroupBuyMath.commission(delivered, price, bps);
        l.receivedAt = uint40(block.timestamp);
        // Safe casts: bps ≤ 2000; fee ≤ 20% of quantity (uint32) × price (uint96) < 2^128.
        // forge-lint: disable-next-line(unsafe-typecast)
        l.commissionBps = uint16(bps);
        // forge-lint: disable-next-line(unsafe-typecast)
        l.commission = uint128(fee);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.receivedQuantity += uint32(delivered);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.commissionTotal += uint128(fee);
        d.lastReceiptAt = uint40(block.timestamp);
        emit ReceiptConfirmed(dealId, leader, batchId, eventHash, documentDigest, receivedQuantity, delivered);
        registry.anchorReceipt(batchId, eventHash, documentDigest, leader);
    }

    // ------------------------------------------------------------------ pickup (核销) and cash orders

    /// @inheritdoc IGroupBuyEscrow
    function handOver(uint256 dealId, HandoverItem[] calldata items) external returns (uint256) {
        address leader = _msgSender();
        return GroupBuyLastMile.handOver(
            _existing(dealId), _orders[dealId], _pickups[dealId], _leaders[dealId][leader], _groups[dealId][leader], dealId, leader, items
        );
    }

    /// @inheritdoc IGroupBuyEscrow
    function closeOut(uint256 dealId, address leader) external {
        GroupBuyLastMile.closeOut(_existing(dealId), _leaders[dealId][leader], _groups[dealId][leader], dealId, leader);
    }

    /// @inheritdoc IGroupBuyEscrow
    function bookCashOrder(uint256 dealId, uint256 quantity, bytes32 beneficiaryRef) external nonReentrant {
        _bookCash(dealId, quantity, beneficiaryRef, _msgSender());
    }

    /// @inheritdoc IGroupBuyEscrow
    function bookCashOrderWithPermit(uint256 dealId, uint256 quantity, bytes32 beneficiaryRef, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        address leader = _msgSender();
        GroupBuyDeals.Deal storage d = _existing(dealId);
        uint256 amount;
        // As in joinWithPermit: an absurd quantity is refused by the booking whatever the permit did.
        unchecked {
            amount = quantity * d.topPrice;
        }
        _permit(d.token, leader, amount, permitDeadline, v, r, s);
        _bookCash(dealId, quantity, beneficiaryRef, leader);
    }

    /// @inheritdoc IGroupBuyEscrow
    function handOverCash(uint256 dealId, bytes32 beneficiaryRef, uint256 quantity) external {
        address leader = _msgSender();
        GroupBuyLastMile.handOverCash(
            _existing(dealId), _leaders[dealId][leader], _groups[dealId][leader], _cash[dealId][leader][beneficiaryRef], dealId, leader, beneficiaryRef, quantity
        );
    }

    /// @inheritdoc IGroupBuyEscrow
    function payCashRefunds(uint256 dealId, address leader, bytes32[] calldata refs) external nonReentrant returns (uint256 amount) {
        GroupBuyDeals.Deal storage d = _existing(dealId);
        amount = GroupBuyLastMile.collectCash(d, _cash[dealId][leader], _leaders[dealId][leader], _groups[dealId][leader], dealId, leader, refs);
        if (amount == 0) revert NothingOwed(dealId, leader);
        IERC20(d.token).safeTransfer(leader, amount);
    }

    // ------------------------------------------------------------------ claims

    /// @inheritdoc IGroupBuyEscrow
    function acceptClaim(uint256 dealId, address buyer) external {
        _answerClaim(dealId, buyer, GroupBuyLastMile.ClaimAnswer.Accept);
    }

    /// @inheritdoc IGroupBuyEscrow
    function rejectClaim(uint256 dealId, address buyer) external {
        _answerClaim(dealId, buyer, GroupBuyLastMile.ClaimAnswer.Reject);
    }

    /// @inheritdoc IGroupBuyEscrow
    function arbitrateClaim(uint256 dealId, address buyer, bool uphold) external onlyRole(ARBITER_ROLE) {
        _answerClaim(dealId, buyer, uphold ? GroupBuyLastMile.ClaimAnswer.Uphold : GroupBuyLastMile.ClaimAnswer.Deny);
    }

    /// @inheritdoc IGroupBuyEscrow
    function finalizeUnansweredClaim(uint256 dealId, address buyer) external {
        _answerClaim(dealId, buyer, GroupBuyLastMile.ClaimAnswer.Finalize);
    }

    // ------------------------------------------------------------------ recall, settlement, payouts

    /// @inheritdoc IGroupBuyEscrow
    function freeze(uint256 dealId) external {
        _existing(dealId).freeze(dealId, registry);
    }

    /// @inheritdoc IGroupBuyEscrow
    function onBatchBlocked(bytes32 batchId) external override(IBatchBlockedListener, IGroupBuyEscrow) returns (uint256 frozen) {
        // msg.sender, not _msgSender(): the registry calls directly, never through the forwarder.
        if (msg.sender != address(registry)) revert OnlyRegistry(msg.sender);
        return GroupBuyDeals.freezeLive(_deals, _liveDeals, batchId);
    }

    /// @inheritdoc IGroupBuyEscrow
    function settle(uint256 dealId) external {
        _existing(dealId).settle(dealId, registry);
    }

    /// @inheritdoc IGroupBuyEscrow
    function withdraw(uint256 dealId) external nonReentrant returns (uint256 amount) {
        address account = _msgSender();
        GroupBuyDeals.Deal storage d = _existing(dealId);
        amount = _collect(dealId, d, account);
        // slither-disable-next-line incorrect-equality (nothing owed is exactly 0: entitlements are exact sums, no balance read)
        if (amount == 0) revert NothingOwed(dealId, account);
        emit Withdrawn(dealId, account, amount);
        IERC20(d.token).safeTransfer(account, amount);
    }

    /// @inheritdoc IGroupBuyEscrow
    function pushPayouts(uint256 dealId, address[] calldata accounts) external nonReentrant returns (uint256 paid) {
        _existing(dealId);
        for (uint256 i; i < accounts.length; ++i) {
            // Each payout runs in its own call frame: a recipient whose transfer reverts rolls back only its own
            // bookkeeping (it stays owed and can withdraw later) and cannot block the others.
            try this.payoutTo(dealId, accounts[i]) returns (uint256 amount) {
                paid += amount;
            } catch {
                emit PayoutSkipped(dealId, accounts[i]);
            }
        }
    }

    /// @inheritdoc IGroupBuyEscrow
    function payoutTo(uint256 dealId, address account) external returns (uint256 amount) {
        if (msg.sender != address(this)) revert OnlySelf();
        GroupBuyDeals.Deal storage d = _deals[dealId];
        amount = _collect(dealId, d, account);
        // slither-disable-next-line incorrect-equality (nothing owed is exactly 0: entitlements are exact sums, no balance read)
        if (amount == 0) return 0;
        emit Withdrawn(dealId, account, amount);
        IERC20(d.token).safeTransfer(account, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IGroupBuyEscrow
    function owed(uint256 dealId, address account) external view returns (uint256 amount) {
        GroupBuyDeals.Deal storage d = _deals[dealId];
        if (d.token == address(0)) return 0;
        DealStatus status = d.status();
        amount = _buyerOwed(dealId, d, status, account);
        if (status == DealStatus.Settled) {
            GroupBuyDeals.Leader memory l = _leaders[dealId][account];
            if (l.receivedAt != 0 && !l.paidOut) amount += l.commission;
            if (account == d.supplier && !d.supplierPaid) amount += d.supplierAmount;
            if (account == d.feeRecipient && !d.feePaid) amount += d.platformFee;
        }
    }

    /// @inheritdoc IGroupBuyEscrow
    function dealStatus(uint256 dealId) external view returns (DealStatus) {
        return _deals[dealId].status();
    }

    /// @inheritdoc IGroupBuyEscrow
    function finalUnitPrice(uint256 dealId) external view returns (uint256) {
        GroupBuyDeals.Deal storage d = _existing(dealId);
        return d.priceTiers.unitPriceAt(d.totalQuantity);
    }

    /// @inheritdoc IGroupBuyEscrow
    function dealParams(uint256 dealId) external view returns (DealParams memory) {
        return _existing(dealId).params();
    }

    /// @inheritdoc IGroupBuyEscrow
    function dealTotals(uint256 dealId) external view returns (DealTotals memory t) {
        GroupBuyDeals.Deal storage d = _existing(dealId);
        t.totalQuantity = d.totalQuantity;
        t.receivedQuantity = d.receivedQuantity;
        t.refundedQuantity = d.refundedQuantity;
        t.commissionTotal = d.commissionTotal;
        t.openClaims = d.openClaims;
        t.lastReceiptAt = d.lastReceiptAt;
        t.supplierAmount = d.supplierAmount;
        t.platformFee = d.platformFee;
    }

    /// @inheritdoc IGroupBuyEscrow
    function order(uint256 dealId, address buyer) external view returns (OrderView memory) {
        GroupBuyDeals.Order memory o = _orders[dealId][buyer];
        return OrderView(o.leader, o.quantity, o.claimedQuantity, o.upheldQuantity, o.paidOut, o.claimOpen);
    }

    /// @inheritdoc IGroupBuyEscrow
    function leaderInfo(uint256 dealId, address leader) external view returns (LeaderView memory) {
        GroupBuyDeals.Leader memory l = _leaders[dealId][leader];
        return LeaderView(l.quantity, l.refundedQuantity, l.receivedAt, l.commissionBps, l.commission, l.paidOut);
    }

    /// @inheritdoc IGroupBuyEscrow
    function shortfall(uint256 dealId, address leader) external view returns (bool, uint256, uint256) {
        GroupBuyDeals.Group storage g = _groups[dealId][leader];
        if (!g.short_) return (false, 0, 0);
        GroupBuyDeals.Deal storage d = _deals[dealId];
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        return (true, g.delivered, GroupBuyLastMile.noShowRefundPerUnit(g, _leaders[dealId][leader], price));
    }

    /// @inheritdoc IGroupBuyEscrow
    function pickup(uint256 dealId, address buyer) external view returns (PickupView memory) {
        GroupBuyDeals.Pickup memory p = _pickups[dealId][buyer];
        return PickupView(p.quantity, p.short_, p.at);
    }

    /// @inheritdoc IGroupBuyEscrow
    function cashOrder(uint256 dealId, address leader, bytes32 beneficiaryRef) external view returns (CashOrderView memory) {
        GroupBuyDeals.CashOrder memory c = _cash[dealId][leader][beneficiaryRef];
        return CashOrderView(c.quantity, c.pickedUp, c.short_, c.pickedUpAt, c.paidOut);
    }

    /// @inheritdoc IGroupBuyEscrow
    function cashOwed(uint256 dealId, address leader, bytes32 beneficiaryRef) external view returns (uint256) {
        GroupBuyDeals.Deal storage d = _deals[dealId];
        if (d.token == address(0)) return 0;
        return GroupBuyLastMile.cashOwed(d, _leaders[dealId][leader], _groups[dealId][leader], _cash[dealId][leader][beneficiaryRef]);
    }

    /// @inheritdoc IGroupBuyEscrow
    function cashTotals(uint256 dealId, address leader) external view returns (uint256, uint256) {
        GroupBuyDeals.Group storage g = _groups[dealId][leader];
        return (g.cashQuantity, g.cashRefunded);
    }

    /// @inheritdoc IGroupBuyEscrow
    function claim(uint256 dealId, address buyer) external view returns (ClaimStatus, uint256, uint256) {
        GroupBuyDeals.Claim memory c = _claims[dealId][buyer];
        return (c.status, c.quantity, c.filedAt);
    }

    /// @inheritdoc IGroupBuyEscrow
    function isTokenAllowed(address token) external view returns (bool) {
        return _allowedTokens[token];
    }

    /// @inheritdoc IGroupBuyEscrow
    function liveDeals(bytes32 batchId) external view returns (uint256[] memory) {
        return _liveDeals[batchId];
    }

    /// @inheritdoc IGroupBuyEscrow
    function feeRecipient() external view returns (address) {
        return _feeRecipient;
    }

    /// @inheritdoc IGroupBuyEscrow
    function dealCount() external view returns (uint256) {
        return _dealCount;
    }

    // ------------------------------------------------------------------ internals

    /// @dev The hot path, measured by scripts/bench_gas.py: every deal field join needs lives in the deal's slots 0
    /// and 1, and the order and the leader's aggregate are one slot each, so a join touches four slots of its own.
    ///
    /// Leader approval is checked when a leader opens their pickup group in this deal (their first order here,
    /// i.e. the leader's quantity in this deal is 0), not on every later order: the leader's quantity only grows
    /// through this function, so a non-zero quantity proves the leader was approved when the group opened. A
    /// leader revoked while their group is open keeps it until the join deadline (buyers joining it share the
    /// same pickup point and the same protections: no receipt by the delivery deadline refunds them in full),
    /// but cannot open a group in any other deal, nor reopen this one once all its orders are cancelled. This
    /// saves the registry call (a cold account and a cold slot, ~5,000 gas) on every order but a group's first.
    function _join(uint256 dealId, uint256 quantity, address leader, address buyer) private {
        (address token, uint256 amount) = _recordOrder(_deals[dealId], dealId, quantity, leader, buyer);
        _pullExact(token, buyer, amount);
    }

    /// @dev Checks and books an order; returns the deal's token and the amount to pull (top tier price).
    function _recordOrder(GroupBuyDeals.Deal storage d, uint256 dealId, uint256 quantity, address leader, address buyer)
        private
        returns (address token, uint256 amount)
    {
        token = d.token;
        if (token == address(0)) revert DealNotFound(dealId);
        if (d.frozen) revert DealIsFrozen(dealId);
        if (block.timestamp >= d.joinDeadline) revert DealClosed(dealId, d.joinDeadline);
        if (quantity == 0) revert ZeroQuantity();
        uint256 total = d.totalQuantity;
        {
            uint256 remaining = d.maxTotalQuantity - total;
            if (quantity > remaining) revert DealFull(dealId, quantity, remaining);
        }
        GroupBuyDeals.Order storage o = _orders[dealId][buyer];
        uint256 newQuantity = o.quantity + quantity;
        if (newQuantity != quantity && o.leader != leader) revert LeaderMismatch(dealId, buyer, o.leader, leader);
        if (newQuantity > d.perBuyerLimit) revert PerBuyerLimitExceeded(dealId, buyer, newQuantity, d.perBuyerLimit);
        GroupBuyDeals.Leader storage l = _leaders[dealId][leader];
        uint256 leaderQuantity = l.quantity;
        if (leaderQuantity == 0) GroupBuyDeals.checkNewLeader(d, registry, leader);

        amount = quantity * d.topPrice;
        // Safe casts: newQuantity ≤ perBuyerLimit ≤ type(uint24).max; the leader's and the deal's totals stay
        // ≤ maxTotalQuantity (uint32) because quantity ≤ the remaining stock.
        o.leader = leader;
        // forge-lint: disable-next-line(unsafe-typecast)
        o.quantity = uint24(newQuantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        l.quantity = uint32(leaderQuantity + quantity);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.totalQuantity = uint32(total + quantity);
        emit Joined(dealId, buyer, leader, quantity, amount);
    }

    function _permit(address token, address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        // slither-disable-next-line reentrancy-no-eth (every state-changing entry point is nonReentrant; a token re-entering here is refused)
        try IERC20Permit(token).permit(owner, address(this), amount, deadline, v, r, s) {} catch {}
    }

    /// @dev Books a cash order (GroupBuyLastMile.bookCash) and pulls its amount from the leader.
    function _bookCash(uint256 dealId, uint256 quantity, bytes32 ref, address leader) private {
        (address token, uint256 amount) = GroupBuyLastMile.bookCash(
            _deals[dealId], _leaders[dealId][leader], _groups[dealId][leader], _cash[dealId][leader][ref], registry, dealId, leader, quantity, ref
        );
        _pullExact(token, leader, amount);
    }

    /// @dev Pulls `amount` from `buyer` and refuses fee-on-transfer / rebasing-down tokens: the escrow must hold
    /// exactly what it owes. (The first balanceOf pays for the cold token account and the escrow's cold balance
    /// slot, which transferFrom would pay for anyway, so the check adds only ~1,100 gas.)
    function _pullExact(address token, address buyer, uint256 amount) private {
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(buyer, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert TokenTransferMismatch(token, amount, received);
    }

    /// @dev Marks as paid everything the deal owes `account` and returns its sum (effects before any transfer).
    function _collect(uint256 dealId, GroupBuyDeals.Deal storage d, address account) private returns (uint256 amount) {
        DealStatus status = d.status();
        GroupBuyDeals.Order storage o = _orders[dealId][account];
        uint256 buyerPart = _buyerOwed(dealId, d, status, account);
        if (buyerPart != 0) {
            o.paidOut = true;
            amount = buyerPart;
        }
        if (status != DealStatus.Settled) return amount;
        GroupBuyDeals.Leader storage l = _leaders[dealId][account];
        if (l.receivedAt != 0 && !l.paidOut) {
            l.paidOut = true;
            amount += l.commission;
        }
        if (account == d.supplier && !d.supplierPaid) {
            d.supplierPaid = true;
            amount += d.supplierAmount;
        }
        if (account == d.feeRecipient && !d.feePaid) {
            d.feePaid = true;
            amount += d.platformFee;
        }
    }

    /// @dev What a buyer's order is owed now; each order is paid once, when its outcome is final.
    function _buyerOwed(uint256 dealId, GroupBuyDeals.Deal storage d, DealStatus status, address buyer) private view returns (uint256) {
        GroupBuyDeals.Order memory o = _orders[dealId][buyer];
        if (o.quantity == 0 || o.paidOut) return 0;
        uint256 full = uint256(o.quantity) * d.topPrice;
        if (status == DealStatus.Failed || status == DealStatus.Frozen) return full;
        if (status != DealStatus.Succeeded && status != DealStatus.Settled) return 0;
        // slither-disable-next-line incorrect-equality (0 is the "never received" sentinel; receipts store block.timestamp, never 0)
        if (_leaders[dealId][o.leader].receivedAt == 0) {
            // Undelivered: the leader did not confirm receipt before the delivery deadline.
            return block.timestamp >= d.deliveryDeadline ? full : 0;
        }
        if (status != DealStatus.Settled) return 0;
        uint256 price = d.priceTiers.unitPriceAt(d.totalQuantity);
        GroupBuyDeals.Pickup memory pu = _pickups[dealId][buyer];
        return uint256(o.quantity) * (d.topPrice - price) + uint256(o.upheldQuantity) * price
            + GroupBuyLastMile.shortRefund(_groups[dealId][o.leader], _leaders[dealId][o.leader], pu.at, pu.short_, o.quantity, price);
    }

    /// @dev A short receipt: before any handover each of the group's units would get back ⌊shortage × price /
    /// ordered⌋ at settlement, and the remainder (< ordered base units) goes to the supplier, so the group's money
    /// sums exactly; handovers then move the shortage onto the orders that were short (GroupBuyLastMile).
    function _recordShortfall(GroupBuyDeals.Deal storage d, uint256 dealId, address leader, uint256 ordered, uint256 delivered, uint256 price)
        private
    {
        uint256 shortValue = (ordered - delivered) * price;
        GroupBuyDeals.Group storage g = _groups[dealId][leader];
        g.short_ = true;
        // Safe casts: delivered < ordered (uint32); the remainder < ordered < 2^32 per group, and a deal has fewer
        // than 2^32 groups.
        // forge-lint: disable-next-line(unsafe-typecast)
        g.delivered = uint32(delivered);
        // forge-lint: disable-next-line(unsafe-typecast)
        d.shortDust += uint64(shortValue % ordered);
    }

    /// @dev The one call site of GroupBuyLastMile.answerClaim (cold: claims), shared by the four ways to answer.
    function _answerClaim(uint256 dealId, address buyer, GroupBuyLastMile.ClaimAnswer answer) private {
        GroupBuyLastMile.answerClaim(
            _existing(dealId), _orders[dealId], _leaders[dealId], _groups[dealId], _claims[dealId], dealId, buyer, _msgSender(), answer
        );
    }

    function _existing(uint256 dealId) private view returns (GroupBuyDeals.Deal storage d) {
        d = _deals[dealId];
        if (d.token == address(0)) revert DealNotFound(dealId);
    }

    // ------------------------------------------------------------------ ERC-2771 / Context diamond

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Group-buy escrow (社区团购 escrow with provenance-gated settlement)
/// @notice Holds consumers' pre-payments for a group-buy deal and releases them to the supplier, the
/// group leaders (commission) and the platform (fee) only once leaders have anchored the EPCIS
/// `receiving` event of their pickup in the provenance registry and the dispute window has passed.
/// Refunds are automatic entitlements: a failed deal, an undelivered leader, an upheld quality claim or a
/// recalled batch makes orders refundable, and every party withdraws (pull) or is paid by a keeper (push).
/// @dev Lifecycle: Open → (join deadline) → Failed | Succeeded → per leader Received | Undelivered →
/// (dispute window, claims resolved) → Settled; Frozen when a linked batch is recalled / non-compliant.
/// Times are unix seconds; a phase ends at its deadline (`block.timestamp >= deadline` means passed).
/// Rounding: leader commissions and the platform fee round down; the supplier receives the remainder
/// (the dust), so the escrow never pays out more than it holds for a deal.
interface IGroupBuyEscrow {
    /// @notice Derived state of a deal.
    enum DealStatus {
        None,
        Open,
        Failed,
        Succeeded,
        Settled,
        Frozen
    }

    /// @notice State of a quality claim.
    enum ClaimStatus {
        None,
        Filed,
        Rejected
    }

    /// @notice A price tier: from `minQuantity` units sold in total, every unit costs `unitPrice`.
    struct PriceTier {
        uint32 minQuantity;
        uint96 unitPrice;
    }

    /// @notice A leader volume tier (阶梯奖励): a leader whose orders total at least `minVolume` units earns `commissionBps`.
    struct CommissionTier {
        uint32 minVolume;
        uint16 commissionBps;
    }

    /// @notice Everything the platform states when it lists a deal.
    /// @param supplier approved supplier that owns every linked batch and is paid on settlement
    /// @param token allowlisted payment token (no fee-on-transfer / rebasing)
    /// @param priceTiers tiers[0].minQuantity must be 0 (the top price paid at join); thresholds strictly rising,
    /// prices strictly falling; at most MAX_PRICE_TIERS
    /// @param minTotalQuantity 成团: total units needed by the join deadline for the deal to succeed (> 0)
    /// @param maxTotalQuantity stock: total units that can be sold
    /// @param perBuyerLimit 限购: units one buyer may hold in the deal
    /// @param joinDeadline 截单: joins and cancels allowed strictly before it
    /// @param deliveryDeadline leaders must confirm receipt strictly before it
    /// @param disputeWindow seconds after a leader's receipt during which its buyers may file claims
    /// @param answerWindow seconds the supplier has to accept or reject a claim before it is upheld by default
    /// @param commissionBps base leader commission in basis points (500..2000)
    /// @param commissionTiers optional leader volume tiers raising the commission (rising, ≤ 2000, ≤ MAX_COMMISSION_TIERS)
    /// @param platformFeeBps platform fee in basis points of the net revenue (≤ MAX_PLATFORM_FEE_BPS)
    /// @param batchIds provenance batches sold (1..MAX_BATCHES, distinct, Active, owned by `supplier`)
    /// @param pickupDeadline 提货截止: handovers strictly before it (≥ deliveryDeadline); orders not handed over
    /// by then are no-shows (delivered if their group's receipt covered them, refunded if it was short)
    /// @param cashCapPerLeader units each leader may book for cash-paying neighbours (0: no cash orders; ≤ 2^24−1)
    struct DealParams {
        address supplier;
        address token;
        PriceTier[] priceTiers;
        uint32 minTotalQuantity;
        uint32 maxTotalQuantity;
        uint32 perBuyerLimit;
        uint40 joinDeadline;
        uint40 deliveryDeadline;
        uint32 disputeWindow;
        uint32 answerWindow;
        uint16 commissionBps;
        CommissionTier[] commissionTiers;
        uint16 platformFeeBps;
        bytes32[] batchIds;
        uint40 pickupDeadline;
        uint32 cashCapPerLeader;
    }

    /// @notice Why one handover of a batch was skipped (the others are recorded).
    enum HandoverSkip {
        None,
        Expired,
        BadSignature,
        NoOrder,
        WrongLeader,
        AlreadyPickedUp,
        InvalidQuantity
    }

    /// @notice One buyer's handover (核销) as the leader submits it: the buyer's EIP-712 signature over
    /// Handover(dealId, buyer, leader, quantity, expiry) under the escrow's domain ("GroupBuyEscrow", "1").
    struct HandoverItem {
        address buyer;
        uint256 quantity;
        uint256 expiry;
        bytes signature;
    }

    /// @notice An order's pickup (zero `at`: not handed over).
    struct PickupView {
        uint256 quantity;
        uint256 shortQuantity;
        uint256 at;
    }

    /// @notice A cash order (线下支付 / 代下单) a leader booked for a neighbour.
    struct CashOrderView {
        uint256 quantity;
        uint256 pickedUp;
        uint256 shortQuantity;
        uint256 pickedUpAt;
        bool paidOut;
    }

    /// @notice A buyer's order in one deal (one per buyer and deal, under one leader).
    struct OrderView {
        address leader;
        uint256 quantity;
        uint256 claimedQuantity;
        uint256 upheldQuantity;
        bool paidOut;
        bool claimOpen;
    }

    /// @notice A leader's aggregate in one deal.
    struct LeaderView {
        uint256 quantity;
        uint256 refundedQuantity;
        uint256 receivedAt;
        uint256 commissionBps;
        uint256 commission;
        bool paidOut;
    }

    /// @notice Running aggregates of a deal.
    struct DealTotals {
        uint256 totalQuantity;
        uint256 receivedQuantity;
        uint256 refundedQuantity;
        uint256 commissionTotal;
        uint256 openClaims;
        uint256 lastReceiptAt;
        uint256 supplierAmount;
        uint256 platformFee;
    }

    // ---------------------------------------------------------------- errors

    error ZeroAddress();
    error TokenNotAllowed(address token);
    error SupplierNotApproved(address supplier);
    error LeaderNotApproved(address leader);
    error InvalidPriceTiers(uint256 index);
    error InvalidCommissionTiers(uint256 index);
    error InvalidQuantities(uint256 minTotalQuantity, uint256 maxTotalQuantity, uint256 perBuyerLimit);
    error InvalidDeadlines(uint256 joinDeadline, uint256 deliveryDeadline);
    error InvalidWindows(uint256 disputeWindow, uint256 answerWindow);
    error InvalidCommission(uint256 commissionBps);
    error InvalidPlatformFee(uint256 platformFeeBps);
    error InvalidBatchCount(uint256 count);
    error BatchNotActive(bytes32 batchId);
    error BatchNotOwnedBySupplier(bytes32 batchId, address supplier);
    error DuplicateBatch(bytes32 batchId);
    error BatchNotInDeal(uint256 dealId, bytes32 batchId);
    error DealNotFound(uint256 dealId);
    error DealClosed(uint256 dealId, uint256 joinDeadline);
    error DealNotSucceeded(uint256 dealId, DealStatus status);
    error DealIsFrozen(uint256 dealId);
    error DealAlreadySettled(uint256 dealId);
    error ZeroQuantity();
    error DealFull(uint256 dealId, uint256 requested, uint256 remaining);
    error PerBuyerLimitExceeded(uint256 dealId, address buyer, uint256 requested, uint256 limit);
    error LeaderMismatch(uint256 dealId, address buyer, address orderLeader, address requestedLeader);
    error NoOrder(uint256 dealId, address buyer);
    error TokenTransferMismatch(address token, uint256 expected, uint256 received);
    error NotLeaderOfDeal(uint256 dealId, address leader);
    error AlreadyReceived(uint256 dealId, address leader);
    error DeliveryDeadlinePassed(uint256 dealId, uint256 deliveryDeadline);
    error LeaderNotReceived(uint256 dealId, address leader);
    error DisputeWindowClosed(uint256 dealId, uint256 windowEnd);
    error ClaimAlreadyOpen(uint256 dealId, address buyer);
    error ClaimQuantityTooHigh(uint256 dealId, address buyer, uint256 requested, uint256 available);
    error NoOpenClaim(uint256 dealId, address buyer);
    error ClaimNotAwaitingAnswer(uint256 dealId, address buyer, ClaimStatus status);
    error ClaimNotRejected(uint256 dealId, address buyer, ClaimStatus status);
    error AnswerWindowClosed(uint256 dealId, address buyer, uint256 answerDeadline);
    error AnswerWindowOpen(uint256 dealId, address buyer, uint256 answerDeadline);
    error NotSupplier(uint256 dealId, address account);
    error InvalidEvidenceLength(uint256 length);
    error SettlementTooEarly(uint256 dealId, uint256 settleableAt);
    error ClaimsPending(uint256 dealId, uint256 openClaims);
    error BatchBlocked(uint256 dealId, bytes32 batchId);
    error NoBatchBlocked(uint256 dealId);
    error NothingOwed(uint256 dealId, address account);
    error OnlySelf();
    /// @notice `batchId` already has `max` unsettled deals: a recall must be able to freeze them all in one call.
    error TooManyLiveDeals(bytes32 batchId, uint256 max);
    /// @notice Only the provenance registry may report a blocked batch.
    error OnlyRegistry(address caller);
    error InvalidPickupDeadline(uint256 pickupDeadline, uint256 deliveryDeadline);
    error InvalidCashCap(uint256 cashCapPerLeader);
    /// @notice Handovers are taken strictly before the deal's pickup deadline.
    error PickupClosed(uint256 dealId, uint256 pickupDeadline);
    /// @notice No-shows are closed out from the pickup deadline on.
    error PickupOpen(uint256 dealId, uint256 pickupDeadline);
    error NothingToCloseOut(uint256 dealId, address leader);
    /// @notice A handover call carries 1..64 items.
    error EmptyHandover();
    /// @notice A single handover (a cash order's) that cannot be recorded, and why.
    error HandoverRefused(uint256 dealId, HandoverSkip reason);
    /// @notice In a group delivered short, only units handed over can be claimed (which units were short is
    /// settled at handover).
    error NotPickedUp(uint256 dealId, address buyer);
    error CashCapExceeded(uint256 dealId, address leader, uint256 requested, uint256 cap);
    error InvalidBeneficiary();
    error NoCashOrder(uint256 dealId, address leader, bytes32 beneficiaryRef);

    // ---------------------------------------------------------------- events

    event TokenAllowed(address indexed token, bool allowed);
    event FeeRecipientSet(address indexed feeRecipient);
    event DealCreated(uint256 indexed dealId, address indexed supplier, address indexed token, DealParams params, address feeRecipient);
    event Joined(uint256 indexed dealId, address indexed buyer, address indexed leader, uint256 quantity, uint256 paid);
    event Cancelled(uint256 indexed dealId, address indexed buyer, address indexed leader, uint256 quantity, uint256 refunded);
    /// @param quantity the quantity the leader received, as the anchored EPCIS receiving event states it
    /// @param delivered the units that count as delivered: `quantity` capped at the leader's ordered units
    event ReceiptConfirmed(
        uint256 indexed dealId,
        address indexed leader,
        bytes32 indexed batchId,
        bytes32 eventHash,
        bytes32 documentDigest,
        uint256 quantity,
        uint256 delivered
    );
    event ClaimFiled(uint256 indexed dealId, address indexed buyer, address indexed leader, uint256 quantity, bytes evidenceCid);
    event ClaimRejected(uint256 indexed dealId, address indexed buyer);
    /// @param byDefault true when upheld because the supplier did not answer in time
    event ClaimUpheld(uint256 indexed dealId, address indexed buyer, uint256 quantity, bool byDefault);
    event ClaimDenied(uint256 indexed dealId, address indexed buyer, uint256 quantity);
    event DealFrozen(uint256 indexed dealId, bytes32 indexed batchId);
    event DealSettled(
        uint256 indexed dealId, uint256 finalUnitPrice, uint256 revenue, uint256 supplierAmount, uint256 platformFee, uint256 commissionTotal
    );
    event Withdrawn(uint256 indexed dealId, address indexed account, uint256 amount);
    event PayoutSkipped(uint256 indexed dealId, address indexed account);
    /// @notice A buyer's order handed over at the pickup point: `quantity` units taken, `shortQuantity` units of
    /// the order not delivered (refunded at the final price on settlement; only in a group received short).
    event HandedOver(uint256 indexed dealId, address indexed buyer, address indexed leader, uint256 quantity, uint256 shortQuantity);
    event HandoverSkipped(uint256 indexed dealId, address indexed buyer, HandoverSkip reason);
    /// @notice The pickup deadline passed with `noShowUnits` of the leader's group not handed over: of them,
    /// `shortUnits` are refunded (each no-show unit gets `refundPerUnit`), the rest count as delivered.
    event NoShowsClosed(uint256 indexed dealId, address indexed leader, uint256 noShowUnits, uint256 shortUnits, uint256 refundPerUnit);
    event CashOrderBooked(uint256 indexed dealId, address indexed leader, bytes32 indexed beneficiaryRef, uint256 quantity, uint256 paid);
    event CashHandedOver(uint256 indexed dealId, address indexed leader, bytes32 indexed beneficiaryRef, uint256 quantity, uint256 shortQuantity);
    /// @notice A cash order's refund paid back to the leader who booked it (apart from commission and own orders).
    event CashRefunded(uint256 indexed dealId, address indexed leader, bytes32 indexed beneficiaryRef, uint256 amount);

    // ---------------------------------------------------------------- admin

    /// @notice Allow or refuse a payment token for new deals (PLATFORM_ROLE).
    function setTokenAllowed(address token, bool allowed) external;

    /// @notice Set who receives the platform fee of deals created from now on (DEFAULT_ADMIN_ROLE).
    function setFeeRecipient(address feeRecipient) external;

    /// @notice List a deal (PLATFORM_ROLE). Validates every parameter and every linked batch against the registry.
    /// @dev Each linked batch keeps at most MAX_LIVE_DEALS_PER_BATCH live deals (TooManyLiveDeals beyond), so a
    /// recall's notification can freeze them all within the registry's gas cap.
    /// @return dealId the new deal's id (1, 2, ...)
    function createDeal(DealParams calldata params) external returns (uint256 dealId);

    // ---------------------------------------------------------------- buyers

    /// @notice Order `quantity` units under `leader`, paying the top tier price now. A second join by the same
    /// buyer adds to the order and must name the same leader.
    /// @dev `leader` must be approved in the registry when their group in this deal opens (the first order under
    /// them, or the first after all its orders were cancelled); a group already open stays open for this deal if
    /// the leader is revoked later (its buyers keep every protection: no receipt by the delivery deadline refunds
    /// them in full). This spares the registry call on every later order. The deal's own supplier is never an
    /// approved leader of it (LeaderNotApproved): its receipt would release its own money.
    function join(uint256 dealId, uint256 quantity, address leader) external;

    /// @notice {join} after an EIP-2612 permit for exactly the amount; a front-run permit is tolerated
    /// (the join then relies on the allowance already given).
    function joinWithPermit(uint256 dealId, uint256 quantity, address leader, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Cancel the caller's whole order before the join deadline, refunding it in full at once.
    function cancel(uint256 dealId) external;

    /// @notice File a quality claim on `quantity` units of the caller's order, inside its dispute window: from
    /// the order's handover, or from its leader's receipt while it is not handed over (in a group received short
    /// only handed-over units can be claimed: NotPickedUp).
    /// @param evidenceCid the IPFS CID bytes of the evidence (≤ 128 bytes), emitted for indexers
    function fileClaim(uint256 dealId, uint256 quantity, bytes calldata evidenceCid) external;

    // ---------------------------------------------------------------- leaders

    /// @notice The caller (a leader with orders in the deal) confirms pickup of `batchId`, anchoring the EPCIS
    /// receiving event in the registry; allowed after success and before the delivery deadline.
    /// @param receivedQuantity units received for the group (the receiving event's quantity): more than ordered
    /// counts as ordered; less is a short delivery (0: nothing arrived). Money follows goods: the supplier, the
    /// leader's commission (its volume tier counting delivered units) and the platform fee are paid on delivered
    /// units only, and the group's buyers share the refund of the missing units.
    /// @dev Which buyers are short: each buyer says at handover (see {handOver}); a short unit so assigned gets
    /// back exactly the top price. The short units nobody took at handover are shared by the orders not handed
    /// over (no-shows) in proportion to their units, in money: with U such short units, N no-show units and final
    /// price p, each no-show unit gets back ⌊U × p / N⌋ at settlement and the rounding remainder (< N base units)
    /// goes to the supplier, so money in = money out exactly. Before any handover this is the whole group's
    /// pro-rata share. Settlement stays O(1) (one aggregate of the remainders, updated at each handover).
    function confirmReceipt(uint256 dealId, bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, uint256 receivedQuantity)
        external;

    // ---------------------------------------------------------------- pickup (核销) and cash orders

    /// @notice The caller (the leader of the orders, after their receipt, before the pickup deadline) records
    /// handovers signed by the buyers (EOA signatures or ERC-1271 for contract accounts). Each item is checked on
    /// its own: an invalid one (expired, bad signature, no order, another leader's order, already handed over, a
    /// quantity that does not fit) is skipped with a HandoverSkipped event and the others are recorded.
    /// @dev Which units are short: the buyer's signed quantity says. In a group received short, an order handed
    /// over with quantity h < its units q has q − h units short (refunded at the final price), as long as the
    /// group's short units not yet assigned cover them; h never exceeds the group's delivered units not yet handed
    /// over, nor falls below the units the order already claimed. In a group received in full, h must be q. Each
    /// order is handed over once; its after-sales (claim) window runs from this moment. Orders not handed over by
    /// the pickup deadline are no-shows: they share the group's short units still unassigned pro rata
    /// (⌊unassigned short × price / no-show units⌋ per unit, the remainder to the supplier) and count as delivered
    /// otherwise. Aggregates keep settlement O(1).
    /// @return recorded how many items were recorded
    function handOver(uint256 dealId, HandoverItem[] calldata items) external returns (uint256 recorded);

    /// @notice Anyone, from the pickup deadline on and while the deal is not settled, closes out the no-shows of
    /// `leader`'s received group, once (NoShowsClosed); the keeper does it for groups received short. Money does
    /// not wait for it: the no-shows' share is fixed at the pickup deadline and paid on settlement.
    function closeOut(uint256 dealId, address leader) external;

    /// @notice The caller (an approved leader) books `quantity` units for a neighbour who paid in cash, paying the
    /// top price from their own balance; counts toward 成团 and the tiers, capped per leader by cashCapPerLeader.
    /// @param beneficiaryRef keccak256 of a random salt and the neighbour's name or phone (the salt stays off
    /// chain with the leader); booking the same reference again adds to that cash order
    function bookCashOrder(uint256 dealId, uint256 quantity, bytes32 beneficiaryRef) external;

    /// @notice {bookCashOrder} after an EIP-2612 permit by the leader.
    function bookCashOrderWithPermit(
        uint256 dealId,
        uint256 quantity,
        bytes32 beneficiaryRef,
        uint256 permitDeadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice The leader alone records the handover of one of their cash orders (same quantity rules as
    /// {handOver}); reverts HandoverRefused with the reason otherwise.
    function handOverCash(uint256 dealId, bytes32 beneficiaryRef, uint256 quantity) external;

    /// @notice Anyone pays `leader` what the deal owes back for their cash orders `refs` (refunds of failed,
    /// frozen, undelivered deals, rebates and short units); CashRefunded per order paid. Cash orders carry no
    /// quality claims (the leader holds them).
    /// @return amount paid
    function payCashRefunds(uint256 dealId, address leader, bytes32[] calldata refs) external returns (uint256 amount);

    // ---------------------------------------------------------------- claims

    /// @notice The deal's supplier accepts `buyer`'s open claim (refund upheld) within the answer window.
    function acceptClaim(uint256 dealId, address buyer) external;

    /// @notice The deal's supplier rejects `buyer`'s open claim within the answer window; the platform arbitrates.
    function rejectClaim(uint256 dealId, address buyer) external;

    /// @notice ARBITER_ROLE decides a rejected claim.
    function arbitrateClaim(uint256 dealId, address buyer, bool uphold) external;

    /// @notice Anyone upholds a claim the supplier did not answer within the answer window.
    function finalizeUnansweredClaim(uint256 dealId, address buyer) external;

    // ---------------------------------------------------------------- recall, settlement, payouts

    /// @notice Anyone freezes an unsettled deal one of whose batches is Recalled or NonCompliant; every order
    /// becomes refundable in full and nothing else is paid.
    function freeze(uint256 dealId) external;

    /// @notice The registry reports `batchId` Recalled or NonCompliant (IBatchBlockedListener): every live deal
    /// selling it (not settled, not frozen, not failed) is frozen at once, each with a DealFrozen event, and the
    /// batch's list of live deals is cleared. Its cost is bounded by MAX_LIVE_DEALS_PER_BATCH.
    /// @return frozen how many deals were frozen
    function onBatchBlocked(bytes32 batchId) external returns (uint256 frozen);

    /// @notice Anyone settles a succeeded deal after the delivery deadline and every dispute window, once no claim
    /// is open and no batch is blocked. Gas is independent of the number of buyers and leaders.
    function settle(uint256 dealId) external;

    /// @notice Pay the caller everything the deal owes it (refund, rebate, claim refund, commission, supplier
    /// amount, platform fee).
    /// @return amount paid
    function withdraw(uint256 dealId) external returns (uint256 amount);

    /// @notice Anyone (the keeper) pays each account what the deal owes it. Accounts owed nothing are skipped,
    /// and an account whose transfer reverts is skipped (event PayoutSkipped) without affecting the others.
    /// @return paid total amount paid
    function pushPayouts(uint256 dealId, address[] calldata accounts) external returns (uint256 paid);

    /// @notice One step of {pushPayouts}, external only so each payout runs in its own call frame; reverts with
    /// OnlySelf unless called by the escrow itself.
    function payoutTo(uint256 dealId, address account) external returns (uint256 amount);

    // ---------------------------------------------------------------- views

    /// @notice Amount the deal owes `account` right now (what {withdraw} would pay it).
    function owed(uint256 dealId, address account) external view returns (uint256);

    function dealStatus(uint256 dealId) external view returns (DealStatus);

    /// @notice The unit price buyers finally pay: the tier reached by the deal's total quantity.
    function finalUnitPrice(uint256 dealId) external view returns (uint256);

    function dealParams(uint256 dealId) external view returns (DealParams memory);

    function dealTotals(uint256 dealId) external view returns (DealTotals memory);

    function order(uint256 dealId, address buyer) external view returns (OrderView memory);

    function leaderInfo(uint256 dealId, address leader) external view returns (LeaderView memory);

    /// @notice The leader's group's short delivery, if its receipt was short.
    /// @return short_ whether the receipt recorded fewer units than ordered
    /// @return delivered units that count as delivered
    /// @return refundPerUnit what each unit of the group not handed over (no-show) gets back at settlement: the short
    /// units not assigned at handover, shared pro rata (before any handover: every unit's share)
    function shortfall(uint256 dealId, address leader) external view returns (bool short_, uint256 delivered, uint256 refundPerUnit);

    /// @notice `buyer`'s open claim in the deal (status None when there is none).
    /// @return status Filed (awaiting the supplier) or Rejected (awaiting arbitration)
    /// @return quantity units claimed
    /// @return filedAt when it was filed (the answer window runs from here)
    function claim(uint256 dealId, address buyer) external view returns (ClaimStatus status, uint256 quantity, uint256 filedAt);

    function isTokenAllowed(address token) external view returns (bool);

    function pickup(uint256 dealId, address buyer) external view returns (PickupView memory);

    function cashOrder(uint256 dealId, address leader, bytes32 beneficiaryRef) external view returns (CashOrderView memory);

    /// @notice What the deal owes `leader` back for one cash order now (what {payCashRefunds} would pay).
    function cashOwed(uint256 dealId, address leader, bytes32 beneficiaryRef) external view returns (uint256);

    /// @notice Units the leader booked in cash in the deal, and the cash refunds paid back to them so far.
    function cashTotals(uint256 dealId, address leader) external view returns (uint256 quantity, uint256 refunded);

    /// @notice The deals a recall of `batchId` would freeze, plus finished ones not yet pruned (a deal leaves
    /// the list when a new deal needs its place, or when the batch is blocked).
    function liveDeals(bytes32 batchId) external view returns (uint256[] memory);

    function feeRecipient() external view returns (address);

    function dealCount() external view returns (uint256);
}

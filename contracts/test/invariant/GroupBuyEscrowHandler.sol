// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "../utils/Vm.sol";
import {GroupBuyEscrow} from "../../GroupBuyEscrow.sol";
import {IGroupBuyEscrow} from "../../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../../interfaces/IProvenanceRegistry.sol";
import {MockProvenanceRegistry} from "../mocks/MockProvenanceRegistry.sol";
import {MockStablecoin} from "../mocks/MockTokens.sol";

/// @notice Drives random joins, cancels, time jumps, receipts, claims, answers, arbitrations, recalls, settlements,
/// withdrawals and pushes, handovers signed by the buyers (some invalid), no-show close-outs, cash orders booked,
/// handed over and refunded to their leaders, across several deals, keeping a ghost ledger of every token movement.
/// @dev Calls that the escrow refuses are swallowed (try/catch): refusals are tested one by one in the unit tests.
contract GroupBuyEscrowHandler {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    GroupBuyEscrow public immutable escrow;
    MockStablecoin public immutable token;
    MockProvenanceRegistry public immutable registry;
    address public immutable supplier;
    address public immutable treasury;
    address public immutable platform;
    address internal immutable owner = msg.sender;

    uint256[] public dealIds;
    bytes32[] public batchOf;
    address[] public buyers;
    address[] public leaders;
    address[] public actors; // buyers, leaders, supplier, treasury

    mapping(uint256 dealId => uint256) public ghostHeld;
    mapping(uint256 dealId => uint256) public ghostIn;
    mapping(uint256 dealId => uint256) public ghostOut;
    mapping(uint256 dealId => mapping(address buyer => uint256)) public ghostPaidByBuyer;
    mapping(uint256 dealId => mapping(address buyer => uint256)) public ghostReceivedByBuyer;
    /// @dev Buyer payouts since the buyer's current order was opened: more than one would be a double refund.
    mapping(uint256 dealId => mapping(address buyer => uint256)) public payoutsSinceJoin;
    mapping(bytes32 name => uint256) public calls;
    /// @dev Cached once: dealParams copies every tier and batch array, and the invariant runs after every call.
    mapping(uint256 dealId => uint256) public topPrice;
    /// @dev Deals (by index) whose batch was recalled through the registry's hook: none may take an order after.
    mapping(uint256 index => bool) public recalledByHook;
    mapping(address buyer => uint256) internal keyOf;
    /// @dev What each leader paid in for cash orders, and got back for them, per deal.
    mapping(uint256 dealId => mapping(address leader => uint256)) public ghostCashPaid;
    mapping(uint256 dealId => mapping(address leader => uint256)) public ghostCashBack;

    constructor(
        GroupBuyEscrow escrow_,
        MockStablecoin token_,
        MockProvenanceRegistry registry_,
        address supplier_,
        address treasury_,
        address platform_
    ) {
        escrow = escrow_;
        token = token_;
        registry = registry_;
        supplier = supplier_;
        treasury = treasury_;
        platform = platform_;
        for (uint256 i; i < 6; ++i) {
            address b = vm.addr(0xB0000 + i); // buyers sign their handovers
            keyOf[b] = 0xB0000 + i;
            buyers.push(b);
        }
        for (uint256 i; i < 3; ++i) {
            address l = address(uint160(0x1EAD0 + i));
            leaders.push(l);
            registry_.setLeader(l, true);
        }
        for (uint256 i; i < buyers.length; ++i) actors.push(buyers[i]);
        for (uint256 i; i < leaders.length; ++i) actors.push(leaders[i]);
        actors.push(supplier_);
        actors.push(treasury_);
    }

    function addDeal(uint256 dealId, bytes32 batchId) external {
        require(msg.sender == owner, "owner only");
        dealIds.push(dealId);
        batchOf.push(batchId);
        topPrice[dealId] = escrow.dealParams(dealId).priceTiers[0].unitPrice;
    }

    function dealCount() external view returns (uint256) {
        return dealIds.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function buyerCount() external view returns (uint256) {
        return buyers.length;
    }

    function isBuyer(address a) public view returns (bool) {
        for (uint256 i; i < buyers.length; ++i) if (buyers[i] == a) return true;
        return false;
    }

    // ------------------------------------------------------------------ actions

    function join(uint256 dealSeed, uint256 buyerSeed, uint256 leaderSeed, uint256 quantity) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address b = buyers[buyerSeed % buyers.length];
        address l = leaders[leaderSeed % leaders.length];
        quantity = 1 + quantity % 6;
        uint256 amount = quantity * topPrice[dealId];
        bool fresh = escrow.order(dealId, b).quantity == 0;
        token.mint(b, amount);
        vm.prank(b);
        token.approve(address(escrow), amount);
        vm.prank(b);
        try escrow.join(dealId, quantity, l) {
            calls["join"]++;
            ghostIn[dealId] += amount;
            ghostHeld[dealId] += amount;
            ghostPaidByBuyer[dealId][b] += amount;
            if (fresh) payoutsSinceJoin[dealId][b] = 0;
        } catch {
            // Burn the unused mint so buyers' balances only ever hold what the escrow paid them.
            vm.prank(b);
            token.transfer(address(0xdead), amount);
        }
    }

    function cancel(uint256 dealSeed, uint256 buyerSeed) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address b = buyers[buyerSeed % buyers.length];
        uint256 before = token.balanceOf(b);
        vm.prank(b);
        try escrow.cancel(dealId) {
            calls["cancel"]++;
            _recordOut(dealId, b, token.balanceOf(b) - before);
            payoutsSinceJoin[dealId][b] = 0; // the order is gone; a new join starts a new order
        } catch {}
    }

    function warp(uint256 secondsAhead) external {
        vm.warp(block.timestamp + secondsAhead % 4 hours);
        calls["warp"]++;
    }

    /// @dev Picks, starting at the seeds, a deal and leader with orders and no receipt yet (the seeds' own if none).
    /// @dev One receipt in three is short (0 ..= ordered units received), one in six states more than ordered.
    function confirmReceipt(uint256 dealSeed, uint256 leaderSeed, uint256 received) external {
        uint256 i = dealSeed % dealIds.length;
        address l = leaders[leaderSeed % leaders.length];
        for (uint256 n; n < dealIds.length * leaders.length; ++n) {
            uint256 di = (dealSeed % dealIds.length + n / leaders.length) % dealIds.length;
            address c = leaders[(leaderSeed % leaders.length + n) % leaders.length];
            IGroupBuyEscrow.LeaderView memory info = escrow.leaderInfo(dealIds[di], c);
            if (info.quantity != 0 && info.receivedAt == 0 && escrow.dealStatus(dealIds[di]) == IGroupBuyEscrow.DealStatus.Succeeded) {
                (i, l) = (di, c);
                break;
            }
        }
        uint256 ordered = escrow.leaderInfo(dealIds[i], l).quantity;
        uint256 quantity = received % 3 == 0 ? (received / 3) % (ordered + 1) : ordered + (received % 2);
        vm.prank(l);
        try escrow.confirmReceipt(dealIds[i], batchOf[i], keccak256("event"), keccak256("doc"), quantity) {
            calls["confirmReceipt"]++;
            if (quantity < ordered) calls["shortReceipt"]++;
        } catch {}
    }

    /// @dev Picks, starting at the seeds, a deal and buyer whose leader has received and who has no open claim.
    function fileClaim(uint256 dealSeed, uint256 buyerSeed, uint256 quantity) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address b = buyers[buyerSeed % buyers.length];
        for (uint256 n; n < dealIds.length * buyers.length; ++n) {
            uint256 d = dealIds[(dealSeed % dealIds.length + n / buyers.length) % dealIds.length];
            address c = buyers[(buyerSeed % buyers.length + n) % buyers.length];
            IGroupBuyEscrow.OrderView memory o = escrow.order(d, c);
            if (o.quantity > o.claimedQuantity && !o.claimOpen && escrow.leaderInfo(d, o.leader).receivedAt != 0) {
                (dealId, b) = (d, c);
                break;
            }
        }
        vm.prank(b);
        try escrow.fileClaim(dealId, 1 + quantity % 4, hex"0155") {
            calls["fileClaim"]++;
        } catch {}
    }

    /// @dev First (deal, buyer) from the seeds whose claim has `status`, else the seeds' own.
    function _claimWith(uint256 dealSeed, uint256 buyerSeed, IGroupBuyEscrow.ClaimStatus status)
        internal
        view
        returns (uint256, address)
    {
        for (uint256 n; n < dealIds.length * buyers.length; ++n) {
            uint256 d = dealIds[(dealSeed % dealIds.length + n / buyers.length) % dealIds.length];
            address c = buyers[(buyerSeed % buyers.length + n) % buyers.length];
            (IGroupBuyEscrow.ClaimStatus s,,) = escrow.claim(d, c);
            if (s == status) return (d, c);
        }
        return (dealIds[dealSeed % dealIds.length], buyers[buyerSeed % buyers.length]);
    }

    function answerClaim(uint256 dealSeed, uint256 buyerSeed, bool accept) external {
        (uint256 dealId, address b) = _claimWith(dealSeed, buyerSeed, IGroupBuyEscrow.ClaimStatus.Filed);
        vm.prank(supplier);
        if (accept) {
            try escrow.acceptClaim(dealId, b) {
                calls["acceptClaim"]++;
            } catch {}
        } else {
            try escrow.rejectClaim(dealId, b) {
                calls["rejectClaim"]++;
            } catch {}
        }
    }

    function arbitrate(uint256 dealSeed, uint256 buyerSeed, bool uphold) external {
        (uint256 dealId, address b) = _claimWith(dealSeed, buyerSeed, IGroupBuyEscrow.ClaimStatus.Rejected);
        vm.prank(platform);
        try escrow.arbitrateClaim(dealId, b, uphold) {
            calls["arbitrate"]++;
        } catch {}
    }

    function finalizeUnanswered(uint256 dealSeed, uint256 buyerSeed) external {
        (uint256 dealId, address b) = _claimWith(dealSeed, buyerSeed, IGroupBuyEscrow.ClaimStatus.Filed);
        try escrow.finalizeUnansweredClaim(dealId, b) {
            calls["finalize"]++;
        } catch {}
    }

    /// @dev Recalls are rare on purpose (1 in 8) so most deals get to settle. Half go through the registry's hook
    /// (which freezes every live deal of the batch at once), half only flip the status and rely on the
    /// permissionless `freeze` (a failed notification).
    function recallAndFreeze(uint256 dealSeed, uint256 chance) external {
        if (chance % 8 != 0) return;
        uint256 i = dealSeed % dealIds.length;
        if (registry.batchStatus(batchOf[i]) == IProvenanceRegistry.BatchStatus.Recalled) return;
        if (chance % 16 == 0) {
            calls["recallHook"]++;
            calls["frozenByHook"] += registry.recall(batchOf[i], escrow);
            recalledByHook[i] = true;
        } else {
            registry.setBatch(batchOf[i], supplier, IProvenanceRegistry.BatchStatus.Recalled);
        }
        try escrow.freeze(dealIds[i]) {
            calls["freeze"]++;
        } catch {}
    }

    function settle(uint256 dealSeed) external {
        try escrow.settle(dealIds[dealSeed % dealIds.length]) {
            calls["settle"]++;
        } catch {}
    }

    function withdraw(uint256 dealSeed, uint256 actorSeed) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address a = actors[actorSeed % actors.length];
        uint256 before = token.balanceOf(a);
        vm.prank(a);
        try escrow.withdraw(dealId) {
            calls["withdraw"]++;
            _recordOut(dealId, a, token.balanceOf(a) - before);
        } catch {}
    }

    function push(uint256 dealSeed) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        uint256[] memory before = new uint256[](actors.length);
        for (uint256 i; i < actors.length; ++i) before[i] = token.balanceOf(actors[i]);
        escrow.pushPayouts(dealId, actors);
        calls["push"]++;
        for (uint256 i; i < actors.length; ++i) _recordOut(dealId, actors[i], token.balanceOf(actors[i]) - before[i]);
    }

    // ------------------------------------------------------------------ last mile

    function cashRef(address leader, uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("cash", leader, i % 2));
    }

    /// @dev A leader with a receipt in the deal (from the seeds), or the seeds' own.
    function _receivedLeader(uint256 dealSeed, uint256 leaderSeed) internal view returns (uint256 dealId, address l) {
        dealId = dealIds[dealSeed % dealIds.length];
        l = leaders[leaderSeed % leaders.length];
        for (uint256 n; n < dealIds.length * leaders.length; ++n) {
            uint256 d = dealIds[(dealSeed % dealIds.length + n / leaders.length) % dealIds.length];
            address c = leaders[(leaderSeed % leaders.length + n) % leaders.length];
            if (escrow.leaderInfo(d, c).receivedAt != 0) return (d, c);
        }
    }

    /// @dev Up to three buyers' signed handovers in one call: quantities from the order's units down (short only
    /// fits a short group), one in five signatures tampered, one in seven expired; the contract skips the misfits.
    function handOver(uint256 dealSeed, uint256 leaderSeed, uint256 buyerSeed, uint256 quantitySeed) external {
        (uint256 dealId, address l) = _receivedLeader(dealSeed, leaderSeed);
        IGroupBuyEscrow.HandoverItem[] memory items = new IGroupBuyEscrow.HandoverItem[](1 + quantitySeed % 3);
        for (uint256 k; k < items.length; ++k) {
            address b = buyers[(buyerSeed % buyers.length + k) % buyers.length];
            uint256 q = escrow.order(dealId, b).quantity;
            uint256 seed = uint256(keccak256(abi.encode(quantitySeed, k)));
            uint256 quantity = seed % 2 == 0 ? q : (q == 0 ? 0 : seed % (q + 1));
            uint256 expiry = seed % 7 == 0 ? block.timestamp : block.timestamp + 1 hours;
            bytes32 digest = keccak256(abi.encodePacked(hex"1901", _domain(), keccak256(abi.encode(HANDOVER_TYPEHASH, dealId, b, l, quantity, expiry))));
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(keyOf[b], digest);
            if (seed % 5 == 0) s = bytes32(uint256(s) ^ 1);
            items[k] = IGroupBuyEscrow.HandoverItem(b, quantity, expiry, abi.encodePacked(r, s, v));
        }
        vm.prank(l);
        try escrow.handOver(dealId, items) returns (uint256 recorded) {
            calls["handOver"]++;
            calls["handedOver"] += recorded;
        } catch {}
    }

    bytes32 internal constant HANDOVER_TYPEHASH =
        keccak256("Handover(uint256 dealId,address buyer,address leader,uint256 quantity,uint256 expiry)");

    function _domain() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("GroupBuyEscrow"),
                keccak256("1"),
                block.chainid,
                address(escrow)
            )
        );
    }

    function bookCash(uint256 dealSeed, uint256 leaderSeed, uint256 refSeed, uint256 quantity) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address l = leaders[leaderSeed % leaders.length];
        quantity = 1 + quantity % 3;
        uint256 amount = quantity * topPrice[dealId];
        token.mint(l, amount);
        vm.prank(l);
        token.approve(address(escrow), amount);
        vm.prank(l);
        try escrow.bookCashOrder(dealId, quantity, cashRef(l, refSeed)) {
            calls["bookCash"]++;
            ghostIn[dealId] += amount;
            ghostHeld[dealId] += amount;
            ghostCashPaid[dealId][l] += amount;
        } catch {
            vm.prank(l);
            token.transfer(address(0xdead), amount);
        }
    }

    function handOverCash(uint256 dealSeed, uint256 leaderSeed, uint256 refSeed, uint256 quantitySeed) external {
        (uint256 dealId, address l) = _receivedLeader(dealSeed, leaderSeed);
        bytes32 ref = cashRef(l, refSeed);
        uint256 q = escrow.cashOrder(dealId, l, ref).quantity;
        uint256 quantity = quantitySeed % 2 == 0 ? q : quantitySeed % (q + 1);
        vm.prank(l);
        try escrow.handOverCash(dealId, ref, quantity) {
            calls["handOverCash"]++;
        } catch {}
    }

    function closeOut(uint256 dealSeed, uint256 leaderSeed) external {
        (uint256 dealId, address l) = _receivedLeader(dealSeed, leaderSeed);
        try escrow.closeOut(dealId, l) {
            calls["closeOut"]++;
        } catch {}
    }

    function payCash(uint256 dealSeed, uint256 leaderSeed) external {
        uint256 dealId = dealIds[dealSeed % dealIds.length];
        address l = leaders[leaderSeed % leaders.length];
        bytes32[] memory refs = new bytes32[](2);
        (refs[0], refs[1]) = (cashRef(l, 0), cashRef(l, 1));
        uint256 before = token.balanceOf(l);
        try escrow.payCashRefunds(dealId, l, refs) {
            calls["payCash"]++;
            uint256 got = token.balanceOf(l) - before;
            ghostCashBack[dealId][l] += got;
            _recordOut(dealId, l, got);
        } catch {}
    }

    function leaderCount() external view returns (uint256) {
        return leaders.length;
    }

    function _recordOut(uint256 dealId, address account, uint256 amount) internal {
        if (amount == 0) return;
        ghostOut[dealId] += amount;
        ghostHeld[dealId] -= amount; // reverts (fails the run) if the escrow paid more than the deal holds
        if (isBuyer(account)) {
            ghostReceivedByBuyer[dealId][account] += amount;
            payoutsSinceJoin[dealId][account] += 1;
        }
    }
}

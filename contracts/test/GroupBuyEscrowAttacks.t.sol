// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GroupBuyEscrowBase} from "./GroupBuyEscrowBase.t.sol";
import {GroupBuyEscrow} from "../GroupBuyEscrow.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {BlockingToken, HookToken, ITransferHook} from "./mocks/MockTokens.sol";

/// @notice A buyer contract that, when paid, tries to re-enter the escrow to be paid again.
contract ReentrantBuyer is ITransferHook {
    GroupBuyEscrow internal immutable escrow;
    HookToken internal immutable token;
    uint256 public dealId;
    uint256 public reentrySuccesses;
    uint256 public reentryAttempts;

    constructor(GroupBuyEscrow escrow_, HookToken token_) {
        escrow = escrow_;
        token = token_;
    }

    function join(uint256 dealId_, uint256 quantity, address leader) external {
        dealId = dealId_;
        token.approve(address(escrow), type(uint256).max);
        escrow.join(dealId_, quantity, leader);
    }

    function withdraw() external {
        escrow.withdraw(dealId);
    }

    function onTokenTransfer(address, uint256) external {
        if (msg.sender != address(token) || reentryAttempts != 0) return;
        reentryAttempts++;
        try escrow.withdraw(dealId) {
            reentrySuccesses++;
        } catch {}
        try escrow.cancel(dealId) {
            reentrySuccesses++;
        } catch {}
        address[] memory me = new address[](1);
        me[0] = address(this);
        try escrow.pushPayouts(dealId, me) {
            reentrySuccesses++;
        } catch {}
        try escrow.payoutTo(dealId, address(this)) {
            reentrySuccesses++;
        } catch {}
    }
}

/// @notice Re-entrancy and griefing attempts cannot extract extra funds or block other payouts.
contract GroupBuyEscrowAttacksTest is GroupBuyEscrowBase {
    HookToken internal hookToken;
    ReentrantBuyer internal attacker;

    function _hookDeal() internal returns (uint256 dealId) {
        hookToken = new HookToken();
        vm.prank(platform);
        escrow.setTokenAllowed(address(hookToken), true);
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.token = address(hookToken);
        dealId = createDeal(p);
        attacker = new ReentrantBuyer(escrow, hookToken);
        hookToken.mint(address(attacker), 5 * TOP_PRICE);
        attacker.join(dealId, 5, leader1);
        // An honest buyer's money sits in the same escrow.
        address b = buyer(1);
        hookToken.mint(b, 3 * TOP_PRICE);
        vm.startPrank(b);
        hookToken.approve(address(escrow), 3 * TOP_PRICE);
        escrow.join(dealId, 3, leader2);
        vm.stopPrank();
        hookToken.setHooked(address(attacker), true);
    }

    function test_reentrantWithdraw_cannotExtractExtra() public {
        uint256 dealId = _hookDeal();
        toJoinDeadline(dealId); // 8 < 10 units: failed, everyone refundable
        attacker.withdraw();
        assertEq(attacker.reentryAttempts(), 1);
        assertEq(attacker.reentrySuccesses(), 0, "re-entry succeeded");
        assertEq(hookToken.balanceOf(address(attacker)), 5 * TOP_PRICE, "attacker got exactly its refund");
        assertEq(hookToken.balanceOf(address(escrow)), 3 * TOP_PRICE, "honest buyer's money intact");
    }

    function test_reentrantDuringPush_cannotExtractExtra() public {
        uint256 dealId = _hookDeal();
        toJoinDeadline(dealId);
        address[] memory accounts = new address[](2);
        (accounts[0], accounts[1]) = (address(attacker), buyer(1));
        uint256 paid = escrow.pushPayouts(dealId, accounts);
        assertEq(paid, 8 * TOP_PRICE);
        assertEq(attacker.reentrySuccesses(), 0, "re-entry succeeded");
        assertEq(hookToken.balanceOf(address(attacker)), 5 * TOP_PRICE);
        assertEq(hookToken.balanceOf(buyer(1)), 3 * TOP_PRICE);
        assertEq(hookToken.balanceOf(address(escrow)), 0);
    }

    function test_reentrantCancel_cannotExtractExtra() public {
        uint256 dealId = _hookDeal();
        vm.prank(address(attacker));
        escrow.cancel(dealId);
        assertEq(attacker.reentrySuccesses(), 0, "re-entry succeeded");
        assertEq(hookToken.balanceOf(address(attacker)), 5 * TOP_PRICE);
        assertEq(hookToken.balanceOf(address(escrow)), 3 * TOP_PRICE);
    }

    function test_pushPayouts_skipsRecipientWhoseTransferReverts() public {
        BlockingToken blk = new BlockingToken();
        vm.prank(platform);
        escrow.setTokenAllowed(address(blk), true);
        IGroupBuyEscrow.DealParams memory p = defaultParams();
        p.token = address(blk);
        uint256 dealId = createDeal(p);
        for (uint256 i; i < 3; ++i) {
            address b = buyer(i);
            blk.mint(b, 2 * TOP_PRICE);
            vm.startPrank(b);
            blk.approve(address(escrow), 2 * TOP_PRICE);
            escrow.join(dealId, 2, leader1);
            vm.stopPrank();
        }
        toJoinDeadline(dealId); // failed
        blk.setBlocked(buyer(1), true);
        address[] memory accounts = new address[](3);
        (accounts[0], accounts[1], accounts[2]) = (buyer(0), buyer(1), buyer(2));
        vm.expectEmit(true, true, false, false, address(escrow));
        emit IGroupBuyEscrow.PayoutSkipped(dealId, buyer(1));
        uint256 paid = escrow.pushPayouts(dealId, accounts);
        assertEq(paid, 4 * TOP_PRICE);
        assertEq(blk.balanceOf(buyer(0)), 2 * TOP_PRICE);
        assertEq(blk.balanceOf(buyer(2)), 2 * TOP_PRICE);
        // The skipped buyer is still owed and can be paid once the block is lifted.
        assertEq(escrow.owed(dealId, buyer(1)), 2 * TOP_PRICE);
        blk.setBlocked(buyer(1), false);
        assertEq(withdrawAs(dealId, buyer(1)), 2 * TOP_PRICE);
        assertEq(blk.balanceOf(address(escrow)), 0);
    }

    // ---------------------------------------------------------------- role separation

    /// @dev A supplier also approved as a leader (the registry allows one address both roles) must not lead a
    /// group in its own deal: its receipt would release its own money for goods nobody independent saw arrive,
    /// leaving buyers only the claim process (which that same supplier answers first).
    function test_supplierApprovedAsLeader_cannotOpenAGroupInItsOwnDeal() public {
        registry.setLeader(supplier, true);
        uint256 dealId = createDefaultDeal();
        address b = buyer(0);
        token.mint(b, 10 * TOP_PRICE);
        vm.startPrank(b);
        token.approve(address(escrow), 10 * TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, supplier));
        escrow.join(dealId, 10, supplier);
        vm.stopPrank();
        // Nor through a cash order it pays for itself (which would open the group too).
        token.mint(supplier, TOP_PRICE);
        vm.startPrank(supplier);
        token.approve(address(escrow), TOP_PRICE);
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.LeaderNotApproved.selector, supplier));
        escrow.bookCashOrder(dealId, 1, keccak256("salt|neighbour"));
        vm.stopPrank();
        // It may still buy in its own deal like anyone.
        joinAs(dealId, supplier, 1, leader1);
        assertEq(escrow.order(dealId, supplier).quantity, 1);
    }
}

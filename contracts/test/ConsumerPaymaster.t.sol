// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Paymaster} from "@openzeppelin/contracts/account/paymaster/Paymaster.sol";
import {Execution} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {IEntryPoint, IPaymaster, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7821} from "@openzeppelin/contracts/interfaces/draft-IERC7821.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ConsumerPaymaster} from "../accounts/ConsumerPaymaster.sol";
import {PasskeyAccount} from "../accounts/PasskeyAccount.sol";
import {PasskeyAccountFactory} from "../accounts/PasskeyAccountFactory.sol";
import {IConsumerPaymaster} from "../interfaces/IConsumerPaymaster.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IPasskeyAccount} from "../interfaces/IPasskeyAccount.sol";
import {PasskeyAccountBase} from "./PasskeyAccountBase.t.sol";

contract ConsumerPaymasterTest is PasskeyAccountBase {
    uint256 internal constant MAX_COST = 0.001 ether;

    PasskeyAccount internal account;
    uint256 internal dealId;

    function setUp() public override {
        super.setUp();
        account = createAccount(PASSKEY_1);
        dealId = createDefaultDeal();
        token.mint(address(account), 100 * TOP_PRICE);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev validatePaymasterUserOp as the EntryPoint calls it.
    function pmValidate(PackedUserOperation memory op) internal returns (bytes memory context, uint256 validationData) {
        return pmValidate(op, MAX_COST);
    }

    function pmValidate(PackedUserOperation memory op, uint256 maxCost)
        internal
        returns (bytes memory context, uint256 validationData)
    {
        vm.prank(address(ENTRYPOINT));
        return paymaster.validatePaymasterUserOp(op, bytes32(0), maxCost);
    }

    function opWith(Execution[] memory calls) internal view returns (PackedUserOperation memory) {
        return userOp(address(account), batch(calls));
    }

    function expectSponsored(Execution[] memory calls) internal {
        (bytes memory context, uint256 validationData) = pmValidate(opWith(calls));
        assertEq(validationData, 0, "sponsored, no time bounds");
        (address who, uint256 reserved) = abi.decode(context, (address, uint256));
        assertEq(who, address(account));
        assertEq(reserved, MAX_COST);
    }

    function expectRefused(Execution[] memory calls, bytes memory reason) internal {
        PackedUserOperation memory op = opWith(calls);
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(reason);
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function escrowCall(bytes memory data) internal view returns (Execution[] memory) {
        return call1(address(escrow), data);
    }

    function selfCall(bytes memory data) internal view returns (Execution[] memory) {
        return call1(address(account), data);
    }

    function notSponsored(uint256 index, address target, bytes4 selector) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IConsumerPaymaster.CallNotSponsored.selector, index, target, selector);
    }

    function joinOp(uint256 quantity) internal view returns (PackedUserOperation memory) {
        return sign(opWith(approveAndJoin(dealId, quantity, leader1)), PASSKEY_1);
    }

    function setLimits(uint16 maxOps, uint80 maxCost) internal {
        vm.prank(platform);
        paymaster.setLimits(IConsumerPaymaster.Limits({window: 1 days, maxOpsPerWindow: maxOps, maxCostPerWindow: maxCost}));
    }

    // ---------------------------------------------------------------- the policy: sponsored calls

    function test_validate_sponsorsApproveAndJoin() public {
        expectSponsored(approveAndJoin(dealId, 2, leader1));
        IConsumerPaymaster.Usage memory u = paymaster.usage(address(account));
        assertEq(u.pendingOps, 1, "reserved one operation");
        assertEq(u.pendingCost, MAX_COST, "reserved its maximum cost");
    }

    function test_validate_sponsorsEveryConsumerEscrowAction() public {
        expectSponsored(escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId))));
        expectSponsored(escrowCall(abi.encodeCall(IGroupBuyEscrow.withdraw, (dealId))));
        expectSponsored(escrowCall(abi.encodeCall(IGroupBuyEscrow.fileClaim, (dealId, 1, EVIDENCE))));
        expectSponsored(escrowCall(abi.encodeCall(IGroupBuyEscrow.join, (dealId, 1, leader1))));
    }

    function test_validate_sponsorsTheAccountManagingItsPasskeysAndGuardian() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        expectSponsored(selfCall(abi.encodeCall(IPasskeyAccount.addPasskey, (qx, qy))));
        expectSponsored(selfCall(abi.encodeCall(IPasskeyAccount.removePasskey, (qx, qy))));
        expectSponsored(selfCall(abi.encodeCall(IPasskeyAccount.setGuardian, (stranger, 3 days))));
        expectSponsored(selfCall(abi.encodeCall(IPasskeyAccount.cancelRecovery, ())));
    }

    // ---------------------------------------------------------------- the policy: refused calls

    function test_validate_refusesEscrowFunctionsThatAreNotConsumerActions() public {
        bytes memory settle = abi.encodeCall(IGroupBuyEscrow.settle, (dealId));
        expectRefused(escrowCall(settle), notSponsored(0, address(escrow), IGroupBuyEscrow.settle.selector));
        bytes memory confirm = abi.encodeCall(IGroupBuyEscrow.confirmReceipt, (dealId, BATCH, EVENT_HASH, DOC_DIGEST, 10));
        expectRefused(escrowCall(confirm), notSponsored(0, address(escrow), IGroupBuyEscrow.confirmReceipt.selector));
    }

    function testFuzz_validate_escrowSelectorIsSponsoredOnlyForConsumerActions(bytes4 selector, bytes32 arg) public {
        bool consumer = selector == IGroupBuyEscrow.join.selector || selector == IGroupBuyEscrow.cancel.selector
            || selector == IGroupBuyEscrow.fileClaim.selector || selector == IGroupBuyEscrow.withdraw.selector;
        Execution[] memory calls = escrowCall(abi.encodePacked(selector, arg));
        if (consumer) expectSponsored(calls);
        else expectRefused(calls, notSponsored(0, address(escrow), selector));
    }

    function test_validate_refusesTokenCallsOtherThanApprovingTheEscrow() public {
        address t = address(token);
        expectRefused(
            call1(t, abi.encodeCall(IERC20.transfer, (stranger, 1))), notSponsored(0, t, IERC20.transfer.selector)
        );
        expectRefused(
            call1(t, abi.encodeCall(IERC20.approve, (stranger, 1))), notSponsored(0, t, IERC20.approve.selector)
        );
        expectRefused(
            call1(t, abi.encodePacked(abi.encodeCall(IERC20.approve, (address(escrow), 1)), bytes32(0))),
            notSponsored(0, t, IERC20.approve.selector)
        );
    }

    function test_validate_refusesAnyOtherTargetAndTheSecondCallOfAMixedBatch() public {
        Execution[] memory calls = approveAndJoin(dealId, 1, leader1);
        calls[1].target = stranger;
        expectRefused(calls, notSponsored(1, stranger, IGroupBuyEscrow.join.selector));
        // The account calling itself with anything but passkey/guardian management (e.g. a nested execute).
        bytes memory nested = batch(approveAndJoin(dealId, 1, leader1));
        expectRefused(selfCall(nested), notSponsored(0, address(account), IERC7821.execute.selector));
    }

    function test_validate_refusesCallsSendingEth() public {
        Execution[] memory calls = escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId)));
        calls[0].value = 1;
        expectRefused(calls, abi.encodeWithSelector(IConsumerPaymaster.ValueNotSponsored.selector, 0, 1));
    }

    function test_validate_refusesCallDataOtherThanExecute() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        PackedUserOperation memory op = userOp(address(account), abi.encodeCall(IPasskeyAccount.addPasskey, (qx, qy)));
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(
            abi.encodeWithSelector(IConsumerPaymaster.CallDataNotSponsored.selector, IPasskeyAccount.addPasskey.selector)
        );
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_validate_refusesOtherExecutionModes() public {
        bytes32 tryMode = bytes32(uint256(0x0101) << 240);
        bytes memory callData = abi.encodeCall(
            IERC7821.execute, (tryMode, abi.encode(escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId)))))
        );
        PackedUserOperation memory op = userOp(address(account), callData);
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(abi.encodeWithSelector(IConsumerPaymaster.ExecutionModeNotSponsored.selector, tryMode));
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_validate_refusesEmptyAndOversizedBatches() public {
        expectRefused(
            new Execution[](0), abi.encodeWithSelector(IConsumerPaymaster.BatchSizeNotSponsored.selector, 0, 8)
        );
        Execution[] memory calls = new Execution[](9);
        for (uint256 i = 0; i < 9; ++i) {
            calls[i] = escrowCall(abi.encodeCall(IGroupBuyEscrow.withdraw, (dealId)))[0];
        }
        expectRefused(calls, abi.encodeWithSelector(IConsumerPaymaster.BatchSizeNotSponsored.selector, 9, 8));
    }

    function test_validate_refusesMalformedExecuteArguments() public {
        // execute(mode, <offset pointing past the end>)
        bytes memory callData = abi.encodePacked(IERC7821.execute.selector, bytes32(uint256(1) << 248), uint256(4096));
        PackedUserOperation memory op = userOp(address(account), callData);
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(IConsumerPaymaster.MalformedExecution.selector);
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_validate_refusesSendersThatAreNotPasskeyAccountClones() public {
        // A look-alike: a passkey account from another factory (another implementation).
        PasskeyAccountFactory otherFactory = new PasskeyAccountFactory();
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        address other = otherFactory.createAccount(qx, qy, 0);
        PackedUserOperation memory op = userOp(other, batch(escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId)))));
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(abi.encodeWithSelector(IConsumerPaymaster.AccountNotSponsored.selector, other, other.codehash));
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
        assertEq(address(account).codehash, paymaster.accountCodeHash(), "our clones match");
    }

    function test_validate_refusesInitCodeOfAnotherFactory() public {
        PackedUserOperation memory op = opWith(escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId))));
        op.initCode = abi.encodePacked(stranger, hex"1234");
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(abi.encodeWithSelector(IConsumerPaymaster.FactoryNotSponsored.selector, stranger));
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_validate_refusesTooLittlePostOpGas() public {
        PackedUserOperation memory op = opWith(escrowCall(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId))));
        op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(150_000), uint128(29_999));
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(abi.encodeWithSelector(IConsumerPaymaster.PostOpGasTooLow.selector, 29_999, 30_000));
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_validate_refusesBlockedAccountsUntilUnblocked() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.setBlocked(address(account), true);
        vm.prank(platform);
        paymaster.setBlocked(address(account), true);
        assertTrue(paymaster.isBlocked(address(account)));
        expectRefused(
            approveAndJoin(dealId, 1, leader1),
            abi.encodeWithSelector(IConsumerPaymaster.AccountBlocked.selector, address(account))
        );
        vm.prank(platform);
        paymaster.setBlocked(address(account), false);
        expectSponsored(approveAndJoin(dealId, 1, leader1));
    }

    function test_validateAndPostOp_onlyTheEntryPoint() public {
        PackedUserOperation memory op = opWith(approveAndJoin(dealId, 1, leader1));
        vm.expectRevert(abi.encodeWithSelector(Paymaster.PaymasterUnauthorized.selector, address(this)));
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
        vm.expectRevert(abi.encodeWithSelector(Paymaster.PaymasterUnauthorized.selector, address(this)));
        paymaster.postOp(IPaymaster.PostOpMode.opSucceeded, abi.encode(address(account), MAX_COST), 1, 1);
    }

    function test_isSponsoredCall_explainsTheSameRule() public view {
        assertTrue(
            paymaster.isSponsoredCall(
                address(account), address(escrow), 0, abi.encodeCall(IGroupBuyEscrow.cancel, (dealId))
            )
        );
        assertFalse(
            paymaster.isSponsoredCall(address(account), address(escrow), 0, abi.encodeCall(IGroupBuyEscrow.settle, (dealId)))
        );
        assertFalse(
            paymaster.isSponsoredCall(address(account), address(escrow), 1, abi.encodeCall(IGroupBuyEscrow.cancel, (dealId)))
        );
    }

    // ---------------------------------------------------------------- limits and postOp accounting

    function test_postOp_booksTheActualCostAndReleasesTheReservation() public {
        uint256 deposit = paymaster.getDeposit();
        vm.recordLogs();
        handle(joinOp(2));
        (uint256 eventCost,, bool success) = lastUserOperationEvent();
        assertTrue(success);

        IConsumerPaymaster.Usage memory u = paymaster.usage(address(account));
        assertEq(u.pendingOps, 0, "reservation released");
        assertEq(u.pendingCost, 0, "reservation released");
        assertEq(u.ops, 1);
        assertEq(u.windowStart, block.timestamp, "window opened by postOp");
        // postOp sees the cost before its own gas; the EntryPoint's final figure adds postOp and its bookkeeping.
        assertLe(u.cost, eventCost, "booked <= final cost");
        assertGt(u.cost, eventCost - 40_000 * GAS_PRICE, "booked ~ final cost");
        assertEq(paymaster.getDeposit(), deposit - eventCost, "paid from the deposit");
        assertEq(address(account).balance, 0, "the account paid no ETH");
    }

    function test_postOp_usesFarLessGasThanItsMinimum() public {
        (bytes memory context,) = pmValidate(opWith(approveAndJoin(dealId, 1, leader1)));
        vm.prank(address(ENTRYPOINT));
        uint256 before = gasleft();
        paymaster.postOp(IPaymaster.PostOpMode.opSucceeded, context, MAX_COST / 2, GAS_PRICE);
        uint256 used = before - gasleft();
        assertLt(used * 3, paymaster.MIN_POST_OP_GAS(), "postOp gas x3 < MIN_POST_OP_GAS");
        // And the EntryPoint runs it within exactly the minimum.
        PackedUserOperation memory op = opWith(approveAndJoin(dealId, 1, leader1));
        op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(150_000), uint128(30_000));
        handle(sign(op, PASSKEY_1));
        assertEq(paymaster.usage(address(account)).pendingOps, 0);
    }

    function test_postOp_chargesOperationsWhoseCallsRevert() public {
        toJoinDeadline(dealId); // join now reverts with DealClosed inside the batch
        vm.recordLogs();
        handle(joinOp(1));
        (,, bool success) = lastUserOperationEvent();
        assertFalse(success, "the batch reverted");
        assertEq(paymaster.usage(address(account)).ops, 1, "still counted");
    }

    function test_limits_opsPerWindow_nextOperationWaitsForTheNextWindow() public {
        setLimits(2, 1 ether);
        uint256 start = block.timestamp;
        handle(joinOp(1));
        vm.warp(start + 1 hours);
        handle(joinOp(1));
        PackedUserOperation memory third = joinOp(1);

        // Validation cannot read the clock: it answers "valid after the stored window ends".
        (, uint256 validationData) = pmValidate(third);
        assertEq(validationData, uint256(start + 1 days) << 208, "validAfter = window end, validUntil = 0");
    }

    function test_limits_operationOverTheLimitRunsOnlyOnceTheWindowHasPassed() public {
        setLimits(2, 1 ether);
        uint256 start = block.timestamp;
        handle(joinOp(1));
        handle(joinOp(1));
        PackedUserOperation memory third = joinOp(1);
        vm.warp(start + 1 days); // EntryPoint needs block.timestamp > validAfter
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, "AA32 paymaster expired or not due"));
        handle(third);
        vm.warp(start + 1 days + 1);
        handle(third);
        IConsumerPaymaster.Usage memory u = paymaster.usage(address(account));
        assertEq(u.windowStart, start + 1 days + 1, "a new window");
        assertEq(u.ops, 1, "counted in the new window");
    }

    function test_limits_costPerWindow() public {
        // The operation's maximum cost: (600k + 400k + 150k + 50k + 60k) gas x 1 gwei.
        uint256 maxCost = (600_000 + 400_000 + 150_000 + 50_000 + 60_000) * GAS_PRICE;
        setLimits(100, uint80(maxCost + maxCost / 10));
        uint256 start = block.timestamp;
        handle(joinOp(1)); // books its actual cost, well below maxCost
        PackedUserOperation memory second = joinOp(1);
        (, uint256 validationData) = pmValidate(second, maxCost); // booked actual cost + maxCost > limit
        assertEq(validationData >> 208, start + 1 days, "waits for the next window");
    }

    function test_limits_anOperationDearerThanAWholeWindowIsRefused() public {
        setLimits(100, uint80(MAX_COST - 1));
        PackedUserOperation memory op = opWith(approveAndJoin(dealId, 1, leader1));
        vm.prank(address(ENTRYPOINT));
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsumerPaymaster.SponsorshipLimitReached.selector, address(account), MAX_COST, 0, uint32(1 days)
            )
        );
        paymaster.validatePaymasterUserOp(op, bytes32(0), MAX_COST);
    }

    function test_limits_oneBundleCannotExceedTheLimitWithSeveralOperations() public {
        setLimits(1, 1 ether);
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = joinOp(1);
        ops[1] = opWith(approveAndJoin(dealId, 1, leader1));
        ops[1].nonce = ops[0].nonce + 1;
        ops[1] = sign(ops[1], PASSKEY_1);
        uint256 maxCost = (600_000 + 400_000 + 150_000 + 50_000 + 60_000) * GAS_PRICE;
        bytes memory inner = abi.encodeWithSelector(
            IConsumerPaymaster.SponsorshipLimitReached.selector, address(account), maxCost, 0, uint32(1 days)
        );
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, 1, "AA33 reverted", inner));
        ENTRYPOINT.handleOps(ops, bundler);
    }

    function test_limits_accountsAreIndependent() public {
        setLimits(1, 1 ether);
        handle(joinOp(1));
        PasskeyAccount other = createAccount(PASSKEY_2);
        token.mint(address(other), TOP_PRICE);
        handle(sign(userOp(address(other), batch(approveAndJoin(dealId, 1, leader2))), PASSKEY_2));
        assertEq(paymaster.usage(address(other)).ops, 1);
    }

    function test_setLimits_onlyTheOwnerAndNeverZero() public {
        IConsumerPaymaster.Limits memory l =
            IConsumerPaymaster.Limits({window: 1 hours, maxOpsPerWindow: 3, maxCostPerWindow: 1 ether});
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.setLimits(l);
        vm.prank(platform);
        vm.expectEmit(false, false, false, true, address(paymaster));
        emit IConsumerPaymaster.LimitsSet(1 hours, 3, 1 ether);
        paymaster.setLimits(l);
        assertEq(paymaster.limits().window, 1 hours);
        l.maxOpsPerWindow = 0;
        vm.prank(platform);
        vm.expectRevert(abi.encodeWithSelector(IConsumerPaymaster.InvalidLimits.selector, 1 hours, 0, 1 ether));
        paymaster.setLimits(l);
    }

    function test_resetUsage_clearsAnAccount() public {
        handle(joinOp(1));
        vm.prank(platform);
        paymaster.resetUsage(address(account));
        assertEq(paymaster.usage(address(account)).ops, 0);
    }

    // ---------------------------------------------------------------- deposit and stake

    function test_depositAndStake_fundedByAnyoneWithdrawnOnlyByTheOwner() public {
        uint256 deposit = paymaster.getDeposit();
        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        paymaster.deposit{value: 1 ether}();
        assertEq(paymaster.getDeposit(), deposit + 1 ether);

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.withdraw(payable(stranger), 1 ether);
        vm.prank(platform);
        paymaster.withdraw(payable(treasury), 1 ether);
        assertEq(treasury.balance, 1 ether);

        vm.prank(platform);
        paymaster.addStake{value: 1 ether}(1 days);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, stranger));
        paymaster.unlockStake();
        vm.prank(platform);
        paymaster.unlockStake();
        vm.warp(block.timestamp + 1 days);
        vm.prank(platform);
        paymaster.withdrawStake(payable(treasury));
        assertEq(treasury.balance, 2 ether);
    }
}

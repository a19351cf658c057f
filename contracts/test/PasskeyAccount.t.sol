// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Account} from "@openzeppelin/contracts/account/Account.sol";
import {Execution} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {PasskeyAccount} from "../accounts/PasskeyAccount.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IPasskeyAccount} from "../interfaces/IPasskeyAccount.sol";
import {IPasskeyAccountFactory} from "../interfaces/IPasskeyAccountFactory.sol";
import {HandoverVerifierMock} from "./mocks/HandoverVerifierMock.sol";
import {P256Harness} from "./mocks/P256Harness.sol";
import {IEntryPointV08, PasskeyAccountBase} from "./PasskeyAccountBase.t.sol";

contract PasskeyAccountTest is PasskeyAccountBase {
    PasskeyAccount internal account;

    function setUp() public override {
        super.setUp();
        account = createAccount(PASSKEY_1);
    }

    /// @dev validateUserOp as the EntryPoint calls it, for the signature of `op` (already signed).
    function validate(PackedUserOperation memory op) internal returns (uint256) {
        bytes32 hash = ENTRYPOINT.getUserOpHash(op);
        vm.prank(address(ENTRYPOINT));
        return account.validateUserOp(op, hash, 0);
    }

    function selfOp(bytes memory data) internal view returns (PackedUserOperation memory) {
        return userOp(address(account), batch(call1(address(account), data)));
    }

    // ---------------------------------------------------------------- EntryPoint and factory

    function test_entryPoint_isV08AtItsCanonicalAddress() public view {
        assertEq(address(account.entryPoint()), address(ENTRYPOINT));
        assertEq(address(paymaster.entryPoint()), address(ENTRYPOINT));
        assertGt(address(ENTRYPOINT).code.length, 0, "EntryPoint code");
    }

    function test_factory_addressIsKnownAndFundableBeforeDeployment() public {
        address predicted = accountAddress(PASSKEY_2, bytes32(uint256(7)));
        assertEq(predicted.code.length, 0, "not deployed yet");
        token.mint(predicted, 5 * UNIT); // a counterfactual address can already hold tokens
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        vm.expectEmit(true, false, false, true, address(factory));
        emit IPasskeyAccountFactory.AccountCreated(predicted, qx, qy, bytes32(uint256(7)));
        address created = factory.createAccount(qx, qy, bytes32(uint256(7)));
        assertEq(created, predicted, "CREATE2 address");
        assertGt(created.code.length, 0, "deployed");
        assertTrue(PasskeyAccount(payable(created)).isPasskey(qx, qy), "first passkey");
        assertEq(token.balanceOf(created), 5 * UNIT, "tokens kept");
    }

    function test_factory_addressDependsOnPasskeyAndSalt() public view {
        address a = accountAddress(PASSKEY_1, 0);
        assertEq(a, address(account));
        assertTrue(a != accountAddress(PASSKEY_1, bytes32(uint256(1))), "salt");
        assertTrue(a != accountAddress(PASSKEY_2, 0), "passkey");
    }

    function test_factory_createAccountTwiceReturnsTheSameAccount() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        assertEq(factory.createAccount(qx, qy, 0), address(account));
        assertEq(account.getSignerCount(), 1);
    }

    function test_factory_refusesAPointOffTheCurve() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        bytes32 badY = bytes32(uint256(qy) ^ 1);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.InvalidPasskey.selector, qx, badY));
        factory.createAccount(qx, badY, 0);
    }

    function test_initialize_cannotRunTwiceNorOnTheImplementation() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        account.initialize(qx, qy);
        PasskeyAccount implementation = PasskeyAccount(payable(factory.accountImplementation()));
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        implementation.initialize(qx, qy);
    }

    // ---------------------------------------------------------------- WebAuthn validation

    function test_validateUserOp_acceptsAValidPasskeyAssertion() public {
        PackedUserOperation memory op = sign(selfOp(""), PASSKEY_1);
        assertEq(validate(op), 0);
    }

    function test_validateUserOp_refusesAWrongChallenge() public {
        Assertion memory a = defaultAssertion();
        a.challenge = Base64.encodeURL(abi.encodePacked(keccak256("another operation")));
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 1);
    }

    function test_validateUserOp_refusesWithoutUserPresence() public {
        Assertion memory a = defaultAssertion();
        a.flags = 0x04; // UV only
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 1);
    }

    function test_validateUserOp_refusesWithoutUserVerification() public {
        Assertion memory a = defaultAssertion();
        a.flags = 0x01; // UP only: a tap without Face ID / fingerprint / PIN
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 1);
    }

    function test_validateUserOp_backupFlagsMustBeConsistent() public {
        Assertion memory a = defaultAssertion();
        a.flags = 0x1d; // UP, UV, backup eligible, backed up: a synced passkey
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 0, "synced passkey");
        a.flags = 0x15; // backed up but not eligible
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 1, "BS without BE");
    }

    function test_validateUserOp_refusesARegistrationCeremony() public {
        Assertion memory a = defaultAssertion();
        a.type_ = "webauthn.create";
        assertEq(validate(sign(selfOp(""), PASSKEY_1, a)), 1);
    }

    function test_validateUserOp_refusesHighSAndAcceptsItNormalised() public {
        Assertion memory a = defaultAssertion();
        a.highS = true;
        PackedUserOperation memory op = sign(selfOp(""), PASSKEY_1, a);
        assertEq(validate(op), 1, "high s refused");

        // The client's fix: s := n - s (same r, same assertion).
        (bytes[] memory signers, bytes[] memory signatures) = abi.decode(op.signature, (bytes[], bytes[]));
        (bytes32 r, bytes32 s, uint256 challengeIndex, uint256 typeIndex, bytes memory authData, string memory json) =
            abi.decode(signatures[0], (bytes32, bytes32, uint256, uint256, bytes, string));
        assertGt(uint256(s), P256_HALF_N, "was high");
        signatures[0] = abi.encode(r, bytes32(P256_N - uint256(s)), challengeIndex, typeIndex, authData, json);
        op.signature = abi.encode(signers, signatures);
        assertEq(validate(op), 0, "normalised accepted");
    }

    function test_validateUserOp_refusesAPasskeyOfAnotherAccount() public {
        PackedUserOperation memory op = sign(selfOp(""), PASSKEY_2);
        assertEq(validate(op), 1);
    }

    function test_validateUserOp_refusesMalformedSignaturesWithoutReverting() public {
        PackedUserOperation memory op = selfOp("");
        op.signature = hex"deadbeef";
        assertEq(validate(op), 1, "garbage");
        op.signature = "";
        assertEq(validate(op), 1, "empty");
    }

    function test_validateUserOp_onlyTheEntryPoint() public {
        PackedUserOperation memory op = sign(selfOp(""), PASSKEY_1);
        vm.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, address(this)));
        account.validateUserOp(op, bytes32(0), 0);
    }

    function test_handleOps_refusesAReplayedOperation() public {
        PackedUserOperation memory op = sign(selfOp(abi.encodeCall(account.setGuardian, (stranger, 3 days))), PASSKEY_1);
        handle(op);
        (address guardian,) = account.guardian();
        assertEq(guardian, stranger);
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, "AA25 invalid account nonce"));
        handle(op);
    }

    function test_handleOps_refusesABadSignature() public {
        Assertion memory a = defaultAssertion();
        a.flags = 0x01;
        PackedUserOperation memory op =
            sign(selfOp(abi.encodeCall(account.setGuardian, (stranger, 3 days))), PASSKEY_1, a);
        vm.expectRevert(abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, "AA24 signature error"));
        handle(op);
    }

    // ---------------------------------------------------------------- approve + join, sponsored, from nothing

    function test_handleOps_createsTheAccountAndJoinsInOneSponsoredOperation() public {
        uint256 dealId = createDefaultDeal();
        address consumer = accountAddress(PASSKEY_2, 0);
        token.mint(consumer, 3 * TOP_PRICE);
        PackedUserOperation memory op = sign(withInitCode(userOp(consumer, batch(approveAndJoin(dealId, 3, leader1))), PASSKEY_2), PASSKEY_2);
        uint256 deposit = paymaster.getDeposit();

        vm.recordLogs();
        handle(op);
        (uint256 cost, uint256 gasUsed, bool success) = lastUserOperationEvent();

        assertTrue(success, "operation succeeded");
        assertEq(escrow.order(dealId, consumer).quantity, 3, "order of the account");
        assertEq(token.balanceOf(consumer), 0, "paid");
        assertEq(consumer.balance, 0, "the account holds and pays no ETH");
        assertEq(paymaster.getDeposit(), deposit - cost, "the paymaster paid");
        assertGt(gasUsed, 0, "gas");
    }

    // ---------------------------------------------------------------- passkeys

    function test_addPasskey_secondDeviceCanSign() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        handle(sign(selfOp(abi.encodeCall(account.addPasskey, (qx, qy))), PASSKEY_1));
        assertTrue(account.isPasskey(qx, qy), "added");
        assertEq(account.getSignerCount(), 2);
        assertEq(validate(sign(selfOp(""), PASSKEY_2)), 0, "second passkey signs");
        assertEq(validate(sign(selfOp(""), PASSKEY_1)), 0, "first still signs");
    }

    function test_addPasskey_onlyTheAccountOrTheEntryPoint() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_2);
        vm.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, platform));
        vm.prank(platform);
        account.addPasskey(qx, qy);
    }

    function test_addPasskey_refusesOffCurveAndDuplicatesAndTooMany() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        vm.startPrank(address(account));
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.InvalidPasskey.selector, qx, bytes32(0)));
        account.addPasskey(qx, bytes32(0));
        vm.expectRevert(); // MultiSignerERC7913AlreadyExists
        account.addPasskey(qx, qy);
        for (uint256 i = 2; i <= account.MAX_PASSKEYS(); ++i) {
            (bytes32 x, bytes32 y) = passkey(1000 + i);
            account.addPasskey(x, y);
        }
        (bytes32 x9, bytes32 y9) = passkey(2000);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.TooManyPasskeys.selector, account.MAX_PASSKEYS()));
        account.addPasskey(x9, y9);
        vm.stopPrank();
    }

    function test_removePasskey_removesOneAndRefusesTheLast() public {
        (bytes32 qx1, bytes32 qy1) = passkey(PASSKEY_1);
        (bytes32 qx2, bytes32 qy2) = passkey(PASSKEY_2);
        vm.startPrank(address(account));
        account.addPasskey(qx2, qy2);
        account.removePasskey(qx1, qy1);
        assertFalse(account.isPasskey(qx1, qy1), "removed");
        vm.expectRevert(IPasskeyAccount.LastPasskey.selector);
        account.removePasskey(qx2, qy2);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.UnknownPasskey.selector, qx1, qy1));
        account.removePasskey(qx1, qy1);
        vm.stopPrank();
        assertEq(validate(sign(selfOp(""), PASSKEY_1)), 1, "removed passkey no longer signs");
    }

    // ---------------------------------------------------------------- recovery

    function guardedAccount() internal returns (address guardian) {
        guardian = makeAddr("friend");
        vm.prank(address(account));
        account.setGuardian(guardian, 3 days);
    }

    function test_setGuardian_onlyTheAccountWithinDelayBounds() public {
        vm.prank(platform);
        vm.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, platform));
        account.setGuardian(platform, 3 days);
        vm.startPrank(address(account));
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.InvalidRecoveryDelay.selector, 1 days, 2 days, 90 days));
        account.setGuardian(stranger, 1 days);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.InvalidGuardian.selector, address(account)));
        account.setGuardian(address(account), 3 days);
        vm.stopPrank();
    }

    function test_recovery_withoutAGuardianNobodyCanRecover() public {
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_3);
        vm.prank(platform);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.NotGuardian.selector, platform));
        account.startRecovery(qx, qy);
    }

    function test_recovery_guardianReplacesEveryPasskeyAfterTheDelay() public {
        address guardian = guardedAccount();
        (bytes32 qx2, bytes32 qy2) = passkey(PASSKEY_2);
        vm.prank(address(account));
        account.addPasskey(qx2, qy2);
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_3);

        vm.prank(platform);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.NotGuardian.selector, platform));
        account.startRecovery(qx, qy);

        uint48 due = uint48(block.timestamp + 3 days);
        vm.expectEmit(true, false, false, true, address(account));
        emit IPasskeyAccount.RecoveryStarted(guardian, qx, qy, due);
        vm.prank(guardian);
        account.startRecovery(qx, qy);
        assertEq(account.pendingRecovery().executableAt, due);

        vm.warp(due - 1);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.RecoveryNotDue.selector, due));
        account.completeRecovery();
        assertEq(validate(sign(selfOp(""), PASSKEY_1)), 0, "old passkeys work during the delay");

        vm.warp(due);
        account.completeRecovery(); // anyone
        assertTrue(account.isPasskey(qx, qy), "new passkey");
        assertEq(account.getSignerCount(), 1, "the only one");
        assertEq(validate(sign(selfOp(""), PASSKEY_1)), 1, "lost passkey 1 revoked");
        assertEq(validate(sign(selfOp(""), PASSKEY_2)), 1, "lost passkey 2 revoked");
        assertEq(validate(sign(selfOp(""), PASSKEY_3)), 0, "recovered");
        vm.expectRevert(IPasskeyAccount.NoPendingRecovery.selector);
        account.completeRecovery();
    }

    function test_recovery_anyPasskeyCancelsDuringTheDelay() public {
        address guardian = guardedAccount();
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_3);
        vm.prank(guardian);
        account.startRecovery(qx, qy);

        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(Account.AccountUnauthorized.selector, stranger));
        account.cancelRecovery();

        // The owner, still holding a passkey, cancels through a sponsored user operation.
        handle(sign(selfOp(abi.encodeCall(account.cancelRecovery, ())), PASSKEY_1));
        assertEq(account.pendingRecovery().executableAt, 0, "cancelled");
        vm.warp(block.timestamp + 4 days);
        vm.expectRevert(IPasskeyAccount.NoPendingRecovery.selector);
        account.completeRecovery();
        assertFalse(account.isPasskey(qx, qy));
    }

    function test_recovery_guardianCanWithdrawItsProposalAndAChangeOfGuardianDropsIt() public {
        address guardian = guardedAccount();
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_3);
        vm.startPrank(guardian);
        account.startRecovery(qx, qy);
        account.cancelRecovery();
        account.startRecovery(qx, qy);
        vm.stopPrank();
        vm.prank(address(account));
        account.setGuardian(address(0), 0);
        assertEq(account.pendingRecovery().executableAt, 0, "dropped with the guardian");
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IPasskeyAccount.NotGuardian.selector, guardian));
        account.startRecovery(qx, qy);
    }

    // ---------------------------------------------------------------- ERC-1271 (handover signatures)

    /// @dev ERC-7739 TypedDataSign digest the passkey signs for `appDigest`'s contents, for account `who`.
    function typedDataSignDigest(address who, bytes32 appSeparator, bytes32 contentsHash, string memory contentsType)
        internal
        view
        returns (bytes32)
    {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract, bytes32 salt,) =
            PasskeyAccount(payable(who)).eip712Domain();
        bytes32 typehash = keccak256(
            abi.encodePacked(
                "TypedDataSign(Handover contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
                contentsType
            )
        );
        bytes32 structHash = keccak256(
            abi.encodePacked(
                typehash,
                contentsHash,
                abi.encode(keccak256(bytes(name)), keccak256(bytes(version)), chainId, verifyingContract, salt)
            )
        );
        return MessageHashUtils.toTypedDataHash(appSeparator, structHash);
    }

    string internal constant HANDOVER_TYPE =
        "Handover(uint256 dealId,address buyer,address leader,uint256 quantity,uint256 deadline)";

    function handoverSignature(HandoverVerifierMock verifier, address who, uint256 privateKey, address buyer)
        internal
        view
        returns (bytes memory)
    {
        bytes32 contentsHash = verifier.structHash(1, buyer, leader1, 2, 1_900_000_000);
        bytes32 appSeparator = verifier.domainSeparator();
        bytes32 digest = typedDataSignDigest(who, appSeparator, contentsHash, HANDOVER_TYPE);
        bytes memory inner = multisig(privateKey, webAuthnSign(privateKey, digest, defaultAssertion()));
        return abi.encodePacked(inner, appSeparator, contentsHash, HANDOVER_TYPE, uint16(bytes(HANDOVER_TYPE).length));
    }

    function test_isValidSignature_acceptsAnErc7739HandoverThroughSignatureChecker() public {
        HandoverVerifierMock verifier = new HandoverVerifierMock();
        bytes memory signature = handoverSignature(verifier, address(account), PASSKEY_1, address(account));
        assertTrue(verifier.isValidHandover(1, address(account), leader1, 2, 1_900_000_000, signature), "valid");
        assertEq(
            account.isValidSignature(verifier.digest(1, address(account), leader1, 2, 1_900_000_000), signature),
            IERC1271.isValidSignature.selector
        );
        assertFalse(verifier.isValidHandover(1, address(account), leader1, 3, 1_900_000_000, signature), "quantity");
    }

    function test_isValidSignature_refusesAPasskeySignatureOverTheBareDigest() public {
        HandoverVerifierMock verifier = new HandoverVerifierMock();
        bytes32 digest = verifier.digest(1, address(account), leader1, 2, 1_900_000_000);
        bytes memory bare = multisig(PASSKEY_1, webAuthnSign(PASSKEY_1, digest, defaultAssertion()));
        assertFalse(verifier.isValidHandover(1, address(account), leader1, 2, 1_900_000_000, bare));
    }

    function test_isValidSignature_aSignatureForOneAccountDoesNotServeAnotherOfTheSamePasskey() public {
        HandoverVerifierMock verifier = new HandoverVerifierMock();
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        address twin = factory.createAccount(qx, qy, bytes32(uint256(1))); // same passkey, second account
        bytes memory forAccount = handoverSignature(verifier, address(account), PASSKEY_1, address(twin));
        assertFalse(verifier.isValidHandover(1, twin, leader1, 2, 1_900_000_000, forAccount), "replayed on twin");
        bytes memory forTwin = handoverSignature(verifier, twin, PASSKEY_1, twin);
        assertTrue(verifier.isValidHandover(1, twin, leader1, 2, 1_900_000_000, forTwin), "twin's own");
    }

    // ---------------------------------------------------------------- the P-256 precompile (osaka)

    function test_p256_verificationGoesThroughThePrecompile() public {
        P256Harness harness = new P256Harness();
        (bytes32 qx, bytes32 qy) = passkey(PASSKEY_1);
        bytes32 h = sha256("tuanchain");
        (bytes32 r, bytes32 s) = vm.signP256(PASSKEY_1, h);
        if (uint256(s) > P256_HALF_N) s = bytes32(P256_N - uint256(s));

        // The precompile answers at 0x100 and costs 6,900 gas (EIP-7951).
        uint256 before = gasleft();
        (bool ok, bytes memory out) = address(0x100).staticcall(abi.encode(h, r, s, qx, qy));
        uint256 precompileGas = before - gasleft();
        assertTrue(ok && out.length == 32 && uint256(bytes32(out)) == 1, "precompile verifies");
        assertGe(precompileGas, 6_900, "precompile gas");
        assertLt(precompileGas, 7_500, "precompile gas");

        assertTrue(harness.verifyNative(h, r, s, qx, qy), "verifyNative does not revert: precompile present");
        before = gasleft();
        assertTrue(harness.verify(h, r, s, qx, qy), "P256.verify");
        uint256 viaLibrary = before - gasleft();
        before = gasleft();
        assertTrue(harness.verifySolidity(h, r, s, qx, qy), "Solidity fallback");
        uint256 viaSolidity = before - gasleft();
        assertLt(viaLibrary, 15_000, "P256.verify took the precompile path");
        assertGt(viaSolidity, 10 * viaLibrary, "the Solidity fallback is far dearer");
    }
}

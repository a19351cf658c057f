// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title A consumer's passkey account (ERC-4337 smart account, EntryPoint v0.8)
/// @notice Owned by one or more WebAuthn passkeys (Face ID, fingerprint, a security key): any one of them signs a
/// user operation (threshold 1). Calls go out as ERC-7821 batches (`execute(mode, executionData)`, single batch mode
/// `0x01000000…`), e.g. approve + join in one operation. ERC-1271 `isValidSignature` follows ERC-7739 (see below).
///
/// Signature formats:
/// - A passkey signer is the ERC-7913 signer `webAuthnVerifier() ‖ qx ‖ qy` (84 bytes), where (qx, qy) is the P-256
///   public key of the credential.
/// - A user operation's `signature` is `abi.encode(bytes[] signers, bytes[] signatures)` (OpenZeppelin
///   MultiSignerERC7913) with one signer and `signatures[0] = abi.encode(WebAuthn.WebAuthnAuth)`: r, s, challengeIndex,
///   typeIndex, authenticatorData, clientDataJSON. The WebAuthn challenge is the 32-byte userOpHash (EntryPoint v0.8's
///   EIP-712 hash), base64url without padding. The authenticator data must have User Present and User Verified set.
/// - P-256 `s` must be in the lower half of the curve order (OpenZeppelin `P256` refuses high-s to prevent
///   malleability). Browsers return random-s DER signatures: clients replace `s` by `n - s` when `s > n/2`.
/// - ERC-1271: `isValidSignature(hash, signature)` accepts only ERC-7739 nested signatures (OpenZeppelin ERC7739):
///   for an application's EIP-712 digest (e.g. the escrow's handover), the passkey signs the `TypedDataSign` hash that
///   wraps the application's struct with this account's domain, and the signature carries
///   `multisig ‖ appSeparator ‖ contentsHash ‖ contentsDescr ‖ uint16(contentsDescr.length)`. A passkey signature over
///   the bare digest is refused on purpose: the same passkey may own several accounts, and the wrapping binds the
///   signature to one account (ERC-7739's defence against cross-account replay). SignatureChecker-based verifiers
///   (the escrow) need no change; only the signer wraps.
///
/// Recovery (when every passkey is lost): a guardian chosen by the account itself (`setGuardian`, signed by a passkey:
/// a friend's passkey account, a hardware wallet, …) can propose a new passkey; it takes effect only after the
/// account's recovery delay (≥ MIN_RECOVERY_DELAY), during which any current passkey (or the guardian) can cancel it.
/// The platform has no role in the account: it cannot add passkeys, set the guardian or upgrade the code.
interface IPasskeyAccount {
    /// @notice A recovery proposed by the guardian: the passkey (qx, qy) replaces every passkey at `executableAt`.
    struct Recovery {
        bytes32 qx;
        bytes32 qy;
        uint48 executableAt;
    }

    /// @notice (qx, qy) is not a point of the P-256 curve.
    error InvalidPasskey(bytes32 qx, bytes32 qy);
    /// @notice (qx, qy) is not one of the account's passkeys.
    error UnknownPasskey(bytes32 qx, bytes32 qy);
    /// @notice Removing the account's last passkey would lock it for good.
    error LastPasskey();
    /// @notice The account already has `max` passkeys.
    error TooManyPasskeys(uint256 max);
    /// @notice The guardian cannot be the account itself.
    error InvalidGuardian(address guardian);
    /// @notice A guardian's recovery delay must lie in [minDelay, maxDelay] seconds.
    error InvalidRecoveryDelay(uint32 delay, uint32 minDelay, uint32 maxDelay);
    /// @notice Only the account's guardian may start a recovery.
    error NotGuardian(address caller);
    /// @notice No recovery is pending.
    error NoPendingRecovery();
    /// @notice The pending recovery cannot be completed before `executableAt`.
    error RecoveryNotDue(uint48 executableAt);

    /// @notice The account set (or, with address zero, removed) its guardian and recovery delay.
    event GuardianSet(address indexed guardian, uint32 recoveryDelay);
    /// @notice The guardian proposed the passkey (qx, qy) to replace every passkey at `executableAt`.
    event RecoveryStarted(address indexed guardian, bytes32 qx, bytes32 qy, uint48 executableAt);
    /// @notice The pending recovery was cancelled by `by` (the account or its guardian), or dropped by a guardian change.
    event RecoveryCancelled(address indexed by);
    /// @notice The recovery took effect: (qx, qy) is now the account's only passkey.
    event RecoveryCompleted(bytes32 qx, bytes32 qy);
    // Passkeys added or removed are reported by OpenZeppelin's ERC7913SignerAdded / ERC7913SignerRemoved
    // (signer = webAuthnVerifier ‖ qx ‖ qy).

    /// @notice Set up a fresh clone with its first passkey (called by the factory in the creating transaction).
    function initialize(bytes32 qx, bytes32 qy) external;

    /// @notice Add a passkey (a second device). Only the account itself (a batch signed by a passkey) or the EntryPoint.
    function addPasskey(bytes32 qx, bytes32 qy) external;

    /// @notice Remove a passkey; the last one cannot be removed (LastPasskey). Only the account itself or the EntryPoint.
    function removePasskey(bytes32 qx, bytes32 qy) external;

    /// @notice Whether (qx, qy) is one of the account's passkeys.
    function isPasskey(bytes32 qx, bytes32 qy) external view returns (bool);

    /// @notice The ERC-7913 WebAuthn verifier every passkey signer of this account names.
    function webAuthnVerifier() external view returns (address);

    /// @notice Choose the guardian that may recover the account and the delay before a recovery takes effect; address
    /// zero removes the guardian. Drops any pending recovery. Only the account itself or the EntryPoint.
    function setGuardian(address newGuardian, uint32 recoveryDelay) external;

    /// @notice The guardian (zero if none) and its recovery delay in seconds.
    function guardian() external view returns (address currentGuardian, uint32 recoveryDelay);

    /// @notice The guardian proposes the passkey (qx, qy) to replace every passkey after the recovery delay; replaces
    /// any pending proposal.
    function startRecovery(bytes32 qx, bytes32 qy) external;

    /// @notice Cancel the pending recovery: the account itself (any passkey), the EntryPoint, or the guardian.
    function cancelRecovery() external;

    /// @notice Anyone completes a recovery whose delay has passed: its passkey becomes the only one.
    function completeRecovery() external;

    /// @notice The pending recovery (executableAt = 0 when none).
    function pendingRecovery() external view returns (Recovery memory);
}

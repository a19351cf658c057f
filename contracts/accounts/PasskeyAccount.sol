// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Account} from "@openzeppelin/contracts/account/Account.sol";
import {ERC7821} from "@openzeppelin/contracts/account/extensions/draft-ERC7821.sol";
import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {IEntryPoint} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {AbstractSigner} from "@openzeppelin/contracts/utils/cryptography/signers/AbstractSigner.sol";
import {MultiSignerERC7913} from "@openzeppelin/contracts/utils/cryptography/signers/MultiSignerERC7913.sol";
import {ERC7739} from "@openzeppelin/contracts/utils/cryptography/signers/draft-ERC7739.sol";

import {IPasskeyAccount} from "../interfaces/IPasskeyAccount.sol";

/// @title PasskeyAccount
/// @notice See {IPasskeyAccount}. OpenZeppelin's audited parts put together: `Account` (ERC-4337 validation against
/// EntryPoint v0.8), `ERC7821` (batch execution), `MultiSignerERC7913` with the `ERC7913WebAuthnVerifier` (passkeys,
/// threshold 1) and `ERC7739` (ERC-1271 with defensive rehashing). Deployed once as the implementation of ERC-1167
/// clones made by {PasskeyAccountFactory}; each clone is initialized in its creating transaction.
/// @dev Validation (ERC-7562) touches only the account's own storage, the stateless WebAuthn verifier and the P-256
/// precompile at 0x100 (EIP-7951 / RIP-7212; OpenZeppelin's `P256` falls back to Solidity where it is missing).
contract PasskeyAccount is IPasskeyAccount, Account, EIP712, ERC7739, ERC7821, MultiSignerERC7913, Initializable {
    /// @notice Most passkeys one account holds (bounds the gas of a recovery, which removes them all).
    uint256 public constant MAX_PASSKEYS = 8;
    /// @notice Shortest recovery delay a guardian may be given: time for the owner to notice and cancel.
    uint32 public constant MIN_RECOVERY_DELAY = 2 days;
    /// @notice Longest recovery delay.
    uint32 public constant MAX_RECOVERY_DELAY = 90 days;

    address private immutable _webAuthnVerifier;

    address private _guardian;
    uint32 private _recoveryDelay;
    Recovery private _recovery;

    /// @param webAuthnVerifier_ the ERC-7913 WebAuthn verifier (OpenZeppelin ERC7913WebAuthnVerifier)
    /// @dev The implementation itself gets one signer that can never sign (P-256 "key" (0, 0) is not on the curve)
    /// because MultiSignerERC7913's constructor requires a reachable threshold; clones start with no signer and get
    /// theirs in {initialize}.
    constructor(address webAuthnVerifier_)
        EIP712("TuanchainPasskeyAccount", "1")
        MultiSignerERC7913(_unusableSigners(webAuthnVerifier_), 1)
    {
        _webAuthnVerifier = webAuthnVerifier_;
        _disableInitializers();
    }

    /// @inheritdoc IPasskeyAccount
    function initialize(bytes32 qx, bytes32 qy) external initializer {
        _addPasskey(qx, qy);
        _setThreshold(1);
    }

    /// @notice EntryPoint v0.8 at its canonical address (OpenZeppelin 5.7 defaults to v0.9).
    function entryPoint() public pure override returns (IEntryPoint) {
        return ERC4337Utils.ENTRYPOINT_V08;
    }

    // ---------------------------------------------------------------- passkeys

    /// @inheritdoc IPasskeyAccount
    function addPasskey(bytes32 qx, bytes32 qy) external onlyEntryPointOrSelf {
        if (getSignerCount() >= MAX_PASSKEYS) revert TooManyPasskeys(MAX_PASSKEYS);
        _addPasskey(qx, qy);
    }

    /// @inheritdoc IPasskeyAccount
    function removePasskey(bytes32 qx, bytes32 qy) external onlyEntryPointOrSelf {
        bytes memory signer = _passkeySigner(qx, qy);
        if (!isSigner(signer)) revert UnknownPasskey(qx, qy);
        if (getSignerCount() == 1) revert LastPasskey();
        _removeSigners(_one(signer));
    }

    /// @inheritdoc IPasskeyAccount
    function isPasskey(bytes32 qx, bytes32 qy) external view returns (bool) {
        return isSigner(_passkeySigner(qx, qy));
    }

    /// @inheritdoc IPasskeyAccount
    function webAuthnVerifier() external view returns (address) {
        return _webAuthnVerifier;
    }

    // ---------------------------------------------------------------- recovery

    /// @inheritdoc IPasskeyAccount
    function setGuardian(address newGuardian, uint32 recoveryDelay) external onlyEntryPointOrSelf {
        if (newGuardian == address(this)) revert InvalidGuardian(newGuardian);
        if (newGuardian == address(0)) {
            recoveryDelay = 0;
        } else if (recoveryDelay < MIN_RECOVERY_DELAY || recoveryDelay > MAX_RECOVERY_DELAY) {
            revert InvalidRecoveryDelay(recoveryDelay, MIN_RECOVERY_DELAY, MAX_RECOVERY_DELAY);
        }
        _guardian = newGuardian;
        _recoveryDelay = recoveryDelay;
        emit GuardianSet(newGuardian, recoveryDelay);
        // A proposal by the previous guardian must not survive the change of guardian.
        if (_recovery.executableAt != 0) {
            delete _recovery;
            emit RecoveryCancelled(address(this));
        }
    }

    /// @inheritdoc IPasskeyAccount
    function guardian() external view returns (address, uint32) {
        return (_guardian, _recoveryDelay);
    }

    /// @inheritdoc IPasskeyAccount
    function startRecovery(bytes32 qx, bytes32 qy) external {
        address guardian_ = _guardian;
        if (guardian_ == address(0) || msg.sender != guardian_) revert NotGuardian(msg.sender);
        if (!P256.isValidPublicKey(qx, qy)) revert InvalidPasskey(qx, qy);
        uint48 executableAt = uint48(block.timestamp) + _recoveryDelay;
        _recovery = Recovery({qx: qx, qy: qy, executableAt: executableAt});
        emit RecoveryStarted(guardian_, qx, qy, executableAt);
    }

    /// @inheritdoc IPasskeyAccount
    function cancelRecovery() external {
        // msg.sender is never address(0), so without a guardian only the account or the EntryPoint passes.
        if (msg.sender != _guardian) _checkEntryPointOrSelf();
        if (_recovery.executableAt == 0) revert NoPendingRecovery();
        delete _recovery;
        emit RecoveryCancelled(msg.sender);
    }

    /// @inheritdoc IPasskeyAccount
    function completeRecovery() external {
        Recovery memory recovery = _recovery;
        if (recovery.executableAt == 0) revert NoPendingRecovery();
        if (block.timestamp < recovery.executableAt) revert RecoveryNotDue(recovery.executableAt);
        delete _recovery;

        bytes memory kept = _passkeySigner(recovery.qx, recovery.qy);
        // Add first: MultiSignerERC7913 refuses any state with fewer signers than the threshold (1).
        if (!isSigner(kept)) _addSigners(_one(kept));
        bytes[] memory signers = getSigners(0, type(uint64).max);
        for (uint256 i = 0; i < signers.length; ++i) {
            if (keccak256(signers[i]) != keccak256(kept)) _removeSigners(_one(signers[i]));
        }
        emit RecoveryCompleted(recovery.qx, recovery.qy);
    }

    /// @inheritdoc IPasskeyAccount
    function pendingRecovery() external view returns (Recovery memory) {
        return _recovery;
    }

    // ---------------------------------------------------------------- OpenZeppelin hooks

    /// @dev The EntryPoint executes validated user operations' batches; the account may call itself.
    function _erc7821AuthorizedExecutor(address caller, bytes32 mode, bytes calldata executionData)
        internal
        view
        override
        returns (bool)
    {
        return caller == address(entryPoint()) || super._erc7821AuthorizedExecutor(caller, mode, executionData);
    }

    function _rawSignatureValidation(bytes32 hash, bytes calldata signature)
        internal
        view
        override(AbstractSigner, MultiSignerERC7913)
        returns (bool)
    {
        return super._rawSignatureValidation(hash, signature);
    }

    // ---------------------------------------------------------------- internals

    function _addPasskey(bytes32 qx, bytes32 qy) private {
        if (!P256.isValidPublicKey(qx, qy)) revert InvalidPasskey(qx, qy);
        _addSigners(_one(_passkeySigner(qx, qy)));
    }

    function _passkeySigner(bytes32 qx, bytes32 qy) private view returns (bytes memory) {
        return abi.encodePacked(_webAuthnVerifier, qx, qy);
    }

    function _one(bytes memory signer) private pure returns (bytes[] memory signers) {
        signers = new bytes[](1);
        signers[0] = signer;
    }

    function _unusableSigners(address verifier) private pure returns (bytes[] memory) {
        return _one(abi.encodePacked(verifier, bytes32(0), bytes32(0)));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {ERC7913WebAuthnVerifier} from "@openzeppelin/contracts/utils/cryptography/verifiers/ERC7913WebAuthnVerifier.sol";

import {IPasskeyAccountFactory} from "../interfaces/IPasskeyAccountFactory.sol";
import {PasskeyAccount} from "./PasskeyAccount.sol";

/// @title PasskeyAccountFactory
/// @notice See {IPasskeyAccountFactory}. Deploys, in its constructor, the stateless WebAuthn verifier and the account
/// implementation, so one transaction sets up the whole passkey-account stack and the factory's runtime code stays
/// small (a clone costs about 45,000 gas plus the initialisation, against ~2 M for a full account).
contract PasskeyAccountFactory is IPasskeyAccountFactory {
    address private immutable _verifier;
    address private immutable _implementation;

    constructor() {
        _verifier = address(new ERC7913WebAuthnVerifier());
        _implementation = address(new PasskeyAccount(_verifier));
    }

    /// @inheritdoc IPasskeyAccountFactory
    function accountImplementation() external view returns (address) {
        return _implementation;
    }

    /// @inheritdoc IPasskeyAccountFactory
    function webAuthnVerifier() external view returns (address) {
        return _verifier;
    }

    /// @inheritdoc IPasskeyAccountFactory
    function createAccount(bytes32 qx, bytes32 qy, bytes32 salt) external returns (address account) {
        bytes32 cloneSalt = _cloneSalt(qx, qy, salt);
        address existing = Clones.predictDeterministicAddress(_implementation, cloneSalt);
        if (existing.code.length != 0) return existing;
        account = Clones.cloneDeterministic(_implementation, cloneSalt);
        PasskeyAccount(payable(account)).initialize(qx, qy);
        emit AccountCreated(account, qx, qy, salt);
    }

    /// @inheritdoc IPasskeyAccountFactory
    function getAddress(bytes32 qx, bytes32 qy, bytes32 salt) external view returns (address) {
        return Clones.predictDeterministicAddress(_implementation, _cloneSalt(qx, qy, salt));
    }

    function _cloneSalt(bytes32 qx, bytes32 qy, bytes32 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(qx, qy, salt));
    }
}

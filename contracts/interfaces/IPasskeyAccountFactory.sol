// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Factory of passkey accounts at counterfactual addresses
/// @notice Creates ERC-1167 clones of one {IPasskeyAccount} implementation with CREATE2. An account's address depends
/// only on this factory, its first passkey (qx, qy) and a salt, so a consumer's address is known (and can receive
/// tokens) before the account exists; its first user operation deploys it (`initCode` = this factory ‖
/// `createAccount(qx, qy, salt)` calldata). Binding the first passkey into the CREATE2 salt means nobody can deploy
/// a different owner at that address, and the clone is initialized in the creating transaction.
interface IPasskeyAccountFactory {
    /// @notice The account for passkey (qx, qy) and `salt` was deployed at `account`.
    event AccountCreated(address indexed account, bytes32 qx, bytes32 qy, bytes32 salt);

    /// @notice The account implementation every clone delegates to.
    function accountImplementation() external view returns (address);

    /// @notice The ERC-7913 WebAuthn verifier the accounts' passkey signers name.
    function webAuthnVerifier() external view returns (address);

    /// @notice Deploy (or return, if it already exists) the account of passkey (qx, qy) with `salt`. Anyone may call
    /// it (the EntryPoint's SenderCreator does, for an `initCode`); the result is the same account whoever pays.
    /// @dev Reverts with IPasskeyAccount.InvalidPasskey when (qx, qy) is not a P-256 point.
    function createAccount(bytes32 qx, bytes32 qy, bytes32 salt) external returns (address account);

    /// @notice The address {createAccount} deploys to (whether or not it is deployed yet).
    function getAddress(bytes32 qx, bytes32 qy, bytes32 salt) external view returns (address);
}

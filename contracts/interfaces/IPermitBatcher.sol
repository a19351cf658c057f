// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IPermitBatcher
/// @notice Submits many EIP-2612 permits in one transaction: the relayer's batch of gasless joins
/// carries one permit per join, and one transaction for all of them (instead of one each) is what
/// lets a batch cost less than the joins sent directly.
/// @dev Permissionless on purpose: anyone may submit a signed permit to its token (EIP-2612), so
/// this contract grants nothing a caller could not do alone. A permit that fails (already used,
/// front-run, expired, bad signature) is skipped, not fatal: the join it was for then decides.
interface IPermitBatcher {
    /// @notice One signed permit: `owner` lets `spender` spend `value` of `token` until `deadline`.
    struct Permit {
        address token;
        address owner;
        address spender;
        uint256 value;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    /// @notice A permit of the batch failed and was skipped.
    /// @param token The permit's token.
    /// @param owner The permit's owner.
    /// @param index Its position in the batch.
    event PermitSkipped(address indexed token, address indexed owner, uint256 index);

    /// @notice Apply every permit that can be applied, in order.
    /// @param permits The signed permits.
    /// @return applied How many were applied (the others emitted `PermitSkipped`).
    function permitAll(Permit[] calldata permits) external returns (uint256 applied);
}

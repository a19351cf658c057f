// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title What the provenance registry calls on each registered escrow when a batch is recalled or marked
/// non-compliant
/// @notice Kept apart from IGroupBuyEscrow so the registry depends on this one function only.
interface IBatchBlockedListener {
    /// @notice Stops every unsettled deal selling `batchId` at once (the caller must be the registry).
    /// @return frozen how many deals were frozen by this call
    function onBatchBlocked(bytes32 batchId) external returns (uint256 frozen);
}

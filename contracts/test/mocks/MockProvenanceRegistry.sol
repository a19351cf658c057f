// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBatchBlockedListener} from "../../interfaces/IBatchBlockedListener.sol";
import {IProvenanceRegistry} from "../../interfaces/IProvenanceRegistry.sol";

/// @notice Test double of the provenance registry exposing only what the escrow consumes, with setters.
/// @dev Used so escrow tests control approvals and batch status directly; the real registry is exercised in
/// GroupBuyEscrowRegistry.t.sol once it exists.
contract MockProvenanceRegistry {
    mapping(address => bool) public isApprovedSupplier;
    mapping(address => bool) public isApprovedLeader;
    mapping(bytes32 => IProvenanceRegistry.BatchStatus) public batchStatus;
    mapping(bytes32 => address) public batchSupplier;

    struct Receipt {
        bytes32 batchId;
        bytes32 eventHash;
        bytes32 documentDigest;
        address leader;
        address recorder;
    }

    Receipt[] public receipts;

    function setSupplier(address account, bool approved) external {
        isApprovedSupplier[account] = approved;
    }

    function setLeader(address account, bool approved) external {
        isApprovedLeader[account] = approved;
    }

    function setBatch(bytes32 batchId, address supplier, IProvenanceRegistry.BatchStatus status) external {
        batchSupplier[batchId] = supplier;
        batchStatus[batchId] = status;
    }

    /// @dev What the real registry's recall does for one registered escrow (gas cap and failure event aside).
    function recall(bytes32 batchId, IBatchBlockedListener escrow) external returns (uint256 frozen) {
        batchStatus[batchId] = IProvenanceRegistry.BatchStatus.Recalled;
        return escrow.onBatchBlocked(batchId);
    }

    function anchorReceipt(bytes32 batchId, bytes32 eventHash, bytes32 documentDigest, address leader) external {
        receipts.push(Receipt(batchId, eventHash, documentDigest, leader, msg.sender));
    }

    function receiptCount() external view returns (uint256) {
        return receipts.length;
    }
}

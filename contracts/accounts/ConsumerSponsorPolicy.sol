// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IPasskeyAccount} from "../interfaces/IPasskeyAccount.sol";

/// @title ConsumerSponsorPolicy
/// @notice The one list of calls the platform's paymaster pays for: what a consumer does with the service. When the
/// escrow's consumer interface changes, this file is the place to follow it. Selectors come from the interfaces, so a
/// changed signature changes the selector here at compile time and a removed function fails the build.
library ConsumerSponsorPolicy {
    /// @notice Escrow functions a consumer calls for themself: join a deal, cancel before the join deadline, file a
    /// quality claim, withdraw a refund. (Handovers need no call from the consumer: the leader submits the buyer's
    /// signature.)
    function isConsumerEscrowCall(bytes4 selector) internal pure returns (bool) {
        return selector == IGroupBuyEscrow.join.selector || selector == IGroupBuyEscrow.cancel.selector
            || selector == IGroupBuyEscrow.fileClaim.selector || selector == IGroupBuyEscrow.withdraw.selector;
    }

    /// @notice The account managing itself: a second passkey, removing one, choosing a guardian, cancelling a
    /// recovery. (Recovery itself is started by the guardian, who pays its own gas.)
    function isAccountSelfCall(bytes4 selector) internal pure returns (bool) {
        return selector == IPasskeyAccount.addPasskey.selector || selector == IPasskeyAccount.removePasskey.selector
            || selector == IPasskeyAccount.setGuardian.selector || selector == IPasskeyAccount.cancelRecovery.selector;
    }

    /// @notice Whether `account` calling `target` with `value` and `data` is a sponsored consumer action.
    function isSponsoredCall(
        address account,
        address escrow,
        address paymentToken,
        address target,
        uint256 value,
        bytes calldata data
    ) internal pure returns (bool) {
        if (value != 0 || data.length < 4) return false;
        bytes4 selector = bytes4(data[:4]);
        if (target == escrow) return isConsumerEscrowCall(selector);
        if (target == paymentToken) {
            // approve(address spender, uint256 amount): exactly its ABI encoding, spender = the escrow.
            return selector == IERC20.approve.selector && data.length == 68
                && bytes32(data[4:36]) == bytes32(uint256(uint160(escrow)));
        }
        if (target == account) return isAccountSelfCall(selector);
        return false;
    }

    /// @notice The first four bytes of `data` (zero when shorter), for error reports.
    function selectorOf(bytes calldata data) internal pure returns (bytes4) {
        return data.length < 4 ? bytes4(0) : bytes4(data[:4]);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IPermitBatcher} from "./interfaces/IPermitBatcher.sol";

/// @title PermitBatcher
/// @notice Many EIP-2612 permits in one transaction (see IPermitBatcher).
contract PermitBatcher is IPermitBatcher {
    /// @inheritdoc IPermitBatcher
    function permitAll(Permit[] calldata permits) external returns (uint256 applied) {
        for (uint256 i; i < permits.length; ++i) {
            Permit calldata p = permits[i];
            try IERC20Permit(p.token).permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s) {
                ++applied;
            } catch {
                emit PermitSkipped(p.token, p.owner, i);
            }
        }
    }
}

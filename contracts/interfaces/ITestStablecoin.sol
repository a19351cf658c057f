// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title ITestStablecoin
/// @notice "Tuan USD" (tUSD): a 6-decimal ERC-20 with EIP-2612 permit and a minter faucet, for the local testnet
/// only. Production points the escrow at a real stablecoin.
interface ITestStablecoin is IERC20, IERC20Permit {
    /// @notice Role allowed to mint (the faucet).
    function MINTER_ROLE() external view returns (bytes32);

    /// @notice Mints `amount` (6 decimals) to `to`. Only `MINTER_ROLE`.
    function mint(address to, uint256 amount) external;
}

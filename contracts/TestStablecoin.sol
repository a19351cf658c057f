// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

import {ITestStablecoin} from "./interfaces/ITestStablecoin.sol";

/// @title TestStablecoin
/// @notice "Tuan USD" (tUSD), 6 decimals like USDC/USDT, with EIP-2612 permit so consumers pay without gas.
/// LOCAL TESTNET ONLY: the minter can print money.
contract TestStablecoin is ITestStablecoin, ERC20Permit, AccessControl {
    /// @inheritdoc ITestStablecoin
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin granted `DEFAULT_ADMIN_ROLE` and `MINTER_ROLE`
    constructor(address admin) ERC20("Tuan USD", "tUSD") ERC20Permit("Tuan USD") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
    }

    /// @inheritdoc ITestStablecoin
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice 6 decimals, like the stablecoins it stands in for.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }
}

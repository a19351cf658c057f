// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title TuanchainForwarder
/// @notice The one ERC-2771 forwarder every tuanchain contract trusts: the relayer submits EIP-712
/// `ForwardRequest`s signed by consumers, suppliers, leaders and carriers, who need no gas.
/// @dev OpenZeppelin 5.7's forwarder unchanged; its EIP-712 domain is ("TuanchainForwarder", "1", chainId,
/// address(this)). Per-signer nonces refuse replays; `deadline` refuses stale requests; targets must trust it.
contract TuanchainForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("TuanchainForwarder") {}
}

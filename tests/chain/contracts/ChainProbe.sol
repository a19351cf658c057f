// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";

/// @notice Test-only contract for the chain layer's generic machinery: custom errors with arguments
/// (scalars, strings, a struct and an array), Error(string), Panic, empty reverts, events and ERC-2771.
contract ChainProbe is ERC2771Context {
    struct Tier {
        uint32 minQuantity;
        uint96 unitPrice;
    }

    error Closed(uint256 id, uint256 deadline);
    error Mismatch(address who, bytes32 tag, string note);
    error TierRefused(Tier tier, uint256[] values);
    error Bare();

    event Bumped(address indexed by, uint256 value, uint256 total);

    uint256 public total;
    mapping(address account => uint256) public bumpsBy;

    constructor(address trustedForwarder) ERC2771Context(trustedForwarder) {}

    function bump(uint256 value) external {
        total += value;
        bumpsBy[_msgSender()] += 1;
        emit Bumped(_msgSender(), value, total);
    }

    function failClosed(uint256 id) external view {
        revert Closed(id, block.timestamp);
    }

    function failMismatch(bytes32 tag, string calldata note) external view {
        revert Mismatch(_msgSender(), tag, note);
    }

    function failTier(uint32 q, uint96 p) external pure {
        uint256[] memory values = new uint256[](2);
        values[0] = q;
        values[1] = p;
        revert TierRefused(Tier(q, p), values);
    }

    function failBare() external pure {
        revert Bare();
    }

    function failReason() external pure {
        revert("plain reason");
    }

    function failPanic(uint256 d) external pure returns (uint256) {
        return 1 / d;
    }

    function failEmpty() external pure {
        revert();
    }

    function whoami() external view returns (address) {
        return _msgSender();
    }
}

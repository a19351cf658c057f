// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice Checks a buyer's handover signature the way the escrow does (issue 11): an EIP-712 digest under the
/// escrow's domain, verified with OpenZeppelin's SignatureChecker (ECDSA for EOAs, ERC-1271 for contract accounts).
/// A stand-in until the escrow's handover lands on this branch; it holds no other logic.
contract HandoverVerifierMock is EIP712 {
    bytes32 public constant HANDOVER_TYPEHASH =
        keccak256("Handover(uint256 dealId,address buyer,address leader,uint256 quantity,uint256 deadline)");

    constructor() EIP712("GroupBuyEscrow", "1") {}

    function structHash(uint256 dealId, address buyer, address leader, uint256 quantity, uint256 deadline)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(HANDOVER_TYPEHASH, dealId, buyer, leader, quantity, deadline));
    }

    function digest(uint256 dealId, address buyer, address leader, uint256 quantity, uint256 deadline)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(structHash(dealId, buyer, leader, quantity, deadline));
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function isValidHandover(
        uint256 dealId,
        address buyer,
        address leader,
        uint256 quantity,
        uint256 deadline,
        bytes calldata signature
    ) external view returns (bool) {
        return SignatureChecker.isValidSignatureNow(buyer, digest(dealId, buyer, leader, quantity, deadline), signature);
    }
}

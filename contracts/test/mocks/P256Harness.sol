// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

/// @notice Exposes OpenZeppelin's P256 paths so a test can measure which one runs.
contract P256Harness {
    function verify(bytes32 h, bytes32 r, bytes32 s, bytes32 qx, bytes32 qy) external view returns (bool) {
        return P256.verify(h, r, s, qx, qy);
    }

    function verifyNative(bytes32 h, bytes32 r, bytes32 s, bytes32 qx, bytes32 qy) external view returns (bool) {
        return P256.verifyNative(h, r, s, qx, qy);
    }

    function verifySolidity(bytes32 h, bytes32 r, bytes32 s, bytes32 qx, bytes32 qy) external view returns (bool) {
        return P256.verifySolidity(h, r, s, qx, qy);
    }
}

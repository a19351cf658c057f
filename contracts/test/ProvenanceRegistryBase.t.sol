// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {ProvenanceRegistry} from "../ProvenanceRegistry.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {TuanchainForwarder} from "../TuanchainForwarder.sol";

/// @notice Shared fixture: the real forwarder and registry, an approved supplier with one Active batch, and CID
/// builders producing the exact byte layouts kubo emits (CIDv0 = sha2-256 multihash; CIDv1 = 0x01, codec varint,
/// multihash).
abstract contract ProvenanceRegistryBase is Test {
    TuanchainForwarder internal forwarder;
    ProvenanceRegistry internal registry;

    address internal platform = makeAddr("platform");
    address internal supplier = makeAddr("supplier");
    address internal otherSupplier = makeAddr("otherSupplier");
    address internal carrier = makeAddr("carrier");
    address internal leader = makeAddr("leader");
    address internal escrow = makeAddr("escrow");
    address internal stranger = makeAddr("stranger");

    /// @dev GS1's own example GTIN (check digit 2) and a lot using several set-82 symbols.
    string internal constant GTIN = "09506000134352";
    /// @dev GS1 Company Prefixes of `supplier` (GTIN's) and `otherSupplier`, and a GTIN of the latter's.
    string internal constant PREFIX = "9506000";
    string internal constant OTHER_PREFIX = "9506001";
    string internal constant OTHER_GTIN = "09506001000014";
    string internal constant LOT = "ABC-123/x";
    bytes32 internal batchId;

    bytes32 internal constant EVENT_HASH = keccak256("event-1");
    bytes32 internal constant DOC_DIGEST = keccak256("document-1");
    /// @dev Stands for the SHA-256 of an applicant's private credentials (never on chain themselves); keccak256
    /// because a `sha256` constant is a precompile call at each use, which would consume a `vm.prank`.
    bytes32 internal constant CREDENTIALS = keccak256("licence and permits");

    uint64 internal constant CODEC_RAW = 0x55;
    uint64 internal constant CODEC_DAG_PB = 0x70;
    uint64 internal constant CODEC_DAG_JSON = 0x0129;

    function setUp() public virtual {
        forwarder = new TuanchainForwarder();
        registry = new ProvenanceRegistry(address(forwarder), platform);
        bytes32 recorderRole = registry.RECEIPT_RECORDER_ROLE();
        vm.prank(platform);
        registry.grantRole(recorderRole, escrow);

        _onboardSupplier(supplier);
        _onboardSupplier(otherSupplier);
        vm.startPrank(platform);
        registry.assignCompanyPrefix(PREFIX, supplier);
        registry.assignCompanyPrefix(OTHER_PREFIX, otherSupplier);
        vm.stopPrank();
        vm.prank(supplier);
        batchId = registry.registerBatch(GTIN, LOT, cidV1(CODEC_RAW, keccak256("metadata")));
    }

    function _onboardSupplier(address account) internal {
        vm.prank(account);
        registry.applyAsSupplier(cidV0(keccak256(abi.encode("profile", account))), CREDENTIALS);
        vm.prank(platform);
        registry.approveSupplier(account);
    }

    /// @dev CIDv0: the bare sha2-256 multihash.
    function cidV0(bytes32 digest) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"1220", digest);
    }

    /// @dev CIDv1 binary form: version 1, the codec as an unsigned LEB128 varint, the sha2-256 multihash.
    function cidV1(uint64 codec, bytes32 digest) internal pure returns (bytes memory) {
        return abi.encodePacked(hex"01", varint(codec), hex"1220", digest);
    }

    function varint(uint64 value) internal pure returns (bytes memory out) {
        do {
            uint8 b = uint8(value & 0x7f);
            value >>= 7;
            if (value != 0) b |= 0x80;
            out = bytes.concat(out, bytes1(b));
        } while (value != 0);
    }
}

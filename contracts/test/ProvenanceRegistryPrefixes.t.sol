// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {ProvenanceRegistryBase} from "./ProvenanceRegistryBase.t.sol";

/// @notice GS1 Company Prefix ownership: the platform assigns prefixes, and only a prefix's owner registers
/// batches of GTINs under it (the base assigns PREFIX to `supplier`, OTHER_PREFIX to `otherSupplier`).
contract ProvenanceRegistryPrefixesTest is ProvenanceRegistryBase {
    bytes internal docCid = cidV0(DOC_DIGEST);

    event log_named_uint(string key, uint256 val);

    // ------------------------------------------------------------------------------------------------
    // Assignment
    // ------------------------------------------------------------------------------------------------

    function test_assignCompanyPrefix_recordsOwnerAndEmits() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.CompanyPrefixAssigned("0614141", supplier, platform);
        vm.prank(platform);
        registry.assignCompanyPrefix("0614141", supplier);
        assertEq(registry.companyPrefixOwner("0614141"), supplier);
        // The length is part of the prefix: "614141" is another GS1 prefix.
        assertEq(registry.companyPrefixOwner("614141"), address(0));
        (address owner, uint256 length) = registry.gtinOwner("00614141000012");
        assertEq(owner, supplier);
        assertEq(length, 7);
    }

    function test_assignCompanyPrefix_onlyPlatform() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, otherSupplier, registry.PLATFORM_ROLE()
            )
        );
        vm.prank(otherSupplier);
        registry.assignCompanyPrefix("0614141", otherSupplier);
    }

    function test_assignCompanyPrefix_revertsForAnAccountThatNeverApplied() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IProvenanceRegistry.UnexpectedPartyStatus.selector,
                IProvenanceRegistry.PartyKind.Supplier,
                stranger,
                IProvenanceRegistry.PartyStatus.None
            )
        );
        vm.prank(platform);
        registry.assignCompanyPrefix("0614141", stranger);
    }

    function test_assignCompanyPrefix_acceptsAPendingSupplier() public {
        vm.prank(stranger);
        registry.applyAsSupplier(docCid, CREDENTIALS);
        vm.prank(platform);
        registry.assignCompanyPrefix("0614141", stranger);
        assertEq(registry.companyPrefixOwner("0614141"), stranger);
    }

    function test_assignCompanyPrefix_boundsOfSixToTwelveDigits() public {
        vm.startPrank(platform);
        registry.assignCompanyPrefix("123456", supplier);
        registry.assignCompanyPrefix("987654321098", supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCompanyPrefix.selector, "12345"));
        registry.assignCompanyPrefix("12345", supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCompanyPrefix.selector, "1234567890123"));
        registry.assignCompanyPrefix("1234567890123", supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCompanyPrefix.selector, "12345A7"));
        registry.assignCompanyPrefix("12345A7", supplier);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCompanyPrefix.selector, ""));
        registry.assignCompanyPrefix("", supplier);
        vm.stopPrank();
        assertEq(registry.companyPrefixOwner("123456"), supplier);
        assertEq(registry.companyPrefixOwner("987654321098"), supplier);
        // A 12-digit prefix is a single GTIN.
        (address owner, uint256 length) = registry.gtinOwner("09876543210982");
        assertEq(owner, supplier);
        assertEq(length, 12);
    }

    function test_assignCompanyPrefix_refusesRestrictedCirculationRanges() public {
        string[5] memory restricted = ["0200000", "0299999", "0400001", "2000000", "2999999999"];
        vm.startPrank(platform);
        for (uint256 i; i < restricted.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IProvenanceRegistry.RestrictedCirculationPrefix.selector, restricted[i])
            );
            registry.assignCompanyPrefix(restricted[i], supplier);
        }
        // Neighbours of the restricted ranges are ordinary prefixes.
        registry.assignCompanyPrefix("0300000", supplier);
        registry.assignCompanyPrefix("0100000", supplier);
        vm.stopPrank();
    }

    function test_assignCompanyPrefix_refusesTheSamePrefixTwice() public {
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.CompanyPrefixTaken.selector, PREFIX, PREFIX, supplier)
        );
        vm.prank(platform);
        registry.assignCompanyPrefix(PREFIX, otherSupplier);
    }

    /// @dev GS1 prefixes are prefix-free: an assigned prefix's extension, or a head of it, is an error.
    function test_assignCompanyPrefix_keepsTheSetPrefixFree() public {
        vm.startPrank(platform);
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.CompanyPrefixTaken.selector, "95060001", PREFIX, supplier)
        );
        registry.assignCompanyPrefix("95060001", otherSupplier);
        // "950600" is a head of both PREFIX and OTHER_PREFIX.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.CompanyPrefixCoversAssigned.selector, "950600", 2));
        registry.assignCompanyPrefix("950600", otherSupplier);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------------
    // Registration under a prefix
    // ------------------------------------------------------------------------------------------------

    /// @dev The forgery: an approved supplier registers a batch of a brand owner's product.
    function test_registerBatch_revertsForAGtinOfAnotherSuppliersPrefix() public {
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, GTIN, otherSupplier, supplier)
        );
        vm.prank(otherSupplier);
        registry.registerBatch(GTIN, "FORGED", docCid);
    }

    /// @dev The front-run: another supplier copies the owner's pending registerBatch from the mempool and lands
    /// it first. The copy reverts, and the owner's own registration then succeeds.
    function test_registerBatch_frontRunByAnotherSupplierRevertsAndTheOwnerRegisters() public {
        bytes memory metadata = cidV0(keccak256("owner's metadata"));
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, GTIN, otherSupplier, supplier)
        );
        vm.prank(otherSupplier);
        registry.registerBatch(GTIN, "LOT-NEXT", metadata);

        vm.prank(supplier);
        bytes32 id = registry.registerBatch(GTIN, "LOT-NEXT", metadata);
        assertEq(registry.batchSupplier(id), supplier);
    }

    function test_registerBatch_revertsForAGtinNobodyHolds() public {
        string memory gtin = "00614141000012";
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, gtin, supplier, address(0)));
        vm.prank(supplier);
        registry.registerBatch(gtin, "L1", docCid);
    }

    /// @dev The indicator digit (packaging level) is not part of the company prefix.
    function test_registerBatch_acceptsAnyIndicatorDigit() public {
        vm.prank(supplier);
        bytes32 id = registry.registerBatch("19506000134359", "CASE-1", docCid);
        assertEq(registry.batchSupplier(id), supplier);
    }

    /// @dev A GTIN-12 (UPC) padded to 14 reads "0" + its UPC prefix: UPC prefix "614141" is GS1 prefix "0614141".
    function test_registerBatch_gtin12UnderItsZeroLedPrefix() public {
        vm.prank(platform);
        registry.assignCompanyPrefix("0614141", otherSupplier);
        vm.prank(otherSupplier);
        bytes32 id = registry.registerBatch("00614141000012", "UPC-1", docCid);
        assertEq(registry.batchSupplier(id), otherSupplier);
    }

    function test_registerBatch_refusesRestrictedCirculationGtins() public {
        string[3] memory restricted = ["00200000000011", "00400000000015", "02000000000008"];
        for (uint256 i; i < restricted.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IProvenanceRegistry.RestrictedCirculationGtin.selector, restricted[i])
            );
            vm.prank(supplier);
            registry.registerBatch(restricted[i], "L1", docCid);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Revocation
    // ------------------------------------------------------------------------------------------------

    /// @dev Revoked: no new batch under the prefix; the batches registered before stay the supplier's trail.
    function test_revokeCompanyPrefix_stopsNewBatchesAndKeepsExistingOnes() public {
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.CompanyPrefixRevoked(PREFIX, supplier, platform);
        vm.prank(platform);
        registry.revokeCompanyPrefix(PREFIX);
        assertEq(registry.companyPrefixOwner(PREFIX), address(0));

        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, GTIN, supplier, address(0)));
        vm.prank(supplier);
        registry.registerBatch(GTIN, "AFTER", docCid);

        assertEq(registry.batchSupplier(batchId), supplier);
        assertTrue(registry.canAnchor(batchId, supplier));
        vm.prank(supplier);
        registry.anchorEvent(batchId, EVENT_HASH, docCid);
    }

    /// @dev After a revoke the prefix (and its heads) can go to its new holder, who then registers under it.
    function test_revokeCompanyPrefix_freesThePrefixAndItsHeads() public {
        vm.startPrank(platform);
        registry.revokeCompanyPrefix(PREFIX);
        registry.revokeCompanyPrefix(OTHER_PREFIX);
        registry.assignCompanyPrefix("950600", otherSupplier);
        vm.stopPrank();
        vm.prank(otherSupplier);
        registry.registerBatch(GTIN, "NEW-OWNER", docCid);
        // The old batch stays with its supplier.
        assertEq(registry.batchSupplier(batchId), supplier);
    }

    function test_revokeCompanyPrefix_revertsWhenNotAssigned() public {
        vm.startPrank(platform);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.CompanyPrefixNotAssigned.selector, "950600"));
        registry.revokeCompanyPrefix("950600");
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCompanyPrefix.selector, "95"));
        registry.revokeCompanyPrefix("95");
        vm.stopPrank();
    }

    function test_revokeCompanyPrefix_onlyPlatform() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, supplier, registry.PLATFORM_ROLE()
            )
        );
        vm.prank(supplier);
        registry.revokeCompanyPrefix(PREFIX);
    }

    // ------------------------------------------------------------------------------------------------
    // Properties
    // ------------------------------------------------------------------------------------------------

    /// @dev gtinOwner agrees with a reference that tries every length 6..12 against the assigned set.
    function testFuzz_gtinOwner_matchesTheAssignedPrefix(uint64 seed, uint8 rawLength) public {
        uint256 length = 6 + uint256(rawLength) % 7;
        bytes memory digits = new bytes(13);
        digits[0] = "0";
        uint256 x = seed;
        for (uint256 i = 1; i < 13; ++i) {
            digits[i] = bytes1(uint8(0x30 + (x % 10)));
            x = x / 10 + 7919 * i;
        }
        digits[1] = "1"; // clear of restricted (0 2/0 4/2) and of the base's 9506 prefixes
        string memory prefix = string(_slice(digits, 1, 1 + length));
        vm.prank(platform);
        registry.assignCompanyPrefix(prefix, otherSupplier);
        string memory gtin = string(bytes.concat(digits, bytes1(uint8(0x30 + _checkDigit(digits)))));
        (address owner, uint256 matched) = registry.gtinOwner(gtin);
        assertEq(owner, otherSupplier);
        assertEq(matched, length);
        vm.prank(otherSupplier);
        registry.registerBatch(gtin, "FUZZ", docCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.GtinNotOwned.selector, gtin, supplier, otherSupplier));
        vm.prank(supplier);
        registry.registerBatch(gtin, "FUZZ-2", docCid);
    }

    /// @dev Registering under a 12-digit prefix (the longest walk: 7 cold slot reads) stays bounded. The figure
    /// includes the call's cold account access and calldata copy (~160k under --gas-report).
    function test_registerBatch_gasUnderATwelveDigitPrefix() public {
        vm.prank(platform);
        registry.assignCompanyPrefix("987654321098", supplier);
        vm.prank(supplier);
        uint256 before = gasleft();
        registry.registerBatch("09876543210982", "GAS-12", docCid);
        uint256 used = before - gasleft();
        emit log_named_uint("registerBatch gas, 12-digit prefix", used);
        assertLt(used, 170_000, "registerBatch gas under a 12-digit prefix");
    }

    function _slice(bytes memory b, uint256 from, uint256 to) private pure returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; ++i) out[i - from] = b[i];
    }

    function _checkDigit(bytes memory body) private pure returns (uint256) {
        uint256 sum;
        for (uint256 i; i < 13; ++i) {
            uint256 d = uint8(body[i]) - 0x30;
            sum += i % 2 == 0 ? d * 3 : d;
        }
        return (10 - sum % 10) % 10;
    }
}

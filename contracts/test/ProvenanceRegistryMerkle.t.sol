// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ProvenanceRegistryBase} from "./ProvenanceRegistryBase.t.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";

/// @notice Merkle-root anchors: who may anchor, what is stored, gas per event, and on-chain inclusion proofs
/// against trees built with a Solidity port of OpenZeppelin StandardMerkleTree's layout (npm openzeppelin
/// merkle-tree, core.ts: leaves hashed as keccak256(bytes.concat(keccak256(abi.encode(value)))), sorted ascending, stored
/// at the end of a 2n-1 array in reverse order, inner node i = sortedPairHash(tree[2i+1], tree[2i+2])).
/// @dev The JS library is not installed here, so this port is the reference; off-chain Merkle code must build
/// the same layout for its proofs to verify here.
contract ProvenanceRegistryMerkleTest is ProvenanceRegistryBase {
    bytes internal manifestCid;

    /// @dev DSTest-style log that forge prints with -vv (the measured figure for reports).
    event log_named_uint(string key, uint256 val);

    function setUp() public override {
        super.setUp();
        manifestCid = cidV1(CODEC_DAG_JSON, keccak256("manifest"));
    }

    // ------------------------------------------------------------------------------------------------
    // anchorRoot rules
    // ------------------------------------------------------------------------------------------------

    function test_anchorRoot_storesOneSlotAndEmitsManifest() public {
        bytes32 root = keccak256("root");
        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.RootAnchored(root, 7, supplier, manifestCid);
        vm.prank(supplier);
        registry.anchorRoot(root, 7, manifestCid);

        IProvenanceRegistry.RootInfo memory info = registry.rootInfo(supplier, root);
        assertEq(info.anchorer, supplier);
        assertEq(uint256(info.anchoredAtBlock), block.number);
        assertEq(uint256(info.leafCount), 7);
    }

    function test_anchorRoot_revertsForNonSupplier() public {
        vm.prank(supplier);
        registry.setBatchWriter(batchId, carrier, true);
        // Batch writers anchor event by event: a root spans batches, so only approved suppliers anchor roots.
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, carrier));
        vm.prank(carrier);
        registry.anchorRoot(keccak256("root"), 1, manifestCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, platform));
        vm.prank(platform);
        registry.anchorRoot(keccak256("root"), 1, manifestCid);
    }

    function test_anchorRoot_revertsForRevokedSupplier() public {
        vm.prank(platform);
        registry.revokeSupplier(supplier, cidV0(keccak256("reason")));
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, supplier));
        vm.prank(supplier);
        registry.anchorRoot(keccak256("root"), 1, manifestCid);
    }

    function test_anchorRoot_revertsOnDuplicateRootOfTheSameAnchorer() public {
        bytes32 root = keccak256("root");
        vm.prank(supplier);
        registry.anchorRoot(root, 3, manifestCid);
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.RootAlreadyAnchored.selector, supplier, root));
        vm.prank(supplier);
        registry.anchorRoot(root, 3, manifestCid);
    }

    /// @dev The front-run: another approved supplier copies a pending anchorRoot from the mempool and anchors
    /// the same root first. The victim's anchor still goes through, and each record is its own anchorer's.
    function test_anchorRoot_frontRunByAnotherSupplierDoesNotBlockTheVictim() public {
        bytes32[] memory events = _eventHashes(8, "front-run");
        bytes32[] memory tree = _buildTree(events);
        bytes32 root = tree[0];
        vm.prank(otherSupplier);
        registry.anchorRoot(root, 8, manifestCid);
        vm.roll(block.number + 1);

        vm.expectEmit(true, true, true, true, address(registry));
        emit IProvenanceRegistry.RootAnchored(root, 8, supplier, manifestCid);
        vm.prank(supplier);
        registry.anchorRoot(root, 8, manifestCid);

        IProvenanceRegistry.RootInfo memory mine = registry.rootInfo(supplier, root);
        IProvenanceRegistry.RootInfo memory copy = registry.rootInfo(otherSupplier, root);
        assertEq(mine.anchorer, supplier);
        assertEq(uint256(mine.anchoredAtBlock), block.number);
        assertEq(copy.anchorer, otherSupplier);
        assertEq(uint256(copy.anchoredAtBlock), block.number - 1);
        for (uint256 i; i < events.length; ++i) {
            bytes32[] memory proof = _proof(tree, events[i]);
            assertTrue(registry.verifyEventInRoot(supplier, root, events[i], proof), "victim's root");
            assertTrue(registry.verifyEventInRoot(otherSupplier, root, events[i], proof), "copy's root");
            assertFalse(registry.verifyEventInRoot(carrier, root, events[i], proof), "never anchored by carrier");
        }
        // Each anchorer's duplicate still reverts, naming that anchorer.
        vm.expectRevert(
            abi.encodeWithSelector(IProvenanceRegistry.RootAlreadyAnchored.selector, otherSupplier, root)
        );
        vm.prank(otherSupplier);
        registry.anchorRoot(root, 8, manifestCid);
    }

    function test_anchorRoot_revertsOnZeroRootZeroLeavesOrBadCid() public {
        vm.startPrank(supplier);
        vm.expectRevert(IProvenanceRegistry.ZeroHash.selector);
        registry.anchorRoot(bytes32(0), 1, manifestCid);
        vm.expectRevert(IProvenanceRegistry.ZeroLeafCount.selector);
        registry.anchorRoot(keccak256("root"), 0, manifestCid);
        bytes memory bad = hex"01551220";
        vm.expectRevert(abi.encodeWithSelector(IProvenanceRegistry.InvalidCid.selector, bad));
        registry.anchorRoot(keccak256("root"), 1, bad);
        vm.stopPrank();
    }

    /// @dev DESIGN target: <= 100 gas per event for a 1024-event root, i.e. the whole transaction <= 102,400.
    /// Transaction gas = 21,000 + calldata (EIP-2028, with EIP-7623's floor under Prague) + execution; the
    /// execution measured here also pays the external CALL's cold account access, which a real transaction
    /// (whose `to` is warm) does not, so the figure is an upper bound.
    function test_anchorRoot_gasFor1024EventsWithinBudget() public {
        bytes32[] memory events = _eventHashes(1024, "gas");
        bytes32[] memory tree = _buildTree(events);
        uint256 txGas = _anchorRootTxGas(tree[0], 1024);
        emit log_named_uint("anchorRoot(1024 events) tx gas upper bound", txGas);
        assertLe(txGas, 102_400, "anchorRoot tx gas for 1024 events");
        assertLe(txGas / 1024, 100, "gas per event");

        // The proofs of that tree verify on chain.
        for (uint256 i; i < 1024; i += 97) {
            bytes32[] memory proof = _proof(tree, events[i]);
            assertTrue(registry.verifyEventInRoot(supplier, tree[0], events[i], proof), "1024-tree proof");
        }
    }

    function _anchorRootTxGas(bytes32 root, uint32 leafCount) internal returns (uint256) {
        bytes memory callData = abi.encodeCall(registry.anchorRoot, (root, leafCount, manifestCid));
        vm.prank(supplier);
        uint256 before = gasleft();
        registry.anchorRoot(root, leafCount, manifestCid);
        uint256 execution = before - gasleft();

        uint256 tokens;
        for (uint256 i; i < callData.length; ++i) tokens += callData[i] == 0 ? 1 : 4;
        uint256 standard = 21_000 + 4 * tokens + execution;
        uint256 floor = 21_000 + 10 * tokens;
        return standard > floor ? standard : floor;
    }

    // ------------------------------------------------------------------------------------------------
    // verifyEventInRoot
    // ------------------------------------------------------------------------------------------------

    function test_verifyEventInRoot_realProofsPassForSeveralSizes() public {
        uint256[9] memory sizes = [uint256(1), 2, 3, 4, 5, 7, 8, 13, 33];
        for (uint256 s; s < sizes.length; ++s) {
            bytes32[] memory events = _eventHashes(sizes[s], bytes32(s));
            bytes32[] memory tree = _buildTree(events);
            vm.prank(supplier);
            registry.anchorRoot(tree[0], uint32(sizes[s]), manifestCid);
            for (uint256 i; i < events.length; ++i) {
                assertTrue(registry.verifyEventInRoot(supplier, tree[0], events[i], _proof(tree, events[i])), "real proof");
            }
        }
    }

    function testFuzz_verifyEventInRoot_realProofPasses(uint8 sizeSeed, uint16 indexSeed, bytes32 salt) public {
        uint256 size = bound(sizeSeed, 1, 64);
        bytes32[] memory events = _eventHashes(size, salt);
        bytes32[] memory tree = _buildTree(events);
        vm.prank(supplier);
        registry.anchorRoot(tree[0], uint32(size), manifestCid);
        bytes32 eventHash = events[bound(indexSeed, 0, size - 1)];
        assertTrue(registry.verifyEventInRoot(supplier, tree[0], eventHash, _proof(tree, eventHash)), "real proof");
    }

    function test_verifyEventInRoot_singleLeafHasEmptyProof() public {
        bytes32 eventHash = keccak256("only");
        bytes32 root = keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
        vm.prank(supplier);
        registry.anchorRoot(root, 1, manifestCid);
        assertTrue(registry.verifyEventInRoot(supplier, root, eventHash, new bytes32[](0)));
    }

    function test_verifyEventInRoot_forgedProofsFail() public {
        bytes32[] memory events = _eventHashes(8, "forge");
        bytes32[] memory tree = _buildTree(events);
        vm.prank(supplier);
        registry.anchorRoot(tree[0], 8, manifestCid);
        bytes32[] memory proof = _proof(tree, events[3]);

        // An event that is not in the tree.
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], keccak256("outsider"), proof), "outsider");
        // A tampered proof element.
        bytes32[] memory tampered = _copy(proof);
        tampered[1] = bytes32(uint256(tampered[1]) ^ 1);
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], events[3], tampered), "tampered");
        // A truncated proof.
        bytes32[] memory truncated = new bytes32[](proof.length - 1);
        for (uint256 i; i < truncated.length; ++i) truncated[i] = proof[i];
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], events[3], truncated), "truncated");
        // Second preimage: an inner node presented as an event hash (leaves are double-hashed, so it fails).
        bytes32[] memory upper = new bytes32[](proof.length - 1);
        for (uint256 i; i < upper.length; ++i) upper[i] = proof[i + 1];
        bytes32 parentOfLeaf = _hashPair(_leaf(events[3]), proof[0]);
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], parentOfLeaf, upper), "inner node as leaf");
    }

    function test_verifyEventInRoot_falseForUnanchoredRoot() public view {
        bytes32[] memory events = _eventHashes(4, "unanchored");
        bytes32[] memory tree = _buildTree(events);
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], events[0], _proof(tree, events[0])));
    }

    function testFuzz_verifyEventInRoot_randomProofFails(bytes32 eventHash, bytes32[] memory proof) public {
        bytes32[] memory events = _eventHashes(16, "random");
        bytes32[] memory tree = _buildTree(events);
        vm.prank(supplier);
        registry.anchorRoot(tree[0], 16, manifestCid);
        for (uint256 i; i < events.length; ++i) vm.assume(events[i] != eventHash);
        assertFalse(registry.verifyEventInRoot(supplier, tree[0], eventHash, proof));
    }

    // ------------------------------------------------------------------------------------------------
    // StandardMerkleTree reference (tree layout of @openzeppelin/merkle-tree)
    // ------------------------------------------------------------------------------------------------

    function _eventHashes(uint256 n, bytes32 salt) internal pure returns (bytes32[] memory events) {
        events = new bytes32[](n);
        for (uint256 i; i < n; ++i) events[i] = sha256(abi.encode(salt, i));
    }

    function _leaf(bytes32 eventHash) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(eventHash))));
    }

    function _hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _buildTree(bytes32[] memory events) internal pure returns (bytes32[] memory tree) {
        uint256 n = events.length;
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) leaves[i] = _leaf(events[i]);
        _sort(leaves);
        for (uint256 i = 1; i < n; ++i) require(leaves[i - 1] <= leaves[i], "reference sort");
        tree = new bytes32[](2 * n - 1);
        for (uint256 i; i < n; ++i) tree[tree.length - 1 - i] = leaves[i];
        for (uint256 i = tree.length - n; i > 0; --i) {
            tree[i - 1] = _hashPair(tree[2 * i - 1], tree[2 * i]);
        }
    }

    function _proof(bytes32[] memory tree, bytes32 eventHash) internal pure returns (bytes32[] memory proof) {
        bytes32 leaf = _leaf(eventHash);
        uint256 index = type(uint256).max;
        for (uint256 i = tree.length / 2; i < tree.length; ++i) {
            if (tree[i] == leaf) index = i;
        }
        require(index != type(uint256).max, "event not in tree");
        uint256 depth;
        for (uint256 j = index; j > 0; j = (j - 1) / 2) ++depth;
        proof = new bytes32[](depth);
        for (uint256 k; index > 0; ++k) {
            proof[k] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }

    function _sort(bytes32[] memory a) internal pure {
        if (a.length > 1) _quickSort(a, 0, a.length - 1);
    }

    function _quickSort(bytes32[] memory a, uint256 lo, uint256 hi) internal pure {
        if (lo >= hi) return;
        bytes32 pivot = a[(lo + hi) / 2];
        uint256 i = lo;
        uint256 j = hi;
        while (true) {
            while (a[i] < pivot) ++i;
            while (a[j] > pivot) --j;
            if (i >= j) break;
            (a[i], a[j]) = (a[j], a[i]);
            ++i;
            --j;
        }
        _quickSort(a, lo, j);
        _quickSort(a, j + 1, hi);
    }

    function _copy(bytes32[] memory a) internal pure returns (bytes32[] memory b) {
        b = new bytes32[](a.length);
        for (uint256 i; i < a.length; ++i) b[i] = a[i];
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";
import {ProvenanceRegistryBase} from "./ProvenanceRegistryBase.t.sol";
import {ProvenanceRegistry} from "../ProvenanceRegistry.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {TuanchainForwarder} from "../TuanchainForwarder.sol";

/// @notice Gasless registry actions through the real TuanchainForwarder with EIP-712 signatures made by vm.sign:
/// the registry acts for the signer, never for the relayer, and the forwarder refuses replays, expired requests,
/// wrong signers, tampered payloads and targets that do not trust it.
contract ForwarderTest is ProvenanceRegistryBase {
    bytes32 internal constant FORWARD_REQUEST_TYPEHASH = keccak256(
        "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)"
    );
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    address internal relayer = makeAddr("relayer");
    address internal gaslessSupplier;
    uint256 internal gaslessKey;
    address internal intruder;
    uint256 internal intruderKey;

    function setUp() public override {
        super.setUp();
        (gaslessSupplier, gaslessKey) = makeAddrAndKey("gaslessSupplier");
        (intruder, intruderKey) = makeAddrAndKey("intruder");
    }

    function test_domain_isTuanchainForwarderVersion1() public view {
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = forwarder.eip712Domain();
        assertEq(name, "TuanchainForwarder", "name");
        assertEq(version, "1", "version");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(forwarder));
    }

    function test_execute_onboardsAndRegistersBatchForTheSigner() public {
        bytes memory credential = cidV0(keccak256("gasless licence"));
        _relay(_signed(gaslessKey, gaslessSupplier, abi.encodeCall(registry.applyAsSupplier, (credential, sha256("credentials"))), _inOneHour()));
        IProvenanceRegistry.Party memory p = registry.party(IProvenanceRegistry.PartyKind.Supplier, gaslessSupplier);
        assertEq(uint256(p.status), uint256(IProvenanceRegistry.PartyStatus.Pending));
        assertEq(uint256(registry.party(IProvenanceRegistry.PartyKind.Supplier, relayer).status), 0);

        vm.startPrank(platform);
        registry.approveSupplier(gaslessSupplier);
        registry.assignCompanyPrefix("9506002", gaslessSupplier);
        vm.stopPrank();

        string memory gtin = "09506002000013";
        bytes memory call = abi.encodeCall(registry.registerBatch, (gtin, "GASLESS-1", credential));
        _relay(_signed(gaslessKey, gaslessSupplier, call, _inOneHour()));
        bytes32 id = keccak256(abi.encode(gtin, "GASLESS-1"));
        assertEq(registry.batchSupplier(id), gaslessSupplier);
        assertEq(forwarder.nonces(gaslessSupplier), 2);
    }

    function test_execute_anchorsEventWithSignerAsActor() public {
        (address signer, uint256 key) = makeAddrAndKey("gaslessCarrier");
        vm.prank(supplier);
        registry.setBatchWriter(batchId, signer, true);
        bytes memory call = abi.encodeCall(registry.anchorEvent, (batchId, EVENT_HASH, cidV0(DOC_DIGEST)));
        _relay(_signed(key, signer, call, _inOneHour()));
        assertEq(registry.anchorOf(batchId, EVENT_HASH).actor, signer);
    }

    function test_execute_revertsOnReplay() public {
        ERC2771Forwarder.ForwardRequestData memory request =
            _signed(gaslessKey, gaslessSupplier, abi.encodeCall(registry.applyAsLeader, (cidV0(DOC_DIGEST), sha256("credentials"))), _inOneHour());
        _relay(request);
        // The nonce moved on, so the same signature now recovers to some other address.
        address recovered = _recover(request, forwarder.nonces(gaslessSupplier));
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, recovered, gaslessSupplier)
        );
        _relay(request);
        assertFalse(forwarder.verify(request));
    }

    function test_execute_revertsWhenExpired() public {
        uint48 deadline = _inOneHour();
        ERC2771Forwarder.ForwardRequestData memory request =
            _signed(gaslessKey, gaslessSupplier, abi.encodeCall(registry.applyAsLeader, (cidV0(DOC_DIGEST), sha256("credentials"))), deadline);
        vm.warp(uint256(deadline) + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderExpiredRequest.selector, deadline));
        _relay(request);
    }

    function test_execute_revertsWhenSignedByAnotherKey() public {
        // The intruder signs a request claiming to come from the approved supplier.
        bytes memory call = abi.encodeCall(registry.recallBatch, (batchId, cidV0(DOC_DIGEST)));
        ERC2771Forwarder.ForwardRequestData memory request = _signed(intruderKey, supplier, call, _inOneHour());
        vm.expectRevert(abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, intruder, supplier));
        _relay(request);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Active));
    }

    function test_execute_revertsOnTamperedPayload() public {
        (address signer, uint256 key) = makeAddrAndKey("gaslessCarrier");
        vm.prank(supplier);
        registry.setBatchWriter(batchId, signer, true);
        ERC2771Forwarder.ForwardRequestData memory request = _signed(
            key, signer, abi.encodeCall(registry.anchorEvent, (batchId, EVENT_HASH, cidV0(DOC_DIGEST))), _inOneHour()
        );
        // A compromised relayer swaps the document.
        request.data = abi.encodeCall(registry.anchorEvent, (batchId, EVENT_HASH, cidV0(keccak256("forged"))));
        address recovered = _recover(request, 0);
        vm.expectRevert(abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, recovered, signer));
        _relay(request);
    }

    function test_execute_revertsForUntrustingTarget() public {
        ProvenanceRegistry other = new ProvenanceRegistry(address(0xF0), platform);
        ERC2771Forwarder.ForwardRequestData memory request =
            _signed(gaslessKey, gaslessSupplier, abi.encodeCall(registry.applyAsLeader, (cidV0(DOC_DIGEST), sha256("credentials"))), _inOneHour());
        request.to = address(other);
        vm.expectRevert(
            abi.encodeWithSelector(ERC2771Forwarder.ERC2771UntrustfulTarget.selector, address(other), address(forwarder))
        );
        _relay(request);
    }

    function test_execute_rolesStillEnforcedForSigner() public {
        // A validly signed request from an account without the role fails inside the registry; OpenZeppelin's
        // forwarder reports that as FailedCall and keeps the nonce unconsumed.
        bytes memory call = abi.encodeCall(registry.markNonCompliant, (batchId, cidV0(DOC_DIGEST)));
        ERC2771Forwarder.ForwardRequestData memory request = _signed(gaslessKey, gaslessSupplier, call, _inOneHour());
        vm.expectRevert(Errors.FailedCall.selector);
        _relay(request);
        assertEq(forwarder.nonces(gaslessSupplier), 0);
        assertEq(uint256(registry.batchStatus(batchId)), uint256(IProvenanceRegistry.BatchStatus.Active));
    }

    function test_directCall_ignoresAppendedSenderFromUntrustedCaller() public {
        // Appending an address only means something when the caller is the trusted forwarder.
        bytes memory spoof = abi.encodePacked(abi.encodeCall(registry.registerBatch, (GTIN, "SPOOF", cidV0(DOC_DIGEST))), supplier);
        vm.prank(stranger);
        (bool ok, bytes memory ret) = address(registry).call(spoof);
        assertFalse(ok, "spoof accepted");
        assertEq(ret, abi.encodeWithSelector(IProvenanceRegistry.NotApprovedSupplier.selector, stranger), "revert data");
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------

    function _inOneHour() internal view returns (uint48) {
        return uint48(block.timestamp + 1 hours);
    }

    function _relay(ERC2771Forwarder.ForwardRequestData memory request) internal {
        vm.prank(relayer);
        forwarder.execute(request);
    }

    function _digest(ERC2771Forwarder.ForwardRequestData memory r, uint256 nonce) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("TuanchainForwarder"), keccak256("1"), block.chainid, address(forwarder)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(FORWARD_REQUEST_TYPEHASH, r.from, r.to, r.value, r.gas, nonce, r.deadline, keccak256(r.data))
        );
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash));
    }

    function _signed(uint256 key, address from, bytes memory data, uint48 deadline)
        internal
        view
        returns (ERC2771Forwarder.ForwardRequestData memory request)
    {
        request = ERC2771Forwarder.ForwardRequestData({
            from: from,
            to: address(registry),
            value: 0,
            gas: 500_000,
            deadline: deadline,
            data: data,
            signature: ""
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, _digest(request, forwarder.nonces(from)));
        request.signature = abi.encodePacked(r, s, v);
    }

    function _recover(ERC2771Forwarder.ForwardRequestData memory request, uint256 nonce) internal view returns (address) {
        bytes memory sig = request.signature;
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
        return ecrecover(_digest(request, nonce), v, r, s);
    }
}

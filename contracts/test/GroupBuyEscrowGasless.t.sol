// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {GroupBuyEscrowBase} from "./GroupBuyEscrowBase.t.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";

/// @notice A consumer with zero ETH joins through the ERC-2771 forwarder with an EIP-2612 permit; the relayer pays gas.
contract GroupBuyEscrowGaslessTest is GroupBuyEscrowBase {
    bytes32 internal constant FORWARD_REQUEST_TYPEHASH = keccak256(
        "ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48 deadline,bytes data)"
    );
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    address internal alice;
    uint256 internal aliceKey;
    address internal relayer = makeAddr("relayer");
    uint256 internal dealId;

    function setUp() public override {
        super.setUp();
        (alice, aliceKey) = makeAddrAndKey("alice");
        dealId = createDefaultDeal();
        token.mint(alice, 3 * TOP_PRICE);
        vm.deal(relayer, 1 ether);
    }

    function _permitSig(uint256 value, uint256 deadline) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, alice, address(escrow), value, token.nonces(alice), deadline));
        (v, r, s) = vm.sign(aliceKey, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function _forwarderDigest(bytes memory data, uint256 nonce, uint48 deadline) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                DOMAIN_TYPEHASH, keccak256("TuanchainForwarder"), keccak256("1"), block.chainid, address(forwarder)
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(FORWARD_REQUEST_TYPEHASH, alice, address(escrow), 0, 400_000, nonce, deadline, keccak256(data))
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _request(bytes memory data, uint48 deadline) internal view returns (ERC2771Forwarder.ForwardRequestData memory req) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(aliceKey, _forwarderDigest(data, forwarder.nonces(alice), deadline));
        req = ERC2771Forwarder.ForwardRequestData({
            from: alice,
            to: address(escrow),
            value: 0,
            gas: 400_000,
            deadline: deadline,
            data: data,
            signature: abi.encodePacked(r, s, v)
        });
    }

    function _joinData(uint256 quantity) internal view returns (bytes memory) {
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(quantity * TOP_PRICE, permitDeadline);
        return abi.encodeCall(IGroupBuyEscrow.joinWithPermit, (dealId, quantity, leader1, permitDeadline, v, r, s));
    }

    function test_gasless_joinWithPermitThroughForwarder() public {
        assertEq(alice.balance, 0);
        ERC2771Forwarder.ForwardRequestData memory req = _request(_joinData(3), uint48(block.timestamp + 1 hours));
        vm.prank(relayer);
        forwarder.execute(req);
        assertEq(escrow.order(dealId, alice).quantity, 3, "order recorded for the signer, not the relayer");
        assertEq(escrow.order(dealId, relayer).quantity, 0);
        assertEq(token.balanceOf(alice), 0);
        assertEq(token.balanceOf(address(escrow)), 3 * TOP_PRICE);
        assertEq(alice.balance, 0, "alice spent no ETH");
    }

    function test_gasless_replayedRequestIsRefused() public {
        ERC2771Forwarder.ForwardRequestData memory req = _request(_joinData(1), uint48(block.timestamp + 1 hours));
        vm.prank(relayer);
        forwarder.execute(req);
        // The nonce moved on, so the same signature now recovers to some other address.
        bytes32 digest = _forwarderDigest(req.data, forwarder.nonces(alice), req.deadline);
        (bytes32 r, bytes32 s) = abi.decode(req.signature, (bytes32, bytes32));
        address recovered = ecrecover(digest, uint8(req.signature[64]), r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderInvalidSigner.selector, recovered, alice));
        vm.prank(relayer);
        forwarder.execute(req);
        assertEq(escrow.order(dealId, alice).quantity, 1);
    }

    function test_gasless_expiredRequestIsRefused() public {
        uint48 deadline = uint48(block.timestamp + 10 minutes);
        ERC2771Forwarder.ForwardRequestData memory req = _request(_joinData(1), deadline);
        vm.warp(block.timestamp + 11 minutes);
        vm.expectRevert(abi.encodeWithSelector(ERC2771Forwarder.ERC2771ForwarderExpiredRequest.selector, deadline));
        vm.prank(relayer);
        forwarder.execute(req);
    }

    function test_gasless_toleratesFrontRunPermit() public {
        uint256 permitDeadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _permitSig(2 * TOP_PRICE, permitDeadline);
        // An observer submits the permit first; the join must still go through on the allowance it created.
        token.permit(alice, address(escrow), 2 * TOP_PRICE, permitDeadline, v, r, s);
        bytes memory data = abi.encodeCall(IGroupBuyEscrow.joinWithPermit, (dealId, 2, leader1, permitDeadline, v, r, s));
        vm.prank(relayer);
        forwarder.execute(_request(data, uint48(block.timestamp + 1 hours)));
        assertEq(escrow.order(dealId, alice).quantity, 2);
    }

    function test_joinWithPermit_revertsWhenDealUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IGroupBuyEscrow.DealNotFound.selector, 9));
        vm.prank(alice);
        escrow.joinWithPermit(9, 1, leader1, block.timestamp, 27, bytes32(0), bytes32(0));
    }

    function test_joinWithPermit_revertsWhenPermitInvalidAndNoAllowance() public {
        // A bad permit is tolerated, but then the allowance decides: none here.
        vm.expectRevert(
            abi.encodeWithSignature(
                "ERC20InsufficientAllowance(address,uint256,uint256)", address(escrow), 0, TOP_PRICE
            )
        );
        vm.prank(alice);
        escrow.joinWithPermit(dealId, 1, leader1, block.timestamp, 27, bytes32(uint256(1)), bytes32(uint256(2)));
    }

    function test_gasless_forgedSenderSuffixIgnoredWithoutForwarder() public {
        // Calling the escrow directly with a spoofed 20-byte suffix does not impersonate alice.
        bytes memory data = abi.encodePacked(abi.encodeCall(IGroupBuyEscrow.cancel, (dealId)), alice);
        vm.prank(relayer);
        (bool ok, bytes memory ret) = address(escrow).call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IGroupBuyEscrow.NoOrder.selector, dealId, relayer), "treated as relayer");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {TestStablecoin} from "../TestStablecoin.sol";
import {PermitBatcher} from "../PermitBatcher.sol";
import {IPermitBatcher} from "../interfaces/IPermitBatcher.sol";

/// @notice Several owners' permits in one call; a failing one (replayed) is skipped, named by an event.
contract PermitBatcherTest is Test {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    TestStablecoin internal token;
    PermitBatcher internal batcher;
    address internal admin = makeAddr("admin");
    address internal spender = makeAddr("escrow");

    function setUp() public {
        token = new TestStablecoin(admin);
        batcher = new PermitBatcher();
    }

    function signed(uint256 key, uint256 value, uint256 nonce) internal view returns (IPermitBatcher.Permit memory p) {
        address owner = vm.addr(key);
        uint256 deadline = block.timestamp + 1 hours;
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                token.DOMAIN_SEPARATOR(),
                keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline))
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        p = IPermitBatcher.Permit(address(token), owner, spender, value, deadline, v, r, s);
    }

    function test_permitAll_appliesEveryPermit() public {
        IPermitBatcher.Permit[] memory permits = new IPermitBatcher.Permit[](2);
        permits[0] = signed(0xA11CE, 10, 0);
        permits[1] = signed(0xB0B, 20, 0);
        assertEq(batcher.permitAll(permits), 2);
        assertEq(token.allowance(vm.addr(0xA11CE), spender), 10);
        assertEq(token.allowance(vm.addr(0xB0B), spender), 20);
    }

    function test_permitAll_skipsAReplayedPermitAndAppliesTheRest() public {
        IPermitBatcher.Permit[] memory permits = new IPermitBatcher.Permit[](3);
        permits[0] = signed(0xA11CE, 10, 0);
        permits[1] = permits[0]; // its nonce is spent by then
        permits[2] = signed(0xB0B, 20, 0);
        vm.expectEmit(true, true, false, true, address(batcher));
        emit IPermitBatcher.PermitSkipped(address(token), vm.addr(0xA11CE), 1);
        assertEq(batcher.permitAll(permits), 2);
        assertEq(token.nonces(vm.addr(0xA11CE)), 1);
        assertEq(token.allowance(vm.addr(0xB0B), spender), 20);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Test} from "./utils/Test.sol";
import {TestStablecoin} from "../TestStablecoin.sol";

/// @notice tUSD: metadata, the minter role, and EIP-2612 permits signed with vm.sign (valid, expired, replayed,
/// wrong signer).
contract TestStablecoinTest is Test {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    TestStablecoin internal token;
    address internal admin = makeAddr("admin");
    address internal spender = makeAddr("escrow");
    address internal owner;
    uint256 internal ownerKey;

    function setUp() public {
        token = new TestStablecoin(admin);
        (owner, ownerKey) = makeAddrAndKey("consumer");
    }

    function test_metadata() public view {
        assertEq(token.name(), "Tuan USD", "name");
        assertEq(token.symbol(), "tUSD", "symbol");
        assertEq(uint256(token.decimals()), 6);
        assertTrue(token.hasRole(token.MINTER_ROLE(), admin));
        assertTrue(token.hasRole(token.DEFAULT_ADMIN_ROLE(), admin));
    }

    function test_domainSeparator_isEip712OfTuanUsdVersion1() public view {
        bytes32 expected = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("Tuan USD"), keccak256("1"), block.chainid, address(token))
        );
        assertEq(token.DOMAIN_SEPARATOR(), expected);
    }

    function test_mint_byMinter() public {
        vm.prank(admin);
        token.mint(owner, 25_000_000); // 25 tUSD
        assertEq(token.balanceOf(owner), 25_000_000);
        assertEq(token.totalSupply(), 25_000_000);
    }

    function test_mint_revertsForNonMinter() public {
        bytes32 role = token.MINTER_ROLE();
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, owner, role));
        vm.prank(owner);
        token.mint(owner, 1);
    }

    function test_mint_byGrantedMinter() public {
        address faucet = makeAddr("faucet");
        bytes32 role = token.MINTER_ROLE();
        vm.prank(admin);
        token.grantRole(role, faucet);
        vm.prank(faucet);
        token.mint(owner, 7);
        assertEq(token.balanceOf(owner), 7);
    }

    function test_permit_setsAllowanceAndConsumesNonce() public {
        _permitAndCheck(10_000_000, block.timestamp + 1 hours);
    }

    function testFuzz_permit_setsAllowanceAndConsumesNonce(uint256 value, uint256 deadlineOffset) public {
        _permitAndCheck(value, block.timestamp + bound(deadlineOffset, 0, 365 days));
    }

    function test_permit_revertsWhenExpired() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(ownerKey, owner, spender, 1, 0, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(owner, spender, 1, deadline, v, r, s);
    }

    function test_permit_revertsOnReplay() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(ownerKey, owner, spender, 5, 0, deadline);
        token.permit(owner, spender, 5, deadline, v, r, s);
        // With the nonce consumed the same signature recovers to an unrelated address.
        address recovered = ecrecover(_digest(owner, spender, 5, 1, deadline), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, owner));
        token.permit(owner, spender, 5, deadline, v, r, s);
    }

    function test_permit_revertsWhenSignedByAnotherKey() public {
        (address intruder, uint256 intruderKey) = makeAddrAndKey("intruder");
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(intruderKey, owner, spender, 5, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, intruder, owner));
        token.permit(owner, spender, 5, deadline, v, r, s);
    }

    function test_permit_thenTransferFrom() public {
        vm.prank(admin);
        token.mint(owner, 3_000_000);
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(ownerKey, owner, spender, 3_000_000, 0, deadline);
        token.permit(owner, spender, 3_000_000, deadline, v, r, s);
        vm.prank(spender);
        assertTrue(token.transferFrom(owner, spender, 3_000_000));
        assertEq(token.balanceOf(spender), 3_000_000);
        assertEq(token.allowance(owner, spender), 0);
    }

    function _permitAndCheck(uint256 value, uint256 deadline) internal {
        (uint8 v, bytes32 r, bytes32 s) = _sign(ownerKey, owner, spender, value, 0, deadline);
        token.permit(owner, spender, value, deadline, v, r, s);
        assertEq(token.allowance(owner, spender), value);
        assertEq(token.nonces(owner), 1);
    }

    function _digest(address owner_, address spender_, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner_, spender_, value, nonce, deadline));
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function _sign(uint256 key, address owner_, address spender_, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        return vm.sign(key, _digest(owner_, spender_, value, nonce, deadline));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {GroupBuyEscrow} from "../GroupBuyEscrow.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {IProvenanceRegistry} from "../interfaces/IProvenanceRegistry.sol";
import {MockProvenanceRegistry} from "./mocks/MockProvenanceRegistry.sol";
import {MockStablecoin} from "./mocks/MockTokens.sol";

/// @notice Shared fixture: a registry double with one approved supplier, two approved leaders and one Active batch,
/// a 6-decimal permit token, OpenZeppelin's ERC2771Forwarder and the escrow; `defaultParams` lists a deal with
/// three price tiers (10 / 9 / 8 tUSD from 0 / 10 / 20 units), 成团 10, stock 100, 限购 10, commission 10% rising
/// to 15% from 15 units, platform fee 5%.
abstract contract GroupBuyEscrowBase is Test {
    uint256 internal constant UNIT = 1e6;
    uint256 internal constant TOP_PRICE = 10 * UNIT;
    bytes32 internal constant BATCH = keccak256(abi.encode("09506000134352", "LOT-2026-01"));
    bytes32 internal constant OTHER_BATCH = keccak256(abi.encode("09506000134352", "LOT-2026-02"));
    /// @dev Literal digests: a `sha256(...)` constant is a precompile call at each use, which would eat a prank.
    bytes32 internal constant EVENT_HASH = 0x8d4d5b1f3e2b1c0a99887766554433221100ffeeddccbbaa9988776655443322;
    bytes32 internal constant DOC_DIGEST = 0x1220aabbccddeeff00112233445566778899aabbccddeeff0011223344556677;
    bytes internal constant EVIDENCE = hex"01551220aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";

    MockProvenanceRegistry internal registry;
    MockStablecoin internal token;
    ERC2771Forwarder internal forwarder;
    GroupBuyEscrow internal escrow;

    address internal platform = makeAddr("platform");
    address internal treasury = makeAddr("treasury");
    address internal supplier = makeAddr("supplier");
    address internal leader1 = makeAddr("leader1");
    address internal leader2 = makeAddr("leader2");
    address internal stranger = makeAddr("stranger");

    function setUp() public virtual {
        vm.warp(1_800_000_000);
        registry = new MockProvenanceRegistry();
        token = new MockStablecoin();
        forwarder = new ERC2771Forwarder("TuanchainForwarder");
        escrow = new GroupBuyEscrow(IProvenanceRegistry(address(registry)), address(forwarder), platform, treasury);
        registry.setSupplier(supplier, true);
        registry.setLeader(leader1, true);
        registry.setLeader(leader2, true);
        registry.setBatch(BATCH, supplier, IProvenanceRegistry.BatchStatus.Active);
        registry.setBatch(OTHER_BATCH, supplier, IProvenanceRegistry.BatchStatus.Active);
        vm.prank(platform);
        escrow.setTokenAllowed(address(token), true);
    }

    function defaultParams() internal view returns (IGroupBuyEscrow.DealParams memory p) {
        p.supplier = supplier;
        p.token = address(token);
        p.priceTiers = new IGroupBuyEscrow.PriceTier[](3);
        p.priceTiers[0] = IGroupBuyEscrow.PriceTier(0, uint96(TOP_PRICE));
        p.priceTiers[1] = IGroupBuyEscrow.PriceTier(10, uint96(9 * UNIT));
        p.priceTiers[2] = IGroupBuyEscrow.PriceTier(20, uint96(8 * UNIT));
        p.minTotalQuantity = 10;
        p.maxTotalQuantity = 100;
        p.perBuyerLimit = 10;
        p.joinDeadline = uint40(block.timestamp + 1 days);
        p.deliveryDeadline = uint40(block.timestamp + 3 days);
        p.pickupDeadline = p.deliveryDeadline; // tests of the last mile set their own
        p.cashCapPerLeader = 5;
        p.disputeWindow = 2 days;
        p.answerWindow = 1 days;
        p.commissionBps = 1000;
        p.commissionTiers = new IGroupBuyEscrow.CommissionTier[](1);
        p.commissionTiers[0] = IGroupBuyEscrow.CommissionTier(15, 1500);
        p.platformFeeBps = 500;
        p.batchIds = new bytes32[](1);
        p.batchIds[0] = BATCH;
    }

    function createDeal(IGroupBuyEscrow.DealParams memory p) internal returns (uint256 dealId) {
        vm.prank(platform);
        dealId = escrow.createDeal(p);
    }

    function createDefaultDeal() internal returns (uint256) {
        return createDeal(defaultParams());
    }

    function buyer(uint256 i) internal returns (address) {
        return makeAddr(string.concat("buyer", vm.toString(i)));
    }

    /// @dev Mints exactly the top-price amount and approves it, then joins as `who`.
    function joinAs(uint256 dealId, address who, uint256 quantity, address leader) internal {
        uint256 amount = quantity * TOP_PRICE;
        token.mint(who, amount);
        vm.startPrank(who);
        token.approve(address(escrow), amount);
        escrow.join(dealId, quantity, leader);
        vm.stopPrank();
    }

    /// @dev A full receipt: the leader received every unit ordered.
    function confirmAs(uint256 dealId, address leader) internal {
        confirmAs(dealId, leader, type(uint256).max); // more than ordered counts as ordered
    }

    function confirmAs(uint256 dealId, address leader, uint256 receivedQuantity) internal {
        vm.prank(leader);
        escrow.confirmReceipt(dealId, BATCH, EVENT_HASH, DOC_DIGEST, receivedQuantity);
    }

    function withdrawAs(uint256 dealId, address who) internal returns (uint256 amount) {
        vm.prank(who);
        amount = escrow.withdraw(dealId);
    }

    function toJoinDeadline(uint256 dealId) internal {
        vm.warp(escrow.dealParams(dealId).joinDeadline);
    }
}

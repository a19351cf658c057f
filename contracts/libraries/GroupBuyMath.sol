// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";

/// @title Pure arithmetic and parameter validation of group-buy deals
/// @notice Kept apart from the escrow's state machine so the rules are readable (and testable) on their own.
library GroupBuyMath {
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_PRICE_TIERS = 8;
    uint256 internal constant MAX_COMMISSION_TIERS = 8;
    uint256 internal constant MAX_BATCHES = 8;
    uint256 internal constant MIN_COMMISSION_BPS = 500;
    uint256 internal constant MAX_COMMISSION_BPS = 2000;
    uint256 internal constant MAX_PLATFORM_FEE_BPS = 1000;
    /// @dev An order's quantities live in uint24 fields of its one storage slot.
    uint256 internal constant MAX_PER_BUYER = type(uint24).max;

    /// @notice Unit price of the highest tier whose threshold `totalQuantity` reaches.
    /// @dev tiers[0].minQuantity is 0, so some tier always applies.
    function unitPriceAt(IGroupBuyEscrow.PriceTier[] storage tiers, uint256 totalQuantity) internal view returns (uint256 price) {
        uint256 n = tiers.length;
        for (uint256 i; i < n; ++i) {
            IGroupBuyEscrow.PriceTier storage tier = tiers[i];
            if (tier.minQuantity > totalQuantity) break;
            price = tier.unitPrice;
        }
    }

    /// @notice Commission rate of a leader whose orders total `volume` units: the base rate, raised by the
    /// highest volume tier reached.
    function commissionBpsAt(IGroupBuyEscrow.CommissionTier[] storage tiers, uint256 baseBps, uint256 volume)
        internal
        view
        returns (uint256 bps)
    {
        bps = baseBps;
        uint256 n = tiers.length;
        for (uint256 i; i < n; ++i) {
            IGroupBuyEscrow.CommissionTier storage tier = tiers[i];
            if (tier.minVolume > volume) break;
            bps = tier.commissionBps;
        }
    }

    /// @notice Commission on `netQuantity` units sold at `unitPrice`, rounded down (the supplier keeps the dust).
    function commission(uint256 netQuantity, uint256 unitPrice, uint256 bps) internal pure returns (uint256) {
        return netQuantity * unitPrice * bps / BPS;
    }

    /// @notice Checks every numeric rule of a deal's parameters (batches are checked against the registry elsewhere).
    function validate(IGroupBuyEscrow.DealParams calldata p, uint256 nowTs) internal pure {
        _validateTiers(p.priceTiers);
        _validateCommission(p.commissionBps, p.commissionTiers);
        if (
            p.minTotalQuantity == 0 || p.minTotalQuantity > p.maxTotalQuantity || p.perBuyerLimit == 0
                || p.perBuyerLimit > MAX_PER_BUYER
        ) revert IGroupBuyEscrow.InvalidQuantities(p.minTotalQuantity, p.maxTotalQuantity, p.perBuyerLimit);
        if (p.joinDeadline <= nowTs || p.deliveryDeadline <= p.joinDeadline) {
            revert IGroupBuyEscrow.InvalidDeadlines(p.joinDeadline, p.deliveryDeadline);
        }
        if (p.pickupDeadline < p.deliveryDeadline) revert IGroupBuyEscrow.InvalidPickupDeadline(p.pickupDeadline, p.deliveryDeadline);
        if (p.cashCapPerLeader > MAX_PER_BUYER) revert IGroupBuyEscrow.InvalidCashCap(p.cashCapPerLeader);
        if (p.disputeWindow == 0 || p.answerWindow == 0) revert IGroupBuyEscrow.InvalidWindows(p.disputeWindow, p.answerWindow);
        if (p.platformFeeBps > MAX_PLATFORM_FEE_BPS) revert IGroupBuyEscrow.InvalidPlatformFee(p.platformFeeBps);
        if (p.batchIds.length == 0 || p.batchIds.length > MAX_BATCHES) revert IGroupBuyEscrow.InvalidBatchCount(p.batchIds.length);
    }

    function _validateTiers(IGroupBuyEscrow.PriceTier[] calldata tiers) private pure {
        uint256 n = tiers.length;
        if (n == 0 || n > MAX_PRICE_TIERS) revert IGroupBuyEscrow.InvalidPriceTiers(n);
        if (tiers[0].minQuantity != 0 || tiers[0].unitPrice == 0) revert IGroupBuyEscrow.InvalidPriceTiers(0);
        for (uint256 i = 1; i < n; ++i) {
            if (
                tiers[i].minQuantity <= tiers[i - 1].minQuantity || tiers[i].unitPrice >= tiers[i - 1].unitPrice
                    || tiers[i].unitPrice == 0
            ) revert IGroupBuyEscrow.InvalidPriceTiers(i);
        }
    }

    function _validateCommission(uint256 baseBps, IGroupBuyEscrow.CommissionTier[] calldata tiers) private pure {
        if (baseBps < MIN_COMMISSION_BPS || baseBps > MAX_COMMISSION_BPS) revert IGroupBuyEscrow.InvalidCommission(baseBps);
        uint256 n = tiers.length;
        if (n > MAX_COMMISSION_TIERS) revert IGroupBuyEscrow.InvalidCommissionTiers(n);
        uint256 prevVolume = 0;
        uint256 prevBps = baseBps;
        for (uint256 i; i < n; ++i) {
            if (
                tiers[i].minVolume <= prevVolume || tiers[i].commissionBps <= prevBps
                    || tiers[i].commissionBps > MAX_COMMISSION_BPS
            ) revert IGroupBuyEscrow.InvalidCommissionTiers(i);
            prevVolume = tiers[i].minVolume;
            prevBps = tiers[i].commissionBps;
        }
    }
}

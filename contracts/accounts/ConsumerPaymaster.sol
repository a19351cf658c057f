// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Paymaster} from "@openzeppelin/contracts/account/paymaster/Paymaster.sol";
import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {ERC7579Utils, Execution} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7821} from "@openzeppelin/contracts/interfaces/draft-IERC7821.sol";

import {IConsumerPaymaster} from "../interfaces/IConsumerPaymaster.sol";
import {IPasskeyAccountFactory} from "../interfaces/IPasskeyAccountFactory.sol";
import {ConsumerSponsorPolicy} from "./ConsumerSponsorPolicy.sol";

/// @title ConsumerPaymaster
/// @notice See {IConsumerPaymaster}. OpenZeppelin's `Paymaster` pointed at EntryPoint v0.8, with the consumer-action
/// policy of {ConsumerSponsorPolicy} and per-account limits settled in postOp.
contract ConsumerPaymaster is IConsumerPaymaster, Paymaster, Ownable2Step {
    /// @notice ERC-7821 single batch mode (call type 0x01, default exec type, no selector, no payload), the only mode
    /// OpenZeppelin's ERC7821 executes.
    bytes32 public constant BATCH_MODE = bytes32(uint256(1) << 248);
    /// @notice Most calls in a sponsored batch (approve + join is 2).
    uint256 public constant MAX_CALLS = 8;
    /// @notice Least paymasterPostOpGasLimit an operation must give: postOp uses about 5,300 gas (measured by the
    /// forge tests); if it ran out, the EntryPoint would revert the operation and keep the validation's reservation.
    uint256 public constant MIN_POST_OP_GAS = 30_000;

    address private immutable _escrow;
    address private immutable _paymentToken;
    address private immutable _accountFactory;
    bytes32 private immutable _accountCodeHash;

    Limits private _limits;
    mapping(address account => Usage) private _usage;
    mapping(address account => bool) private _blocked;

    /// @param escrow_ the group-buy escrow whose consumer functions are sponsored
    /// @param paymentToken_ the stablecoin consumers approve to the escrow
    /// @param factory the passkey-account factory (its implementation defines which senders are sponsored)
    /// @param owner_ the platform: sets limits, blocks accounts, withdraws the deposit and the stake
    /// @param limits_ the initial per-account limits
    constructor(
        address escrow_,
        address paymentToken_,
        IPasskeyAccountFactory factory,
        address owner_,
        Limits memory limits_
    ) Ownable(owner_) {
        if (escrow_ == address(0) || paymentToken_ == address(0) || address(factory) == address(0)) {
            revert ZeroAddress();
        }
        _escrow = escrow_;
        _paymentToken = paymentToken_;
        _accountFactory = address(factory);
        // Runtime code of an ERC-1167 minimal proxy (what OpenZeppelin's Clones deploys) to the implementation.
        _accountCodeHash = keccak256(
            abi.encodePacked(
                hex"363d3d373d3d3d363d73", factory.accountImplementation(), hex"5af43d82803e903d91602b57fd5bf3"
            )
        );
        _setLimits(limits_);
    }

    /// @notice EntryPoint v0.8 at its canonical address (OpenZeppelin 5.7 defaults to v0.9).
    function entryPoint() public pure override returns (IEntryPoint) {
        return ERC4337Utils.ENTRYPOINT_V08;
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IConsumerPaymaster
    function escrow() external view returns (address) {
        return _escrow;
    }

    /// @inheritdoc IConsumerPaymaster
    function paymentToken() external view returns (address) {
        return _paymentToken;
    }

    /// @inheritdoc IConsumerPaymaster
    function accountFactory() external view returns (address) {
        return _accountFactory;
    }

    /// @inheritdoc IConsumerPaymaster
    function accountCodeHash() external view returns (bytes32) {
        return _accountCodeHash;
    }

    /// @inheritdoc IConsumerPaymaster
    function limits() external view returns (Limits memory) {
        return _limits;
    }

    /// @inheritdoc IConsumerPaymaster
    function usage(address account) external view returns (Usage memory) {
        return _usage[account];
    }

    /// @inheritdoc IConsumerPaymaster
    function isBlocked(address account) external view returns (bool) {
        return _blocked[account];
    }

    /// @inheritdoc IConsumerPaymaster
    function isSponsoredCall(address account, address target, uint256 value, bytes calldata data)
        external
        view
        returns (bool)
    {
        return ConsumerSponsorPolicy.isSponsoredCall(account, _escrow, _paymentToken, target, value, data);
    }

    /// @inheritdoc IConsumerPaymaster
    function getDeposit() external view returns (uint256) {
        return entryPoint().balanceOf(address(this));
    }

    // ---------------------------------------------------------------- owner

    /// @inheritdoc IConsumerPaymaster
    function setLimits(Limits calldata newLimits) external onlyOwner {
        _setLimits(newLimits);
    }

    /// @inheritdoc IConsumerPaymaster
    function setBlocked(address account, bool blocked) external onlyOwner {
        _blocked[account] = blocked;
        emit AccountBlockSet(account, blocked);
    }

    /// @inheritdoc IConsumerPaymaster
    function resetUsage(address account) external onlyOwner {
        delete _usage[account];
        emit UsageReset(account);
    }

    /// @inheritdoc IConsumerPaymaster
    function deposit() external payable {
        _deposit(msg.value);
    }

    /// @inheritdoc IConsumerPaymaster
    function withdraw(address payable to, uint256 amount) external onlyOwner {
        _withdraw(to, amount);
    }

    /// @inheritdoc IConsumerPaymaster
    function addStake(uint32 unstakeDelaySec) external payable onlyOwner {
        _addStake(msg.value, unstakeDelaySec);
    }

    /// @inheritdoc IConsumerPaymaster
    function unlockStake() external onlyOwner {
        _unlockStake();
    }

    /// @inheritdoc IConsumerPaymaster
    function withdrawStake(address payable to) external onlyOwner {
        _withdrawStake(to);
    }

    // ---------------------------------------------------------------- ERC-4337

    /// @dev Reverts with the reason when the operation is not sponsored (the EntryPoint reports `AA33 reverted` with
    /// this revert data). Reads no time: see {IConsumerPaymaster} for how the window works.
    function _validatePaymasterUserOp(PackedUserOperation calldata userOp, bytes32, uint256 maxCost)
        internal
        override
        returns (bytes memory context, uint256 validationData)
    {
        address account = userOp.sender;
        if (account.codehash != _accountCodeHash) revert AccountNotSponsored(account, account.codehash);
        if (userOp.initCode.length != 0) {
            address factory = ERC4337Utils.factory(userOp);
            if (factory != _accountFactory) revert FactoryNotSponsored(factory);
        }
        uint256 postOpGas = ERC4337Utils.paymasterPostOpGasLimit(userOp);
        if (postOpGas < MIN_POST_OP_GAS) revert PostOpGasTooLow(postOpGas, MIN_POST_OP_GAS);
        _checkBatch(account, userOp.callData);
        if (_blocked[account]) revert AccountBlocked(account);
        uint48 validAfter = _reserve(account, maxCost);
        return (abi.encode(account, maxCost), ERC4337Utils.packValidationData(true, validAfter, 0));
    }

    /// @dev Settles the reservation made in validation and books the actual cost into the account's window, opening
    /// a new window when the stored one has ended. Never reverts (a revert would undo the operation's calls while the
    /// paymaster still pays, and leave the reservation behind): subtractions and additions saturate.
    function _postOp(PostOpMode, bytes calldata context, uint256 actualGasCost, uint256) internal override {
        (address account, uint256 reserved) = abi.decode(context, (address, uint256));
        Usage memory u = _usage[account];
        u.pendingOps = u.pendingOps > 0 ? u.pendingOps - 1 : 0;
        u.pendingCost = u.pendingCost < reserved ? 0 : u.pendingCost - uint80(reserved);
        if (block.timestamp >= uint256(u.windowStart) + _limits.window) {
            u.windowStart = uint40(block.timestamp);
            u.ops = 0;
            u.cost = 0;
        }
        uint256 charged = actualGasCost < reserved ? actualGasCost : reserved;
        u.ops = u.ops < type(uint16).max ? u.ops + 1 : u.ops;
        u.cost = uint80(_min(uint256(u.cost) + charged, type(uint80).max));
        _usage[account] = u;
        emit SponsorshipCharged(account, actualGasCost, u.windowStart, u.ops, u.cost);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Every call of the ERC-7821 batch must be a consumer action. Decodes `executionData` with the same library
    /// the account executes it with, so the paymaster judges exactly the calls that will run.
    function _checkBatch(address account, bytes calldata callData) private view {
        bytes4 selector = ConsumerSponsorPolicy.selectorOf(callData);
        if (selector != IERC7821.execute.selector) revert CallDataNotSponsored(selector);
        (bytes32 mode, bytes calldata executionData) = _decodeExecute(callData);
        if (mode != BATCH_MODE) revert ExecutionModeNotSponsored(mode);
        Execution[] calldata calls = ERC7579Utils.decodeBatch(executionData);
        if (calls.length == 0 || calls.length > MAX_CALLS) revert BatchSizeNotSponsored(calls.length, MAX_CALLS);
        for (uint256 i = 0; i < calls.length; ++i) {
            Execution calldata call = calls[i];
            if (call.value != 0) revert ValueNotSponsored(i, call.value);
            if (!ConsumerSponsorPolicy.isSponsoredCall(account, _escrow, _paymentToken, call.target, 0, call.callData))
            {
                revert CallNotSponsored(i, call.target, ConsumerSponsorPolicy.selectorOf(call.callData));
            }
        }
    }

    /// @dev `callData` = execute.selector ‖ abi.encode(bytes32 mode, bytes executionData), read the way Solidity's
    /// ABI decoder reads it for the account (head: mode, offset; tail at 4 + offset: length, bytes).
    function _decodeExecute(bytes calldata callData)
        private
        pure
        returns (bytes32 mode, bytes calldata executionData)
    {
        if (callData.length < 68) revert MalformedExecution();
        mode = bytes32(callData[4:36]);
        uint256 offset = uint256(bytes32(callData[36:68]));
        // callData.length >= 68, so the subtraction cannot underflow; offset is bounded before any addition.
        if (offset > callData.length - 36) revert MalformedExecution();
        uint256 start = 4 + offset + 32;
        uint256 length = uint256(bytes32(callData[4 + offset:start]));
        if (length > callData.length - start) revert MalformedExecution();
        executionData = callData[start:start + length];
    }

    /// @dev Reserves the operation's maximum cost; returns the `validAfter` the operation needs (0: none).
    function _reserve(address account, uint256 maxCost) private returns (uint48 validAfter) {
        Limits memory l = _limits;
        Usage memory u = _usage[account];
        bool fitsStoredWindow = uint256(u.ops) + u.pendingOps < l.maxOpsPerWindow
            && uint256(u.cost) + u.pendingCost + maxCost <= l.maxCostPerWindow;
        if (!fitsStoredWindow) {
            // Every operation of this bundle runs at one timestamp: if the stored window has ended by then, all of
            // them (the pending ones and this one) land in the fresh window postOp opens.
            bool fitsFreshWindow =
                uint256(u.pendingOps) < l.maxOpsPerWindow && uint256(u.pendingCost) + maxCost <= l.maxCostPerWindow;
            if (!fitsFreshWindow) revert SponsorshipLimitReached(account, maxCost, u.windowStart, l.window);
            // uint40 + uint32 cannot overflow uint48.
            validAfter = uint48(u.windowStart) + l.window;
        }
        // Both checks above bound pendingOps + 1 by maxOpsPerWindow (uint16) and pendingCost + maxCost by
        // maxCostPerWindow (uint80), so these casts and additions cannot overflow.
        u.pendingOps += 1;
        u.pendingCost += uint80(maxCost);
        _usage[account] = u;
    }

    function _setLimits(Limits memory newLimits) private {
        if (newLimits.window == 0 || newLimits.maxOpsPerWindow == 0 || newLimits.maxCostPerWindow == 0) {
            revert InvalidLimits(newLimits.window, newLimits.maxOpsPerWindow, newLimits.maxCostPerWindow);
        }
        _limits = newLimits;
        emit LimitsSet(newLimits.window, newLimits.maxOpsPerWindow, newLimits.maxCostPerWindow);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}

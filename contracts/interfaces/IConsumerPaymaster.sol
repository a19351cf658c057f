// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title The platform's gas sponsor for consumers' passkey accounts (ERC-4337 paymaster, EntryPoint v0.8)
/// @notice Pays the gas of a user operation only when all of the following hold, else validation reverts with the
/// named reason (bundlers report it as `AA33 reverted` with this error as revert data):
/// - the sender is a clone of the passkey-account implementation (its code hash), so `execute` means what we decode;
///   an operation that deploys the account must use the passkey-account factory;
/// - the call is ERC-7821 `execute` in single batch mode with 1..MAX_CALLS calls, none sending ETH, each one
///   a consumer action (see {ConsumerSponsorPolicy}, the one list of sponsored calls): an escrow call with a
///   consumer selector (join, cancel, fileClaim, withdraw), an ERC-20 `approve(escrow, amount)` of the payment token,
///   or the account managing itself (passkeys, guardian);
/// - the account is not blocked and stays within the per-account limits: at most `maxOpsPerWindow` operations and
///   `maxCostPerWindow` wei of gas per window of `window` seconds;
/// - the operation gives postOp at least MIN_POST_OP_GAS (postOp must not run out of gas: it settles the accounting).
///
/// Limits without reading the time (ERC-7562 forbids TIMESTAMP during validation): the usage of the account's current
/// window (start, operations, cost) is written in postOp, where the time may be read. Validation compares the stored
/// usage plus what this bundle has already reserved with the limits; an operation that does not fit in the stored
/// window but fits in a fresh one is sponsored with `validAfter` = end of the stored window, which the EntryPoint
/// checks against `block.timestamp` (AA32 until then), and postOp opens the new window. Validation reserves the
/// operation's maximum cost; postOp releases it and books the actual cost.
///
/// ERC-7562: validation reads the limits (the paymaster's own storage) so the paymaster must be staked in the
/// EntryPoint for public bundlers; per-account usage and the block list are the sender's associated storage.
///
/// Bots and 限购 loss leaders: per-address limits do not stop someone who creates many accounts (each passkey is a
/// new address, and the escrow's per-buyer limit is per address). What an operator can plug in, by deploying a
/// subclass or a second paymaster: a platform signature in `paymasterData` (OpenZeppelin `PaymasterSigner`) issued only
/// after a check the operator trusts (phone/SMS or WeChat login, captcha, device attestation at passkey registration,
/// one account per verified person), with an expiry in `validUntil`; a list of deals whose joins are sponsored (loss
/// leaders excluded, so bots pay their own gas); lower limits for accounts younger than N days; the block list
/// here (`setBlocked`); and rate limits per IP or device at the bundler's HTTP endpoint.
interface IConsumerPaymaster {
    /// @notice Per-account sponsorship limits (owner-set, the same for every account).
    /// @param window length of an accounting window in seconds (> 0)
    /// @param maxOpsPerWindow sponsored operations per account per window (> 0)
    /// @param maxCostPerWindow wei of gas per account per window (> 0); an operation reserves its maximum cost
    /// (gas limits × maxFeePerGas) during validation
    struct Limits {
        uint32 window;
        uint16 maxOpsPerWindow;
        uint80 maxCostPerWindow;
    }

    /// @notice An account's usage: its current window and what the bundle in flight has reserved.
    /// @param windowStart timestamp at which the account's current window opened (0: never sponsored)
    /// @param ops operations sponsored in the window
    /// @param pendingOps operations validated in the current bundle and not yet settled by postOp (0 between bundles)
    /// @param cost wei of gas sponsored in the window (the EntryPoint's actualGasCost as given to postOp)
    /// @param pendingCost maximum cost reserved by pendingOps
    struct Usage {
        uint40 windowStart;
        uint16 ops;
        uint16 pendingOps;
        uint80 cost;
        uint80 pendingCost;
    }

    /// @notice A constructor argument was the zero address.
    error ZeroAddress();
    /// @notice A limit was zero.
    error InvalidLimits(uint32 window, uint16 maxOpsPerWindow, uint80 maxCostPerWindow);
    /// @notice The sender's code is not a passkey-account clone.
    error AccountNotSponsored(address sender, bytes32 codeHash);
    /// @notice The operation deploys its account through another factory than the passkey-account factory.
    error FactoryNotSponsored(address factory);
    /// @notice The operation's callData is not ERC-7821 `execute` (its first four bytes are `functionSelector`).
    error CallDataNotSponsored(bytes4 functionSelector);
    /// @notice The ERC-7821 execution mode is not the single batch mode.
    error ExecutionModeNotSponsored(bytes32 mode);
    /// @notice The `execute` arguments are not a well-formed batch.
    error MalformedExecution();
    /// @notice A batch must hold 1..max calls.
    error BatchSizeNotSponsored(uint256 calls, uint256 max);
    /// @notice Call `index` of the batch is not a consumer action.
    error CallNotSponsored(uint256 index, address target, bytes4 functionSelector);
    /// @notice Call `index` of the batch sends ETH.
    error ValueNotSponsored(uint256 index, uint256 value);
    /// @notice The operation's paymasterPostOpGasLimit is below the minimum the accounting needs.
    error PostOpGasTooLow(uint256 postOpGasLimit, uint256 minimum);
    /// @notice The operator blocked the account.
    error AccountBlocked(address account);
    /// @notice The account used up its limits, or this operation alone exceeds them (`maxCost` is what it may cost).
    error SponsorshipLimitReached(address account, uint256 maxCost, uint40 windowStart, uint32 window);

    /// @notice The owner set the per-account limits.
    event LimitsSet(uint32 window, uint16 maxOpsPerWindow, uint80 maxCostPerWindow);
    /// @notice The owner blocked (or unblocked) an account.
    event AccountBlockSet(address indexed account, bool blocked);
    /// @notice The owner cleared an account's usage.
    event UsageReset(address indexed account);
    /// @notice postOp booked a sponsored operation of `account`: `actualGasCost` wei; the window's totals after it.
    event SponsorshipCharged(
        address indexed account, uint256 actualGasCost, uint40 windowStart, uint16 opsInWindow, uint80 costInWindow
    );

    /// @notice The escrow whose consumer actions are sponsored.
    function escrow() external view returns (address);

    /// @notice The payment token whose `approve(escrow, …)` is sponsored.
    function paymentToken() external view returns (address);

    /// @notice The passkey-account factory allowed in `initCode`.
    function accountFactory() external view returns (address);

    /// @notice The code hash of a passkey-account clone (ERC-1167 proxy of the factory's implementation).
    function accountCodeHash() external view returns (bytes32);

    /// @notice The per-account limits.
    function limits() external view returns (Limits memory);

    /// @notice An account's recorded usage (its window may have ended: the next sponsored operation opens a new one).
    function usage(address account) external view returns (Usage memory);

    /// @notice Whether the owner blocked `account`.
    function isBlocked(address account) external view returns (bool);

    /// @notice Whether one call from `account` is a sponsored consumer action (the same rule validation applies to
    /// each call of a batch), for bundlers and pages that want to explain a refusal before signing.
    function isSponsoredCall(address account, address target, uint256 value, bytes calldata data)
        external
        view
        returns (bool);

    /// @notice The owner sets the per-account limits (every field > 0).
    function setLimits(Limits calldata newLimits) external;

    /// @notice The owner blocks or unblocks an account.
    function setBlocked(address account, bool blocked) external;

    /// @notice The owner clears an account's usage (e.g. after a bundle whose postOp ran out of gas left a reservation).
    function resetUsage(address account) external;

    /// @notice Anyone adds ETH to the paymaster's deposit in the EntryPoint (the platform funds it).
    function deposit() external payable;

    /// @notice The paymaster's deposit in the EntryPoint, which pays sponsored gas.
    function getDeposit() external view returns (uint256);

    /// @notice The owner withdraws `amount` wei of the deposit to `to`.
    function withdraw(address payable to, uint256 amount) external;

    /// @notice The owner stakes `msg.value` in the EntryPoint with `unstakeDelaySec` (needed by public bundlers).
    function addStake(uint32 unstakeDelaySec) external payable;

    /// @notice The owner starts the unstake delay.
    function unlockStake() external;

    /// @notice The owner withdraws the unlocked stake to `to`.
    function withdrawStake(address payable to) external;
}

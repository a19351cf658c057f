// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {Execution} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7821} from "@openzeppelin/contracts/interfaces/draft-IERC7821.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";

import {ConsumerPaymaster} from "../accounts/ConsumerPaymaster.sol";
import {PasskeyAccount} from "../accounts/PasskeyAccount.sol";
import {PasskeyAccountFactory} from "../accounts/PasskeyAccountFactory.sol";
import {IConsumerPaymaster} from "../interfaces/IConsumerPaymaster.sol";
import {IGroupBuyEscrow} from "../interfaces/IGroupBuyEscrow.sol";
import {GroupBuyEscrowBase} from "./GroupBuyEscrowBase.t.sol";
import {Vm} from "./utils/Vm.sol";

/// @notice What tests need of EntryPoint v0.8 beyond OpenZeppelin's IEntryPoint.
interface IEntryPointV08 is IEntryPoint {
    event UserOperationEvent(
        bytes32 indexed userOpHash,
        address indexed sender,
        address indexed paymaster,
        uint256 nonce,
        bool success,
        uint256 actualGasCost,
        uint256 actualGasUsed
    );

    function getUserOpHash(PackedUserOperation calldata userOp) external view returns (bytes32);
}

/// @notice The real stack: the escrow fixture of GroupBuyEscrowBase, EntryPoint v0.8 deployed from
/// the npm package account-abstraction/contracts 0.8.0's artifact through the deterministic CREATE2 deployer (so it lands at its
/// canonical address and its SenderCreator answers it), the passkey-account factory and the consumer paymaster
/// (funded). Passkeys are P-256 keys signed with forge's `signP256`, wrapped in WebAuthn assertions the way a browser
/// builds them (authenticatorData ‖ sha256(clientDataJSON), challenge = base64url(userOpHash)).
abstract contract PasskeyAccountBase is GroupBuyEscrowBase {
    address internal constant CREATE2_DEPLOYER = 0x4e59b44847b379578588920cA78FbF26c0B4956C;
    bytes32 internal constant ENTRYPOINT_SALT = 0x0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9;
    IEntryPointV08 internal constant ENTRYPOINT = IEntryPointV08(0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108);
    string internal constant ENTRYPOINT_ARTIFACT = "node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json";
    /// @dev The Arachnid deterministic deployer's runtime code, in case forge's EVM does not predeploy it.
    bytes internal constant CREATE2_DEPLOYER_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

    /// @dev P-256 curve order and half of it (OpenZeppelin P256 refuses s > n/2).
    uint256 internal constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    uint256 internal constant P256_HALF_N = 0x7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8;

    bytes1 internal constant FLAGS_UP_UV = 0x05;
    bytes32 internal constant RP_ID_HASH = keccak256("localhost"); // any 32 bytes: not checked on chain
    uint256 internal constant GAS_PRICE = 1 gwei;

    PasskeyAccountFactory internal factory;
    ConsumerPaymaster internal paymaster;
    address payable internal bundler = payable(makeAddr("bundler"));

    uint256 internal constant PASSKEY_1 = 0xA11CE;
    uint256 internal constant PASSKEY_2 = 0xB0B;
    uint256 internal constant PASSKEY_3 = 0xC0FFEE;

    IConsumerPaymaster.Limits internal defaultLimits =
        IConsumerPaymaster.Limits({window: 1 days, maxOpsPerWindow: 5, maxCostPerWindow: 0.01 ether});

    /// @notice A WebAuthn assertion under construction (what the authenticator and browser would produce).
    struct Assertion {
        bytes1 flags;
        string challenge; // base64url; defaults to the hash being signed
        string type_; // "webauthn.get"
        bool highS; // leave s in the upper half (as a browser may return it)
    }

    function setUp() public virtual override {
        super.setUp();
        deployEntryPoint();
        factory = new PasskeyAccountFactory();
        paymaster =
            new ConsumerPaymaster(address(escrow), address(token), factory, platform, defaultLimits);
        vm.deal(platform, 100 ether);
        vm.prank(platform);
        paymaster.deposit{value: 10 ether}();
    }

    function deployEntryPoint() internal {
        if (CREATE2_DEPLOYER.code.length == 0) vm.etch(CREATE2_DEPLOYER, CREATE2_DEPLOYER_CODE);
        bytes memory creationCode = vm.parseJsonBytes(vm.readFile(ENTRYPOINT_ARTIFACT), ".bytecode");
        (bool ok, bytes memory out) = CREATE2_DEPLOYER.call(abi.encodePacked(ENTRYPOINT_SALT, creationCode));
        require(ok && out.length == 20 && address(bytes20(out)) == address(ENTRYPOINT), "EntryPoint not canonical");
    }

    // ---------------------------------------------------------------- passkeys

    function passkey(uint256 privateKey) internal pure returns (bytes32 qx, bytes32 qy) {
        (uint256 x, uint256 y) = vm.publicKeyP256(privateKey);
        return (bytes32(x), bytes32(y));
    }

    function accountAddress(uint256 privateKey, bytes32 salt) internal view returns (address) {
        (bytes32 qx, bytes32 qy) = passkey(privateKey);
        return factory.getAddress(qx, qy, salt);
    }

    function createAccount(uint256 privateKey) internal returns (PasskeyAccount) {
        (bytes32 qx, bytes32 qy) = passkey(privateKey);
        return PasskeyAccount(payable(factory.createAccount(qx, qy, bytes32(0))));
    }

    function signerOf(uint256 privateKey) internal view returns (bytes memory) {
        (bytes32 qx, bytes32 qy) = passkey(privateKey);
        return abi.encodePacked(factory.webAuthnVerifier(), qx, qy);
    }

    function defaultAssertion() internal pure returns (Assertion memory) {
        return Assertion({flags: FLAGS_UP_UV, challenge: "", type_: "webauthn.get", highS: false});
    }

    /// @notice The WebAuthn assertion a browser returns for `challengeHash`, ABI-encoded as OpenZeppelin's WebAuthnAuth.
    function webAuthnSign(uint256 privateKey, bytes32 challengeHash, Assertion memory a)
        internal
        pure
        returns (bytes memory)
    {
        string memory challenge =
            bytes(a.challenge).length == 0 ? Base64.encodeURL(abi.encodePacked(challengeHash)) : a.challenge;
        string memory clientDataJSON = string.concat(
            '{"type":"', a.type_, '","challenge":"', challenge, '","origin":"http://localhost:8000","crossOrigin":false}'
        );
        bytes memory authenticatorData = abi.encodePacked(RP_ID_HASH, a.flags, uint32(7));
        bytes32 message = sha256(abi.encodePacked(authenticatorData, sha256(bytes(clientDataJSON))));
        (bytes32 r, bytes32 s) = vm.signP256(privateKey, message);
        // Make s low or high as asked, whatever forge returned.
        bool isHigh = uint256(s) > P256_HALF_N;
        if (isHigh != a.highS) s = bytes32(P256_N - uint256(s));
        // WebAuthnAuth's fields as a flat tuple (what WebAuthn.tryDecodeAuth reads, not abi.encode of the struct,
        // which would start with an offset). challengeIndex 23 is just after {"type":"webauthn.get", ; typeIndex 1.
        return abi.encode(r, s, uint256(23), uint256(1), authenticatorData, clientDataJSON);
    }

    /// @notice MultiSignerERC7913's signature envelope with one passkey.
    function multisig(uint256 privateKey, bytes memory webAuthnSignature) internal view returns (bytes memory) {
        bytes[] memory signers = new bytes[](1);
        signers[0] = signerOf(privateKey);
        bytes[] memory signatures = new bytes[](1);
        signatures[0] = webAuthnSignature;
        return abi.encode(signers, signatures);
    }

    // ---------------------------------------------------------------- user operations

    function batch(Execution[] memory calls) internal pure returns (bytes memory) {
        return abi.encodeCall(IERC7821.execute, (bytes32(uint256(1) << 248), abi.encode(calls)));
    }

    function call1(address target, bytes memory data) internal pure returns (Execution[] memory calls) {
        calls = new Execution[](1);
        calls[0] = Execution({target: target, value: 0, callData: data});
    }

    function approveAndJoin(uint256 dealId, uint256 quantity, address leader)
        internal
        view
        returns (Execution[] memory calls)
    {
        calls = new Execution[](2);
        calls[0] = Execution({
            target: address(token),
            value: 0,
            callData: abi.encodeCall(token.approve, (address(escrow), quantity * TOP_PRICE))
        });
        calls[1] = Execution({
            target: address(escrow),
            value: 0,
            callData: abi.encodeCall(IGroupBuyEscrow.join, (dealId, quantity, leader))
        });
    }

    /// @notice An unsigned sponsored operation of `sender` (nonce from the EntryPoint, generous gas limits).
    function userOp(address sender, bytes memory callData) internal view returns (PackedUserOperation memory op) {
        op.sender = sender;
        op.nonce = ENTRYPOINT.getNonce(sender, 0);
        op.callData = callData;
        op.accountGasLimits = bytes32(uint256(600_000) << 128 | uint256(400_000));
        op.preVerificationGas = 60_000;
        op.gasFees = bytes32(GAS_PRICE << 128 | GAS_PRICE);
        op.paymasterAndData = abi.encodePacked(address(paymaster), uint128(150_000), uint128(50_000));
    }

    function withInitCode(PackedUserOperation memory op, uint256 privateKey)
        internal
        view
        returns (PackedUserOperation memory)
    {
        (bytes32 qx, bytes32 qy) = passkey(privateKey);
        op.initCode = abi.encodePacked(address(factory), abi.encodeCall(factory.createAccount, (qx, qy, bytes32(0))));
        return op;
    }

    function sign(PackedUserOperation memory op, uint256 privateKey, Assertion memory a)
        internal
        view
        returns (PackedUserOperation memory)
    {
        bytes32 hash = ENTRYPOINT.getUserOpHash(op);
        op.signature = multisig(privateKey, webAuthnSign(privateKey, hash, a));
        return op;
    }

    function sign(PackedUserOperation memory op, uint256 privateKey) internal view returns (PackedUserOperation memory) {
        return sign(op, privateKey, defaultAssertion());
    }

    function handle(PackedUserOperation memory op) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        ENTRYPOINT.handleOps(ops, bundler);
    }

    /// @notice The (actualGasCost, actualGasUsed, success) of the last UserOperationEvent in the recorded logs.
    function lastUserOperationEvent() internal returns (uint256 cost, uint256 gasUsed, bool success) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = logs.length; i > 0; --i) {
            if (logs[i - 1].topics[0] == IEntryPointV08.UserOperationEvent.selector) {
                (, success, cost, gasUsed) = abi.decode(logs[i - 1].data, (uint256, bool, uint256, uint256));
                return (cost, gasUsed, success);
            }
        }
        revert("no UserOperationEvent");
    }
}

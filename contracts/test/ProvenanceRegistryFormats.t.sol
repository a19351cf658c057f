// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Test} from "./utils/Test.sol";
import {ProvenanceFormats} from "../ProvenanceRegistry.sol";

/// @dev Exposes the calldata-only library to the tests.
contract ProvenanceFormatsHarness {
    function isValidGtin14(bytes calldata gtin) external pure returns (bool) {
        return ProvenanceFormats.isValidGtin14(gtin);
    }

    function isValidLot(bytes calldata lot) external pure returns (bool) {
        return ProvenanceFormats.isValidLot(lot);
    }

    function cidDigest(bytes calldata cid) external pure returns (bool, bytes32) {
        return ProvenanceFormats.cidDigest(cid);
    }
}

/// @notice GTIN-14, GS1 lot and CID rules, each fuzzed against an independent reference with fixed twins.
contract ProvenanceRegistryFormatsTest is Test {
    ProvenanceFormatsHarness internal formats;

    /// @dev The 82 characters of GS1 AI encodable character set 82, spelled out (reference for the bitmask).
    bytes internal constant CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

    function setUp() public {
        formats = new ProvenanceFormatsHarness();
    }

    // ------------------------------------------------------------------------------------------------
    // GTIN-14
    // ------------------------------------------------------------------------------------------------

    function test_gtin_fixedVectors() public view {
        assertTrue(formats.isValidGtin14("09506000134352"), "GS1 example");
        assertFalse(formats.isValidGtin14("09506000134353"), "GS1 example, wrong check digit");
        assertTrue(formats.isValidGtin14("04006381333931"), "EAN-13 4006381333931 padded");
        assertTrue(formats.isValidGtin14("00012345678905"), "UPC-A 012345678905 padded");
        assertTrue(formats.isValidGtin14("10614141000415"), "GS1 DL example, indicator 1");
        assertFalse(formats.isValidGtin14("00000000000000"), "all zeros: check digit 0, but no product");
        assertTrue(formats.isValidGtin14("00000000000017"), "one digit from all zeros, GTIN-8 00000017");
        assertFalse(formats.isValidGtin14("0950600013435"), "13 digits");
        assertFalse(formats.isValidGtin14("095060001343520"), "15 digits");
        assertFalse(formats.isValidGtin14("0950600013435A"), "letter");
        assertFalse(formats.isValidGtin14(" 9506000134352"), "space");
        assertFalse(formats.isValidGtin14(""), "empty");
    }

    /// @dev Every 13-digit body accepts exactly one check digit: the reference's.
    function testFuzz_gtin_acceptsOnlyTheReferenceCheckDigit(uint256 seed, uint8 wrong) public view {
        bytes memory body = new bytes(13);
        for (uint256 i; i < 13; ++i) {
            body[i] = bytes1(uint8(0x30 + (seed % 10)));
            seed /= 10;
        }
        uint8 check = _referenceCheckDigit(body);
        bool named = _notAllZeros(body);
        assertEq(formats.isValidGtin14(bytes.concat(body, bytes1(0x30 + check))), named, "reference check digit");
        uint8 other = uint8(bound(wrong, 0, 8));
        if (other >= check) ++other; // any digit but the check digit
        assertFalse(formats.isValidGtin14(bytes.concat(body, bytes1(0x30 + other))), "wrong check digit");
    }

    /// @dev Arbitrary 14-byte strings agree with the reference (which refuses any non-digit).
    function testFuzz_gtin_agreesWithReferenceOnArbitraryBytes(bytes14 raw) public view {
        bytes memory gtin = abi.encodePacked(raw);
        bool expected = true;
        for (uint256 i; i < 14; ++i) {
            if (gtin[i] < "0" || gtin[i] > "9") expected = false;
        }
        if (expected) {
            bytes memory body = new bytes(13);
            for (uint256 i; i < 13; ++i) body[i] = gtin[i];
            expected = uint8(gtin[13]) - 0x30 == _referenceCheckDigit(body) && _notAllZeros(body);
        }
        assertEq(formats.isValidGtin14(gtin), expected, "gtin validity");
    }

    /// @dev The one GTIN the check digit alone would pass but that names nothing: thirteen zeros (then 0).
    function _notAllZeros(bytes memory body) internal pure returns (bool) {
        for (uint256 i; i < body.length; ++i) {
            if (body[i] != "0") return true;
        }
        return false;
    }

    /// @dev GS1 General Specifications 7.9.1: from the right, excluding the check digit, weights 3,1,3,...
    function _referenceCheckDigit(bytes memory body) internal pure returns (uint8) {
        uint256 sum;
        for (uint256 fromRight; fromRight < body.length; ++fromRight) {
            uint256 digit = uint8(body[body.length - 1 - fromRight]) - 0x30;
            sum += fromRight % 2 == 0 ? 3 * digit : digit;
        }
        uint256 roundedUp = ((sum + 9) / 10) * 10;
        return uint8(roundedUp - sum);
    }

    // ------------------------------------------------------------------------------------------------
    // Lot (AI 10, X..20 over set 82)
    // ------------------------------------------------------------------------------------------------

    function test_lot_fixedVectors() public view {
        assertTrue(formats.isValidLot("A"), "one char");
        assertTrue(formats.isValidLot("12345678901234567890"), "20 chars");
        assertFalse(formats.isValidLot("123456789012345678901"), "21 chars");
        assertFalse(formats.isValidLot(""), "empty");
        assertTrue(formats.isValidLot("LOT-2025/07.A_b"), "mixed");
        assertFalse(formats.isValidLot("LOT 1"), "space");
        assertFalse(formats.isValidLot("LOT#1"), "hash sign");
        assertFalse(formats.isValidLot("LOT$"), "dollar");
        assertFalse(formats.isValidLot("a@b"), "at sign");
        assertFalse(formats.isValidLot("[x]"), "brackets");
        assertFalse(formats.isValidLot(hex"e689b9"), "UTF-8 CJK");
    }

    function test_lot_acceptsEachCharacterOfSet82AndNoOther() public view {
        uint256 accepted;
        for (uint256 c; c < 256; ++c) {
            bool ok = formats.isValidLot(abi.encodePacked(uint8(c)));
            assertEq(ok, _inSet82(uint8(c)), "character");
            if (ok) ++accepted;
        }
        assertEq(accepted, 82, "set 82 size");
    }

    function testFuzz_lot_agreesWithReference(bytes memory lot) public view {
        bool expected = lot.length >= 1 && lot.length <= 20;
        for (uint256 i; i < lot.length && expected; ++i) {
            expected = _inSet82(uint8(lot[i]));
        }
        assertEq(formats.isValidLot(lot), expected, "lot validity");
    }

    /// @dev Builds valid lots from set-82 characters so the accepting branch is fuzzed too.
    function testFuzz_lot_acceptsAnyStringOverSet82(bytes32 seed, uint8 lengthSeed) public view {
        uint256 length = bound(lengthSeed, 1, 20);
        bytes memory lot = new bytes(length);
        for (uint256 i; i < length; ++i) {
            lot[i] = CSET82[uint8(seed[i]) % 82];
        }
        assertTrue(formats.isValidLot(lot), "set-82 lot");
    }

    function _inSet82(uint8 c) internal pure returns (bool) {
        for (uint256 i; i < CSET82.length; ++i) {
            if (uint8(CSET82[i]) == c) return true;
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------------
    // CIDs
    // ------------------------------------------------------------------------------------------------

    /// @dev Vectors from py `multiformats` (kubo-compatible): "hello tuanchain" as CIDv1 raw
    /// (bafkreih7pjafwpogvkzfzhs2fts2w2vi3afpj3ldowe3otcjri5pnf2tni), CIDv0 (QmfXvnuGt4poBSJjG8ZpCrVyZZvbzeoMCixLi38J3xuaKb)
    /// and CIDv1 dag-json (two-byte codec varint 0xa9 0x02); and kubo's empty directory QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn.
    function test_cid_realVectors() public view {
        bytes32 helloDigest = sha256("hello tuanchain");
        _assertDigest(hex"01551220ff7a405b3dc6aab25c9e5a2ce5ab6aa8d80af4ed637589b74c498a3af697536a", helloDigest);
        _assertDigest(hex"1220ff7a405b3dc6aab25c9e5a2ce5ab6aa8d80af4ed637589b74c498a3af697536a", helloDigest);
        _assertDigest(hex"01a9021220ff7a405b3dc6aab25c9e5a2ce5ab6aa8d80af4ed637589b74c498a3af697536a", helloDigest);
        _assertDigest(
            hex"122059948439065f29619ef41280cbb932be52c56d99c5966b65e0111239f098bbef",
            0x59948439065f29619ef41280cbb932be52c56d99c5966b65e0111239f098bbef
        );
    }

    function test_cid_refusesMalformed() public view {
        bytes32 d = sha256("x");
        _assertRefused("", "empty");
        _assertRefused(abi.encodePacked(hex"1220", d, hex"00"), "v0 too long");
        _assertRefused(abi.encodePacked(hex"1220", bytes31(d)), "v0 too short");
        _assertRefused(abi.encodePacked(hex"1320", d), "v0 sha2-512 code");
        _assertRefused(abi.encodePacked(hex"1221", d, hex"00"), "v0 wrong length byte");
        _assertRefused(abi.encodePacked(hex"015512", hex"20", bytes31(d)), "v1 truncated digest");
        _assertRefused(abi.encodePacked(hex"0155", hex"1220", d, hex"00"), "v1 trailing byte");
        _assertRefused(abi.encodePacked(hex"0255", hex"1220", d), "version 2");
        _assertRefused(abi.encodePacked(hex"0055", hex"1220", d), "version 0 prefix");
        _assertRefused(abi.encodePacked(hex"0155", hex"1e20", d), "v1 blake3");
        _assertRefused(abi.encodePacked(hex"0155", hex"0020", d), "v1 identity multihash");
        _assertRefused(abi.encodePacked(hex"0155", hex"1340", d, d), "v1 sha2-512");
        _assertRefused(abi.encodePacked(hex"01d500", hex"1220", d), "non-minimal codec varint");
        _assertRefused(abi.encodePacked(hex"01ffffffffffffffffff01", hex"1220", d), "10-byte codec varint");
        _assertRefused(abi.encodePacked(hex"01", hex"1220", d), "v1 without codec");
        _assertRefused(bytes("bafkreih7pjafwpogvkzfzhs2fts2w2vi3afpj3ldowe3otcjri5pnf2tni"), "string form");
    }

    function testFuzz_cid_v1AnyCodecRoundTrips(uint64 codec, bytes32 digest) public view {
        bytes memory cid = abi.encodePacked(hex"01", _varint(codec), hex"1220", digest);
        // Codecs needing more than 9 varint bytes (>= 2^63) are outside the multiformats varint spec.
        bool expected = codec < (1 << 63);
        (bool ok, bytes32 got) = formats.cidDigest(cid);
        assertEq(ok, expected, "accepted");
        if (ok) assertEq(got, digest, "digest");
    }

    function testFuzz_cid_v0RoundTrips(bytes32 digest) public view {
        (bool ok, bytes32 got) = formats.cidDigest(abi.encodePacked(hex"1220", digest));
        assertTrue(ok, "v0 accepted");
        assertEq(got, digest, "digest");
    }

    /// @dev Any byte string that is not one of the two accepted shapes is refused.
    function testFuzz_cid_refusesOtherShapes(bytes memory cid) public view {
        bool v0 = cid.length == 34 && cid[0] == 0x12 && cid[1] == 0x20;
        bool v1Shape = cid.length >= 36 && cid[0] == 0x01 && cid[cid.length - 34] == 0x12
            && cid[cid.length - 33] == 0x20;
        vm.assume(!v0 && !v1Shape);
        (bool ok,) = formats.cidDigest(cid);
        assertFalse(ok, "refused");
    }

    function _assertDigest(bytes memory cid, bytes32 digest) internal view {
        (bool ok, bytes32 got) = formats.cidDigest(cid);
        assertTrue(ok, "cid accepted");
        assertEq(got, digest, "digest");
    }

    function _assertRefused(bytes memory cid, string memory why) internal view {
        (bool ok, bytes32 got) = formats.cidDigest(cid);
        assertFalse(ok, why);
        assertEq(got, bytes32(0), why);
    }

    function _varint(uint64 value) internal pure returns (bytes memory out) {
        do {
            uint8 b = uint8(value & 0x7f);
            value >>= 7;
            if (value != 0) b |= 0x80;
            out = bytes.concat(out, bytes1(b));
        } while (value != 0);
    }
}

"""How long a buyer's pickup code is, and which QR version (level M) draws it: the first form (JSON
with the signature in hex) against the short one (``tc2.…``, :mod:`chain.aa.compact`), for a
wallet (EOA) and for a passkey account (ERC-1271 + ERC-7739), with the clientDataJSON a browser
writes on localhost and on an HTTPS site. Prints JSON.

    .venv/bin/python scripts/pickup_code_sizes.py
"""

from __future__ import annotations

import json

import segno
from eth_account import Account

from chain.aa import compact
from chain.aa.erc7739 import typed_data_sign_digest, wrap_signature
from chain.aa.webauthn import SoftwarePasskey, account_signature, base64url
from chain.eip712 import handover_typed_data, sign_typed_data

CHAIN_ID = 31337
ESCROW = "0x" + "e5" * 20
LEADER = "0x" + "1e" * 20
VERIFIER = "0x" + "7e" * 20
DEAL, QUANTITY, EXPIRY = 42, 3, 1_764_560_000


def first_form(buyer: str, signature: bytes) -> str:
    code = {"v": 1, "deal": DEAL, "buyer": buyer, "quantity": QUANTITY, "expiry": EXPIRY}
    return json.dumps({**code, "signature": "0x" + signature.hex()}, separators=(",", ":"))


def short_form(buyer: str, kind: str, data: bytes) -> str:
    fields = ["tc2", DEAL, buyer[2:].lower(), QUANTITY, EXPIRY, kind, base64url(data)]
    return ".".join(str(f) for f in fields)


def measured(text: str) -> dict[str, int]:
    return {"chars": len(text), "qr_version": segno.make(text, error="m").version}


def main() -> None:
    out: dict[str, dict[str, dict[str, int]]] = {}
    wallet = Account.from_key(b"\x11" * 32)
    typed = handover_typed_data(
        escrow=ESCROW, chain_id=CHAIN_ID, deal_id=DEAL, buyer=wallet.address,
        leader=LEADER, quantity=QUANTITY, expiry=EXPIRY,
    )  # fmt: skip
    signature = bytes(sign_typed_data(wallet, typed).signature)
    out["wallet"] = {
        "before": measured(first_form(wallet.address, signature)),
        "after": measured(short_form(wallet.address, "e", signature)),
    }
    key = SoftwarePasskey.from_secret(7)
    account = "0x" + "ac" * 20
    typed = handover_typed_data(
        escrow=ESCROW, chain_id=CHAIN_ID, deal_id=DEAL, buyer=account,
        leader=LEADER, quantity=QUANTITY, expiry=EXPIRY,
    )  # fmt: skip
    challenge = typed_data_sign_digest(typed, account=account, chain_id=CHAIN_ID)
    for name, rp_id, origin in (
        ("passkey_localhost", "localhost", "http://localhost:8000"),
        ("passkey_https", "tuan.example.cn", "https://tuan.example.cn"),
    ):
        assertion = key.assertion(challenge, rp_id=rp_id, origin=origin)
        full = wrap_signature(account_signature([(key.signer(VERIFIER), assertion)]), typed)
        short = compact.compact_signature(full)
        rebuilt = compact.expand(
            short, typed_data=typed, account=account, chain_id=CHAIN_ID,
            signers=[key.signer(VERIFIER)],
        )  # fmt: skip
        assert rebuilt == full, "the compact form must rebuild the signature byte for byte"
        out[name] = {
            "before": measured(first_form(account, full)),
            "after": measured(short_form(account, "w", short)),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

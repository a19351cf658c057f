"""A burst of relayed joins against a running service: prepare → sign → ``POST /v1/relay``.

Fresh consumers (random keys, tokens minted by the platform, no ETH) join the demo's open rice
deal at once from a thread pool, as a wave of phones would before 截单.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from chain.context import Chain

USD = 10**6


@dataclass
class Burst:
    """What the service answered: accepted request ids by consumer, and refusals."""

    accepted: dict[str, list[str]] = field(default_factory=dict)  # address -> relay ids
    refused: list[str] = field(default_factory=list)  # connection errors, non-2xx answers

    @property
    def ids(self) -> list[str]:
        return [i for ids in self.accepted.values() for i in ids]


def consumers(chain: Chain, count: int) -> list[LocalAccount]:
    """``count`` fresh accounts holding 100 tUSD each (minted by the platform) and no ETH."""
    accounts = [Account.create() for _ in range(count)]
    for account in accounts:
        chain.clients.token.mint(account.address, 100 * USD, signer=chain.platform)
    return accounts


def _join(
    api_url: str,
    account: LocalAccount,
    *,
    deal_id: int,
    leader: str,
    joins: int,
    first_accepted: threading.Event,
) -> tuple[list[str], list[str]]:
    """``joins`` consecutive joins of one unit each (queued behind each other: nonces n, n+1...)."""
    accepted: list[str] = []
    refused: list[str] = []
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for _ in range(joins):
            try:
                prepared = client.post(
                    "/v1/actions/join/prepare",
                    json={
                        "from": account.address,
                        "deal_id": deal_id,
                        "quantity": 1,
                        "leader": leader,
                    },
                )
                if prepared.status_code != 200:
                    refused.append(f"prepare {prepared.status_code}: {prepared.text[:200]}")
                    return accepted, refused
                body: dict[str, Any] = prepared.json()
                body["signatures"] = {
                    name: account.sign_typed_data(full_message=payload).signature.to_0x_hex()
                    for name, payload in body["payloads"].items()
                }
                relayed = client.post("/v1/relay", json=body)
            except httpx.TransportError as exc:  # the service stopped accepting
                refused.append(f"{type(exc).__name__}: {exc}")
                return accepted, refused
            if relayed.status_code not in (200, 202):
                refused.append(f"relay {relayed.status_code}: {relayed.text[:200]}")
                return accepted, refused
            accepted.append(relayed.json()["id"])
            first_accepted.set()
    return accepted, refused


def burst(
    api_url: str,
    accounts: list[LocalAccount],
    *,
    deal_id: int,
    leader: str,
    joins_each: int = 2,
    on_first_accepted: Callable[[], None] | None = None,
) -> Burst:
    """Every account joins ``joins_each`` times, all accounts at once.

    ``on_first_accepted`` runs (in the caller's thread) as soon as any request is accepted,
    while the others are still in flight: where a test sends its signal.
    """
    result = Burst()
    first_accepted = threading.Event()
    with ThreadPoolExecutor(max_workers=len(accounts)) as pool:
        futures = {
            account.address: pool.submit(
                _join,
                api_url,
                account,
                deal_id=deal_id,
                leader=leader,
                joins=joins_each,
                first_accepted=first_accepted,
            )
            for account in accounts
        }
        if on_first_accepted is not None:
            # Set by the first 202, or never if every request was refused (then the results tell).
            while not first_accepted.wait(0.05):
                if all(f.done() for f in futures.values()):
                    break
            on_first_accepted()
        for address, future in futures.items():
            accepted, refused = future.result()
            result.accepted[address] = accepted
            result.refused += refused
    return result

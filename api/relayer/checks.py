"""The checks a signed gasless request passes before the outbox takes it (:mod:`api.relayer.accept`).

Checks, in order (each failure is a 4xx with a machine-readable code):

1. shape: a ``ForwardRequest`` under *our* forwarder's EIP-712 domain (its name and version, its
   address, *this* chain; 400 ``wrong_domain``), to a contract that trusts it,
   carrying no ETH, its calldata exactly its call's ABI encoding (nothing after the arguments:
   the relayer would pay for those bytes), and asking at most ``MAX_REQUEST_GAS`` (400
   ``gas_too_high``: the relayer reserves each request's gas in a batch, :mod:`api.relayer.gas`);
   the call one the relayer pays for: an action tuanchain's pages prepare
   (``api.relayer.describe.ACTION_OF_FUNCTION``; else 400 ``not_sponsored``, said after the
   nonce checks as an undecodable call is);
2. signature: the EIP-712 signer recovered from the signature is ``message.from`` (400
   ``bad_signature``) — the same recovery MetaMask / ethers / eth-account signatures pass;
3. deadline: not past in chain time (400 ``expired``);
4. nonce: the next one after the signer's requests waiting in the outbox — the chain's current
   forwarder nonce when none wait, else the one after the highest queued (contiguous nonces, so
   a consumer may join two deals back to back). Lower than the chain's, or held by a pending
   request: 400 ``replayed_nonce``; higher: 400 ``nonce_ahead``. The same signed request posted
   twice returns the first one's id;
5. the forwarder's own ``verify`` (belt and braces: it is what ``execute`` will check) — only
   for a request that is next on chain; one queued behind others would fail it until they run;
6. for a join, the permit: the token's EIP-712 domain (name, version, address, chain), owner = signer, spender = escrow, value exactly the
   join's quantity × top price (what ``joinWithPermit`` permits), the next token nonce after the signer's queued joins' permits, unexpired, signed by the
   owner;
7. simulation (``ForwarderClient.simulate``): the target call ``eth_call``-ed from the forwarder
   with the signer appended, as ERC-2771 delivers it (``joinWithPermit`` with the permit for a
   join), because the forwarder hides a failed inner call behind ``FailedCall()``; a revert
   is refused with the contract's own named error (409, ``DealClosed`` ...). Then, for requests
   that need no permit, ``execute`` itself is ``eth_call``-ed from the relayer, which also catches
   a request whose gas is too low; as that covers only a request next on chain without a permit,
   the simulation runs with only the signed ``gas``, and only if that fails also with the node's,
   to tell the call's own error from too little gas (400 ``gas_too_low``). A request queued behind the signer's others is simulated
   against the chain as it is *now* (not as it will be after them); for a join whose permit
   waits behind a queued join's permit, the simulation may only fail on the allowance the permit
   will give (``ERC20InsufficientAllowance``), as in ``prepare``. The worker simulates again
   right before sending.

The chain reads of steps 3-7 go to the node in one JSON-RPC batch (one round trip per accept:
the reads and the simulations do not depend on each other), and each answer is looked at where
its check stands above, so a request wrong in two ways is refused for the same reason as ever.
Profiled under the rush (issue 15), the four separate calls through web3 were most of an accept.

Only then is the request committed (status ``queued``); the worker sends it. What the row records
about the request (``details``) is decoded from the signed payloads (:mod:`api.relayer.describe`);
``details`` posted by the client are ignored. A unique index on a pending request's (signer, nonce)
settles two API processes accepting one nonce at once: one commits, the other answers 409
``nonce_taken``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hexbytes import HexBytes

from api.errors import ApiError
from api.relayer.describe import ACTION_OF_FUNCTION, ANCHORED_DOCUMENT, describe_call
from api.relayer.gas import MAX_REQUEST_GAS
from api.relayer.permits import WITH_PERMIT, with_permit_calldata
from api.relayer.queue import MAX_PENDING_PER_SIGNER, SignerQueue
from chain import errors as chain_errors
from chain.address import checksum_address
from chain.context import Chain
from chain.eip712 import (
    EIP712_DOMAIN_TYPE,
    FORWARD_REQUEST_TYPE,
    FORWARDER_NAME,
    FORWARDER_VERSION,
    PERMIT_TYPE,
    TOKEN_VERSION,
    Signature,
    canonical_signature,
    forward_request_data,
    recover_typed_data_signer,
    typed_data_digest,
)
from chain.tx import decode_uint
from traceability.errors import TraceabilityError
from traceability.ipfs import DocumentStore
from traceability.ipfs.errors import DocumentNotFound
from traceability.merkle import parse_manifest

logger = logging.getLogger(__name__)


# The anchored documents ``prepare`` itself stores (api.relayer.prepare.registry): a request
# naming one the store no longer holds is refused.
PREPARED_DOCUMENTS = ("anchorEvent", "anchorRoot")


def _not_stored(cid: str) -> ApiError:
    return ApiError(
        409,
        "document_not_stored",
        f"the document {cid} this request anchors is no longer in the store (a prepared document "
        "is kept unpinned for a day): prepare the action again and sign it",
        cid=cid,
    )


def bad_request(code: str, message: str, **details: Any) -> ApiError:
    return ApiError(400, code, message, **details)


def _types_match(typed: dict[str, Any], primary: str, fields: list[dict[str, str]]) -> bool:
    types = typed.get("types")
    return (
        typed.get("primaryType") == primary
        and isinstance(types, dict)
        and types.get(primary) == fields
        and isinstance(typed.get("domain"), dict)
        and isinstance(typed.get("message"), dict)
    )


def _recover(
    typed: dict[str, Any], signature: str, what: str, *, digest: bytes | None = None
) -> str:
    try:
        return checksum_address(recover_typed_data_signer(typed, signature, digest=digest))
    except chain_errors.InvalidSignature as exc:
        raise bad_request(
            "bad_signature", f"the {what} signature cannot be checked: {exc}"
        ) from None


def _domain_is(
    typed: dict[str, Any],
    *,
    chain_id: int,
    contract: str,
    what: str,
    name: str | None = None,
    version: str | None = None,
) -> None:
    """The typed data's domain is ``contract``'s on ``chain_id`` (and, given, its EIP-712
    ``name`` and ``version``, under the standard domain type: a signature under any other
    domain recovers an address here, but never the signer in the contract)."""
    domain = typed["domain"]
    try:
        ok = int(domain.get("chainId", -1)) == chain_id and checksum_address(
            str(domain.get("verifyingContract", ""))
        ) == checksum_address(contract)
    except (TypeError, ValueError):
        ok = False
    if name is not None:
        domain_type = typed["types"].get("EIP712Domain")
        standard = domain_type == EIP712_DOMAIN_TYPE or (
            domain_type is None  # (inferred from the domain's fields, as ethers leaves it out)
            and set(domain) == {field["name"] for field in EIP712_DOMAIN_TYPE}
        )
        if domain.get("name") != name or domain.get("version") != version or not standard:
            ok = False
    if not ok:
        raise bad_request(
            "wrong_domain",
            f"the {what} is not for {contract} on chain {chain_id}",
            domain=domain,
        )


class RequestChecker:
    """Runs the checks above against one chain connection."""

    def __init__(
        self,
        chain: Chain,
        store: DocumentStore | None = None,
        queue_of: Callable[[str, int, int], SignerQueue] | None = None,
    ) -> None:
        self.chain = chain
        self.store = store
        # (signer, its forwarder nonce, its token nonce) → its queue in the outbox (None: no outbox).
        self.queue_of = queue_of
        self.clients = chain.clients
        self.targets = {self.clients.escrow.address, self.clients.registry.address}

    def chain_time(self) -> int:
        return self.chain.sender.chain_time()

    def _client_of(self, target: str) -> Any:
        """The client of a trusted target (the escrow or the registry)."""
        return (
            self.clients.escrow if target == self.clients.escrow.address else self.clients.registry
        )

    def decode_call(
        self, target: str, data: bytes
    ) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(function name, its ABI inputs, decoded arguments) of the signed calldata."""
        try:
            return self._client_of(target).decode_call(data)
        except chain_errors.UndecodableCall:
            raise bad_request(
                "unknown_function", "the request's calldata is no known function"
            ) from None

    def check(self, body: dict[str, Any], *, digest: bytes | None = None) -> dict[str, Any]:
        """Check a signed submission; returns the fields of the outbox row to create.
        ``digest``: the request's EIP-712 digest, when the caller computed it already."""
        payloads = body.get("payloads")
        signatures = body.get("signatures")
        if not isinstance(payloads, dict) or not isinstance(signatures, dict):
            raise bad_request("invalid_request", "expected {payloads: {...}, signatures: {...}}")
        typed, signature = payloads.get("request"), signatures.get("request")
        if not isinstance(typed, dict) or not isinstance(signature, str):
            raise bad_request(
                "invalid_request", "payloads.request and signatures.request are required"
            )
        # As the forwarder and the token check them (v 27/28, low s): the same signers.
        signature = canonical_signature(signature)
        if not _types_match(typed, "ForwardRequest", FORWARD_REQUEST_TYPE):
            raise bad_request(
                "invalid_request", "payloads.request is not an ERC-2771 ForwardRequest"
            )
        forwarder = self.clients.forwarder
        _domain_is(
            typed,
            chain_id=self.chain.chain_id,
            contract=forwarder.address,
            what="request",
            name=FORWARDER_NAME,
            version=FORWARDER_VERSION,
        )
        try:
            request = forward_request_data(typed, signature)
            nonce = int(typed["message"]["nonce"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request("invalid_request", f"malformed forward request: {exc}") from None
        sender, target, value, gas, deadline, data = request[:6]
        if gas > MAX_REQUEST_GAS:
            # The relayer reserves each request's gas in a batch (api.relayer.gas).
            raise bad_request(
                "gas_too_high",
                f"the request asks {gas} gas; the relayer forwards at most {MAX_REQUEST_GAS}",
                max_gas=MAX_REQUEST_GAS,
            )
        if target not in self.targets:
            raise bad_request("untrusted_target", f"{target} is not a tuanchain contract")
        if value != 0:
            raise bad_request("invalid_request", "requests carrying ETH are not relayed")
        if self._client_of(target).has_trailing_bytes(data):
            # Free to the signer, paid by the relayer (~40 gas a calldata byte, EIP-7623),
            # and a batch carrying much of it can be refused by the node, stalling the rest.
            raise bad_request(
                "invalid_request",
                "the request's calldata is not exactly its call's ABI encoding (bytes after "
                "the arguments, or another layout)",
            )
        if digest is None:
            try:
                digest = typed_data_digest(typed)
            except Exception as exc:  # noqa: BLE001 — eth-account's refusal of the typed data
                raise bad_request(
                    "bad_signature", f"the request signature cannot be checked: {exc}"
                ) from None
        signer = _recover(typed, signature, "request", digest=digest)
        if signer != sender:
            raise bad_request(
                "bad_signature",
                f"the request is signed by {signer}, not by its sender {sender}",
                signer=signer,
                sender=sender,
            )
        decoded: tuple[str, list[dict[str, Any]], dict[str, Any]] | None = None
        undecodable: ApiError | None = None
        try:
            decoded = self.decode_call(target, data)
        except ApiError as exc:
            undecodable = exc  # said after the nonce checks, as always
        if decoded is not None and decoded[0] not in ACTION_OF_FUNCTION:
            # The relayer pays gas for what tuanchain's people do (the actions prepare builds),
            # not for any call a fresh key can make succeed (pushPayouts(deal, []) ran at the
            # relayer's cost, again and again: review of issue 15). Said where an undecodable
            # call is, after the nonce checks.
            undecodable = bad_request(
                "not_sponsored",
                f"the relayer does not pay for {decoded[0]}: send it from an account with ETH",
                function=decoded[0],
            )
            decoded = None
        permit = payloads.get("permit")
        permit_signature = signatures.get("permit")
        if isinstance(permit_signature, str):
            permit_signature = canonical_signature(permit_signature)
        takes_permit = decoded is not None and decoded[0] in WITH_PERMIT
        # Every chain read the checks need, in one JSON-RPC batch (one round trip; the reads
        # and the simulation do not depend on each other): the clock, the signer's forwarder and
        # token nonces, the forwarder's own verify, and the simulation of the target call — for
        # a join, joinWithPermit with its permit, and the deal's terms; for any other request,
        # also execute as the relayer would send it. Each answer is used where its check was.
        simulated = self._with_permit(decoded, permit, permit_signature) if takes_permit else data
        calls = [
            ("eth_getBlockByNumber", ["latest", False]),
            forwarder.view_call("nonces", sender),
            self.clients.token.view_call("nonces", sender),
            forwarder.verify_call(typed, signature),
        ]
        gas_checked = simulated is not None and decoded is not None
        if simulated is not None:
            # Run with only the signed gas where it is known (execute, below, catches too little
            # gas only for a request next on chain with no permit to wait for). A call that
            # succeeds on it succeeds with the node's gas too, so the full simulation is only run
            # — a second round trip — to tell a revert from too little gas (issue 15: each
            # simulated join costs the node about as much as mining it).
            calls.append(
                forwarder.simulate_call(
                    sender=sender, target=target, data=simulated, gas=gas if gas_checked else None
                )
            )
        if takes_permit:
            assert decoded is not None
            calls.append(self.clients.escrow.deal_params_call(int(decoded[2]["dealId"])))
        elif decoded is not None:
            calls.append(
                forwarder.check_execute_call(typed, signature, relayer=self.chain.relayer.address)
            )
        answers = self.chain.sender.rpc_batch(calls)
        block, forwarder_nonce, token_nonce = _raise_errors(answers[:3])
        verified = answers[3]
        simulation = answers[4] if simulated is not None else None
        with_signed_gas = simulation if gas_checked else None
        if isinstance(with_signed_gas, Exception):
            assert simulated is not None
            simulation = self.chain.sender.rpc_batch(
                [forwarder.simulate_call(sender=sender, target=target, data=simulated)]
            )[0]
        last = answers[-1] if decoded is not None else None
        now = int(block["timestamp"], 16)
        if deadline <= now:
            raise bad_request("expired", f"the request expired at {deadline} (chain time {now})")
        queue = (
            self.queue_of(sender, decode_uint(forwarder_nonce), decode_uint(token_nonce))
            if self.queue_of is not None
            else None
        )
        current = queue.forwarder_nonce if queue is not None else decode_uint(forwarder_nonce)
        if nonce < current:
            raise bad_request(
                "replayed_nonce", f"nonce {nonce} of {sender} is already used ({current})"
            )
        expected = queue.next_nonce if queue is not None else current
        if nonce > expected:
            waiting = len(queue.pending) if queue is not None else 0
            raise bad_request(
                "nonce_ahead",
                f"nonce {nonce} of {sender} is ahead of the next one ({expected}, after "
                f"{waiting} queued request(s)): nonces must be contiguous",
                expected=expected,
            )
        holder = queue.holder_of(nonce) if queue is not None else None
        if holder is not None:
            raise bad_request(
                "replayed_nonce",
                f"nonce {nonce} of {sender} is taken by pending request {holder.id}",
                pending=holder.id,
                expected=expected,
            )
        if queue is not None and len(queue.pending) >= MAX_PENDING_PER_SIGNER:
            # Each queued request is read on every accept and prepare of its signer, simulated
            # again before sending and carried by the relayer: one key may not fill the outbox.
            raise ApiError(
                429,
                "too_many_pending",
                f"{sender} has {len(queue.pending)} requests waiting to be mined (at most "
                f"{MAX_PENDING_PER_SIGNER}); send this one once some are mined",
                pending=len(queue.pending),
                max_pending=MAX_PENDING_PER_SIGNER,
            )
        queued_behind = nonce > current  # earlier requests of the signer run first
        if not queued_behind and not forwarder.verified(_raise_errors([verified])[0]):
            raise bad_request("bad_signature", "the forwarder refuses the request")
        if decoded is None:
            assert undecodable is not None
            raise undecodable
        function, inputs, args = decoded

        if function in WITH_PERMIT:
            if not isinstance(permit, dict) or not isinstance(permit_signature, str):
                raise bad_request(
                    "permit_required", f"a {function} needs a signed permit (payloads.permit)"
                )
            # What join takes: the quantity at the deal's top price (DealNotFound: 404).
            deal = self.clients.escrow.deal_params_from(_raise_errors([last])[0])
            top_price = max(t.unit_price for t in deal.price_tiers)
            permit_queued = self._check_permit(
                permit,
                permit_signature,
                sender=sender,
                cost=int(args["quantity"]) * top_price,
                now=now,
                queue=queue,
            )
            if simulated is None:  # the permit's signature cannot be split, or encoded
                try:
                    Signature.from_bytes(permit_signature)
                except chain_errors.InvalidSignature as exc:
                    raise bad_request("bad_signature", str(exc)) from None
                raise bad_request(
                    "invalid_permit", f"the permit cannot be encoded into {function}'s permit twin"
                )
            if isinstance(simulation, chain_errors.ContractRevert):
                # A permit behind a queued join's cannot be applied yet: every other check of
                # the join ran before the transfer, which only lacks the allowance it will give.
                if not (permit_queued and simulation.name == "ERC20InsufficientAllowance"):
                    raise simulation
            elif isinstance(simulation, Exception):
                raise simulation
            _check_signed_gas(with_signed_gas, simulation, gas, function)
        else:
            permit, permit_signature, top_price = None, None, None
            _raise_errors([simulation])
            _check_signed_gas(with_signed_gas, simulation, gas, function)
            if not queued_behind:
                # The forwarder's own execution (signature, gas forwarding) as the relayer would
                # send it; a request queued behind others would fail it on the nonce until then.
                _raise_errors([last])
        # Posted ``details`` are ignored: nothing signs them (see api.relayer.describe).
        details = describe_call(
            function,
            inputs,
            args,
            permit=permit["message"] if permit is not None else None,
            top_price=top_price,
            store=self.store,
        )
        self._pin_documents(function, details)
        return {
            "action": ACTION_OF_FUNCTION.get(function, function),
            "signer": sender,
            "target": target,
            "nonce": nonce,
            "deadline": deadline,
            "request_digest": "0x" + digest.hex(),
            "typed_data": typed,
            "signature": HexBytes(signature).to_0x_hex(),
            "permit": permit,
            "permit_signature": HexBytes(permit_signature).to_0x_hex()
            if permit_signature
            else None,
            "details": details,
        }

    def _with_permit(
        self,
        decoded: tuple[str, list[dict[str, Any]], dict[str, Any]] | None,
        permit: Any,
        permit_signature: Any,
    ) -> bytes | None:
        """The calldata of the ``...WithPermit`` twin a permit-paid call (join, bookCashOrder) is
        simulated as; None when the permit is missing or malformed (its checks then refuse the
        request before any simulation)."""
        if decoded is None or not isinstance(permit, dict) or not isinstance(permit_signature, str):
            return None
        try:
            parts = Signature.from_bytes(permit_signature)
            deadline = int(permit["message"]["deadline"])
        except (chain_errors.InvalidSignature, KeyError, TypeError, ValueError):
            return None
        function, _, args = decoded
        try:
            return with_permit_calldata(self.clients.escrow, function, args, deadline, parts)
        except Exception:  # noqa: BLE001 — a deadline out of uint256: the permit check says so
            return None

    def _pin_documents(self, function: str, details: dict[str, Any]) -> None:
        """Pin the document a verified request anchors (prepared ones are stored unpinned).

        An EPCIS event's document and a Merkle root's manifest and leaf documents are what
        ``prepare`` stored: one gone meanwhile (collected unpinned, a store wiped) is a 409
        ``document_not_stored`` — never a CID anchored whose document nobody has.

        A receipt anchors only a digest: its ``document_cid`` is the CID the store holds it
        under, so it is pinned whether or not the client posted anything besides signatures
        (otherwise gc would drop an anchored document)."""
        cid = details.get(ANCHORED_DOCUMENT.get(function, ""))
        if self.store is None or not isinstance(cid, str):
            return
        required = function in PREPARED_DOCUMENTS
        if not self.store.has(cid):
            if required:
                raise _not_stored(cid)
            return
        leaves: tuple[Any, ...] = ()
        if function == "anchorRoot":  # the events under the root: their documents too
            try:
                leaves = parse_manifest(self.store.get(cid)).leaves
            except TraceabilityError:  # not a manifest: the indexer reports it as such
                leaves = ()
            for leaf in leaves:
                if not self.store.has(leaf.document_cid):
                    raise _not_stored(leaf.document_cid)
        for document in [*(leaf.document_cid for leaf in leaves), cid]:
            try:
                self.store.pin(document)
            except DocumentNotFound:  # the root block is there, one under it is not
                raise _not_stored(document) from None

    def _check_permit(
        self,
        permit: dict[str, Any],
        signature: str,
        *,
        sender: str,
        cost: int,
        now: int,
        queue: SignerQueue | None = None,
    ) -> bool:
        """Check a join's permit (it must allow exactly ``cost``); True when it waits behind a
        queued join's permit."""
        token, escrow = self.clients.token, self.clients.escrow
        if not _types_match(permit, "Permit", PERMIT_TYPE):
            raise bad_request("invalid_request", "payloads.permit is not an EIP-2612 Permit")
        _domain_is(
            permit,
            chain_id=self.chain.chain_id,
            contract=token.address,
            what="permit",
            name=token.permit_domain_name,
            version=TOKEN_VERSION,
        )
        message = permit["message"]
        try:
            owner = checksum_address(message["owner"])
            spender = checksum_address(message["spender"])
            value, nonce, deadline = (int(message[k]) for k in ("value", "nonce", "deadline"))
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request("invalid_request", f"malformed permit: {exc}") from None
        if owner != sender or spender != escrow.address:
            raise bad_request(
                "invalid_permit", "the permit must be from the request's sender to the escrow"
            )
        if value != cost:
            # Exactly: the worker checks a join as joinWithPermit, which permits quantity × top
            # price, so a permit signed for any other value fails its signature there.
            raise bad_request(
                "invalid_permit",
                f"the permit allows {value}; it must allow exactly the join's {cost}",
            )
        if deadline <= now:
            raise bad_request("expired", f"the permit expired at {deadline} (chain time {now})")
        current = queue.token_nonce if queue is not None else token.nonces(owner)
        expected = queue.next_permit_nonce if queue is not None else current
        if nonce != expected:
            code = "replayed_nonce" if nonce < expected else "nonce_ahead"
            raise bad_request(
                code,
                f"permit nonce {nonce} of {owner}; the next one is {expected} "
                f"(token nonce {current}, then the permits of queued joins)",
                expected=expected,
            )
        signer = _recover(permit, signature, "permit")
        if signer != owner:
            raise bad_request("bad_signature", f"the permit is signed by {signer}, not by {owner}")
        return nonce > current


def _check_signed_gas(with_signed_gas: Any, simulation: Any, gas: int, function: str) -> None:
    """400 ``gas_too_low`` when the call, simulated with only the request's signed ``gas``,
    fails where (or otherwise than) the full simulation did not: in a batch it would run out of
    gas, its nonce spent and the relayer's gas paid, and a join's tokens not moved (the same
    balance could do it again and again)."""
    if isinstance(with_signed_gas, Exception) and not _same_revert(with_signed_gas, simulation):
        raise bad_request(
            "gas_too_low",
            f"the request's {gas} gas is too little for its {function}: sign it with the gas "
            "prepare gives",
        )


def _same_revert(answer: Exception, other: Any) -> bool:
    """Whether two simulations of one call reverted alike (the same named error)."""
    return (
        isinstance(answer, chain_errors.ContractRevert)
        and isinstance(other, chain_errors.ContractRevert)
        and answer.name == other.name
    )


def _raise_errors(answers: list[Any]) -> list[Any]:
    """Answers of batched reads that must all succeed (a read's error is raised)."""
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers

"""The indexer decodes logs from the node's JSON with eth-abi (``api.indexer.logs._FlatEvent``)
rather than through web3's formatters and ``process_log`` (issue 15: most of the indexer's CPU).
Every log the test world put on chain decodes to the same event and arguments both ways."""

from __future__ import annotations

from collections import Counter

from web3 import Web3

from api.indexer.logs import LogSource
from api.services import Services

from .world import World


def test_every_log_of_the_world_decodes_as_web3_decodes_it(
    world: World, services: Services
) -> None:
    chain = services.chain
    source = LogSource(chain.w3, chain.clients)
    head = source.head()
    assert head == chain.w3.eth.block_number
    ours = source.logs(0, head)
    raw = chain.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": head, "address": list(source._contracts)}
    )
    theirs = []
    for log in raw:
        address = Web3.to_checksum_address(log["address"])
        event = source._by_topic.get((address, bytes(log["topics"][0])))
        if event is not None:
            data = event.process_log(log)
            position = (int(log["blockNumber"]), int(log["logIndex"]))
            theirs.append((*position, data["event"], dict(data["args"])))
    theirs.sort(key=lambda t: (t[0], t[1]))
    assert [(d.block_number, d.log_index, d.event, d.args) for d in ours] == theirs
    kinds = Counter(d.event for d in ours)
    fast = {flat.name for flat in source._flat.values()}
    # The world exercises the fast path on many kinds of event, and web3's for DealCreated.
    assert len(set(kinds) & fast) >= 8 and "DealCreated" in kinds and "DealCreated" not in fast
    # Headers through the raw batch: the same hashes and times as web3's blocks.
    numbers = sorted({d.block_number for d in ours})[:20]
    headers = source.headers(numbers)
    for n in numbers:
        block = chain.w3.eth.get_block(n)
        assert headers[n].hash == "0x" + bytes(block["hash"]).hex()
        assert int(headers[n].time.timestamp()) == int(block["timestamp"])

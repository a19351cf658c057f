"""Session fixtures for tests that need a chain, layered node → web3 → sender → contracts.

One anvil per test session; each test that uses a chain fixture runs between ``evm_snapshot``
and ``evm_revert`` (see ``_evm_isolation``), so tests cannot see each other's transactions.
Tests that use no chain fixture start no node.

Order and examples: tests run in a random order (pytest-randomly; the seed is printed at the top
and the bottom of the report, ``--randomly-seed=N`` replays an order, ``-p no:randomly`` turns it
off), so a test that depends on another's leftovers fails early. Hypothesis runs with the ``ci``
profile everywhere, not only when ``CI`` is set: the same examples on every run and machine
(derandomized, no example database left in the work tree), no deadline and no ``too_slow`` health
check (timed assertions, which a shared 2-core machine turns into flakes; a test that lists its own
suppressed health checks lists ``too_slow`` too); ``--hypothesis-seed=N`` explores other examples.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import settings
from web3 import Web3

from chain.accounts import dev_account
from chain.anvil import Anvil
from chain.artifacts import REPO_ROOT, Artifact
from chain.compile import compile_contracts
from chain.deploy import Deployment, deploy_all
from chain.errors import ErrorRegistry
from chain.tx import TxSender

TEST_CONTRACTS_DIR = REPO_ROOT / "tests" / "chain" / "contracts"
TEST_ARTIFACTS_DIR = REPO_ROOT / "build" / "artifacts-test"
# Any fixture that needs the node depends on `w3` (directly or not), so this one name suffices.
CHAIN_FIXTURES = {"w3", "anvil_node"}

# The files that take longest, longest first (seconds per file, setup included, from a fresh-clone
# `.ci/run` with `--junitxml` on the 2-core machine under other sessions' load, 1,570 s in all).
# `make test` runs files on two xdist workers, one file at a time per worker (`--dist loadfile`),
# handed out in collection order (`--no-loadscope-reorder`): these go first, so the run does not
# end with one worker on a long file while the other is idle. xdist's own order (most tests first)
# put the lifecycle files, one or two long tests each, last. test_run.py follows test_commands.py:
# the worker that takes the one takes the other at once, and the seeded demo home (a session
# fixture) is made once. The other files keep pytest-randomly's order; the order inside every file
# stays random. A file missing here only costs time; tests/test_suite_order.py checks the entries.
LONG_FILES = (
    "tests/api/test_schemathesis.py",  # 222 s
    "tests/lifecycle/test_commands.py",  # 125 s, the demo home's `tuanchain run` included
    "tests/lifecycle/test_run.py",  # 49 s
    "tests/api/test_binding.py",  # 71 s
    "tests/api/web/test_webhooks.py",  # 70 s
    "tests/api/web/test_journeys.py",  # 53 s
    "tests/api/relay/test_supplier_cli.py",  # 51 s
    "tests/api/web/test_supplier_workspace.py",  # 50 s
    "tests/api/web/test_whole_day.py",  # 49 s
    "tests/traceability/test_epcis_hash_reference.py",  # 35 s
    "tests/api/index/test_indexer.py",  # 35 s
    "tests/chain/test_deal_rules.py",  # 31 s
    "tests/chain/test_deal_checks.py",  # 31 s
    "tests/api/relay/test_last_mile.py",  # 28 s
    "tests/lifecycle/test_worker_roles.py",  # 26 s
    "tests/chain/test_cli.py",  # 25 s
    "tests/api/web/test_passkey_journey.py",  # 25 s
    "tests/api/relay/test_two_api_processes.py",  # 25 s
    "tests/api/web/test_listing_page.py",  # 24 s
    "tests/api/relay/test_keeper_and_background.py",  # 23 s
    "tests/api/relay/test_relay_checks.py",  # 21 s
)

# The suite is one client (TestClient's "testclient", or 127.0.0.1 for the served apps) posting
# thousands of relays and user operations as fast as it can: what the per-client rate limit
# refuses (api.ratelimit). Off for every app and service process the tests start (they inherit
# the environment); tests/api/test_rate_limit.py builds its apps with the limit on.
os.environ["TUANCHAIN_RATE_LIMIT_PER_SECOND"] = "0"

settings.register_profile("tuanchain", parent=settings.get_profile("ci"))
settings.load_profile("tuanchain")  # `--hypothesis-profile=NAME` still overrides it


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """The order's seed again at the end, where a failing run's log is read."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and getattr(config.option, "randomly_reorganize", False):
        terminalreporter.write_line(f"random test order: replay it with --randomly-seed={seed}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long files first, in LONG_FILES' order; a stable sort keeps every other order."""
    rank = {path: i for i, path in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    """The project's compiled contracts (cached in build/artifacts)."""
    return compile_contracts()


@pytest.fixture(scope="session")
def test_artifacts() -> dict[str, Artifact]:
    """Test-only contracts of tests/chain/contracts (compiled into build/artifacts-test)."""
    return compile_contracts(
        sorted(TEST_CONTRACTS_DIR.glob("*.sol")), artifacts_dir=TEST_ARTIFACTS_DIR
    )


@pytest.fixture(scope="session")
def error_registry(
    artifacts: dict[str, Artifact], test_artifacts: dict[str, Artifact]
) -> ErrorRegistry:
    registry = ErrorRegistry()
    for artifact in [*artifacts.values(), *test_artifacts.values()]:
        registry.register_abi(artifact.abi)
    return registry


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


@pytest.fixture(scope="session")
def w3(anvil_node: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil_node.rpc_url, request_kwargs={"timeout": 30}))


@pytest.fixture(scope="session")
def tx_sender(w3: Web3, error_registry: ErrorRegistry) -> TxSender:
    return TxSender(w3, registry=error_registry, timeout=30)


@pytest.fixture(scope="session")
def deployment(
    w3: Web3,
    tx_sender: TxSender,
    artifacts: dict[str, Artifact],
    tmp_path_factory: pytest.TempPathFactory,
) -> Deployment:
    """forwarder, registry, token, escrow deployed once per session by dev account 0."""
    return deploy_all(
        w3,
        tx_sender,
        platform=dev_account(0),
        deployments_dir=tmp_path_factory.mktemp("deployments"),
        artifacts=artifacts,
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test: held bound, not listening.

    Not ``free_port()``: that port is free only when picked, and another process on this machine
    (a node, a server, another test session) could take it before the test connects, and answer.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _evm_isolation(request: pytest.FixtureRequest) -> Iterator[None]:
    """Snapshot before and revert after each test that touches the chain."""
    if not CHAIN_FIXTURES.intersection(request.fixturenames):
        yield
        return
    node: Web3 = request.getfixturevalue("w3")
    sender: TxSender = request.getfixturevalue("tx_sender")
    snapshot = node.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield
    finally:
        node.provider.make_request("evm_revert", [snapshot])  # type: ignore[arg-type]
        sender.reset_all_nonces()

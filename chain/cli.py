"""Chain verbs of the ``tuanchain`` command.

    tuanchain node     # anvil in the foreground, its chain kept in data/anvil/state.json
    tuanchain deploy   # deploy (or reuse) the contracts on TUANCHAIN_RPC_URL, print the manifest
    tuanchain verify GTIN LOT [--json]   # a batch's provenance trail vs. the chain (exit 3 if not)

Errors of the chain layer (node down, wrong chain id, development key on a public chain,
compilation failure, a revert) and of the traceability package (a bad GTIN or lot) print one line
``error: ...`` on stderr and exit 1: they are caught once, here. ``verify`` composes the two
packages (``traceability`` never imports ``chain``), so it is a verb of this layer. Settings come from ``TUANCHAIN_*`` (see :class:`chain.settings.Settings`);
the options override them.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import httpx
import typer
from pydantic import ValidationError

from chain.anvil import Anvil
from chain.errors import ChainError, NodeUnavailable
from chain.settings import Settings
from chain.shutdown import stop_signals
from traceability.errors import TraceabilityError

if TYPE_CHECKING:
    from traceability.ipfs.store import DocumentStore

logger = logging.getLogger(__name__)

# The same file `tuanchain run` uses, so `node` and `run` share one local chain.
STATE_FILE_NAME = "anvil/state.json"
# anvil also dumps its state every this many seconds, so a crash or SIGKILL loses little.
STATE_INTERVAL_SECONDS = 30
PROBE_TIMEOUT_SECONDS = 3.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

EXIT_NOT_VERIFIED = 3

# Set by SIGINT/SIGTERM/SIGHUP (or by a test driving `node` from another thread): stop the node.
_stop_requested = threading.Event()


def request_stop() -> None:
    """Ask a running ``tuanchain node`` to stop its anvil and return (what Ctrl-C does)."""
    _stop_requested.set()


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """The chain layer's (and traceability's) named errors become ``error: ...`` and exit code 1."""
    try:
        yield
    except (ChainError, TraceabilityError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: {first}", err=True)
        raise typer.Exit(1) from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: invalid settings: {problems}", err=True)
        raise typer.Exit(1) from None


def _settings(rpc_url: str | None, chain_id: int | None) -> Settings:
    overrides: dict[str, Any] = {}
    if rpc_url is not None:
        overrides["rpc_url"] = rpc_url
    if chain_id is not None:
        overrides["chain_id"] = chain_id
    return Settings(**overrides)


def probe_node(rpc_url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> int:
    """The chain id the node at ``rpc_url`` reports; :class:`NodeUnavailable` at once if none.

    web3's provider retries a refused connection with back-off; asking once here gives a down
    node a fast, clear answer.
    """
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        response = httpx.post(rpc_url, json=payload, timeout=timeout)
        return int(response.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise NodeUnavailable.no_answer(rpc_url, exc) from None


# ---------------------------------------------------------------------- deploy


def deploy(
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="JSON-RPC endpoint (default: TUANCHAIN_RPC_URL)."),
    ] = None,
    chain_id: Annotated[
        int | None,
        typer.Option("--chain-id", help="Expected chain id (default: TUANCHAIN_CHAIN_ID)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the manifest as JSON instead of a table.")
    ] = False,
) -> None:
    """Deploy tuanchain's contracts, or reuse the ones recorded for this chain, and print them."""
    from chain.context import connect

    with _one_line_errors():
        settings = _settings(rpc_url, chain_id)
        probe_node(settings.rpc_url)
        chain = connect(settings, deploy=True)
    deployment = chain.deployment
    if as_json:
        typer.echo(json.dumps({"manifest": str(deployment.path), **deployment.to_json()}, indent=2))
        return
    typer.echo(f"manifest: {deployment.path}")
    typer.echo(f"chain id: {deployment.chain_id}")
    if deployment.deployed_now:
        typer.echo(f"deployed: {', '.join(deployment.deployed_now)}")
    else:
        typer.echo("deployed: nothing (every contract reused)")
    width = max(len(name) for name in deployment.contracts)
    for name, contract in sorted(deployment.contracts.items()):
        typer.echo(f"  {name:<{width}}  {contract.address}")


# ---------------------------------------------------------------------- node


class SessionAnvil(Anvil):
    """anvil in its own session, so that a terminal's Ctrl-C reaches only our process
    (``tuanchain node`` or ``tuanchain run``), which then stops anvil cleanly.

    Ctrl-C signals the whole foreground process group; if anvil got it too, it would race our
    own SIGTERM while dumping its state. It is still stopped by PID. Should our process die
    without stopping it (SIGKILL, a crash), the kernel sends anvil SIGTERM (Linux's parent-death
    signal), so it saves its state and exits rather than run on, orphaned, holding the port. The
    state is also dumped periodically.
    """

    def command(self) -> list[str]:
        base = super().command()
        if self.state_path is not None:
            base += ["--state-interval", str(STATE_INTERVAL_SECONDS)]
        return base

    def popen_options(self) -> dict[str, Any]:
        return {"start_new_session": True, "preexec_fn": _parent_death_signal()}


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies (None elsewhere)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before the fork
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_parent_death_signal


def node(
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default: the one in TUANCHAIN_RPC_URL, else 8545)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default: TUANCHAIN_RPC_URL's host).")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            help=f"State file, loaded on start and saved on exit (default: data/{STATE_FILE_NAME}).",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Start from an empty chain: delete the state file first."),
    ] = False,
) -> None:
    """Run a local anvil node in the foreground, keeping its chain between runs (Ctrl-C stops it)."""
    with _one_line_errors():
        settings = Settings()
        parsed = urlparse(settings.rpc_url)
        state_path = state or settings.data_dir / STATE_FILE_NAME
        if fresh and state_path.exists():
            state_path.unlink()
        anvil = SessionAnvil(
            host=host or parsed.hostname or "127.0.0.1",
            port=port or parsed.port or 8545,
            chain_id=settings.chain_id,
            state_path=state_path,
            fresh_hint="tuanchain node --fresh",
        )
        _stop_requested.clear()
        # SIGINT, SIGTERM or SIGHUP: stop anvil (it saves its state), exit 0. One arriving while
        # anvil starts is acted on as soon as it answers.
        with stop_signals() as stop:
            stop.on_request(_stop_requested.set)
            try:
                anvil.start()
                typer.echo(
                    f"anvil listening on {anvil.rpc_url} "
                    f"(chain id {anvil.chain_id}, pid {anvil.pid})"
                )
                typer.echo(f"state: {state_path} (loaded if present, saved on exit)")
                typer.echo("press Ctrl-C to stop")
                exited = _wait(anvil)
            finally:
                anvil.stop()
    if exited is not None:
        typer.echo(
            f"error: anvil exited by itself with code {exited}: {anvil.log_tail(5)}", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"anvil stopped; state saved to {state_path}")


def _wait(anvil: Anvil) -> int | None:
    """Block until a stop is requested (None) or anvil exits by itself (its exit code)."""
    assert anvil.process is not None
    while not _stop_requested.wait(0.2):
        code = anvil.process.poll()
        if code is not None:
            return code
    return None


# ---------------------------------------------------------------------- verify


def document_store(settings: Settings) -> DocumentStore:
    """The store the service is configured with (``TUANCHAIN_IPFS_BACKEND``)."""
    from traceability.ipfs import EmbeddedDocumentStore, KuboDocumentStore

    if settings.ipfs_backend == "kubo":
        return KuboDocumentStore(settings.ipfs_api_url)
    return EmbeddedDocumentStore(Path(settings.data_dir) / "ipfs")


def verify(
    gtin: Annotated[str, typer.Argument(help="GTIN-8/12/13/14")],
    lot: Annotated[str, typer.Argument(help="lot number (GS1 AI 10)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    from_block: Annotated[
        int | None,
        typer.Option(
            "--from-block", help="first block to scan [default: the batch's registration]"
        ),
    ] = None,
) -> None:
    """Verify the batch's whole provenance trail against the chain (exit 3 if not verified).

    Reads only the chain's logs and the documents (never the service's index).
    """
    from chain.context import connect
    from traceability.digital_link import check_lot, normalize_gtin
    from traceability.verify import verify_batch

    with _one_line_errors():
        gtin, lot = normalize_gtin(gtin), check_lot(lot)  # bad keys fail before any connection
        settings = Settings()
        chain = connect(settings)
        try:
            report = verify_batch(
                chain.clients, document_store(settings), gtin, lot, from_block=from_block
            )
        except OSError as exc:  # an unreadable embedded store
            where = f" {exc.filename}" if exc.filename else ""
            typer.echo(f"error: cannot read{where}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        typer.echo(report.to_text())
    if not report.ok:
        raise typer.Exit(EXIT_NOT_VERIFIED)


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("node")(node)
    app.command("verify")(verify)

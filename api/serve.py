"""``tuanchain serve`` and ``tuanchain run`` (what ``make run`` calls; ``seed`` is
:mod:`api.demo.cli`).

``run`` brings the whole system up on its embedded defaults: anvil (its state under
``data/anvil/`` so a restart keeps the chain; a node already answering is reused), the contracts
(deployed or reused), the demo community, the index, then the API with its background loops.
It prints the URLs, the rice batch's QR code and the demo accounts.

Stopping (``run`` and ``serve``): SIGINT (Ctrl-C), SIGTERM (systemd, docker) and SIGHUP alike
(:mod:`chain.shutdown`). The server stops accepting, lets requests in flight finish (a relayed
request the API answered is in the outbox), closes the remaining connections after
``GRACEFUL_SHUTDOWN_SECONDS``, then the background loops stop: the relayer parks what it is doing
in the outbox (a transaction sent but not yet mined stays ``sent``; the next start reconciles it).
Only then is the anvil that ``run`` started stopped (by PID; it runs in its own session so the
terminal's Ctrl-C reaches only us), which saves its state; the exit code is 0. Further signals
change nothing (uvicorn's "CTRL+C to force quit" is off: the connections wait is bounded
instead). A signal during start-up (deploy, seed, first index) stops at once, the same way.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer

from chain.cli import STATE_INTERVAL_SECONDS, SessionAnvil
from chain.errors import ChainError, NodeUnavailable
from chain.shutdown import Stop, StopRequested, stop_signals
from traceability.errors import TraceabilityError

if TYPE_CHECKING:
    from api.roles import SQLiteFileLock
    from api.services import Services

logger = logging.getLogger(__name__)

HostOption = Annotated[str, typer.Option(envvar="TUANCHAIN_HOST", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(envvar="TUANCHAIN_PORT", help="Port to listen on.")]
FreshOption = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="Start a new local chain: delete the saved one (data/anvil/state.json) first.",
    ),
]

# After a stop request, connections still open this long (a live stream) are closed.
GRACEFUL_SHUTDOWN_SECONDS = 10.0


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "web3", "urllib3", "traceability.ipfs.embedded"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(exc: Exception) -> typer.Exit:
    """``error: ...`` in one line (a database driver's text runs to several), exit 1."""
    from sqlalchemy.exc import SQLAlchemyError

    said = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, SQLAlchemyError):
        said = f"the database (TUANCHAIN_DATABASE_URL): {said}"
    typer.echo(f"error: {said}", err=True)
    return typer.Exit(1)


BackgroundOption = Annotated[
    bool,
    typer.Option(
        "--background/--no-background",
        envvar="TUANCHAIN_BACKGROUND",
        help="Run the indexer, relayer and keeper inside (--no-background: HTTP only, "
        "with `tuanchain worker` running them beside it).",
    ),
]


def _serve(
    services: Services, host: str, port: int, stop: Stop, *, background: bool = True
) -> None:
    """Serve until ``stop`` is requested, then shut down gracefully (see the module docstring)."""
    import uvicorn

    from api.app import create_app, request_shutdown
    from api.heap import freeze_startup_heap

    class Server(uvicorn.Server):
        """uvicorn minus its own signal handling: ``stop`` asks it to exit. (uvicorn would
        re-raise a SIGTERM after its shutdown, killing us before anvil is stopped.)"""

        @contextmanager
        def capture_signals(self) -> Any:
            yield

    app = create_app(services, background=background)
    freeze_startup_heap()  # the app, its services and modules live as long as the process
    server = Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            # Whose X-Forwarded-For names the client: the address the rate limit counts.
            forwarded_allow_ips=services.settings.forwarded_allow_ips,
        )
    )

    def on_stop() -> None:
        request_shutdown(app)  # open notice streams end now, not at the connections' timeout
        server.should_exit = True

    stop.on_request(on_stop)
    server.run()
    if not server.started and not stop.event.is_set():
        raise typer.Exit(1)  # the app's start-up failed (uvicorn logged why)


def _startup_errors() -> tuple[type[Exception], ...]:
    """What a command's start can fail with and says in one line (exit 1), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.db.migrate import DatabaseSchemaError
    from api.roles import BackgroundRolesUnavailable

    return (
        ChainError,
        TraceabilityError,
        DatabaseSchemaError,
        BackgroundRolesUnavailable,
        SQLAlchemyError,  # the database is down, unreachable or locked
    )


def _hold_roles(services: Services) -> SQLiteFileLock:
    """The SQLite file's background-roles lock, taken (:class:`api.roles.BackgroundRolesTaken`
    when another process holds it): said before anything else starts. The caller releases it
    right before the app starts, whose lifespan (:mod:`api.roles`) takes it for good."""
    from api.roles import SQLiteFileLock

    lock = SQLiteFileLock(services.engine)
    lock.acquire()
    return lock


def serve(
    host: HostOption = "127.0.0.1", port: PortOption = 8000, background: BackgroundOption = True
) -> None:
    """Serve the API and pages (indexer, relayer and keeper run inside, unless --no-background)."""
    from api.db import init_db
    from api.services import build_services

    _configure_logging()
    with stop_signals() as stop:
        try:
            with stop.interrupting():
                services = build_services()
                init_db(services.engine)  # migrations first: never serve on an older schema
                try:
                    _ = services.chain  # connect, and bind the database to it (api.binding)
                except NodeUnavailable as exc:
                    # Served anyway: what needs the node answers 503 until it is back.
                    logger.warning("the node is unavailable (%s); serving anyway", exc)
                if background:
                    _hold_roles(services).release()
                else:
                    typer.echo("background roles off: run `tuanchain worker` beside this process")
            _serve(services, host, port, stop, background=background)
        except StopRequested:
            pass
        except _startup_errors() as exc:
            raise _fail(exc) from exc
    _stopped(stop)


def worker() -> None:
    """Run the background roles without the HTTP server: the relayer's and bundler's outbox
    workers, and the indexer and keeper while this process holds their lock (api.roles; any
    number of ``worker`` and ``serve`` processes may share one PostgreSQL and one chain)."""
    from api.app import start_background
    from api.background import stop_all
    from api.db import init_db
    from api.heap import freeze_startup_heap
    from api.services import build_services

    _configure_logging()
    with stop_signals() as stop:
        try:
            with stop.interrupting():
                services = build_services()
                init_db(services.engine)  # migrations first: never work on an older schema
            stops = start_background(services)
            freeze_startup_heap()  # the services and roles live as long as the process
            typer.echo("worker running (stop with Ctrl-C or SIGTERM)")
            stop.wait()
            stop_all(stops)
        except StopRequested:
            pass
        except _startup_errors() as exc:
            raise _fail(exc) from exc
    _stopped(stop)


def _stopped(stop: Stop) -> None:
    if stop.requested:
        typer.echo(f"stopped cleanly ({stop.signal_name})")


def make_anvil(rpc_url: str, state_dir: Path) -> SessionAnvil:
    """The local node ``rpc_url`` names, keeping its state in ``state_dir``."""
    parsed = urlparse(rpc_url)
    return SessionAnvil(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 8545,
        state_path=state_dir / "state.json",  # = chain.cli.STATE_FILE_NAME under data/
        fresh_hint="tuanchain run --fresh",
    )


def _node_answers(rpc_url: str) -> bool:
    import httpx

    try:
        response = httpx.post(
            rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            timeout=2.0,
        )
        return response.status_code == 200 and "result" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def print_welcome(services: object, report: object, base_url: str) -> None:
    """URLs, the rice batch's QR code (its Digital Link) and the demo accounts."""
    from api.demo import catalog
    from traceability.digital_link import build_link
    from traceability.qr import make_qr, to_terminal

    rice_link = build_link(catalog.RICE.gtin14, catalog.RICE.lot, resolver=base_url)
    typer.echo("")
    typer.echo("tuanchain is running")
    typer.echo(f"  consumer page (rice 大米): {rice_link}")
    for product in catalog.PRODUCTS[1:]:
        link = build_link(product.gtin14, product.lot, resolver=base_url)
        typer.echo(f"  {product.key} ({product.name_zh}): {link}")
    typer.echo(f"  dashboard:  {base_url}/dashboard")
    deals = getattr(report, "deals", {})
    if "rice_open" in deals:
        typer.echo(f"  open deal:  {base_url}/deals/{deals['rice_open']}")
    typer.echo(f"  API docs:   {base_url}/docs")
    # A WebAuthn RP ID is a host name, never an IP address: passkeys need "localhost".
    local = base_url.replace("127.0.0.1", "localhost").replace("0.0.0.0", "localhost")
    typer.echo(f"  no wallet?  {local}/passkey  (sign in with a passkey; on localhost, not an IP)")
    typer.echo("")
    typer.echo(to_terminal(make_qr(rice_link)))
    typer.echo("demo accounts (anvil development keys: local chain only, never use elsewhere):")
    for actor in catalog.demo_accounts():
        typer.echo(
            f"  {actor.role:9} {actor.address}  {actor.account.key.to_0x_hex()}  {actor.name_en}"
        )
    typer.echo("Ctrl-C stops everything.")


def run(
    host: HostOption = "127.0.0.1", port: PortOption = 8000, fresh: FreshOption = False
) -> None:
    """Start (or reuse) anvil, deploy (or reuse), seed the demo, index, serve; Ctrl-C stops all."""
    from api.db import init_db
    from api.demo.seed import SeedError
    from api.demo.seed import seed as run_seed
    from api.indexer.runner import make_indexer
    from api.services import build_services
    from chain.context import connect
    from chain.settings import Settings

    _configure_logging()
    node: SessionAnvil | None = None
    with stop_signals() as stop:
        try:
            with stop.interrupting():
                settings = Settings()
                state_dir = settings.data_dir / "anvil"
                if _node_answers(settings.rpc_url):
                    if fresh:
                        raise ChainError(
                            f"--fresh starts a new local chain, but a node already answers at "
                            f"{settings.rpc_url}: stop it first"
                        )
                    typer.echo(f"reusing the node at {settings.rpc_url}")
                elif settings.is_local:
                    node = make_anvil(settings.rpc_url, state_dir)
                    if fresh and node.state_path is not None and node.state_path.exists():
                        node.state_path.unlink()
                        typer.echo(f"starting a new chain (deleted {node.state_path})")
                    node.start()
                    typer.echo(
                        f"anvil started at {settings.rpc_url} (pid {node.pid}), "
                        f"state in {state_dir}"
                    )
                else:
                    raise ChainError(f"no node answers at {settings.rpc_url}")
                chain = connect(settings, deploy=True)
                services = build_services(settings, chain=chain)
                init_db(services.engine)
                roles = _hold_roles(services)  # held while this process seeds and indexes
                try:
                    report = run_seed(services) if settings.is_local else None
                    result = make_indexer(services).sync_until_idle(stop=stop.event)
                finally:
                    roles.release()
                typer.echo(f"indexed up to block {result.to_block}")
                base_url = f"http://{host}:{port}"
                print_welcome(services, report, base_url)
            _serve(services, host, port, stop)
        except StopRequested:
            pass
        except (*_startup_errors(), SeedError) as exc:
            raise _fail(exc) from exc
        finally:
            if node is not None:
                died = node.process.poll() if node.process is not None else None
                node.stop()
                if died is None:
                    typer.echo("anvil stopped (state saved)")
                else:  # killed under us (the OOM killer, an operator): say so, not "saved"
                    typer.echo(
                        f"anvil had exited by itself (code {died}) before the stop: its chain "
                        f"is as last saved (every {STATE_INTERVAL_SECONDS} s) in "
                        f"{node.state_path}; `tuanchain run` starts it again from there"
                    )
    _stopped(stop)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("run")(run)

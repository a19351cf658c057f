"""Launch and stop a local anvil node (the npm-packaged foundry binary).

``with Anvil() as node: Web3(HTTPProvider(node.rpc_url))``. The process is stopped by its own
PID (terminate, wait, kill, wait) so no orphan is left; ``state_path`` makes anvil dump its
state on exit and load it on start, so a restarted node keeps the chain — the same chain: same
genesis hash, and time that never runs backwards (:mod:`chain.anvil_state` works around anvil's
reload defects).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from chain import anvil_state
from chain.artifacts import REPO_ROOT
from chain.errors import ChainError, NodeUnavailable

logger = logging.getLogger(__name__)

ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEV_MNEMONIC = "test test test test test test test test test test test junk"
LOCAL_CHAIN_ID = 31337
# Pinned rather than anvil's moving "latest": osaka has the P-256 precompile (0x100, EIP-7951) the
# passkey accounts verify with, and forge runs the contracts' tests on the same fork.
HARDFORK = "osaka"


class AnvilError(ChainError):
    """anvil could not be started or exited unexpectedly."""


class PortInUse(AnvilError):
    """The port anvil was to listen on is held by another process."""


PORT_ATTEMPTS = 5  # for a port we picked ourselves (see Anvil.start)


def anvil_binary() -> Path:
    """The packaged anvil, else one on PATH."""
    if ANVIL_BINARY.is_file():
        return ANVIL_BINARY
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise AnvilError(f"anvil not found at {ANVIL_BINARY} nor on PATH (run `npm ci`)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


class Anvil:
    """One anvil process. Use as a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        chain_id: int = LOCAL_CHAIN_ID,
        accounts: int = 20,
        balance_eth: int = 10_000,
        state_path: Path | None = None,
        block_time: float | None = None,
        startup_timeout: float = 30.0,
        extra_args: list[str] | None = None,
        fresh_hint: str | None = None,
        hardfork: str = HARDFORK,
    ) -> None:
        """``fresh_hint``: the command that starts a new chain, named when the state is unusable."""
        self.host = host
        # A port we picked can be taken by another process before anvil binds it (free_port
        # only says nobody holds it *now*): start() then retries on another. A given one cannot.
        self._port_picked = not port
        self.port = port or free_port(host)
        self.chain_id = chain_id
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.state_path = state_path
        self.block_time = block_time
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args or []
        self.fresh_hint = fresh_hint
        self.hardfork = hardfork
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        # Timestamp of the saved chain's genesis (set by start() from the state file, if any).
        self._genesis_timestamp: int | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        cmd = [
            str(anvil_binary()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.accounts),
            "--balance",
            str(self.balance_eth),
            "--mnemonic",
            DEV_MNEMONIC,
            "--hardfork",
            self.hardfork,
        ]
        if self.state_path is not None:
            # --state = --load-state on start + --dump-state on exit.
            cmd += ["--state", str(self.state_path)]
        if self._genesis_timestamp is not None:
            # The saved genesis rebuilt identically: no second block 0 (see chain.anvil_state).
            cmd += ["--timestamp", str(self._genesis_timestamp)]
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        return cmd + self.extra_args

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (subclasses detach the process, see chain.cli)."""
        return {}

    def start(self) -> Self:
        """Start the process and wait until its JSON-RPC answers ``eth_chainId``."""
        attempts = PORT_ATTEMPTS if self._port_picked else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except PortInUse:
                if attempt == attempts:
                    raise
                logger.info("port %d was taken before anvil bound it; trying another", self.port)
                self.port = free_port(self.host)
        raise AssertionError("unreachable")

    def _start_once(self) -> Self:
        if self.process is not None:
            raise AnvilError("anvil already started")
        if not port_is_free(self.port, self.host):
            # Otherwise the readiness probe would be answered by whoever holds the port.
            raise PortInUse(f"port {self.port} on {self.host} is already in use")
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            self._genesis_timestamp = anvil_state.prepare(
                self.state_path, fresh_hint=self.fresh_hint or f"rm {self.state_path}"
            )
        log_dir = REPO_ROOT / "build" / "anvil"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = log_dir / f"anvil-{self.port}.log"
        log = self._log_path.open("wb")
        logger.info("starting anvil on %s", self.rpc_url)
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **self.popen_options(),
        )
        log.close()  # the child holds its own descriptor
        try:
            self._wait_ready()
            if self._genesis_timestamp is not None:
                resumed = anvil_state.resume_clock(self.rpc_url)
                logger.info("anvil: saved chain loaded; its clock resumes at %d", resumed)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                error = PortInUse if "address already in use" in tail.lower() else AnvilError
                raise error(f"anvil exited with code {self.process.returncode}: {tail}")
            try:
                response = httpx.post(self.rpc_url, json=payload, timeout=1.0)
                if response.status_code == 200 and "result" in response.json():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise NodeUnavailable(
            f"anvil did not answer at {self.rpc_url} within {self.startup_timeout} s"
        )

    def log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.is_file():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process by PID: SIGTERM (anvil dumps its state), wait, then SIGKILL."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("anvil pid %d ignored SIGTERM; killing it", process.pid)
            process.kill()
            process.wait(timeout=timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    """True if a process with this PID exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split(":", 1)[1]
    return True

"""Launch and stop a local anvil node (the npm-packaged foundry binary).

``with Anvil() as node: Web3(HTTPProvider(node.rpc_url))``. The process is stopped by its own
PID (terminate, wait, kill, wait) so no orphan is left; ``state_path`` makes anvil dump its
state on exit and load it on start, so a restarted node keeps the chain.
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
from typing import Self

import httpx

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
        hardfork: str = HARDFORK,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.chain_id = chain_id
        self.accounts = accounts
        self.balance_eth = balance_eth
        self.state_path = state_path
        self.block_time = block_time
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args or []
        self.hardfork = hardfork
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

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
        if self.block_time is not None:
            cmd += ["--block-time", f"{self.block_time:g}"]
        return cmd + self.extra_args

    def start(self) -> Self:
        """Start the process and wait until its JSON-RPC answers ``eth_chainId``."""
        if self.process is not None:
            raise AnvilError("anvil already started")
        if not port_is_free(self.port, self.host):
            # Otherwise the readiness probe would be answered by whoever holds the port.
            raise AnvilError(f"port {self.port} on {self.host} is already in use")
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        log_dir = REPO_ROOT / "build" / "anvil"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = log_dir / f"anvil-{self.port}.log"
        log = self._log_path.open("wb")
        logger.info("starting anvil on %s", self.rpc_url)
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()  # the child holds its own descriptor
        try:
            self._wait_ready()
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
                raise AnvilError(
                    f"anvil exited with code {self.process.returncode}: {self.log_tail()}"
                )
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

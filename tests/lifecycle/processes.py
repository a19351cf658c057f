"""Real ``tuanchain`` commands in subprocesses, stopped with real signals.

Each command runs in its own process group (as a terminal runs a foreground job), on free ports
and a data folder of its own. Waiting is on conditions (a line in its output, a process exit),
polled; the timeouts are only guards against a hang, never what a test relies on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chain.anvil import free_port, pid_alive, port_is_free
from chain.artifacts import REPO_ROOT

TUANCHAIN = Path(sys.executable).parent / "tuanchain"
# Guards against a hang only: a healthy start takes seconds (a first `run` deploys and seeds).
START_GUARD_SECONDS = 240.0
STOP_GUARD_SECONDS = 120.0


def wait_until(condition: Callable[[], bool], *, guard: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail (naming ``what``) only past the guard."""
    deadline = time.monotonic() + guard
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {guard:.0f} s")
        time.sleep(0.05)


@dataclass
class Home:
    """A data folder, deployments folder, database and ports for one local tuanchain."""

    root: Path
    rpc_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "anvil" / "state.json"

    @property
    def database(self) -> Path:
        return self.data_dir / "index.db"

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "TUANCHAIN_RPC_URL": self.rpc_url,
            "TUANCHAIN_DATA_DIR": str(self.data_dir),
            "TUANCHAIN_DEPLOYMENTS_DIR": str(self.root / "deployments"),
            "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(self.database),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }


class Command:
    """One ``tuanchain ...`` process; its output goes to ``log``."""

    def __init__(self, home: Home, args: list[str], log: Path, **env: str) -> None:
        self.log = log
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                [str(TUANCHAIN), *args],
                env=home.env(**env),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group, like a terminal's foreground job
                cwd=REPO_ROOT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, guard: float = START_GUARD_SECONDS) -> re.Match[str]:
        """The first match of ``pattern`` in the output; fails if the process exits first."""
        found: list[re.Match[str]] = []

        def seen() -> bool:
            match = re.search(pattern, self.output)
            if match:
                found.append(match)
                return True
            if self.process.poll() is not None:
                raise AssertionError(
                    f"exited with {self.process.returncode} before {pattern!r}:\n"
                    + self.output[-4000:]
                )
            return False

        wait_until(seen, guard=guard, what=pattern)
        return found[0]

    def signal(self, signum: int, *, group: bool = False) -> None:
        """``group``: the whole process group, as a terminal's Ctrl-C does."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def stop(self, signum: int, *, group: bool = False) -> int:
        self.signal(signum, group=group)
        try:
            return self.process.wait(timeout=STOP_GUARD_SECONDS)
        except subprocess.TimeoutExpired:  # a hang: say where it hung (a slow stop dumps stacks)
            raise AssertionError(
                f"still running {STOP_GUARD_SECONDS:.0f} s after {signal.Signals(signum).name}:\n"
                + self.output[-8000:]
            ) from None

    def kill(self) -> None:
        """Cleanup after a failed test: nothing of ours may outlive it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_GUARD_SECONDS)


def anvil_pid(output: str) -> int:
    match = re.search(r"anvil started at \S+ \(pid (\d+)\)", output) or re.search(
        r"anvil listening on \S+ \(chain id \d+, pid (\d+)\)", output
    )
    assert match, output[-3000:]
    return int(match[1])


def assert_anvil_gone(pid: int, port: int) -> None:
    assert not pid_alive(pid), f"anvil pid {pid} is still running"
    assert port_is_free(port), f"port {port} is still taken"

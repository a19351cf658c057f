"""``tuanchain run`` whose anvil is killed under it (the OOM killer, an operator's ``kill -9``):
the service stays up saying the chain is down (/healthz 503 naming it), and a SIGTERM still stops
it cleanly (exit 0), its last lines saying that anvil had exited by itself and that its chain is
as last saved — not "state saved", which it was not (found in the operations review).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from chain.anvil import pid_alive

from .conftest import DemoHome
from .processes import STOP_GUARD_SECONDS, Command, anvil_pid, wait_until


def test_run_says_its_anvil_died_under_it_and_still_stops_cleanly(
    demo_home: DemoHome, tmp_path: Path
) -> None:
    home = demo_home.copy(tmp_path / "home")
    run = Command(home, ["run", "--port", str(home.api_port)], tmp_path / "run.log")
    try:
        run.wait_for(r"Uvicorn running")
        pid = anvil_pid(run.output)
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), guard=STOP_GUARD_SECONDS, what="anvil gone")
        health = httpx.get(home.api_url + "/healthz", timeout=STOP_GUARD_SECONDS)
        assert health.status_code == 503 and health.json()["down"] == ["chain"], health.text
        assert run.stop(signal.SIGTERM) == 0, run.output[-3000:]
    finally:
        run.kill()
    last = run.output.strip().splitlines()[-2:]
    assert last[0].startswith("anvil had exited by itself (code -9) before the stop"), last
    assert "`tuanchain run` starts it again from there" in last[0]
    assert last[1] == "stopped cleanly (SIGTERM)", last
    assert "anvil stopped (state saved)" not in run.output

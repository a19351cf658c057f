"""``tuanchain run`` end to end: anvil + deploy + seed + index + serve, Ctrl-C leaves nothing.

Runs the real command in its own process group (as a terminal would) on free ports and a
temporary data folder, twice: the second run reuses the saved chain (no deploy, no seed
transaction). Ctrl-C is SIGINT to the whole group, exactly what a terminal sends.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from api.demo.catalog import RICE
from chain.anvil import free_port, pid_alive
from chain.artifacts import REPO_ROOT

TUANCHAIN = Path(sys.executable).parent / "tuanchain"


def start(env: dict[str, str], port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``tuanchain run`` and wait (by reading its output) until uvicorn serves."""
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(TUANCHAIN), "run", "--port", str(port)],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=REPO_ROOT,
    )
    handle.close()
    try:
        process.wait(timeout=0)
    except subprocess.TimeoutExpired:
        pass
    while process.poll() is None and "Uvicorn running" not in log.read_text(errors="replace"):
        try:
            process.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
    text = log.read_text(errors="replace")
    assert process.poll() is None, text[-3000:]
    return process, text


def interrupt(process: subprocess.Popen[bytes]) -> int:
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole foreground group
    return process.wait(timeout=60)


def test_run_serves_the_demo_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    rpc_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "TUANCHAIN_RPC_URL": f"http://127.0.0.1:{rpc_port}",
        "TUANCHAIN_DATA_DIR": str(tmp_path / "data"),
        "TUANCHAIN_DEPLOYMENTS_DIR": str(tmp_path / "deployments"),
        "TUANCHAIN_DATABASE_URL": "sqlite:///" + str(tmp_path / "data" / "index.db"),
    }
    process, text = start(env, api_port, tmp_path / "run1.log")
    try:
        anvil_pid = int(re.search(r"anvil started at \S+ \(pid (\d+)\)", text)[1])  # type: ignore[index]
        link = f"http://127.0.0.1:{api_port}/01/{RICE.gtin14}/10/{RICE.lot}"
        assert link in text and "█" in text  # the URL and its QR code in the terminal
        assert "consumer  0x" in text  # the demo accounts
        page = httpx.get(link, headers={"Accept": "text/html"}, timeout=30)
        assert page.status_code == 200 and "五常大米" in page.text
    finally:
        code = interrupt(process)
    assert code == 0, (tmp_path / "run1.log").read_text()[-3000:]
    assert not pid_alive(anvil_pid)
    assert (tmp_path / "data" / "anvil" / "state.json").stat().st_size > 0

    # A restart keeps the chain: contracts reused, the seed finds everything and sends nothing.
    process, text = start(env, api_port, tmp_path / "run2.log")
    try:
        assert "reusing GroupBuyEscrow" in text
        assert "seed: 0 transactions, 0 time jumps" in text
        proof = httpx.get(
            f"http://127.0.0.1:{api_port}/v1/batches/{RICE.gtin14}/{RICE.lot}", timeout=30
        )
        assert proof.json()["verification"]["status"] == "verified"
    finally:
        assert interrupt(process) == 0
    anvil_pid = int(re.search(r"\(pid (\d+)\)", text)[1])  # type: ignore[index]
    assert not pid_alive(anvil_pid)

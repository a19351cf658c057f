"""chain.shutdown: SIGINT, SIGTERM and SIGHUP as one stop request, with real signals raised in
this (main) thread; the commands' own behaviour is tested on real processes (tests/lifecycle)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chain.shutdown import STOP_SIGNALS, StopRequested, stop_signals


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_the_first_signal_requests_the_stop_later_ones_change_nothing(signum: int) -> None:
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    first: list[str] = []
    with stop_signals() as stop:
        stop.on_request(lambda: first.append("stop"))
        assert not stop.requested
        signal.raise_signal(signum)
        assert stop.requested and stop.signal_name == signal.Signals(signum).name
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
        late: list[str] = []
        stop.on_request(lambda: late.append("at once"))  # registered after the request
    assert first == ["stop"] and late == ["at once"]
    assert stop.signal_name == signal.Signals(signum).name  # the first one is what counts
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before  # handlers restored


def test_only_straight_line_work_is_interrupted() -> None:
    with stop_signals() as stop:
        with pytest.raises(StopRequested), stop.interrupting():
            signal.raise_signal(signal.SIGTERM)
            pytest.fail("the signal did not interrupt")  # pragma: no cover
        signal.raise_signal(signal.SIGTERM)  # outside: only logged, nothing raised
        with pytest.raises(StopRequested), stop.interrupting():  # already requested: at once
            pytest.fail("entered although a stop was requested")  # pragma: no cover


# A process whose main thread waits for the stop while another thread receives the signal (the
# kernel may hand a process's signal to any thread; pthread_kill makes it happen every time).
SIGNAL_TO_ANOTHER_THREAD = """
import signal, threading, time
from chain.shutdown import stop_signals
with stop_signals() as stop:
    def signalled_here():
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        time.sleep(600)
    threading.Thread(target=signalled_here, daemon=True).start()
    stop.wait()
print("stopped by", stop.signal_name, flush=True)
"""


def test_a_signal_taken_by_another_thread_still_stops_the_waiting_main_thread() -> None:
    # Before Stop.wait, a `tuanchain worker` blocked in Event.wait() never ran the handler.
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_TO_ANOTHER_THREAD],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,  # a guard against a hang, not a measurement: it ends in well under a second
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "stopped by SIGTERM"

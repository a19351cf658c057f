"""chain.shutdown: SIGINT, SIGTERM and SIGHUP as one stop request, with real signals raised in
this (main) thread; the commands' own behaviour is tested on real processes (tests/lifecycle)."""

from __future__ import annotations

import signal

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

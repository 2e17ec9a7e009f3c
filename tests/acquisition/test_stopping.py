"""Long-running commands stop cleanly: the stop handler never blocks the main thread."""

from __future__ import annotations

import signal

import pytest

from panelgate.acquisition.stopping import StopSignals


@pytest.mark.timeout(20)
def test_the_handler_does_not_wait_for_the_lock_event_wait_holds() -> None:
    # A signal may arrive while the main thread is inside Event.wait, holding the event's
    # (non-reentrant) lock; the handler runs in that same thread. Setting the event from
    # the handler would wait for that lock forever.
    signals = StopSignals()
    with signals.stop._cond:  # what Event.wait holds around its checks
        signals._handler(signal.SIGTERM, None)
    assert signals.stop.wait(10)
    assert signals.exit_status == 0


def test_sigint_is_an_interruption() -> None:
    signals = StopSignals()
    signals._handler(signal.SIGINT, None)
    assert signals.stop.wait(10)
    assert signals.exit_status == 130

"""RunControls: the thread-safe requests a UI or a signal handler sends to a running training."""

from __future__ import annotations

import math
import threading

import pytest

from ktui.core.controls import RunControls


def _waiter(controls: RunControls) -> tuple[threading.Thread, threading.Event]:
    """A thread blocked in wait_while_paused; the event is set once the wait returns."""
    returned = threading.Event()

    def wait() -> None:
        controls.wait_while_paused(poll=0.01)
        returned.set()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, returned


def test_fresh_controls_request_nothing() -> None:
    controls = RunControls()
    assert not controls.stop_requested
    assert not controls.paused
    assert controls.take_learning_rate() is None
    # Not paused: returns at once.
    controls.wait_while_paused()


def test_pause_holds_until_resume() -> None:
    controls = RunControls()
    controls.pause()
    assert controls.paused
    thread, returned = _waiter(controls)
    # The waiter must still be blocked after a while of polling.
    assert not returned.wait(0.2)
    controls.resume()
    assert returned.wait(5)
    thread.join(5)
    assert not controls.paused and not controls.stop_requested


def test_stop_releases_a_pause() -> None:
    controls = RunControls()
    controls.pause()
    thread, returned = _waiter(controls)
    assert not returned.wait(0.1)
    controls.stop()
    assert returned.wait(5)
    thread.join(5)
    assert controls.stop_requested and not controls.paused


def test_pause_after_stop_is_ignored() -> None:
    controls = RunControls()
    controls.stop()
    controls.pause()
    assert not controls.paused
    controls.wait_while_paused()  # must not block


def test_learning_rate_is_taken_once_and_latest_wins() -> None:
    controls = RunControls()
    controls.set_learning_rate(0.1)
    controls.set_learning_rate(0.02)
    assert controls.take_learning_rate() == 0.02
    assert controls.take_learning_rate() is None


@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_learning_rate_must_be_a_positive_number(value: float) -> None:
    controls = RunControls()
    with pytest.raises(ValueError, match="positive"):
        controls.set_learning_rate(value)
    assert controls.take_learning_rate() is None


def test_requests_from_many_threads() -> None:
    controls = RunControls()
    values = [0.001 * (i + 1) for i in range(50)]
    threads = [threading.Thread(target=controls.set_learning_rate, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert controls.take_learning_rate() in values
    assert controls.take_learning_rate() is None

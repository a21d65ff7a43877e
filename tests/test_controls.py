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


def test_nothing_pending_says_when_a_request_waits() -> None:
    """The training callback's per-batch check: False from a request until it is applied."""
    controls = RunControls()
    assert controls.nothing_pending
    controls.set_learning_rate(0.01)
    assert not controls.nothing_pending
    assert controls.take_learning_rate() == 0.01
    assert controls.nothing_pending  # taken: nothing left to apply
    controls.pause()
    assert not controls.nothing_pending
    controls.resume()
    assert controls.nothing_pending
    controls.pause()
    controls.set_learning_rate(0.02)
    controls.resume()
    assert not controls.nothing_pending  # the rate still waits
    assert controls.take_learning_rate() == 0.02
    assert controls.nothing_pending
    controls.stop()
    assert not controls.nothing_pending  # a stop stays asked for
    assert controls.take_learning_rate() is None
    assert not controls.nothing_pending


def test_nothing_pending_is_false_once_any_thread_asks() -> None:
    """Requests from many threads against the trainer's takes: the flag still tells
    whether a rate is left to take."""
    controls = RunControls()
    start = threading.Barrier(5)

    def ask(n: int) -> None:
        start.wait()
        for i in range(200):
            controls.set_learning_rate(0.001 * (n + 1) + i * 1e-6)
            controls.pause()
            controls.resume()

    def take() -> None:
        start.wait()
        for _ in range(800):
            controls.take_learning_rate_request()

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(4)]
    threads.append(threading.Thread(target=take))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    # Every asker ended with a resume: the flag is False exactly when a rate is left.
    announced = not controls.nothing_pending
    left = controls.take_learning_rate_request()
    assert announced == (left is not None)
    assert controls.nothing_pending

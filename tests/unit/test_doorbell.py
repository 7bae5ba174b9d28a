"""The doorbell wakes one idle runner per ring, and every runner when the worker stops."""

from __future__ import annotations

import threading

from pitmaster.worker.doorbell import Doorbell


def test_given_no_ring_then_a_wait_times_out() -> None:
    assert Doorbell(most_rings=2).wait(0.01) is False


def test_given_one_ring_then_exactly_one_wait_is_answered() -> None:
    doorbell = Doorbell(most_rings=4)
    doorbell.ring()

    assert doorbell.wait(0.01) is True
    assert doorbell.wait(0.01) is False


def test_given_more_rings_than_runners_then_only_as_many_as_runners_are_kept() -> None:
    doorbell = Doorbell(most_rings=2)
    for _ in range(5):
        doorbell.ring()

    assert [doorbell.wait(0.01) for _ in range(3)] == [True, True, False]


def test_given_waiting_runners_when_rung_for_everyone_then_all_wake_and_stay_woken() -> None:
    doorbell = Doorbell(most_rings=3)
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(doorbell.wait(30))) for _ in range(3)]
    for waiter in waiters:
        waiter.start()

    doorbell.ring_everyone()
    for waiter in waiters:
        waiter.join(timeout=10)

    assert woke == [True, True, True]
    assert doorbell.wait(0) is True

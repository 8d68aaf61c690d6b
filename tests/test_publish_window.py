"""Publishing batches are submitted a few at a time: what a batch sends is held only while it
runs, not for every batch of the run at once."""

from __future__ import annotations

from concurrent.futures import Future

from flows.runtime import results_in_order


def _done(value: int) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def test_results_come_in_submission_order_with_at_most_ahead_outstanding() -> None:
    outstanding: list[int] = []
    most = 0

    def submitted():
        nonlocal most
        for value in range(10):
            outstanding.append(value)
            most = max(most, len(outstanding))
            yield _done(value)

    collected = []
    for value in results_in_order(submitted(), ahead=3):
        outstanding.remove(value)
        collected.append(value)
    assert collected == list(range(10))
    assert most == 3
    assert outstanding == []


def test_nothing_is_submitted_before_a_result_is_asked_for() -> None:
    submitted = []

    def submissions():
        for value in range(5):
            submitted.append(value)
            yield _done(value)

    results = results_in_order(submissions(), ahead=2)
    assert submitted == []
    assert next(results) == 0
    assert submitted == [0, 1]


def test_a_failed_batch_raises_where_its_result_is_collected() -> None:
    failed: Future = Future()
    failed.set_exception(OSError("disk full"))
    results = results_in_order(iter([_done(1), failed, _done(3)]), ahead=1)
    assert next(results) == 1
    try:
        next(results)
    except OSError as error:
        assert str(error) == "disk full"
    else:
        raise AssertionError("the failed batch's error was not raised")

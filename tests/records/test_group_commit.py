"""Group commit (records/publishing/group_commit.py): who is sent with whom, and who hears what."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from records.publishing.group_commit import Abandoned, GroupCommit
from testkit.harness import wait


class Gated:
    """A send that records each batch and, while `hold` is clear, waits for it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Semaphore(0)
        self.fail_next: Exception | None = None

    def __call__(self, items: Sequence[int]) -> list[Any]:
        self.batches.append(list(items))
        self.entered.release()
        assert self.hold.wait(10)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return [ValueError(f"refused {i}") if i < 0 else i * 10 for i in items]

    def in_flight(self, commit: GroupCommit[int], answers: dict[int, Any]) -> threading.Thread:
        """A call of item 1 whose batch is being sent and held there (until `hold` is set)."""
        self.hold.clear()
        first = submit_in_thread(commit, 1, answers)
        assert self.entered.acquire(timeout=10)
        return first


def submit_in_thread(
    commit: GroupCommit[int], item: int, answers: dict[int, Any]
) -> threading.Thread:
    def run() -> None:
        try:
            answers[item] = commit.submit(item)
        except Exception as exc:  # noqa: BLE001 - what the caller raised is the answer here
            answers[item] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_lone_call_is_sent_at_once_alone() -> None:
    send = Gated()
    commit: GroupCommit[int] = GroupCommit(send, wait_seconds=10)
    assert commit.submit(1) == 10
    assert commit.submit(2) == 20
    assert send.batches == [[1], [2]]
    commit.close()


def test_calls_that_arrive_during_a_round_trip_go_together_and_each_hears_its_own() -> None:
    send = Gated()
    commit: GroupCommit[int] = GroupCommit(send, wait_seconds=10)
    answers: dict[int, Any] = {}
    # Given a batch in flight
    first = send.in_flight(commit, answers)
    # When five more calls arrive meanwhile, one of them refused by Redis
    others = [submit_in_thread(commit, i, answers) for i in (2, 3, -4, 5, 6)]
    assert wait(lambda: len(commit._pending) == 5, 10)  # (all five queued: the sender is held)
    send.hold.set()
    for thread in [first, *others]:
        thread.join(10)
    # Then they went as one batch, and each caller got its own answer
    assert send.batches[0] == [1]
    assert sorted(send.batches[1]) == [-4, 2, 3, 5, 6]
    assert len(send.batches) == 2
    assert {k: v for k, v in answers.items() if k != -4} == {1: 10, 2: 20, 3: 30, 5: 50, 6: 60}
    assert isinstance(answers[-4], ValueError)
    commit.close()


def test_a_failed_send_reaches_every_caller_of_its_batch_and_the_next_batch_goes() -> None:
    send = Gated()
    commit: GroupCommit[int] = GroupCommit(send, wait_seconds=10)
    send.fail_next = ConnectionError("Redis went away")
    with pytest.raises(ConnectionError, match="went away"):
        commit.submit(1)
    assert commit.submit(2) == 20
    commit.close()


def test_a_caller_that_stops_waiting_is_told_so_and_not_sent_if_not_taken_yet() -> None:
    send = Gated()
    commit: GroupCommit[int] = GroupCommit(send, wait_seconds=0.2)
    answers: dict[int, Any] = {}
    # Given a batch that does not come back in time
    first = send.in_flight(commit, answers)
    # When another call waits behind it past its wait
    with pytest.raises(Abandoned):
        commit.submit(2)
    send.hold.set()
    first.join(10)
    # Then both callers gave up, and the one never taken was never sent
    assert isinstance(answers[1], Abandoned)
    assert commit.submit(3) == 30
    assert send.batches == [[1], [3]]
    commit.close()


def test_a_closed_group_commit_refuses_at_once() -> None:
    commit: GroupCommit[int] = GroupCommit(Gated(), wait_seconds=10)
    assert commit.submit(1) == 10
    commit.close()
    with pytest.raises(Abandoned, match="closed"):
        commit.submit(2)

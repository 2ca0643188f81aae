"""Group commit: calls from many threads (the web's greenlets) go to Redis together.

Each caller hands its item over and waits; one sender thread takes every item waiting, sends
them as one batch (one write, one round trip, one replica WAIT), and gives each caller its own
answer. Under load the batches grow by themselves (everything that arrived while the last one
was in flight); a lone request is sent at once, alone. Loopback and network writes, and the
wake-ups of Redis they cause, are the web's largest cost per webhook after the framework's;
a batch pays them once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Abandoned(Exception):
    """The caller stopped waiting before its batch was answered."""


class _Slot(Generic[T]):
    """One caller's item, and where its answer goes."""

    __slots__ = ("abandoned", "answer", "done", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = threading.Event()
        self.answer: Any = None
        self.abandoned = False


class GroupCommit(Generic[T]):
    """`send(items)` returns one answer per item, in order: a value, or an exception to raise
    in that item's caller. An exception `send` raises goes to every caller of the batch."""

    def __init__(
        self, send: Callable[[Sequence[T]], Sequence[Any]], *, wait_seconds: float
    ) -> None:
        self._send = send
        self._wait = wait_seconds
        self._lock = threading.Lock()
        # Set when items are waiting (or on close). An event, not a condition: the web calls
        # this on every webhook, and a condition's wait allocates a lock each time.
        self._work = threading.Event()
        self._pending: list[_Slot[T]] = []
        self._sender: threading.Thread | None = None
        self._pid = 0
        self._closed = False

    def submit(self, item: T) -> Any:
        """Send `item` in the next batch and return its answer. Raises the answer when it is an
        exception, and Abandoned when no answer came within the wait (the item may still be
        sent: callers make their items safe to send twice)."""
        slot: _Slot[T] = _Slot(item)
        with self._lock:
            if self._closed:
                raise Abandoned("closed")
            if self._sender is None or self._pid != os.getpid():
                self._start()
            self._pending.append(slot)
        self._work.set()
        if not slot.done.wait(self._wait):
            slot.abandoned = True  # (skipped if not taken yet)
            raise Abandoned(f"no answer within {self._wait:g}s")
        if isinstance(slot.answer, BaseException):
            raise slot.answer
        return slot.answer

    def close(self) -> None:
        """Stop the sender; calls still waiting are answered Abandoned."""
        with self._lock:
            self._closed = True
            waiting, self._pending = self._pending, []
        self._work.set()
        for slot in waiting:
            slot.answer = Abandoned("closed")
            slot.done.set()

    def _start(self) -> None:
        # (Called with the lock held.) A thread of this process's own: a web worker forked
        # from a preloaded master does not inherit the master's.
        self._pid = os.getpid()
        self._sender = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._sender.start()

    def _run(self) -> None:
        while True:
            self._work.wait()
            with self._lock:
                # Cleared before the batch is taken, under the lock: an item appended after
                # this sets it again, so none waits for a batch that is not coming.
                self._work.clear()
                if self._closed:
                    return
                batch = [slot for slot in self._pending if not slot.abandoned]
                self._pending = []
            if batch:
                self._answer(batch)

    def _answer(self, batch: list[_Slot[T]]) -> None:
        try:
            answers: Sequence[Any] = self._send([slot.item for slot in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers for {len(batch)} items")
        except Exception as exc:  # noqa: BLE001 - every caller of the batch hears of it; the sender lives on
            answers = [exc] * len(batch)
        for slot, answer in zip(batch, answers, strict=True):
            slot.answer = answer
            slot.done.set()

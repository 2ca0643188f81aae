"""Imported at start-up by a process whose clock libfaketime skews (testkit/skewed_clock.py puts
this directory on its PYTHONPATH), to work around a libfaketime 0.9.10 bug (Debian 12's).

With FAKETIME_DONT_FAKE_MONOTONIC, which keeps the monotonic clock right, libfaketime answers
clock_nanosleep on the monotonic clock with an absolute deadline (how Python's time.sleep
sleeps) with EINVAL: every sleep would raise OSError. select() it leaves alone, so sleeping
goes through it instead, to the same monotonic deadline. Timed waits on locks and events are
unaffected (checked by skewed_clock.measured_offset).
"""

from __future__ import annotations

import select
import time
from typing import SupportsIndex


def _sleep(seconds: float | SupportsIndex) -> None:
    length = float(seconds)
    if length < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + length
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep

"""A process whose wall clock is off by a fraction of a second, as a host whose NTP has drifted:
libfaketime (Debian's `libfaketime` package) preloaded with FAKETIME="+0.5".

Only the wall clock moves (CLOCK_REALTIME: Python's time.time()); the monotonic clock is left
alone, as a drifted host's is (FAKETIME_DONT_FAKE_MONOTONIC), and so are the timed waits that
run on it (FAKETIME_FORCE_MONOTONIC_FIX=0: the "fix" cut the GIL's timed waits short, and a
threaded worker ran several times slower; `thread_slowdown` measures it). A constant offset
needs none of the thread-safe build's locking (libfaketimeMT serialises time calls for
speed-ups and start-at times), so the plain libfaketime.so.1 serves a threaded worker. That
setting has a bug in libfaketime 0.9.10 (time.sleep raises EINVAL), which
faketime_site/sitecustomize.py works around in the skewed process; faking the monotonic clock
as well would be worse (a lock's timed acquire never returns).

Where the library is missing, `unavailable()` says why, and whoever asked for a skewed clock
says it is skipped rather than run unskewed.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

# Where Debian and a build from source put it (multiarch first).
_PLACES = [
    "/usr/lib/*-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
]
# What the check below accepts as "off by the offset asked for": a process start-up and a
# pipe's round trip fit well inside it.
TOLERANCE_SECONDS = 0.1

# The checking child: on each line read, a sleep and timed waits (what libfaketime can break),
# then its wall clock and (given a URL) a Redis PING's answer.
_CHILD = """
import json, sys, threading, time
import redis
url = sys.argv[1]
for _ in sys.stdin:
    time.sleep(0.001)
    threading.Event().wait(0.001)
    threading.Lock().acquire(timeout=0.001)
    ping = redis.Redis.from_url(url, socket_timeout=2).ping() if url else None
    print(json.dumps({"time": time.time(), "ping": ping}), flush=True)
"""
# The sitecustomize that keeps time.sleep working under the preload.
_SITE = Path(__file__).resolve().parent / "faketime_site"


class ClockSkewUnavailable(RuntimeError):
    """libfaketime is not installed here: a skewed clock cannot be had."""


def library() -> Path | None:
    for pattern in _PLACES:
        for found in sorted(glob.glob(pattern)):
            return Path(found)
    return None


def unavailable() -> str | None:
    """Why a skewed clock cannot be had here, or None if it can."""
    if sys.platform != "linux":
        return "libfaketime is preloaded with LD_PRELOAD, on Linux only"
    if library() is None:
        return "libfaketime is not installed (Debian: apt-get install faketime)"
    return None


def skewed(offset: float) -> dict[str, str]:
    """The environment that puts a process's wall clock `offset` seconds off."""
    found = library()
    if found is None:
        raise ClockSkewUnavailable(unavailable() or "libfaketime not found")
    preload = " ".join(p for p in [str(found), os.environ.get("LD_PRELOAD", "")] if p)
    path = os.pathsep.join(p for p in [str(_SITE), os.environ.get("PYTHONPATH", "")] if p)
    return {
        "LD_PRELOAD": preload,
        "PYTHONPATH": path,
        # (Fractions of a second are libfaketime's "+0.5"; "+500ms" would be 500 minutes.)
        "FAKETIME": f"{offset:+g}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # Its "monotonic fix" rewrites the deadline of every timed wait on a condition that
        # runs on the monotonic clock, which Python's GIL is: the waits end at once, and four
        # busy threads ran 6-7 times slower than without the preload. The monotonic clock is
        # not faked here, so there is nothing to fix.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
    }


def measured_offset(env: Mapping[str, str], redis_url: str = "", rounds: int = 5) -> float:
    """How far off the wall clock of a Python process started with `env` is from ours: the
    smallest of a few pipe round trips, each read at its middle. With `redis_url`, the child
    also PINGs Redis each time (under the preload, the client must still work)."""
    best: tuple[float, float] = (float("inf"), 0.0)  # (round trip, offset)
    with subprocess.Popen(
        [sys.executable, "-c", _CHILD, redis_url],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None
        assert child.stdout is not None
        for _ in range(rounds):
            sent = time.time()
            child.stdin.write("\n")
            child.stdin.flush()
            line = child.stdout.readline()
            if not line:
                raise ClockSkewUnavailable(f"a Python process under {env} died (a sleep failed?)")
            answer = json.loads(line)
            back = time.time()
            if redis_url and answer["ping"] is not True:
                raise RuntimeError(f"Redis did not answer PING under {env}")
            best = min(best, (back - sent, answer["time"] - (sent + back) / 2))
        child.stdin.close()
    return best[1]


# The slowdown child: the same busy work in one thread, then shared by four (which only take
# turns on the GIL), and the second time over the first.
_BUSY = """
import sys, threading, time
sys.setswitchinterval(0.0005)  # the worker's (workers/app.py)
def work(n):
    total = 0
    for i in range(n):
        total += i
start = time.monotonic(); work(2_000_000); alone = time.monotonic() - start
threads = [threading.Thread(target=work, args=(500_000,)) for _ in range(4)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print((time.monotonic() - start) / alone)
"""


def thread_slowdown(env: Mapping[str, str]) -> float:
    """How much slower busy work runs shared by four threads than in one, in a Python process
    started with `env`: about 1 where taking turns on the GIL costs nothing much; several
    times that where the preload cuts short the GIL's timed waits."""
    found = subprocess.run([sys.executable, "-c", _BUSY], env={**os.environ, **env},
                           capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return float(found.stdout)


def checked(offset: float, redis_url: str = "") -> tuple[dict[str, str], float]:
    """`skewed(offset)` and the offset seen, after proving on a child process that it does
    what it says."""
    env = skewed(offset)
    seen = measured_offset(env, redis_url)
    if abs(seen - offset) > TOLERANCE_SECONDS:
        raise ClockSkewUnavailable(f"asked libfaketime for {offset:+g} s and saw {seen:+.3f} s")
    return env, seen


def preloaded(pid: int) -> bool:
    """Whether libfaketime is mapped into a running process (Linux's /proc): the proof that a
    process started through a shell kept the preload."""
    try:
        return "libfaketime" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False

"""Where a worker's CPU goes: py-spy's folded stacks (`scripts/bench cost --profile FILE`)
summed by who did the work.

    scripts/bench stacks FILE [FILE2]      # FILE2: a second profile, side by side
    scripts/bench stacks FILE@4.7 ...      # in ms per event: the CPU per event of that drain

Each sample goes to the innermost frame that belongs to a library or to one of the project's
packages (the standard library's frames count for whoever called them: socket writes made by
redis-py are Redis's). A second table gives the project's own steps inclusively: a sample
counts for every step on its stack.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (label, pattern on a frame's file) in the order they are tried, innermost frame first.
OWNERS = [
    ("logging", r"^logging/|core/logs\.py|python_json_logger"),
    ("JSON", r"^json/|kombu/utils/json|orjson"),
    ("pydantic", r"^pydantic|pydantic_core"),
    ("httpx (HTTP client)", r"^(httpx|httpcore|h11|anyio|ssl)/"),
    ("redis-py (round trips, scripts)", r"^redis/"),
    ("kombu (broker transport)", r"^kombu/"),
    ("Celery", r"^(celery|billiard|vine|click)/"),
    ("project: tasks", r"^tasks/"),
    ("project: records", r"^records/"),
    ("project: followups, core, telnyx_api", r"^(followups|core|telnyx_api)/"),
]
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:]*):\d+\)$")
STDLIB_HINT = re.compile(
    r"^(threading|concurrent|socket|selectors|queue|contextlib|functools|uuid|time|random|os|re|hashlib|base64|copy|collections|typing|enum|dataclasses|datetime|abc|weakref|traceback|inspect|string|_weakrefset|<frozen [^>]*>)"
)


def samples(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def owner(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        match = FRAME.match(frame)
        file = match["file"] if match else frame
        for label, pattern in OWNERS:
            if re.search(pattern, file):
                return label
    return "other (interpreter, threads, standard library)"


def steps(stack: tuple[str, ...]) -> set[str]:
    """The project's functions on this stack, as module.function."""
    found = set()
    for frame in stack:
        match = FRAME.match(frame)
        if match and re.match(
            r"^(tasks|records|followups|core|telnyx_api|workers)/", match["file"]
        ):
            found.add(f"{match['file'].removesuffix('.py').replace('/', '.')}.{match['func']}")
    return found


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    stacks = samples(path)
    total = sum(stacks.values())
    by_owner: Counter[str] = Counter()
    by_step: Counter[str] = Counter()
    for stack, count in stacks.items():
        by_owner[owner(stack)] += count
        for step in steps(stack):
            by_step[step] += count
    return total, by_owner, by_step


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    paths, scales = [], []
    for arg in sys.argv[1:]:
        path, _, ms = arg.partition("@")
        paths.append(Path(path))
        scales.append(float(ms) if ms else None)
    results = [summarise(p) for p in paths]

    def cell(count: int, total: int, scale: float | None) -> str:
        return f"{scale * count / total:.2f} ms" if scale else f"{100 * count / total:.1f} %"

    header = " | ".join(p.name for p in paths)
    print(f"| by owner (innermost) | {header} |")
    print("|---|" + "---|" * len(paths))
    labels = [label for label, _ in OWNERS] + ["other (interpreter, threads, standard library)"]
    for label in labels:
        cells = " | ".join(
            cell(o[label], t, k) for (t, o, _), k in zip(results, scales, strict=True)
        )
        print(f"| {label} | {cells} |")
    print(f"\n| the project's steps (inclusive) | {header} |")
    print("|---|" + "---|" * len(paths))
    last = results[-1][2]
    names = sorted({s for _, _, st in results for s in st}, key=lambda s: -last[s])
    for name in names[:30]:
        cells = " | ".join(
            cell(st[name], t, k) for (t, _, st), k in zip(results, scales, strict=True)
        )
        print(f"| {name} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

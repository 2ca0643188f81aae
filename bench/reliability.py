"""The reliability report: each fault scenario at a larger scale, and what the API received.

    python bench/reliability.py                 # every scenario, 250 conferences x 4 joins
    python bench/reliability.py --conferences 50 sigkill redelivery

Each scenario starts its own Redis, local Telnyx API, web process and workers (see
testkit/scenarios.py) and prints one row: events sent and acknowledged, actions expected,
delivered, duplicated (accepted twice and acted on twice), lost, dead-lettered; and of the
expected actions, the participants to announce and the speak commands that announced them
(joins waiting in a conference's lane at once are merged: by name or by count, once each).
"""

from __future__ import annotations

import argparse
import platform
import sys

from testkit.scenarios import SCENARIOS, Outcome

COLUMNS = (
    "sent",
    "acknowledged",
    "expected",
    "delivered",
    "duplicated",
    "lost",
    "dead_lettered",
    "announced",
    "speaks",
)


def table(outcomes: list[Outcome]) -> str:
    header = "| scenario | " + " | ".join(COLUMNS) + " | seconds |"
    rule = "|" + "---|" * (len(COLUMNS) + 2)
    rows = [
        f"| {o.scenario} | "
        + " | ".join(str(getattr(o, c)) for c in COLUMNS)
        + f" | {o.seconds:.1f} |"
        for o in outcomes
    ]
    notes = [f"- {o.scenario}: {note}" for o in outcomes for note in o.notes]
    return "\n".join([header, rule, *rows, "", *notes])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--conferences", type=int, default=250)
    parser.add_argument("--joins", type=int, default=4, help="participants joining each conference")
    args = parser.parse_args()
    outcomes = []
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    for name in args.scenarios or list(SCENARIOS):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        outcomes.append(SCENARIOS[name](conferences=args.conferences, joins=args.joins))
    print(
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{args.conferences} conferences x (1 created + {args.joins} joins)\n"
    )
    print(table(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

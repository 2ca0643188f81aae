"""`python -m testkit.fleet_scenarios`: run one scenario and print what it measured."""

from __future__ import annotations

import argparse

from sandbox.api.ratelimit import Rounding, Window
from testkit import skewed_clock
from testkit.fleet_scenarios import __doc__ as usage
from testkit.fleet_scenarios.hash_lost import FLEET_KEYS, HashLossOutcome, hash_lost
from testkit.fleet_scenarios.limits import outage, rate_limited
from testkit.fleet_scenarios.outcomes import FleetOutcome, Limit
from testkit.fleet_scenarios.priorities import PriorityOutcome, priorities


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.fleet_scenarios",
        description=usage,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "scenario", choices=["rate-limit", "outage", "outage-sigkill", "priorities", "hash-lost"]
    )
    parser.add_argument("--conferences", type=int, default=0, help="conferences created")
    parser.add_argument("--seconds", type=float, default=150.0, help="the outage's length")
    parser.add_argument("--limit", type=int, default=0, help="commands a second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", choices=list(Window), default=Window.FIXED)
    parser.add_argument("--rounding", choices=list(Rounding), default=Rounding.UP)
    parser.add_argument("--no-retry-after", action="store_true", help="429s without Retry-After")
    parser.add_argument("--skew", type=float, help="rate-limit: one worker's clock off (s)")
    parser.add_argument("--running", type=int, default=100, help="priorities: joined")
    parser.add_argument(
        "--key", action="append", help="hash-lost: a key or pattern to delete (repeatable)"
    )
    args = parser.parse_args()

    def told(default: int) -> Limit:
        """The API's limit as the arguments tell it: `default` commands a second unless given."""
        return Limit(args.limit or default, Window(args.window), Rounding(args.rounding),
                     retry_after=not args.no_retry_after)  # fmt: skip

    result: FleetOutcome | PriorityOutcome | HashLossOutcome
    match args.scenario:
        case "rate-limit":
            try:
                result = rate_limited(
                    args.conferences or 1200, told(60), args.workers, skew=args.skew
                )
            except skewed_clock.ClockSkewUnavailable as unavailable:
                print(f"SKIPPED: rate-limit with a skewed clock: {unavailable}")
                return 0
        case "priorities":
            result = priorities(args.running, args.conferences or 200, told(20), args.workers)
        case "hash-lost":
            result = hash_lost(
                args.conferences or 300, told(20), args.workers, keys=tuple(args.key or FLEET_KEYS)
            )
        case _:
            kill = args.scenario == "outage-sigkill"
            result = outage(args.conferences or 200, args.seconds, kill_a_worker=kill)
    print(result, f"429 share {result.share_429:.2%}", sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

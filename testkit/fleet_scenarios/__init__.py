"""Telnyx's limits against the fleet: a rate limit the workers share (told in whole seconds, as
Telnyx documents it: sandbox/api/ratelimit.py), an outage long enough to exhaust a per-action
retry count, recordings that must not wait behind announcements, and the fleet's Redis state lost
mid-drain. Each starts its own Redis, local Telnyx API, web process and workers
(testkit/harness.py), sends webhooks and measures what the API received.

    python -m testkit.fleet_scenarios rate-limit --conferences 1200
    python -m testkit.fleet_scenarios rate-limit --window sliding --rounding down --skew 0.5
    python -m testkit.fleet_scenarios outage --conferences 200 --seconds 150
    python -m testkit.fleet_scenarios priorities --running 100 --conferences 200 --limit 20
    python -m testkit.fleet_scenarios hash-lost --conferences 300 --limit 20 --key 'tcw:fleet*'

A scenario that asks for a skewed clock (--skew) needs libfaketime (Debian: faketime); without
it, it says so and is skipped.
"""

from testkit.fleet_scenarios.hash_lost import HashLossOutcome, hash_lost
from testkit.fleet_scenarios.limits import outage, rate_limited
from testkit.fleet_scenarios.outcomes import FleetOutcome, Limit
from testkit.fleet_scenarios.priorities import PriorityOutcome, priorities

__all__ = [
    "FleetOutcome",
    "HashLossOutcome",
    "Limit",
    "PriorityOutcome",
    "hash_lost",
    "outage",
    "priorities",
    "rate_limited",
]

"""A slow Telnyx: from webhook to Telnyx acting on its command, with and without hedging.

    scripts/bench hedging                      # 150 conferences, hedged and not, alternated
    scripts/bench hedging --conferences 300 --runs 2

Each run starts a private Redis, the local Telnyx API, the web process and one worker with
the production settings that matter here (TELNYX_API_TIMEOUT_SECONDS=10, a 1 s backoff base,
32 threads), and the API slow as Telnyx's Command Retries page describes it: of the action
calls, 4 % are never answered (and not acted on: the connection hangs past the timeout) and
4 % are acted on at once but answered 8 s late (seeded, so both runs meet the same draws).
Conferences arrive at 10 a second, each created and then joined by one named participant.

For each conference: from the webhook's delivery to Telnyx first acting on its record_start,
and on its speak (the sandbox's first accepted request for that action and conference;
deliveries are paced, so each one's time is the pace's). Printed: p50, p99 and the worst, and
whether every command was acted on exactly once.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

from records.replies import text
from sandbox.api.faults import FaultRates
from sandbox.events import encode
from testkit.harness import Cluster, accepted_by_command
from testkit.scenarios import conference_burst

RATE = 20.0  # events a second: 10 conferences a second, each a created and a join
PRODUCTION = {
    "TELNYX_API_TIMEOUT_SECONDS": "10",
    "BROKER_VISIBILITY_TIMEOUT_SECONDS": "50",
    "BROKER_RESTORE_INTERVAL_SECONDS": "5",
    "RETRY_BACKOFF_BASE_SECONDS": "1",
    "RETRY_BACKOFF_MAX_SECONDS": "10",
    "WORKER_CONCURRENCY": "32",  # the Procfile's default
}


def run(conferences: int, hedge_after_ms: int, seed: int) -> dict[str, object]:
    env = {**PRODUCTION, "TELNYX_HEDGE_AFTER_MS": str(hedge_after_ms)}
    with Cluster(env=env) as cluster:
        cluster.add_worker()
        cluster.api.state.hang_seconds = 12.0
        cluster.api.state.set_rates(
            FaultRates(timeout=0.04, slow=0.04, slow_seconds=8.0, seed=seed)
        )
        events = conference_burst(conferences, 1)
        started = time.time()
        acked = cluster.deliver([encode(e) for e in events], rate=RATE, concurrency=32)
        assert all(acked), "a webhook was never acknowledged"
        assert cluster.wait_for_commands(2 * conferences, 180), "not every command was acted on"
        cluster.wait_until_quiet(60)
        requests = cluster.api.state.requests()
        counted = cluster.redis().hgetall("tcw:metrics")
    series = {text(k): text(v) for k, v in counted.items()}
    hedges = {
        k.split('"')[1]: v for k, v in series.items() if k.startswith("telnyx_command_hedges_total")
    }
    delivered = {}
    for n, event in enumerate(events):
        kind = "record_start" if event["data"]["event_type"] == "conference.created" else "speak"
        delivered[(kind, event["data"]["payload"]["conference_id"])] = started + n / RATE
    acted: dict[tuple[str, str], float] = {}
    for request in requests:
        key = (request.action or "", request.target or "")
        if 200 <= request.status < 300 and key in delivered and key not in acted:
            acted[key] = request.received_at
    twice = sum(
        1 for same in accepted_by_command(requests).values()
        if sum(not r.duplicate for r in same) > 1
    )  # fmt: skip
    latency = {
        kind: sorted(acted[k] - delivered[k] for k in delivered if k[0] == kind and k in acted)
        for kind in ("record_start", "speak")
    }
    return {
        "latency": latency, "missing": len(delivered) - len(acted), "twice": twice,
        "hedges": hedges,
    }  # fmt: skip


def _row(label: str, result: dict[str, object]) -> str:
    cells = [label]
    latency = result["latency"]
    assert isinstance(latency, dict)
    for kind in ("record_start", "speak"):
        values = latency[kind]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        cells.append(f"{statistics.median(values):.2f} / {p99:.2f} / {values[-1]:.2f} s")
    cells.append(f"{result['missing']} missing, {result['twice']} acted on twice")
    hedges = result["hedges"]
    assert isinstance(hedges, dict)
    cells.append(", ".join(f"{k} {v}" for k, v in sorted(hedges.items())) or "none")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conferences", type=int, default=150)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = []
    for n in range(args.runs):
        for label, after in (("hedged after 500 ms", 500), ("not hedged", 0)):
            print(f"running {label} ({n + 1}/{args.runs}) ...", file=sys.stderr, flush=True)
            rows.append(_row(label, run(args.conferences, after, args.seed + n)))
    print(f"{platform.machine()}, {args.conferences} conferences at 10/s, 4 % of commands "
          "unanswered, 4 % answered 8 s late\n")  # fmt: skip
    print("| run | created -> record_start p50 / p99 / max | join -> speak p50 / p99 / max | "
          "every action | hedges |\n|---|---|---|---|---|")  # fmt: skip
    print("\n".join(rows))


if __name__ == "__main__":
    main()

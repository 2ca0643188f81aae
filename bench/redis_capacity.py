"""How many events one Redis primary carries: every Redis step of an event, from the web's
queueing to the lane's finish, driven as fast as a few processes can, against a private Redis.

    scripts/bench redis_capacity                  # 4 driver processes, 10 s
    scripts/bench redis_capacity --drivers 8 --seconds 20

Per event, what the web and one worker send Redis: the web's queue script (dedupe, journal,
queue); kombu's delivery (BRPOP, then a pipeline recording the message as unacknowledged)
and its acknowledgement (a pipeline); the lane's three scripts: append (with the event
message's completion and the drain's look), fix (with the fleet's ask) and finish (with the
fleet's tell). Each event is a conference of its own, each driver a process of its own.

Prints the events per second reached, the Redis server's CPU per event (user + system, from
/proc) and its CPU use. Redis runs its commands on one thread, so one core's worth of its CPU
divided by its CPU per event is the rate at which the Redis primary itself is the limit; the
drivers share this machine's cores with it, so the reached rate can be lower than that.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
import uuid

import redis

from bench.lanes import cpu_seconds, kept_bytes
from core.naming import LANE_DRAIN, QUEUE, event_task_id, followup_task_id, inline_drain_id
from followups.followup import FollowUp
from followups.lane_policy import LaneItem
from records.fleet import Answer, Fleet, Ticket
from records.lane_answers import Pinned, Settled, TakeStatus
from records.lane_store import LaneStore
from records.messages import celery_message
from records.publishing.publisher import EventPublisher
from records.timeline import note
from sandbox.events import encode, make_event
from sandbox.redis_server import RedisServer
from tasks import timeline_notes

UNACKED, UNACKED_INDEX = "unacked", "unacked_index"


def drive(url: str, seconds: float, counts: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One driver: events one after another until time is up; puts how many it carried."""
    client = redis.Redis.from_url(url)
    publisher = EventPublisher(
        lambda: redis.Redis.from_url(url, single_connection_client=True), connections=1
    )
    lanes = LaneStore(client, lease_seconds=47, done_ttl_seconds=86400)
    # (The pace's cost counted, but never a wait: a start rate no run reaches.)
    fleet = Fleet(client, start_per_second=10**9)
    body = encode(make_event("conference.created")).decode()
    done = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        conference_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
        task_id = event_task_id(event_id)
        # The web (with the event's entry on its conference's timeline, as ingest writes it)
        entry = note("webhook", type="conference.created", event_id=event_id)
        publisher.publish(body, event_id, "conference.created", conference_id, note=entry)
        # kombu: delivery, recorded as unacknowledged
        _, message = client.brpop([QUEUE], timeout=1) or (None, b"")
        tag = uuid.uuid4().hex
        pipe = client.pipeline()
        pipe.zadd(UNACKED_INDEX, {tag: time.time()})
        pipe.hset(UNACKED, tag, message)
        pipe.execute()
        # The event task: append + its message complete + the drain's look
        params = {"format": "mp3", "channels": "single", "command_id": uuid.uuid4().hex}
        followup = FollowUp("conference", "record_start", conference_id, params)
        action_id = followup_task_id(event_id, followup.key)
        item = LaneItem(
            action_id, followup, event_id, "conference.created", None, int(time.time() * 1e6)
        )
        drain_id = inline_drain_id(event_id)
        drain = (
            drain_id,
            celery_message(LANE_DRAIN, drain_id, [conference_id], f"conference={conference_id}"),
        )
        owner = uuid.uuid4().hex
        _, taken = lanes.append_and_take(
            conference_id, [(action_id, item.score, item.to_json())], event_type="conference.created",
            drain=drain, owner=owner, complete=task_id,
            note=timeline_notes.planned(event_id, "conference.created", [item]),
        )  # fmt: skip
        if taken is None or taken.status is not TakeStatus.OK:
            raise RuntimeError(f"the event's drain did not get its lane: {taken}")
        member = taken.lane.entries[0].member
        pinned, go = lanes.pin_and_ask(
            conference_id,
            drain_id,
            action_id,
            item.to_json(),
            [member],
            owner,
            fleet,
            Ticket(action_id, first=True),
        )
        if pinned is not Pinned.CLAIMED or go is None or not go.now:
            raise RuntimeError(f"the command was not pinned to go: {pinned}, {go}")
        # (Telnyx accepts the command here.)
        answer, _ = lanes.settle_and_tell(
            conference_id, action_id, [action_id], drain=(drain_id, owner), fleet=fleet,
            answer=Answer("answered"), counters=["telnyx_actions_total:record_start:sent"],
            note=note("sent", batch=action_id, actions=[action_id], attempt=1,
                      request_id=str(uuid.uuid4())),
        )  # fmt: skip
        if answer is not Settled.IDLE:
            raise RuntimeError(f"the lane did not go idle: {answer}")
        # kombu: the acknowledgement
        pipe = client.pipeline()
        pipe.zrem(UNACKED_INDEX, tag)
        pipe.hdel(UNACKED, tag)
        pipe.execute()
        done += 1
    counts.put(done)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drivers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        counts: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        drivers = [
            multiprocessing.Process(target=drive, args=(server.url, args.seconds, counts))
            for _ in range(args.drivers)
        ]
        client.config_resetstat()
        before, started = cpu_seconds(server.pid), time.monotonic()
        for d in drivers:
            d.start()
        events = sum(counts.get(timeout=args.seconds + 60) for _ in drivers)
        elapsed = time.monotonic() - started
        used = cpu_seconds(server.pid) - before
        stats = client.info("commandstats")
        commands = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
        scripts = sum(
            int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")
        )
        for d in drivers:
            d.join()
        # What stays after each event (a conference of its own): its seen key, done record,
        # lane state, timeline and the ids that name it, until they expire.
        retained = kept_bytes(client) / events
        client.close()
    rate, cpu_ms = events / elapsed, used * 1000 / events
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"{args.drivers} driver processes, {args.seconds:.0f} s\n"
    )
    print("| measure | value |")
    print("|---|---|")
    print(f"| events/s reached | {rate:.0f} |")
    print(f"| Redis CPU per event | {cpu_ms:.3f} ms |")
    print(f"| Redis CPU use while driven | {used / elapsed:.0%} of a core |")
    print(
        f"| commands per event (of them scripts) | {commands / events:.1f} ({scripts / events:.1f}) |"
    )
    print(
        f"| where one Redis is the limit (1 core / CPU per event) | {1000 / cpu_ms:.0f} events/s |"
    )
    print(f"| Redis memory kept per event (a conference each) | {retained:.0f} bytes |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
